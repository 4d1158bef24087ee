package imports

import (
	"testing"

	"github.com/shopspring/decimal"
)

func TestExactKeepsEveryDecimal(t *testing.T) {
	for _, s := range []string{"0", "49", "-0.5", "1234.567890123456", "-999999999999999999", "123456789012345678901234.5", "-0.0000000000000000000001"} {
		d := decimal.RequireFromString(s)
		x := exactOf(d)
		if got := x.dec(); !got.Equal(d) {
			t.Errorf("%s came back as %s", s, got)
		}
		if (x.big != nil) != (d.NumDigits() > 18) {
			t.Errorf("%s: big fallback %v", s, x.big != nil)
		}
	}
}
