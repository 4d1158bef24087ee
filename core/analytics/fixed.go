package analytics

import (
	"math"
	"math/bits"

	"github.com/shopspring/decimal"
)

// The one pass adds up a dozen amounts per trade. Doing that with
// decimal.Add allocates a big.Int each time, which was most of the cold
// cost over 50,000 trades (docs/benchmarks.md). So amounts are carried as
// int64 counts of 10^-fixScale when they fit, which every realistic P&L
// does, and the sums spill into an exact decimal when a value has more
// places or a sum would overflow: the results are the same exact
// decimals, only cheaper to get.

// fixScale is the number of decimal places of the int64 representation.
const fixScale = 10

var pow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// amt is one exact amount: v units of 10^-fixScale, or d when it does not
// fit that (big).
type amt struct {
	v   int64
	big bool
	d   decimal.Decimal
}

// amtOf converts d exactly.
func amtOf(d decimal.Decimal) amt {
	k := int(fixScale + d.Exponent())
	if k >= 0 && k < len(pow10) && d.NumDigits() <= 18 {
		c, m := d.CoefficientInt64(), pow10[k]
		if c <= math.MaxInt64/m && c >= -math.MaxInt64/m {
			return amt{v: c * m}
		}
	}
	return amt{big: true, d: d}
}

// dec returns the amount as a decimal.
func (a amt) dec() decimal.Decimal {
	if a.big {
		return a.d
	}
	return decimal.New(a.v, -fixScale)
}

func (a amt) cmp(b amt) int {
	if !a.big && !b.big {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	}
	return a.dec().Cmp(b.dec())
}

func (a amt) neg() amt {
	if a.big {
		return amt{big: true, d: a.d.Neg()}
	}
	return amt{v: -a.v}
}

// acc is an exact sum of amounts: v units of 10^-fixScale plus d (wide)
// for what did not fit.
type acc struct {
	v    int64
	wide bool
	d    decimal.Decimal
}

func (s *acc) add(x amt) {
	if x.big {
		s.d, s.wide = s.d.Add(x.d), true
		return
	}
	r := s.v + x.v
	if (x.v > 0 && r < s.v) || (x.v < 0 && r > s.v) { // overflow: spill
		s.d, s.wide = s.d.Add(decimal.New(s.v, -fixScale)), true
		r = x.v
	}
	s.v = r
}

func (s *acc) merge(o *acc) {
	s.add(amt{v: o.v})
	if o.wide {
		s.d, s.wide = s.d.Add(o.d), true
	}
}

// dec returns the sum as a decimal.
func (s *acc) dec() decimal.Decimal {
	v := decimal.New(s.v, -fixScale)
	if s.wide {
		return s.d.Add(v)
	}
	return v
}

func (s *acc) cmp(o *acc) int {
	if !s.wide && !o.wide {
		return amt{v: s.v}.cmp(amt{v: o.v})
	}
	return s.dec().Cmp(o.dec())
}

// sub returns s − o.
func (s *acc) sub(o *acc) amt {
	if !s.wide && !o.wide {
		r := s.v - o.v
		if !((o.v > 0 && r > s.v) || (o.v < 0 && r < s.v)) {
			return amt{v: r}
		}
	}
	return amt{big: true, d: s.dec().Sub(o.dec())}
}

// rScale is the number of places of an R multiple (trading.RMultiple).
const rScale = 4

// rMultiple is trading.RMultiple(pnl, risk) for a positive risk, in
// units of 10^-rScale, when both amounts are small; ok false otherwise.
func rMultiple(pnl, risk amt) (int64, bool) {
	if pnl.big || risk.big || risk.v <= 0 {
		return 0, false
	}
	neg, p := pnl.v < 0, pnl.v
	if neg {
		p = -p
	}
	hi, lo := bits.Mul64(uint64(p), uint64(pow10[rScale])) //nolint:gosec // p ≥ 0: |pnl.v| ≤ MaxInt64
	k := uint64(risk.v)
	if hi >= k {
		return 0, false
	}
	q, r := bits.Div64(hi, lo, k)
	if r >= k-r { // half away from zero, like decimal.DivRound
		q++
	}
	if q > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(q), true
	}
	return int64(q), true
}

// Amount is an exact amount as a Source hands it over: an int64 count of
// 10^-FixScale when it fits (every realistic amount), else a decimal. A
// source that parses its rows straight into units (FixedAmount) saves the
// big.Int that every decimal carries; the figures are the same.
type Amount struct{ a amt }

// FixScale is the number of decimal places of FixedAmount's units.
const FixScale = fixScale

// FixedAmount is units × 10^-FixScale.
func FixedAmount(units int64) Amount { return Amount{amt{v: units}} }

// AmountOf is d, exactly.
func AmountOf(d decimal.Decimal) Amount { return Amount{amtOf(d)} }

// Decimal returns the amount as a decimal.
func (a Amount) Decimal() decimal.Decimal { return a.a.dec() }

// Add returns a + b, exactly.
func (a Amount) Add(b Amount) Amount {
	if !a.a.big && !b.a.big {
		r := a.a.v + b.a.v
		if !((b.a.v > 0 && r < a.a.v) || (b.a.v < 0 && r > a.a.v)) {
			return Amount{amt{v: r}}
		}
	}
	return AmountOf(a.Decimal().Add(b.Decimal()))
}

// Sign is −1, 0 or +1.
func (a Amount) Sign() int {
	if a.a.big {
		return a.a.d.Sign()
	}
	switch {
	case a.a.v < 0:
		return -1
	case a.a.v > 0:
		return 1
	}
	return 0
}

// NullAmount is an Amount that may be absent.
type NullAmount struct {
	Amount Amount
	Valid  bool
}
