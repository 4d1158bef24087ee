package sqlstore

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// text returns col as text: on PostgreSQL a NUMERIC read as text skips
// pgx's binary decoding and re-formatting through big.Int, which dominated
// reads of 100,000 executions; SQLite stores decimals as TEXT already.
func (d *DB) text(col string) string {
	if d.dialect == Postgres {
		return col + "::text"
	}
	return col
}

// dec scans a decimal stored as text, parsing small values (the usual
// prices, quantities and fees) without big.Int's string conversion.
type dec struct{ d *decimal.Decimal }

// Scan implements sql.Scanner.
func (s dec) Scan(v any) error {
	var b []byte
	switch x := v.(type) {
	case string:
		b = []byte(x)
	case []byte:
		b = x
	default:
		return s.d.Scan(v)
	}
	d, err := decText(b)
	if err != nil {
		return err
	}
	*s.d = d
	return nil
}

// decText parses a decimal's text: small values by scanSmallDecimal,
// the rest by shopspring/decimal.
func decText(b []byte) (decimal.Decimal, error) {
	if m, frac, ok := scanSmallDecimal(b); ok {
		return decimal.New(m, -frac), nil
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("sqlstore: decimal %q: %w", b, err)
	}
	return d, nil
}

// scanSmallDecimal reads [-+]digits[.digits] with at least one digit and
// at most 18 (leading zeros of the integer part aside) as m × 10^-frac; ok is false for anything
// else (which decimal.NewFromString then parses, or rejects).
func scanSmallDecimal(b []byte) (m int64, frac int32, ok bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg || (len(b) > 0 && b[0] == '+') {
		b = b[1:]
	}
	digits, point, seen := 0, false, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if digits == 18 {
				return 0, 0, false
			}
			m = m*10 + int64(c-'0')
			if m != 0 || point { // fraction digits count from the point: frac ≤ 18
				digits++
			}
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			return 0, 0, false
		}
	}
	if !seen {
		return 0, 0, false
	}
	if neg {
		m = -m
	}
	return m, frac, true
}
