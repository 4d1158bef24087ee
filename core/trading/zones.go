package trading

import (
	"time"

	"github.com/tradesense/tradesense/core/zone"
)

// ZoneOrUTC is the location of a profile's time zone name: UTC for none,
// or for one this platform does not know (a zone database without it) or
// that is no zone name (stored before zone.Load refused it), so that a
// user's figures fall back to UTC instead of failing.
func ZoneOrUTC(name string) *time.Location {
	l, err := zone.Load(name)
	if err != nil {
		return time.UTC
	}
	return l
}
