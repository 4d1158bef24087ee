package trading_test

import (
	"testing"

	"github.com/tradesense/tradesense/core/trading"
)

func TestLoadZoneKeepsLocations(t *testing.T) {
	a, err := trading.LoadZone("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	b, err := trading.LoadZone("America/New_York")
	if err != nil || a != b {
		t.Fatalf("second load = %p, %v; want the kept %p", b, err, a)
	}
	if a.String() != "America/New_York" {
		t.Fatalf("loaded %q", a)
	}
	if l, err := trading.LoadZone("Nowhere/Atlantis"); err == nil {
		t.Fatalf("an unknown zone loaded as %v", l)
	}
}
