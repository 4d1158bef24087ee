package trading

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/shopspring/decimal"
)

// Scales of the figures Build rounds: an allocated fee share, an average
// price and an R-multiple. Sums are exact: the last share of a fill takes
// what the rounded ones left, so the shares of a fill add up to its fee.
const (
	shareScale = 10
	avgScale   = 10
	rScale     = 4
)

// BuildParams are the terms Build applies to one position.
type BuildParams struct {
	// Multiplier is the effective contract multiplier (the account's
	// override of the instrument's root, else the instrument's); > 0.
	Multiplier decimal.Decimal
	// Location is the account's time zone (OpenWeekday, OpenHour); nil
	// means UTC.
	Location *time.Location
	// BreakevenBand is ε of OutcomeOf.
	BreakevenBand decimal.Decimal
	// Currency is the trades' Currency (TradeCurrency).
	Currency string
}

// Build derives the trades of one position from its executions, given in
// any order. It is deterministic: the same set of executions gives the same
// trades, whatever the order of the slice.
//
// Fills are processed by ExecutedAt. Fills at the same instant (exports
// often keep only seconds) are ordered by content, never by insertion:
// while the position is open, a fill that reduces it goes before one that
// adds to it (so a same-second scalp closes before the next one opens and
// MaxPosition is not inflated); otherwise buys before sells, then by
// quantity, price, commission, fees, fingerprint and ID.
//
// Each trade runs from flat to flat. Exits are matched against the open
// lots first in, first out; each exit leg books its realised gross P&L
// (exit − entry) × quantity × multiplier, sign by direction. A fill larger
// than the open position is split: its closing part ends the trade, the
// rest opens the next one, and its commission and fees are shared pro rata
// by quantity. Trades come back in opening order, without ID, annotation
// or RMultiple (see Reconcile).
func Build(execs []Execution, p BuildParams) []Trade {
	if p.Location == nil {
		p.Location = time.UTC
	}
	order := make([]*Execution, len(execs))
	for i := range execs {
		order[i] = &execs[i]
	}
	slices.SortFunc(order, compareFills)
	if out, ok := buildFast(order, p); ok {
		return out
	}
	return buildDecimal(order, p)
}

// buildDecimal is Build on shopspring/decimal, for any figures; order is
// sorted by compareFills.
func buildDecimal(order []*Execution, p BuildParams) []Trade {
	b := builder{p: p}
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j].ExecutedAt.Equal(order[i].ExecutedAt) {
			j++
		}
		if j-i == 1 {
			b.fill(order[i])
		} else {
			b.group(order[i:j])
		}
		i = j
	}
	b.finish()
	return b.out
}

// compareFills is the static order: instant, then content.
func compareFills(a, b *Execution) int {
	if c := a.ExecutedAt.Compare(b.ExecutedAt); c != 0 {
		return c
	}
	if a.Side != b.Side {
		if a.Side == Buy {
			return -1
		}
		return 1
	}
	if c := a.Quantity.Cmp(b.Quantity); c != 0 {
		return c
	}
	if c := a.Price.Cmp(b.Price); c != 0 {
		return c
	}
	if c := a.Commission.Cmp(b.Commission); c != 0 {
		return c
	}
	if c := a.Fees.Cmp(b.Fees); c != 0 {
		return c
	}
	if c := cmp.Compare(a.Fingerprint, b.Fingerprint); c != 0 {
		return c
	}
	return bytes.Compare(a.ID[:], b.ID[:])
}

type lot struct {
	qty   decimal.Decimal
	price decimal.Decimal
}

type builder struct {
	p   BuildParams
	out []Trade

	cur           *Trade
	long          bool            // direction of cur
	pos           decimal.Decimal // absolute open quantity of cur
	signedMult    decimal.Decimal // multiplier, negated for a short
	lots          []lot           // open lots, oldest first
	entryNotional decimal.Decimal
	exitQty       decimal.Decimal
	exitNotional  decimal.Decimal
}

// group processes fills of one instant: reducing fills first while the
// position is open (unless the smallest would cross zero while an adding
// fill waits), each side in static order.
func (b *builder) group(g []*Execution) {
	var buys, sells []*Execution
	for _, e := range g {
		if e.Side == Buy {
			buys = append(buys, e)
		} else {
			sells = append(sells, e)
		}
	}
	for len(buys)+len(sells) > 0 {
		var next *Execution
		sell := len(buys) == 0
		if len(buys) > 0 && len(sells) > 0 && b.cur != nil {
			// Open: the smallest reducing fill first, unless even it would
			// cross zero while a fill adding to the position waits (the
			// adds go first then: the instant's fills make one trade where
			// an order of them can, not a reversal nobody held).
			if b.long {
				sell = sells[0].Quantity.LessThanOrEqual(b.pos)
			} else {
				sell = buys[0].Quantity.GreaterThan(b.pos)
			}
		}
		if sell {
			next, sells = sells[0], sells[1:]
		} else { // flat with a buy waiting, or as above
			next, buys = buys[0], buys[1:]
		}
		b.fill(next)
	}
}

