package analytics

import (
	"math/big"

	"github.com/shopspring/decimal"
)

// sqrtPrec is the mantissa precision (bits) of the square roots: about 77
// significant digits, far beyond the Scale places a result keeps, so that
// rounding the result once is rounding the exact value (short of a tie at
// the 77th digit).
const sqrtPrec = 256

var (
	hundred = decimal.NewFromInt(100)
	// annualise is the number of trading days in a year (the √252 of
	// Sharpe and Sortino).
	annualise = decimal.NewFromInt(252)
)

func null(d decimal.Decimal) decimal.NullDecimal { return decimal.NewNullDecimal(d) }

// quo is a / b rounded half away from zero to Scale places; null when b is
// zero.
func quo(a, b decimal.Decimal) decimal.NullDecimal {
	if b.IsZero() {
		return decimal.NullDecimal{}
	}
	return null(a.DivRound(b, Scale))
}

func quoInt(a decimal.Decimal, n int) decimal.NullDecimal {
	return quo(a, decimal.NewFromInt(int64(n)))
}

// ratioInt is a / b of two counts, rounded; null when b is zero.
func ratioInt(a, b int) decimal.NullDecimal {
	return quo(decimal.NewFromInt(int64(a)), decimal.NewFromInt(int64(b)))
}

// sqrtTimes returns m × √(num / den) rounded half away from zero to Scale
// places: the inputs are exact, the root is taken with sqrtPrec bits.
// num / den must be positive; den must not be zero.
func sqrtTimes(m decimal.Decimal, num, den *big.Rat) decimal.Decimal {
	q := new(big.Rat).Quo(num, den)
	f := new(big.Float).SetPrec(sqrtPrec).SetRat(q)
	f.Sqrt(f)
	f.Mul(f, new(big.Float).SetPrec(sqrtPrec).SetRat(m.Rat()))
	// 40 places, then one rounding to Scale.
	d, err := decimal.NewFromString(f.Text('f', 40))
	if err != nil { // unreachable: 'f' formatting of a finite float
		panic(err)
	}
	return d.Round(Scale)
}

func rat(d decimal.Decimal) *big.Rat { return d.Rat() }

func ratInt(n int) *big.Rat { return new(big.Rat).SetInt64(int64(n)) }

// fraction is a non-negative ratio num/den (den > 0) kept exact for
// comparisons.
type fraction struct{ num, den decimal.Decimal }

func (a fraction) greater(b fraction) bool {
	if b.den.IsZero() {
		return !a.den.IsZero()
	}
	return a.num.Mul(b.den).GreaterThan(b.num.Mul(a.den))
}
