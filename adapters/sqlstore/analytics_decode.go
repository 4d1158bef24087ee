package sqlstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/analytics"
)

// The analytics stream's values in PostgreSQL's binary format (uuid: 16
// bytes; int2/int8: big-endian; numeric: base-10000 digits) and amounts
// in text (SQLite), parsed into analytics.Amount's int64 units of
// 10^-FixScale when they fit and into an exact decimal otherwise.

var unitPow10 = func() [19]int64 {
	var p [19]int64
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

func binUUID(v []byte) (uuid.UUID, error) {
	if v == nil {
		return uuid.Nil, nil
	}
	if len(v) != 16 {
		return uuid.Nil, fmt.Errorf("uuid of %d bytes", len(v))
	}
	return uuid.UUID(v), nil
}

// binInt reads an int2, int4 or int8 (NULL: 0).
func binInt(v []byte) (int64, error) {
	switch len(v) {
	case 0:
		if v == nil {
			return 0, nil
		}
	case 2:
		return int64(int16(binary.BigEndian.Uint16(v))), nil //nolint:gosec // two's complement, as sent
	case 4:
		return int64(int32(binary.BigEndian.Uint32(v))), nil //nolint:gosec // two's complement, as sent
	case 8:
		return int64(binary.BigEndian.Uint64(v)), nil //nolint:gosec // two's complement, as sent
	}
	return 0, fmt.Errorf("integer of %d bytes", len(v))
}

func binTime(v []byte) (time.Time, error) {
	n, err := binInt(v)
	return nsTime(n), err
}

// Sign words of the binary numeric.
const (
	numericPos = 0x0000
	numericNeg = 0x4000
)

var errNumericSpecial = errors.New("numeric NaN or infinity is not an amount")

// numericHeader reads a binary numeric's header: ndigits, weight, sign
// and dscale (2 bytes each), checked against the ndigits base-10000 digits
// that follow it (the first of weight 10000^weight); NaN and the
// infinities are errNumericSpecial.
func numericHeader(v []byte) (n, weight int, sign uint16, dscale int, err error) {
	if len(v) < 8 {
		return 0, 0, 0, 0, fmt.Errorf("numeric of %d bytes", len(v))
	}
	n = int(binary.BigEndian.Uint16(v))
	weight = int(int16(binary.BigEndian.Uint16(v[2:]))) //nolint:gosec // two's complement, as sent
	sign = binary.BigEndian.Uint16(v[4:])
	dscale = int(binary.BigEndian.Uint16(v[6:]))
	if len(v) != 8+2*n {
		return 0, 0, 0, 0, fmt.Errorf("numeric of %d bytes for %d digits", len(v), n)
	}
	if sign != numericPos && sign != numericNeg {
		return 0, 0, 0, 0, errNumericSpecial
	}
	return n, weight, sign, dscale, nil
}

// binAmount reads a numeric (numericHeader, then its digits).
func binAmount(v []byte) (analytics.Amount, error) {
	n, weight, sign, _, err := numericHeader(v)
	if err != nil {
		return analytics.Amount{}, err
	}
	var units int64
	fits := true
	for i := 0; i < n && fits; i++ {
		d := int64(binary.BigEndian.Uint16(v[8+2*i:]))
		// The power of ten of this digit's units in the 10^-FixScale
		// representation.
		e := 4*(weight-i) + analytics.FixScale
		var add int64
		switch {
		case d == 0:
		case e >= len(unitPow10):
			fits = false
		case e >= 0:
			if d > math.MaxInt64/unitPow10[e] {
				fits = false
			}
			add = d * unitPow10[e]
		case e > -4:
			if d%unitPow10[-e] != 0 { // places below 10^-FixScale
				fits = false
			}
			add = d / unitPow10[-e]
		default:
			fits = false
		}
		if add > math.MaxInt64-units {
			fits = false
		}
		units += add
	}
	if fits {
		if sign == numericNeg {
			units = -units
		}
		return analytics.FixedAmount(units), nil
	}
	// Exactly, in a big.Int: Σ d_i × 10000^(n−1−i) × 10^(4 (weight − n + 1)).
	c := new(big.Int)
	base := big.NewInt(10000)
	for i := range n {
		c.Mul(c, base)
		c.Add(c, big.NewInt(int64(binary.BigEndian.Uint16(v[8+2*i:]))))
	}
	if sign == numericNeg {
		c.Neg(c)
	}
	return analytics.AmountOf(decimal.NewFromBigInt(c, int32(4*(weight-n+1)))), nil //nolint:gosec // |weight| < 2^15
}

// textAmount reads [-+]digits[.digits] (an amount stored as TEXT).
func textAmount(v []byte) (analytics.Amount, error) {
	if m, frac, ok := scanSmallDecimal(v); ok && frac <= analytics.FixScale {
		if p := unitPow10[analytics.FixScale-frac]; m <= math.MaxInt64/p && m >= -math.MaxInt64/p {
			return analytics.FixedAmount(m * p), nil
		}
	}
	d, err := decimal.NewFromString(string(v))
	if err != nil {
		return analytics.Amount{}, fmt.Errorf("sqlstore: decimal %q: %w", v, err)
	}
	return analytics.AmountOf(d), nil
}
