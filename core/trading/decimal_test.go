package trading

import (
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

func TestParseDecimal(t *testing.T) {
	good := map[string]string{"1234.50": "1234.5", "-0.5": "-0.5", ".25": "0.25", "+3": "3", "0": "0", "007.10": "7.1",
		"123456789012345678.123456789012": "123456789012345678.123456789012", "1.": "1"}
	for in, want := range good {
		d, err := ParseDecimal("price", in)
		if err != nil || !d.Equal(decimal.RequireFromString(want)) {
			t.Errorf("ParseDecimal(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "-", ".", "1e3", "1,000", " 1", "1 ", "NaN", "Inf", "0x10", "1.2.3", "--1",
		"1234567890123456789", "0.1234567890123", "½", strings.Repeat("9", 1000)} {
		_, err := ParseDecimal("price", in)
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Code != CodeDecimalInvalid || e.Fields["price"] == "" {
			t.Errorf("ParseDecimal(%q) = %v; want Invalid decimal_invalid with a price field", in, err)
		}
	}
}

// FuzzParseDecimal: no input panics; what is accepted is within the
// bounds and survives a round trip through its canonical string.
func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"1234.50", "-0.5", ".25", "1e9", "", "99999999999999999999", "0.000000000001", "+"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal("x", s)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error %v is not Invalid", err)
			}
			return
		}
		back, err := ParseDecimal("x", d.String())
		if err != nil || !back.Equal(d) {
			t.Fatalf("round trip of %q: %q → %v, %v", s, d.String(), back, err)
		}
		if d.Exponent() < -MaxFracDigits {
			t.Fatalf("%q accepted with exponent %d", s, d.Exponent())
		}
	})
}

func TestAppendDecimalMatchesString(t *testing.T) {
	for _, s := range []string{"0", "-0", "0.000", "1.50", "-187.4166666667", "0.000000000001", "123456789012345678", "-0.5",
		"1234567890123456789.5", "100", "1e3", "12.3400", "-99999.00001"} {
		d := decimal.RequireFromString(s)
		if got := string(AppendDecimal(nil, d)); got != d.String() {
			t.Errorf("AppendDecimal(%s) = %q; want %q", s, got, d.String())
		}
	}
}

func FuzzAppendDecimal(f *testing.F) {
	f.Add(int64(1500), int32(-3))
	f.Add(int64(-7), int32(2))
	f.Fuzz(func(t *testing.T, c int64, e int32) {
		if e < -30 || e > 30 {
			return
		}
		d := decimal.New(c, e)
		if got := string(AppendDecimal(nil, d)); got != d.String() {
			t.Fatalf("AppendDecimal(%d e%d) = %q; want %q", c, e, got, d.String())
		}
	})
}
