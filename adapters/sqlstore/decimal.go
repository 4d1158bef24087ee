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
	if d, ok := parseSmallDecimal(b); ok {
		*s.d = d
		return nil
	}
	d, err := decimal.NewFromString(string(b))
	if err != nil {
		return fmt.Errorf("sqlstore: decimal %q: %w", b, err)
	}
	*s.d = d
	return nil
}

// parseSmallDecimal parses [-]digits[.digits] of at most 18 digits.
func parseSmallDecimal(b []byte) (decimal.Decimal, bool) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) == 0 {
		return decimal.Decimal{}, false
	}
	var m int64
	digits, frac, point, seen := 0, 0, false, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if digits == 18 {
				return decimal.Decimal{}, false
			}
			m = m*10 + int64(c-'0')
			if m != 0 || point {
				digits++
			}
			if point {
				frac++
			}
		case c == '.' && !point:
			point = true
		default:
			return decimal.Decimal{}, false
		}
	}
	if !seen {
		return decimal.Decimal{}, false
	}
	if neg {
		m = -m
	}
	return decimal.New(m, int32(-frac)), true
}