// fill applies one execution. Decimal operations allocate, so figures are
// accumulated unscaled and the multiplier applied once per exit.
func (b *builder) fill(e *Execution) {
	qty := e.Quantity
	comm, fees := e.Commission, e.Fees
	if b.cur != nil && b.long == (e.Side == Sell) { // reduces the position
		closeQ := decimal.Min(qty, b.pos)
		cShare, fShare := comm, fees
		split := closeQ.LessThan(qty)
		if split {
			cShare = share(comm, closeQ, qty)
			fShare = share(fees, closeQ, qty)
		}
		points := decimal.Zero // Σ (exit − entry) × quantity over the lots
		left := closeQ
		for left.IsPositive() {
			l := &b.lots[0]
			take := decimal.Min(left, l.qty)
			if d := e.Price.Sub(l.price); !d.IsZero() {
				points = points.Add(d.Mul(take))
			}
			if take.Equal(l.qty) {
				b.lots = b.lots[1:]
			} else {
				l.qty = l.qty.Sub(take)
			}
			left = left.Sub(take)
		}
		realized := decimal.Zero
		if !points.IsZero() {
			realized = points.Mul(b.signedMult)
		}
		b.leg(e, Exit, closeQ, cShare, fShare, realized)
		b.exitQty = b.exitQty.Add(closeQ)
		b.exitNotional = b.exitNotional.Add(closeQ.Mul(e.Price))
		b.pos = b.pos.Sub(closeQ)
		if b.pos.IsZero() {
			b.cur.Status = Closed
			b.cur.ClosedAt = e.ExecutedAt
			b.close()
		}
		if !split {
			return
		}
		qty = qty.Sub(closeQ)
		comm, fees = comm.Sub(cShare), fees.Sub(fShare)
	}
	if b.cur == nil {
		dir := Long
		b.long, b.signedMult = e.Side == Buy, b.p.Multiplier
		if !b.long {
			dir, b.signedMult = Short, b.p.Multiplier.Neg()
		}
		local := e.ExecutedAt.In(b.p.Location)
		b.cur = &Trade{
			UserID: e.UserID, AccountID: e.AccountID, InstrumentID: e.InstrumentID, Symbol: e.Symbol, AssetClass: e.AssetClass,
			Direction: dir, Status: Open, OpeningExecutionID: e.ID, Multiplier: b.p.Multiplier, Currency: b.p.Currency, OpenedAt: e.ExecutedAt,
			OpenWeekday: local.Weekday(), OpenHour: local.Hour(), Legs: make([]Leg, 0, 2),
		}
	}
	b.leg(e, Entry, qty, comm, fees, decimal.Zero)
	b.lots = append(b.lots, lot{qty: qty, price: e.Price})
	b.pos = b.pos.Add(qty)
	b.cur.Quantity = b.cur.Quantity.Add(qty)
	b.entryNotional = b.entryNotional.Add(qty.Mul(e.Price))
	if b.pos.GreaterThan(b.cur.MaxPosition) {
		b.cur.MaxPosition = b.pos
	}
}

// share is amount × part / whole, rounded to shareScale places.
func share(amount, part, whole decimal.Decimal) decimal.Decimal {
	if amount.IsZero() {
		return amount
	}
	return amount.Mul(part).DivRound(whole, shareScale)
}

func (b *builder) leg(e *Execution, role Role, qty, comm, fees, realized decimal.Decimal) {
	t := b.cur
	t.Legs = append(t.Legs, Leg{ExecutionID: e.ID, Role: role, Side: e.Side, Quantity: qty, Price: e.Price,
		Commission: comm, Fees: fees, RealizedPnL: realized, ExecutedAt: e.ExecutedAt, Seq: len(t.Legs)})
	if !comm.IsZero() {
		t.Commission = t.Commission.Add(comm)
	}
	if !fees.IsZero() {
		t.Fees = t.Fees.Add(fees)
	}
	if !realized.IsZero() {
		t.GrossPnL = t.GrossPnL.Add(realized)
	}
}

// close finalises the current trade's derived figures and appends it.
func (b *builder) close() {
	t := b.cur
	t.AvgEntryPrice = b.entryNotional.DivRound(t.Quantity, avgScale)
	if b.exitQty.IsPositive() {
		t.AvgExitPrice = decimal.NewNullDecimal(b.exitNotional.DivRound(b.exitQty, avgScale))
	}
	t.NetPnL = t.GrossPnL.Sub(t.Commission).Sub(t.Fees)
	if t.Status == Closed {
		t.Holding = t.ClosedAt.Sub(t.OpenedAt)
		t.Outcome = OutcomeOf(t.NetPnL, b.p.BreakevenBand)
	} else {
		t.OpenQuantity = b.pos
		cb := decimal.Zero
		for _, l := range b.lots {
			cb = cb.Add(l.qty.Mul(l.price))
		}
		t.CostBasis = cb.Mul(b.p.Multiplier)
	}
	b.out = append(b.out, *t)
	b.cur, b.lots, b.pos = nil, b.lots[:0], decimal.Zero
	b.entryNotional, b.exitQty, b.exitNotional = decimal.Zero, decimal.Zero, decimal.Zero
}

func (b *builder) finish() {
	if b.cur != nil {
		b.close()
	}
}

// RMultiple is net / risk rounded to four places, null when risk is not a
// positive amount.
func RMultiple(net decimal.Decimal, risk decimal.NullDecimal) decimal.NullDecimal {
	if !risk.Valid || !risk.Decimal.IsPositive() {
		return decimal.NullDecimal{}
	}
	return decimal.NewNullDecimal(net.DivRound(risk.Decimal, rScale))
}
