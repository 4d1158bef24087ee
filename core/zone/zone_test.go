package zone_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/zone"
)

func TestLoad(t *testing.T) {
	for _, name := range []string{"UTC", "Europe/Paris", "America/New_York", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14", "EST5EDT", "GMT0", "Asia/Tokyo"} {
		l, err := zone.Load(name)
		if err != nil || l.String() != name || !zone.Valid(name) {
			t.Errorf("Load(%q) = %v, %v; want the zone", name, l, err)
		}
	}
	// Every name here but the malformed ones loads with time.LoadLocation on
	// a host with /usr/share/zoneinfo; none is a zone of the database.
	for _, name := range []string{"", "Local", "localtime", "posixrules", "posix/Europe/Paris", "right/UTC", "./UTC", "Europe//Paris",
		"Europe/Paris/", "/UTC", "../etc/passwd", "Mars/Olympus", "europe/paris", "UTC\x00", "Europe/Paris ", "-UTC", strings.Repeat("A", 65)} {
		if l, err := zone.Load(name); !errors.Is(err, zone.ErrNotIANA) || zone.Valid(name) {
			t.Errorf("Load(%q) = %v, %v; want ErrNotIANA", name, l, err)
		}
	}
}

func TestLoadKeepsLocations(t *testing.T) {
	a, err := zone.Load("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	b, err := zone.Load("America/New_York")
	if err != nil || a != b {
		t.Fatalf("second load = %p, %v; want the kept %p", b, err, a)
	}
}
