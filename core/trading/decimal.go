package trading

import (
	"fmt"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

// Bounds of the decimals this package accepts from outside: enough for any
// price, quantity or amount a broker reports (18 integer digits, 12
// fractional), small enough that no input costs more than a few
// allocations. NUMERIC in PostgreSQL and TEXT in SQLite keep them exactly.
const (
	MaxIntDigits  = 18
	MaxFracDigits = 12
)

// ParseDecimal decodes a decimal as the API and the importers receive it:
// an optional sign, digits, an optional point and more digits ("1234.50",
// "-0.5", ".25", "+3"). Exponents, thousands separators, spaces, NaN and
// infinities are refused, as are numbers beyond MaxIntDigits integer or
// MaxFracDigits fractional digits. field names the input in the error
// (apperr.Invalid, "decimal_invalid").
func ParseDecimal(field, s string) (decimal.Decimal, error) {
	bad := func(why string) (decimal.Decimal, error) {
		e := apperr.Validation(fmt.Sprintf("%s is not a decimal", field), map[string]string{field: why})
		e.Code = CodeDecimalInvalid
		return decimal.Decimal{}, e
	}
	if s == "" {
		return bad("must be a decimal string such as \"1234.50\"")
	}
	i := 0
	if s[0] == '-' || s[0] == '+' {
		i = 1
	}
	intDigits, fracDigits, point := 0, 0, false
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if point {
				fracDigits++
			} else {
				intDigits++
			}
		case c == '.' && !point:
			point = true
		default:
			return bad("must be a decimal string such as \"1234.50\" (digits, one point, an optional sign)")
		}
	}
	if intDigits+fracDigits == 0 {
		return bad("must contain digits")
	}
	// Leading zeros do not count against the bound.
	lead := 0
	for j := 0; j < len(s) && lead < intDigits; j++ {
		if s[j] == '-' || s[j] == '+' {
			continue
		}
		if s[j] != '0' {
			break
		}
		lead++
	}
	if intDigits-lead > MaxIntDigits {
		return bad(fmt.Sprintf("must have at most %d integer digits", MaxIntDigits))
	}
	if fracDigits > MaxFracDigits {
		return bad(fmt.Sprintf("must have at most %d decimal places", MaxFracDigits))
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return bad("must be a decimal string such as \"1234.50\"")
	}
	return d, nil
}

// AppendDecimal appends d's canonical text (no exponent, no trailing
// fractional zeros: decimal.Decimal.String's form) to b. Values of up to 18
// digits are formatted without big.Int, which rebuilds and bulk writes do
// for every figure of every trade.
func AppendDecimal(b []byte, d decimal.Decimal) []byte {
	e := d.Exponent()
	if d.NumDigits() > 18 || e > 0 {
		return append(b, d.String()...)
	}
	c := d.CoefficientInt64()
	for e < 0 && c%10 == 0 && c != 0 {
		c /= 10
		e++
	}
	if c == 0 {
		return append(b, '0')
	}
	if c < 0 {
		b = append(b, '-')
		c = -c
	}
	if e == 0 {
		return strconv.AppendInt(b, c, 10)
	}
	var digits [20]byte
	ds := strconv.AppendInt(digits[:0], c, 10)
	frac := int(-e)
	if len(ds) <= frac {
		b = append(b, '0', '.')
		for range frac - len(ds) {
			b = append(b, '0')
		}
		return append(b, ds...)
	}
	b = append(b, ds[:len(ds)-frac]...)
	b = append(b, '.')
	return append(b, ds[len(ds)-frac:]...)
}
