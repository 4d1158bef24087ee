// Package zone is the one rule for the time zone names the service accepts
// (a profile's, an account's, an import's): names of the IANA time zone
// database, loaded with time.LoadLocation and kept once loaded.
//
// time.LoadLocation alone is not that rule: it also accepts "Local" (the
// host's zone, a different one on every machine), and any file it finds
// under the host's zoneinfo directories, such as "localtime",
// "posixrules", "posix/Europe/Paris", "right/UTC", "./UTC" or
// "Europe//Paris", none of which is a zone name and most of which name
// nothing on a host without them (the container images load only the
// embedded database, time/tzdata).
package zone

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // the zones do not depend on the host's zoneinfo
)

// MaxLen bounds a name (the longest IANA name is 32 characters).
const MaxLen = 64

// ErrNotIANA: the name is not an IANA time zone name (or one this
// platform does not know).
var ErrNotIANA = errors.New("not an IANA time zone name")

// locations keeps loaded time zones by name: time.LoadLocation reads and
// parses the zone's file on every call, and a location never changes while
// the process runs.
var locations sync.Map // zone name → *time.Location

// Load is the location of an IANA time zone name ("Europe/Paris", "UTC",
// "Etc/GMT+5"), kept by name after the first load. Any other name, ""
// included (each caller says what no zone means), fails with ErrNotIANA.
func Load(name string) (*time.Location, error) {
	if l, ok := locations.Load(name); ok {
		return l.(*time.Location), nil //nolint:forcetypeassert // only locations are stored
	}
	if !wellFormed(name) {
		return nil, fmt.Errorf("time zone %q: %w", name, ErrNotIANA)
	}
	l, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w: %w", name, ErrNotIANA, err)
	}
	locations.Store(name, l)
	return l, nil
}

// Valid reports whether Load accepts the name.
func Valid(name string) bool {
	_, err := Load(name)
	return err == nil
}

// notZones are names time.LoadLocation finds on a host that the database
// does not define: Go's name for the host's zone, and the zoneinfo
// directory's own files and trees.
var notZones = map[string]bool{"Local": true, "localtime": true, "posixrules": true, "posix": true, "right": true}

// wellFormed is the shape of a database name (the tz project's Theory
// file): components of ASCII letters, digits, '.', '_', '-' and '+'
// separated by single slashes, none empty, "." or "..", none starting with
// '-', and not one of notZones (as the whole name or its first component).
func wellFormed(name string) bool {
	if name == "" || len(name) > MaxLen {
		return false
	}
	parts := strings.Split(name, "/")
	if notZones[name] || notZones[parts[0]] {
		return false
	}
	for _, p := range parts {
		if p == "" || p == "." || p == ".." || p[0] == '-' {
			return false
		}
		for i := range len(p) {
			c := p[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-' || c == '+') {
				return false
			}
		}
	}
	return true
}
