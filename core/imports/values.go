package imports

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/zone"
)

// ParseAmount reads a number as brokers print it: an optional sign or
// parentheses for a negative ("(33.50)", "$(33.50)", "-$33.50"), a
// currency sign ($ € £ ¥) or a trailing ISO code ("12.50 USD"), thousands
// separated by commas, spaces, no-break spaces or apostrophes ("1,234.50",
// "1 234.50", "1'234.50"), grouped by three: a first group of 1 to 3
// digits, then groups of exactly three, one separator between groups and
// the same one throughout ("1,,000", "1, 000", "1,000 000" and the Indian
// "12,34,567", which no preset's broker writes, are refused). Spaces
// around s are ignored. The result is exact (trading.ParseDecimal's
// bounds); a decimal comma is not read ("1.234,50" and "0,123" are
// refused, not misread).
func ParseAmount(s string) (decimal.Decimal, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return decimal.Decimal{}, errors.New("empty number")
	}
	if plainDecimal(t) {
		if d, err := trading.ParseDecimal("amount", t); err == nil {
			return d, nil
		}
		return decimal.Decimal{}, fmt.Errorf("%.40q is not a number", s)
	}
	neg := false
	if strings.HasPrefix(t, "-") || strings.HasPrefix(t, "+") {
		neg = t[0] == '-'
		t = strings.TrimSpace(t[1:])
	}
	for _, sym := range []string{"$", "€", "£", "¥"} {
		t = strings.TrimPrefix(t, sym)
	}
	t = strings.TrimSpace(t)
	if strings.HasPrefix(t, "(") && strings.HasSuffix(t, ")") {
		if neg {
			return decimal.Decimal{}, fmt.Errorf("%.40q has two signs", s)
		}
		neg = true
		t = strings.TrimSpace(t[1 : len(t)-1])
		for _, sym := range []string{"$", "€", "£", "¥"} {
			t = strings.TrimPrefix(t, sym)
		}
		if strings.HasPrefix(t, "-") {
			return decimal.Decimal{}, fmt.Errorf("%.40q has two signs", s)
		}
	}
	if i := strings.LastIndexByte(t, ' '); i > 0 && len(t)-i == 4 && isUpper(t[i+1:]) {
		t = t[:i]
	}
	var b strings.Builder
	b.Grow(len(t) + 1)
	if neg {
		b.WriteByte('-')
	}
	// Thousands: a first group of 1 to 3 digits (not a lone 0: "0,123"
	// is a decimal comma), then groups of exactly three, each after one
	// separator, the same one throughout ("1,,000", "1, 000",
	// "12,34,567", "1,000 000" are refused).
	point := -1
	var sep rune // the thousands separator, once one is seen
	group := 0   // digits of the current group of the integer part
	for i, r := range t {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
			if point < 0 {
				group++
			}
		case r == '.':
			if point >= 0 || sep != 0 && group != 3 {
				return decimal.Decimal{}, fmt.Errorf("%.40q is not a number", s)
			}
			point = i
			b.WriteByte('.')
		case r == ',' || r == ' ' || r == '\u00a0' || r == '\u202f' || r == '\'':
			if point >= 0 || group == 0 && sep == 0 {
				return decimal.Decimal{}, fmt.Errorf("%.40q is not a number (a decimal comma is not supported)", s)
			}
			switch {
			case sep == 0 && t[0] == '0': // t starts with the first group
				return decimal.Decimal{}, fmt.Errorf("%.40q is not a number (a decimal comma is not supported)", s)
			case sep == 0 && group > 3, sep != 0 && (r != sep || group != 3):
				return decimal.Decimal{}, fmt.Errorf("%.40q is not a number (thousands are grouped by three, with one separator)", s)
			}
			sep, group = r, 0
		default:
			return decimal.Decimal{}, fmt.Errorf("%.40q is not a number", s)
		}
	}
	if sep != 0 && point < 0 && group != 3 {
		// "1,23": a decimal comma, or a group cut short.
		return decimal.Decimal{}, fmt.Errorf("%.40q is not a number (a decimal comma is not supported)", s)
	}
	d, err := trading.ParseDecimal("amount", b.String())
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("%.40q is not a number", s)
	}
	return d, nil
}

