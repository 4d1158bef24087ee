package imports

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// rowReader reads a row's fields in the order a preset asks for them and
// keeps the first error: once a field is bad the later ones are not read
// (nor their times parsed), exactly as with a return after each read.
type rowReader struct {
	b   *binding
	err error
}

// sideQty is sideAndQty.
func (r *rowReader) sideQty() (trading.Side, decimal.Decimal) {
	if r.err != nil {
		return "", decimal.Zero
	}
	side, q, err := sideAndQty(r.b)
	r.err = err
	return side, q
}

// trade reads the side and quantity, then the price: how most rows start.
func (r *rowReader) trade() (trading.Side, decimal.Decimal, decimal.Decimal) {
	side, q := r.sideQty()
	return side, q, r.amount(fPrice)
}

// amount reads a required amount field.
func (r *rowReader) amount(field string) decimal.Decimal {
	if r.err != nil {
		return decimal.Zero
	}
	d, err := r.b.amount(field)
	r.err = err
	return d
}

// opt reads an optional amount field (zero when empty).
func (r *rowReader) opt(field string) decimal.Decimal {
	if r.err != nil {
		return decimal.Zero
	}
	d, err := r.b.optAmount(field)
	r.err = err
	return d
}

// positive reads a required amount field that must be above zero; label
// names it in the error.
func (r *rowReader) positive(field, label string) decimal.Decimal {
	d := r.amount(field)
	if r.err == nil && !d.IsPositive() {
		r.err = fmt.Errorf("%s: must be positive", label)
	}
	return d
}

// colAmount reads a required amount by header name; label names it in the
// error.
func (r *rowReader) colAmount(col, label string) decimal.Decimal {
	if r.err != nil {
		return decimal.Zero
	}
	d, err := r.b.colAmount(col, label)
	r.err = err
	return d
}

// colTime reads a date-time by header name.
func (r *rowReader) colTime(col string) time.Time {
	if r.err != nil {
		return time.Time{}
	}
	t, _, err := r.b.when(col, r.b.getCol(col))
	r.err = err
	return t
}

// executedAt is binding.executedAt.
func (r *rowReader) executedAt() time.Time {
	if r.err != nil {
		return time.Time{}
	}
	t, err := r.b.executedAt()
	r.err = err
	return t
}

// pnl reads the broker's realized P&L, when the row has one; label names
// it in the error.
func (r *rowReader) pnl(label string) (decimal.Decimal, bool) {
	if r.err != nil {
		return decimal.Zero, false
	}
	v := r.b.get(fPnL)
	if v == "" {
		return decimal.Zero, false
	}
	p, err := ParseAmount(v)
	if err != nil {
		r.err = fmt.Errorf("%s: %w", label, err)
		return decimal.Zero, false
	}
	return p, true
}

// one returns the row's single fill, or the first error.
func (r *rowReader) one(in trading.ExecutionInput) ([]Fill, string, error) {
	if r.err != nil {
		return nil, "", r.err
	}
	return []Fill{fill(in)}, "", nil
}

// legs are the opening and closing sides of a long, or of a short.
func legs(short bool) (open, closing trading.Side) {
	if short {
		return trading.Sell, trading.Buy
	}
	return trading.Buy, trading.Sell
}
