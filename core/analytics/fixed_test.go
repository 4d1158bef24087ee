package analytics

import (
	"testing"

	"github.com/shopspring/decimal"
	"pgregory.net/rapid"

	"github.com/tradesense/tradesense/core/trading"
)

// genDecimal draws amounts of every shape the fixed-point path must get
// right: small cents, many places (beyond fixScale), and values beyond
// the int64 range.
func genDecimal() *rapid.Generator[decimal.Decimal] {
	return rapid.Custom(func(t *rapid.T) decimal.Decimal {
		switch rapid.IntRange(0, 3).Draw(t, "shape") {
		case 0:
			return decimal.New(rapid.Int64Range(-10_000_000, 10_000_000).Draw(t, "cents"), -2)
		case 1:
			return decimal.New(rapid.Int64().Draw(t, "coef"), -int32(rapid.IntRange(0, 18).Draw(t, "places")))
		case 2:
			return decimal.New(rapid.Int64().Draw(t, "huge"), int32(rapid.IntRange(0, 12).Draw(t, "exp")))
		}
		return decimal.New(rapid.Int64Range(-5, 5).Draw(t, "tiny"), -int32(rapid.IntRange(10, 14).Draw(t, "tinyplaces")))
	})
}

// TestAccMatchesDecimal checks the int64 sums, their spill into decimals,
// comparisons and differences against plain decimal arithmetic.
func TestAccMatchesDecimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		vals := rapid.SliceOfN(genDecimal(), 1, 60).Draw(t, "values")
		var a, b acc
		var da, db decimal.Decimal
		for i, v := range vals {
			x := amtOf(v)
			if !x.dec().Equal(v) {
				t.Fatalf("amtOf(%s) = %s", v, x.dec())
			}
			if i%2 == 0 {
				a.add(x)
				da = da.Add(v)
			} else {
				b.add(x)
				db = db.Add(v)
			}
		}
		if !a.dec().Equal(da) || !b.dec().Equal(db) {
			t.Fatalf("sums %s %s, want %s %s", a.dec(), b.dec(), da, db)
		}
		if got, want := a.cmp(&b), da.Cmp(db); got != want {
			t.Fatalf("cmp = %d, want %d", got, want)
		}
		if got, want := a.sub(&b).dec(), da.Sub(db); !got.Equal(want) {
			t.Fatalf("sub = %s, want %s", got, want)
		}
		m := a
		m.merge(&b)
		if !m.dec().Equal(da.Add(db)) {
			t.Fatalf("merge = %s, want %s", m.dec(), da.Add(db))
		}
	})
}

// TestRMultipleMatchesTrading checks the int64 R multiple against
// trading.RMultiple (decimal.DivRound, half away from zero).
func TestRMultipleMatchesTrading(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		pnl := genDecimal().Draw(t, "pnl")
		risk := decimal.New(rapid.Int64Range(1, 1<<40).Draw(t, "risk"), -int32(rapid.IntRange(0, 6).Draw(t, "riskplaces")))
		want := trading.RMultiple(pnl, decimal.NewNullDecimal(risk))
		r4, ok := rMultiple(amtOf(pnl), amtOf(risk))
		if !ok {
			return // the decimal path takes it
		}
		if got := decimal.New(r4, -rScale); !got.Equal(want.Decimal) {
			t.Fatalf("rMultiple(%s, %s) = %s, want %s", pnl, risk, got, want.Decimal)
		}
	})
	// Ties round away from zero.
	for _, c := range []struct{ pnl, risk, want string }{{"0.00005", "1", "0.0001"}, {"-0.00005", "1", "-0.0001"}, {"1", "3", "0.3333"}, {"-2", "3", "-0.6667"}} {
		r4, ok := rMultiple(amtOf(decimal.RequireFromString(c.pnl)), amtOf(decimal.RequireFromString(c.risk)))
		if !ok || !decimal.New(r4, -rScale).Equal(decimal.RequireFromString(c.want)) {
			t.Errorf("rMultiple(%s, %s) = %d %v, want %s", c.pnl, c.risk, r4, ok, c.want)
		}
	}
}