// plainDecimal reports whether s is only a sign, digits and points (the
// common case, read without the separator handling).
func plainDecimal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || (c == '-' || c == '+') && i == 0) {
			return false
		}
	}
	return true
}

func isUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return s != ""
}

// optAmount is ParseAmount with "" (and "--", "-", "N/A") read as zero.
func optAmount(s string) (decimal.Decimal, error) {
	switch strings.TrimSpace(s) {
	case "", "-", "--", "N/A", "n/a":
		return decimal.Zero, nil
	}
	return ParseAmount(s)
}

// DST says how a wall-clock time was placed in its zone.
type DST int

// The placements of a wall-clock time.
const (
	// DSTExact: the wall time happens once in the zone.
	DSTExact DST = iota
	// DSTAmbiguous: the wall time happens twice (the fall-back hour); the
	// earlier instant, the one still on daylight time, is taken.
	DSTAmbiguous
	// DSTGap: the wall time does not exist (the spring-forward hour); it is
	// read with the offset before the transition, which lands it after the
	// gap (02:30 becomes 03:30 daylight time).
	DSTGap
)

// Place turns a wall-clock time (its fields, whatever its location) into
// an instant in loc, saying how it was placed. The rule is fixed so that
// a re-import places every row the same way: see DST.
func Place(wall time.Time, loc *time.Location) (time.Time, DST) {
	y, mo, d := wall.Date()
	h, mi, sec := wall.Clock()
	ns := wall.Nanosecond()
	if loc == time.UTC {
		return time.Date(y, mo, d, h, mi, sec, ns, time.UTC), DSTExact
	}
	naive := time.Date(y, mo, d, h, mi, sec, ns, time.UTC)
	var found []time.Time
	for _, probe := range []time.Time{naive.Add(-36 * time.Hour), naive.Add(36 * time.Hour)} {
		_, off := probe.In(loc).Zone()
		c := naive.Add(-time.Duration(off) * time.Second)
		cy, cmo, cd := c.In(loc).Date()
		ch, cmi, cs := c.In(loc).Clock()
		if cy == y && cmo == mo && cd == d && ch == h && cmi == mi && cs == sec {
			if len(found) == 0 || !found[0].Equal(c) {
				found = append(found, c)
			}
		}
	}
	switch len(found) {
	case 1:
		return found[0], DSTExact
	case 2:
		if found[1].Before(found[0]) {
			found[0] = found[1]
		}
		return found[0], DSTAmbiguous
	}
	_, off := naive.Add(-36 * time.Hour).In(loc).Zone()
	return naive.Add(-time.Duration(off) * time.Second), DSTGap
}

// zoneAbbrevs are the fixed offsets of the US zone abbreviations brokers
// print after a time ("05/01/2026 10:15:00 EDT"): with one, the instant is
// exact and the file's zone is not needed.
var zoneAbbrevs = map[string]int{
	"UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5 * 3600, "EDT": -4 * 3600, "CST": -6 * 3600, "CDT": -5 * 3600,
	"MST": -7 * 3600, "MDT": -6 * 3600, "PST": -8 * 3600, "PDT": -7 * 3600,
}

// abbrevZones are the abbreviations that name a zone rather than an
// offset ("ET": standard or daylight time, as the date says): the time is
// read in that zone instead of the file's.
var abbrevZones = map[string]string{"ET": "America/New_York", "CT": "America/Chicago"}

// timeParser reads the date-times of one column, trying layouts in order
// and starting with the one that read the previous row.
type timeParser struct {
	layouts []string
	last    int
	// local: the last value parse read was a wall-clock time, placed in
	// the file's zone (no offset, no zone abbreviation of its own).
	local bool
}

