package imports

import (
	"bytes"
	"cmp"
	"slices"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// pnlCheck is the broker's realised P&L of one stored closing fill, and
// the builder's figure for it as the rebuild's trades come in.
type pnlCheck struct {
	id   uuid.UUID
	ord  int // order of expect
	line int
	net  bool
	pnl  exact
	got  exact
}

// exact holds a decimal without a heap allocation when its coefficient
// fits an int64 (c × 10^e), else the decimal itself (big): 50,000 checks
// of an import then hold no big.Int each. It is exact either way.
type exact struct {
	c   int64
	e   int32
	big *decimal.Decimal
}

func exactOf(d decimal.Decimal) exact {
	if d.NumDigits() <= 18 {
		return exact{c: d.CoefficientInt64(), e: d.Exponent()}
	}
	return exact{big: &d}
}

func (x exact) dec() decimal.Decimal {
	if x.big != nil {
		return *x.big
	}
	return decimal.New(x.c, x.e)
}

// pnlChecks compares the broker's realised P&L of each closing fill with
// the trade builder's: gross (Σ of the fill's exit legs' RealizedPnL) or
// net (that minus the exit legs' costs and the closed quantity's pro-rata
// share of the trade's entry costs). It is fed trade by trade while the
// positions are written (add), so the import never holds every rebuilt
// trade, and it keeps only the fills that carry a broker P&L, in one
// slice (sorted by execution ID once the trades come in: no map).
type pnlChecks struct {
	list   []pnlCheck
	sorted bool
}

// expect adds the check of the stored execution id (before add).
func (p *pnlChecks) expect(id uuid.UUID, line int, pnl decimal.Decimal, net bool) {
	p.list = append(p.list, pnlCheck{id: id, ord: len(p.list), line: line, pnl: exactOf(pnl), net: net})
}

func (p *pnlChecks) find(id uuid.UUID) *pnlCheck {
	if !p.sorted {
		slices.SortFunc(p.list, func(a, b pnlCheck) int { return bytes.Compare(a.id[:], b.id[:]) })
		p.sorted = true
	}
	i, ok := slices.BinarySearchFunc(p.list, id, func(c pnlCheck, id uuid.UUID) int { return bytes.Compare(c.id[:], id[:]) })
	if !ok {
		return nil
	}
	return &p.list[i]
}

// add feeds one trade created or changed by the rebuild.
func (p *pnlChecks) add(t *trading.Trade) {
	if len(p.list) == 0 {
		return
	}
	entryCost, costed := decimal.Zero, false
	for _, l := range t.Legs {
		if l.Role != trading.Exit {
			continue
		}
		c := p.find(l.ExecutionID)
		if c == nil {
			continue
		}
		if !c.net {
			c.got = exactOf(c.got.dec().Add(l.RealizedPnL))
			continue
		}
		if !costed {
			for _, e := range t.Legs {
				if e.Role == trading.Entry {
					entryCost = entryCost.Add(e.Commission).Add(e.Fees)
				}
			}
			costed = true
		}
		share := decimal.Zero
		if t.Quantity.IsPositive() && !entryCost.IsZero() {
			share = entryCost.Mul(l.Quantity).Div(t.Quantity)
		}
		c.got = exactOf(c.got.dec().Add(l.RealizedPnL).Sub(l.Commission).Sub(l.Fees).Sub(share))
	}
}

// mismatches lists, in file order, the checks whose figures differ by more
// than PnLTolerance, and forgets the checks.
func (p *pnlChecks) mismatches() []Mismatch {
	if p.sorted {
		slices.SortFunc(p.list, func(a, b pnlCheck) int { return cmp.Compare(a.ord, b.ord) })
		p.sorted = false
	}
	var out []Mismatch
	defer func() { p.list = nil }()
	for _, c := range p.list {
		pnl, got := c.pnl.dec(), c.got.dec()
		if pnl.Sub(got).Abs().GreaterThan(PnLTolerance) {
			out = append(out, Mismatch{Line: c.line, BrokerPnL: pnl, ComputedPnL: got.Round(6)})
		}
	}
	return out
}
