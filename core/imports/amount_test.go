package imports

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// TestParseAmountGrouping: thousands are read only when grouped as
// written: a first group of 1 to 3 digits (not a lone 0, which is a
// decimal comma's), then groups of exactly three, one separator between
// groups and the same one throughout. Indian grouping (12,34,567) is not
// read: no preset's broker writes it. Spaces around the whole field are
// not part of the number.
func TestParseAmountGrouping(t *testing.T) {
	good := map[string]string{
		"1,000": "1000", "999,999": "999999", "1,234,567.89": "1234567.89", "-1,000": "-1000", "(1,000)": "-1000", "$12,345.6": "12345.6",
		"2 350.50": "2350.5", "1 234 567": "1234567", "1\u00a0234\u00a0567": "1234567", "1\u202f234": "1234", "1'234.50": "1234.5",
		" 1,000 ": "1000", "\t1,000.5\t": "1000.5", "1,000 USD": "1000", "10,000,000": "10000000",
	}
	for in, want := range good {
		d, err := ParseAmount(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseAmount(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{
		"1,,000", "1, 000", "1 ,000", "12,34,567", "1,00,000", "1,0000", "1,2,3", "1234,567", "1,000,00", "1,000,", ",100",
		"1,000 000", "1 000,000", "1'000,000", "0,123", "0,000", "01,234", "1,000 .5", "1,234,56.7", "1  000", "$,100",
	} {
		if d, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %s, want an error", in, d)
		}
	}
}

// TestOCCKeepsTheStrike: a strike the OCC symbol cannot carry (a fourth
// decimal place) gives a symbol that does not parse, so its row is
// rejected rather than merged into the contract of the truncated strike.
func TestOCCKeepsTheStrike(t *testing.T) {
	exp := time.Date(2026, 6, 19, 0, 0, 0, 0, time.UTC)
	for strike, want := range map[string]string{"2.5": "XYZ260619C00002500", "150": "XYZ260619C00150000", "0.001": "XYZ260619C00000001", "2.5005": ""} {
		sym := occ("xyz", exp, "C", decimal.RequireFromString(strike))
		o, err := trading.ParseOCC(sym)
		switch {
		case want == "" && err == nil:
			t.Errorf("strike %s: %q parses as %+v; want a symbol that does not", strike, sym, o)
		case want != "" && (err != nil || sym != want || !o.Strike.Equal(decimal.RequireFromString(strike))):
			t.Errorf("strike %s: %q, %v; want %s", strike, sym, err, want)
		}
	}
}