// The layouts tried for every date-time column, most specific first.
var dateTimeLayouts = []string{
	"20060102;150405",      // IBKR Flex
	"2006-01-02, 15:04:05", // IBKR activity statement
	"2006-01-02 15:04:05",  // ISO-like
	"2006-01-02T15:04:05",  // ISO without offset
	"2006-01-02 15:04",     // ISO-like, minutes
	"2006.01.02 15:04:05",  // MetaTrader
	"2006.01.02 15:04",     // MetaTrader, minutes
	"01/02/2006 15:04:05",  // US, 24 h
	"1/2/2006 15:04:05",    // US, 24 h, short
	"1/2/2006 3:04:05 PM",  // NinjaTrader (US culture)
	"1/2/2006 3:04 PM",     // US, 12 h, minutes
	"1/2/2006 15:04",       // US, minutes
	"1/2/06 15:04:05",      // thinkorswim
	"1/2/06 3:04:05 PM",    // two-digit year, 12 h
	"20060102 15:04:05",    // compact date
	"20060102 150405",      // IBKR Flex TradeDate + TradeTime, as IBKR writes them
	"20060102-15:04:05",    // FIX-style
	"2006-01-02",           // date only
	"01/02/2006",           // US date only
	"1/2/2006",             // US date only, short
	"20060102",             // compact date only
	"2006.01.02",           // MetaTrader date only
}

// dateOnly reports whether layout has no clock.
func dateOnly(layout string) bool {
	return !strings.Contains(layout, "15") && !strings.Contains(layout, "3:")
}

// absoluteLayouts carry an offset: the instant is exact whatever the
// file's zone.
var absoluteLayouts = []string{time.RFC3339Nano, "2006-01-02 15:04:05Z07:00", "2006-01-02 15:04:05 -0700"}

// parse reads s in loc. It returns the instant, how a wall time was
// placed, and whether s had no time of day (date-only exports). The
// layout that read the previous row is tried first: a column keeps one
// format, so a row costs one time.Parse.
func (p *timeParser) parse(s string, loc *time.Location) (time.Time, DST, bool, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, 0, false, errors.New("empty date")
	}
	if finerThanNanoseconds(s) {
		return time.Time{}, 0, false, fmt.Errorf("%.40q has more than 9 fractional digits: finer than the nanosecond an execution keeps", s)
	}
	if p.layouts == nil {
		p.layouts = dateTimeLayouts
		p.last = -1
	}
	fileLoc := loc
	p.local = false
	if p.last >= 0 {
		if t, d, only, ok := p.try(p.last, s, loc); ok {
			p.local = true
			return t, d, only, nil
		}
	}
	// Offsets and zones written in the value win over the file's zone.
	for _, l := range absoluteLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), DSTExact, false, nil
		}
	}
	if i := strings.LastIndexByte(s, ' '); i > 0 {
		abbrev, rest := strings.ToUpper(s[i+1:]), strings.TrimSpace(s[:i])
		if name, ok := abbrevZones[abbrev]; ok {
			if l, err := zone.Load(name); err == nil {
				loc = l
			}
			s = rest
		} else if off, ok := zoneAbbrevs[abbrev]; ok {
			inner := timeParser{}
			t, _, only, err := inner.parse(rest, time.UTC)
			if err != nil {
				return time.Time{}, 0, false, err
			}
			return t.Add(-time.Duration(off) * time.Second), DSTExact, only, nil
		}
	}
	for i := range p.layouts {
		if t, d, only, ok := p.try(i, s, loc); ok {
			p.last = i
			p.local = loc == fileLoc
			return t, d, only, nil
		}
	}
	return time.Time{}, 0, false, fmt.Errorf("%.40q is not a date and time this preset reads", s)
}

// finerThanNanoseconds reports whether s has a fraction of a second of
// more than nine digits (time.Parse would drop the rest): a run of ten or
// more digits after a point.
func finerThanNanoseconds(s string) bool {
	run := -1 // digits since the last point; -1 outside a fraction
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			run = 0
		case c >= '0' && c <= '9' && run >= 0:
			if run++; run > 9 {
				return true
			}
		default:
			run = -1
		}
	}
	return false
}

func (p *timeParser) try(i int, s string, loc *time.Location) (time.Time, DST, bool, bool) {
	wall, err := time.Parse(p.layouts[i], s)
	if err != nil {
		return time.Time{}, 0, false, false
	}
	if dateOnly(p.layouts[i]) {
		t, _ := Place(wall, loc)
		return t, DSTExact, true, true
	}
	t, d := Place(wall, loc)
	return t, d, false, true
}
