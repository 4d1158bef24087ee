package trading

import (
	"math"
	"math/bits"

	"github.com/shopspring/decimal"
)

// The fast path of Build: the same algorithm as builder, on int64
// fixed-point numbers that carry their decimal exponent as
// shopspring/decimal does (a sum has the smaller exponent of its terms, a
// product the sum of theirs, DivRound the exponent −precision, and the
// same rounding half away from zero), so that every figure it produces
// has the coefficient and the exponent the decimal path would give. Any
// input that does not fit (more than 18 digits, an unusual exponent) and
// any step that would overflow int64 sets ovf, and Build then runs the
// decimal path instead: the fast path is an optimisation, never an
// approximation. TestBuildFastMatchesDecimal compares the two on random
// positions.

// fx is coefficient × 10^exp.
type fx struct {
	c int64
	e int32
}

// Exponents outside this range are left to the decimal path (no broker
// quotes 10^-30; keeping them small keeps every rescale within pow10).
const fxMaxExp = 30

var pow10u = func() (p [20]uint64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// fxOf converts d, or reports that it does not fit.
func fxOf(d decimal.Decimal) (fx, bool) {
	e := d.Exponent()
	if e > fxMaxExp || e < -fxMaxExp || d.NumDigits() > 18 {
		return fx{}, false
	}
	return fx{c: d.CoefficientInt64(), e: e}, true
}

type fxOps struct{ ovf bool }

// scaleUp returns c × 10^n, flagging overflow.
func (o *fxOps) scaleUp(c int64, n int32) int64 {
	if n == 0 || c == 0 {
		return c
	}
	if n >= int32(len(pow10u)) {
		o.ovf = true
		return 0
	}
	neg := c < 0
	u := abs64(c)
	hi, lo := bits.Mul64(u, pow10u[n])
	if hi != 0 || lo > math.MaxInt64 {
		o.ovf = true
		return 0
	}
	if neg {
		return -int64(lo)
	}
	return int64(lo)
}

// align returns the coefficients of a and b at the smaller exponent.
func (o *fxOps) align(a, b fx) (int64, int64, int32) {
	switch {
	case a.e < b.e:
		return a.c, o.scaleUp(b.c, b.e-a.e), a.e
	case a.e > b.e:
		return o.scaleUp(a.c, a.e-b.e), b.c, b.e
	}
	return a.c, b.c, a.e
}

func (o *fxOps) add(a, b fx) fx {
	x, y, e := o.align(a, b)
	r := x + y
	if (x >= 0) == (y >= 0) && (r >= 0) != (x >= 0) {
		o.ovf = true
	}
	return fx{c: r, e: e}
}

func (o *fxOps) sub(a, b fx) fx {
	if b.c == math.MinInt64 {
		o.ovf = true
		return fx{}
	}
	return o.add(a, fx{c: -b.c, e: b.e})
}

func (o *fxOps) neg(a fx) fx {
	if a.c == math.MinInt64 {
		o.ovf = true
	}
	return fx{c: -a.c, e: a.e}
}

func (o *fxOps) mul(a, b fx) fx {
	e := int64(a.e) + int64(b.e)
	if e > fxMaxExp*2 || e < -fxMaxExp*2 {
		o.ovf = true
		return fx{}
	}
	if a.c == 0 || b.c == 0 {
		return fx{c: 0, e: int32(e)}
	}
	hi, lo := bits.Mul64(abs64(a.c), abs64(b.c))
	if hi != 0 || lo > math.MaxInt64 {
		o.ovf = true
		return fx{}
	}
	r := int64(lo)
	if (a.c < 0) != (b.c < 0) {
		r = -r
	}
	return fx{c: r, e: int32(e)}
}

// cmp compares the values of a and b.
func (o *fxOps) cmp(a, b fx) int {
	x, y, _ := o.align(a, b)
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// min is decimal.Min(a, b): b only when strictly smaller.
func (o *fxOps) min(a, b fx) fx {
	if o.cmp(b, a) < 0 {
		return b
	}
	return a
}

// divRound is decimal.Decimal.DivRound: a / b rounded half away from zero
// to prec places, with the exponent −prec.
func (o *fxOps) divRound(a, b fx, prec int32) fx {
	if b.c == 0 {
		o.ovf = true // the decimal path panics here, as it always did
		return fx{e: -prec}
	}
	out := fx{e: -prec}
	e := int64(a.e) - int64(b.e) + int64(prec)
	ua, ub := abs64(a.c), abs64(b.c)
	var hi, lo uint64
	if e >= 0 {
		if e >= int64(len(pow10u)) {
			o.ovf = true
			return out
		}
		hi, lo = bits.Mul64(ua, pow10u[e])
	} else {
		if -e >= int64(len(pow10u)) {
			o.ovf = true
			return out
		}
		var h uint64
		h, ub = bits.Mul64(ub, pow10u[-e])
		if h != 0 {
			o.ovf = true
			return out
		}
		lo = ua
	}
	if hi >= ub {
		o.ovf = true
		return out
	}
	q, r := bits.Div64(hi, lo, ub)
	if r >= ub-r { // 2r ≥ divisor: away from zero
		q++
	}
	if q > math.MaxInt64 {
		o.ovf = true
		return out
	}
	out.c = int64(q)
	if (a.c < 0) != (b.c < 0) {
		out.c = -out.c
	}
	return out
}

func abs64(c int64) uint64 {
	if c < 0 {
		return uint64(-c) // MinInt64 gives 1<<63, its magnitude
	}
	return uint64(c)
}

// fexec is an execution's figures as fx.
type fexec struct {
	e                      *Execution
	qty, price, comm, fees fx
}

type flot struct{ qty, price fx }

// fleg is a leg under construction: its figures as fx, and whether its
// quantity, commission and fees are the execution's own (then the
// execution's decimals are reused), which they are unless the fill was
// split.
type fleg struct {
	e                     *fexec
	role                  Role
	qty, comm, fees, real fx
	own                   bool
}

type ftrade struct {
	t                              Trade
	legs                           []fleg
	qty, maxPos, comm, fees, gross fx
}

type fastBuilder struct {
	fxOps
	p          BuildParams
	mult, band fx
	out        []Trade

	cur           *ftrade
	curBuf        ftrade // what cur points to: one per build, reset per trade
	legSlab       []Leg  // the trades' legs are cut from it
	long          bool
	pos           fx
	signedMult    fx
	lots          []flot
	entryNotional fx
	exitQty       fx
	exitNotional  fx
	decs          decCache
}

// buildFast is Build on fx; ok is false when anything did not fit.
func buildFast(order []*Execution, p BuildParams) (trades []Trade, ok bool) {
	var b fastBuilder
	b.p = p
	if b.mult, ok = fxOf(p.Multiplier); !ok {
		return nil, false
	}
	if b.band, ok = fxOf(p.BreakevenBand); !ok {
		return nil, false
	}
	fills := make([]fexec, len(order))
	for i, e := range order {
		f := &fills[i]
		f.e = e
		var ok1, ok2, ok3, ok4 bool
		f.qty, ok1 = fxOf(e.Quantity)
		f.price, ok2 = fxOf(e.Price)
		f.comm, ok3 = fxOf(e.Commission)
		f.fees, ok4 = fxOf(e.Fees)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, false
		}
	}
	b.out = make([]Trade, 0, len(order)/2+1)
	for i := 0; i < len(fills) && !b.ovf; {
		j := i + 1
		for j < len(fills) && fills[j].e.ExecutedAt.Equal(fills[i].e.ExecutedAt) {
			j++
		}
		if j-i == 1 {
			b.fill(&fills[i])
		} else {
			b.group(fills[i:j])
		}
		i = j
	}
	if b.cur != nil && !b.ovf {
		b.close()
	}
	if b.ovf {
		return nil, false
	}
	return b.out, true
}

// group is builder.group.
func (b *fastBuilder) group(g []fexec) {
	var buys, sells []*fexec
	for i := range g {
		if g[i].e.Side == Buy {
			buys = append(buys, &g[i])
		} else {
			sells = append(sells, &g[i])
		}
	}
	for len(buys)+len(sells) > 0 && !b.ovf {
		var next *fexec
		sell := len(buys) == 0
		if len(buys) > 0 && len(sells) > 0 && b.cur != nil { // as builder.group
			if b.long {
				sell = b.cmp(sells[0].qty, b.pos) <= 0
			} else {
				sell = b.cmp(buys[0].qty, b.pos) > 0
			}
		}
		if sell {
			next, sells = sells[0], sells[1:]
		} else {
			next, buys = buys[0], buys[1:]
		}
		b.fill(next)
	}
}

// fill is builder.fill, step for step.
func (b *fastBuilder) fill(f *fexec) {
	e := f.e
	qty, comm, fees := f.qty, f.comm, f.fees
	own := true // qty, comm and fees are still the execution's own
	if b.cur != nil && b.long == (e.Side == Sell) {
		closeQ := b.min(qty, b.pos)
		cShare, fShare := comm, fees
		split := b.cmp(closeQ, qty) < 0
		if split {
			cShare = b.share(comm, closeQ, qty)
			fShare = b.share(fees, closeQ, qty)
		}
		points := fx{}
		left := closeQ
		for left.c > 0 && !b.ovf {
			if len(b.lots) == 0 {
				b.ovf = true // cannot happen: pos is the lots' sum
				return
			}
			l := &b.lots[0]
			take := b.min(left, l.qty)
			if d := b.sub(f.price, l.price); d.c != 0 {
				points = b.add(points, b.mul(d, take))
			}
			if b.cmp(take, l.qty) == 0 {
				b.lots = b.lots[1:]
			} else {
				l.qty = b.sub(l.qty, take)
			}
			left = b.sub(left, take)
		}
		realized := fx{}
		if points.c != 0 {
			realized = b.mul(points, b.signedMult)
		}
		b.leg(fleg{e: f, role: Exit, qty: closeQ, comm: cShare, fees: fShare, real: realized,
			own: !split})
		b.exitQty = b.add(b.exitQty, closeQ)
		b.exitNotional = b.add(b.exitNotional, b.mul(closeQ, f.price))
		b.pos = b.sub(b.pos, closeQ)
		if b.pos.c == 0 {
			b.cur.t.Status = Closed
			b.cur.t.ClosedAt = e.ExecutedAt
			b.close()
		}
		if !split {
			return
		}
		qty = b.sub(qty, closeQ)
		comm, fees = b.sub(comm, cShare), b.sub(fees, fShare)
		own = false
	}
	if b.ovf {
		return
	}
	if b.cur == nil {
		dir := Long
		b.long, b.signedMult = e.Side == Buy, b.mult
		if !b.long {
			dir, b.signedMult = Short, b.neg(b.mult)
		}
		local := e.ExecutedAt.In(b.p.Location)
		b.curBuf = ftrade{t: Trade{
			UserID: e.UserID, AccountID: e.AccountID, InstrumentID: e.InstrumentID, Symbol: e.Symbol, AssetClass: e.AssetClass,
			Direction: dir, Status: Open, OpeningExecutionID: e.ID, Multiplier: b.p.Multiplier, Currency: b.p.Currency, OpenedAt: e.ExecutedAt,
			OpenWeekday: local.Weekday(), OpenHour: local.Hour(),
		}, legs: b.curBuf.legs[:0]}
		b.cur = &b.curBuf
	}
	b.leg(fleg{e: f, role: Entry, qty: qty, comm: comm, fees: fees, own: own})
	b.lots = append(b.lots, flot{qty: qty, price: f.price})
	b.pos = b.add(b.pos, qty)
	b.cur.qty = b.add(b.cur.qty, qty)
	b.entryNotional = b.add(b.entryNotional, b.mul(qty, f.price))
	if b.cmp(b.pos, b.cur.maxPos) > 0 {
		b.cur.maxPos = b.pos
	}
}

// share is share() of builder.go.
func (b *fastBuilder) share(amount, part, whole fx) fx {
	if amount.c == 0 {
		return amount
	}
	return b.divRound(b.mul(amount, part), whole, shareScale)
}

func (b *fastBuilder) leg(l fleg) {
	t := b.cur
	t.legs = append(t.legs, l)
	if l.comm.c != 0 {
		t.comm = b.add(t.comm, l.comm)
	}
	if l.fees.c != 0 {
		t.fees = b.add(t.fees, l.fees)
	}
	if l.real.c != 0 {
		t.gross = b.add(t.gross, l.real)
	}
}

// close is builder.close, then turns the figures into decimals.
func (b *fastBuilder) close() {
	ft := b.cur
	t := &ft.t
	if ft.qty.c == 0 {
		b.ovf = true // the decimal path divides by it and panics: let it
		return
	}
	var openQ, cost, avgExit fx
	avgEntry := b.divRound(b.entryNotional, ft.qty, avgScale)
	hasExit := b.exitQty.c > 0
	if hasExit {
		avgExit = b.divRound(b.exitNotional, b.exitQty, avgScale)
	}
	net := b.sub(b.sub(ft.gross, ft.comm), ft.fees)
	if t.Status == Closed {
		t.Holding = t.ClosedAt.Sub(t.OpenedAt)
		switch {
		case b.cmp(net, b.band) > 0:
			t.Outcome = Win
		case b.cmp(net, b.neg(b.band)) < 0:
			t.Outcome = Loss
		default:
			t.Outcome = Breakeven
		}
	} else {
		openQ = b.pos
		cb := fx{}
		for _, l := range b.lots {
			cb = b.add(cb, b.mul(l.qty, l.price))
		}
		cost = b.mul(cb, b.mult)
	}
	if b.ovf {
		return
	}
	d := &b.decs
	t.Quantity, t.MaxPosition, t.OpenQuantity, t.CostBasis = d.dec(ft.qty), d.dec(ft.maxPos), d.dec(openQ), d.dec(cost)
	t.AvgEntryPrice = d.dec(avgEntry)
	if hasExit {
		t.AvgExitPrice = decimal.NewNullDecimal(d.dec(avgExit))
	}
	t.GrossPnL, t.Commission, t.Fees, t.NetPnL = d.dec(ft.gross), d.dec(ft.comm), d.dec(ft.fees), d.dec(net)
	if len(b.legSlab)+len(ft.legs) > cap(b.legSlab) {
		b.legSlab = make([]Leg, 0, max(len(ft.legs), 512))
	}
	start := len(b.legSlab)
	b.legSlab = b.legSlab[:start+len(ft.legs)]
	t.Legs = b.legSlab[start : start+len(ft.legs) : start+len(ft.legs)] // capped: an append elsewhere copies
	for i := range ft.legs {
		l := &ft.legs[i]
		e := l.e.e
		leg := Leg{ExecutionID: e.ID, Role: l.role, Side: e.Side, Quantity: e.Quantity, Price: e.Price,
			Commission: e.Commission, Fees: e.Fees, RealizedPnL: d.dec(l.real), ExecutedAt: e.ExecutedAt, Seq: i}
		if !l.own {
			leg.Quantity, leg.Commission, leg.Fees = d.dec(l.qty), d.dec(l.comm), d.dec(l.fees)
		}
		t.Legs[i] = leg
	}
	b.out = append(b.out, *t)
	b.cur, b.lots, b.pos = nil, b.lots[:0], fx{}
	b.entryNotional, b.exitQty, b.exitNotional = fx{}, fx{}, fx{}
}

// decCache turns fx into decimals, sharing one decimal among equal
// figures of a build (decimals are immutable): the commissions, fees and
// quantities of a book repeat, and each new decimal costs two allocations.
type decCache struct {
	slots [512]struct {
		k fx
		d decimal.Decimal
		v bool
	}
}

func (c *decCache) dec(v fx) decimal.Decimal {
	if v.c == 0 && v.e == 0 {
		return decimal.Decimal{} // what the decimal path's zero value is
	}
	h := (uint64(v.c)*0x9E3779B97F4A7C15 ^ uint64(uint32(v.e))*0xC2B2AE3D27D4EB4F) >> 55 //nolint:gosec // a hash: the bits, not the value
	s := &c.slots[h]
	if s.v && s.k == v {
		return s.d
	}
	s.k, s.d, s.v = v, decimal.New(v.c, v.e), true
	return s.d
}
