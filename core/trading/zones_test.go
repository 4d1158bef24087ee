package trading_test

import (
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/trading"
)

// TestZoneOrUTC: a stored name that is not a zone (none, unknown, or
// "Local", Go's name for the host's zone) reads as UTC, never as the
// host's zone.
func TestZoneOrUTC(t *testing.T) {
	if l := trading.ZoneOrUTC("America/New_York"); l.String() != "America/New_York" {
		t.Fatalf("ZoneOrUTC(America/New_York) = %v", l)
	}
	for _, name := range []string{"", "Nowhere/Atlantis", "Local", "posixrules"} {
		if l := trading.ZoneOrUTC(name); l != time.UTC {
			t.Errorf("ZoneOrUTC(%q) = %v; want UTC", name, l)
		}
	}
}
