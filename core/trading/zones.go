package trading

import (
	"sync"
	"time"
)

// locations keeps loaded time zones by name: time.LoadLocation reads and
// parses the zone's file on every call, and a location never changes while
// the process runs.
var locations sync.Map // zone name → *time.Location

// LoadZone is time.LoadLocation for a stored zone name, kept by name after
// the first load (the error of a name the platform lacks is not kept).
func LoadZone(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil //nolint:forcetypeassert // only locations are stored
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	locations.Store(name, l)
	return l, nil
}

// ZoneOrUTC is the location of a profile's time zone name: UTC for none,
// or for one this platform does not know (a zone database without it), so
// that a user's figures fall back to UTC instead of failing.
func ZoneOrUTC(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	l, err := LoadZone(name)
	if err != nil {
		return time.UTC
	}
	return l
}
