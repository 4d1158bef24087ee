package analyticstest

import (
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// This file is the independent calculator: it works every figure out
// again from the CSV's prices, quantities and fees, with the textbook form
// of each definition of docs/analytics.md (the service uses algebraically
// rearranged one-pass forms), in exact rational arithmetic (math/big.Rat),
// square roots in 256-bit big.Float, and one rounding at the end, half
// away from zero. It shares no code with core/analytics.

// Figures maps a figure's contract name to its value ("null" when not
// computable).
type Figures map[string]string

func r(d decimal.Decimal) *big.Rat { return d.Rat() }

func ri(n int) *big.Rat { return new(big.Rat).SetInt64(int64(n)) }

// round returns x rounded half away from zero to places, in the canonical
// form of decimal.Decimal.String.
func round(x *big.Rat, places int32) string {
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(places)), nil)
	s := new(big.Rat).Mul(x, new(big.Rat).SetInt(scale))
	q, m := new(big.Int).QuoRem(s.Num(), s.Denom(), new(big.Int))
	if new(big.Int).Mul(new(big.Int).Abs(m), big.NewInt(2)).Cmp(s.Denom()) >= 0 {
		q.Add(q, big.NewInt(int64(s.Num().Sign())))
	}
	return decimal.NewFromBigInt(q, -places).String()
}

func sqrt(x *big.Rat) *big.Float {
	f := new(big.Float).SetPrec(256).SetRat(x)
	return f.Sqrt(f)
}

func floatRat(f *big.Float) *big.Rat {
	out, _ := f.Rat(nil)
	return out
}

// Trade is one trade as the calculator sees it.
type calcTrade struct {
	g              *GoldenTrade
	gross, costs   *big.Rat
	net, pnl       *big.Rat
	outcome        trading.Outcome
	rm             *big.Rat // nil without risk
	closeDayInZone string
}

// Expect works out the summary figures of the trades, per currency, on the
// basis ("net" or "gross"), with days in zone and each account's band
// (or band when not nil).
func Expect(trades []GoldenTrade, basis string, zone *time.Location, band *decimal.Decimal) map[string]Figures {
	accounts := map[string]GoldenAccount{}
	for _, a := range GoldenAccounts {
		accounts[a.Name] = a
	}
	byCur := map[string][]calcTrade{}
	for i := range trades {
		g := &trades[i]
		sign := ri(1)
		if g.Direction == trading.Short {
			sign = ri(-1)
		}
		gross := new(big.Rat).Mul(new(big.Rat).Sub(r(g.Exit), r(g.Entry)), r(g.Quantity))
		gross.Mul(gross, r(g.Multiplier)).Mul(gross, sign)
		costs := new(big.Rat).Add(r(g.EntryCommission), r(g.EntryFees))
		costs.Add(costs, r(g.ExitCommission)).Add(costs, r(g.ExitFees))
		net := new(big.Rat).Sub(gross, costs)
		t := calcTrade{g: g, gross: gross, costs: costs, net: net, pnl: net, closeDayInZone: g.ExitAt.In(zone).Format("2006-01-02")}
		if basis == "gross" {
			t.pnl = gross
		}
		a := accounts[g.Account]
		eps := r(a.Band)
		if band != nil {
			eps = r(*band)
		}
		switch {
		case t.pnl.Cmp(eps) > 0:
			t.outcome = trading.Win
		case t.pnl.Cmp(new(big.Rat).Neg(eps)) < 0:
			t.outcome = trading.Loss
		default:
			t.outcome = trading.Breakeven
		}
		if g.InitialRisk.Valid {
			// R as trading stores it: rounded to 4 places.
			v, _ := new(big.Rat).SetString(round(new(big.Rat).Quo(t.pnl, r(g.InitialRisk.Decimal)), 4))
			t.rm = v
		}
		byCur[a.Currency] = append(byCur[a.Currency], t)
	}
	out := map[string]Figures{}
	for cur, ts := range byCur {
		sort.Slice(ts, func(i, j int) bool {
			if !ts[i].g.ExitAt.Equal(ts[j].g.ExitAt) {
				return ts[i].g.ExitAt.Before(ts[j].g.ExitAt)
			}
			return ts[i].g.ID.String() < ts[j].g.ID.String()
		})
		out[cur] = figures(ts, accounts)
	}
	return out
}

func figures(ts []calcTrade, accounts map[string]GoldenAccount) Figures {
	f := Figures{}
	n := len(ts)
	var wins, losses []*big.Rat
	gross, fees, net, total := new(big.Rat), new(big.Rat), new(big.Rat), new(big.Rat)
	for _, t := range ts {
		gross.Add(gross, t.gross)
		fees.Add(fees, t.costs)
		net.Add(net, t.net)
		total.Add(total, t.pnl)
		switch t.outcome {
		case trading.Win:
			wins = append(wins, t.pnl)
		case trading.Loss:
			losses = append(losses, t.pnl)
		}
	}
	w, l := len(wins), len(losses)
	f["trade_count"] = fmt.Sprint(n)
	f["wins"] = fmt.Sprint(w)
	f["losses"] = fmt.Sprint(l)
	f["breakevens"] = fmt.Sprint(n - w - l)
	f["gross_pnl"] = decimal.NewFromBigRat(gross, 20).String()
	f["fees"] = decimal.NewFromBigRat(fees, 20).String()
	f["net_pnl"] = decimal.NewFromBigRat(net, 20).String()
	sum := func(v []*big.Rat) *big.Rat {
		s := new(big.Rat)
		for _, x := range v {
			s.Add(s, x)
		}
		return s
	}
	sw, sl := sum(wins), sum(losses)
	absL := new(big.Rat).Abs(sl)
	put := func(k string, ok bool, v func() string) {
		if ok {
			f[k] = v()
		} else {
			f[k] = "null"
		}
	}
	put("win_rate", w+l > 0, func() string { return round(new(big.Rat).Quo(ri(w), ri(w+l)), 4) })
	var avgWin, avgLoss *big.Rat
	if w > 0 {
		avgWin = new(big.Rat).Quo(sw, ri(w))
	}
	if l > 0 {
		avgLoss = new(big.Rat).Quo(sl, ri(l))
	}
	put("avg_win", w > 0, func() string { return round(avgWin, 4) })
	put("avg_loss", l > 0, func() string { return round(avgLoss, 4) })
	put("largest_win", w > 0, func() string {
		m := wins[0]
		for _, x := range wins {
			if x.Cmp(m) > 0 {
				m = x
			}
		}
		return decimal.NewFromBigRat(m, 20).String()
	})
	put("largest_loss", l > 0, func() string {
		m := losses[0]
		for _, x := range losses {
			if x.Cmp(m) < 0 {
				m = x
			}
		}
		return decimal.NewFromBigRat(m, 20).String()
	})
	payoff := func() *big.Rat { return new(big.Rat).Quo(avgWin, new(big.Rat).Abs(avgLoss)) }
	put("payoff_ratio", w > 0 && l > 0, func() string { return round(payoff(), 4) })
	put("profit_factor", l > 0, func() string { return round(new(big.Rat).Quo(sw, absL), 4) })
	// Expectancy as the issue writes it, W/N × avg win − L/N × |avg loss|,
	// plus BE/N × avg breakeven: with a band ε > 0 breakevens have P&L too,
	// and docs/analytics.md defines expectancy as the mean P&L per trade.
	put("expectancy", n > 0, func() string {
		e := new(big.Rat)
		if be := n - w - l; be > 0 {
			sbe := new(big.Rat).Sub(new(big.Rat).Sub(total, sw), sl)
			e.Add(e, new(big.Rat).Mul(new(big.Rat).Quo(ri(be), ri(n)), new(big.Rat).Quo(sbe, ri(be))))
		}
		if w > 0 {
			e.Add(e, new(big.Rat).Mul(new(big.Rat).Quo(ri(w), ri(n)), avgWin))
		}
		if l > 0 {
			e.Sub(e, new(big.Rat).Mul(new(big.Rat).Quo(ri(l), ri(n)), new(big.Rat).Abs(avgLoss)))
		}
		return round(e, 4)
	})
	// Kelly = p − (1 − p) / b.
	put("kelly", w > 0 && l > 0, func() string {
		p := new(big.Rat).Quo(ri(w), ri(w+l))
		q := new(big.Rat).Sub(ri(1), p)
		return round(new(big.Rat).Sub(p, new(big.Rat).Quo(q, payoff())), 4)
	})
	// R: mean and SQN = √N × mean / sample stdev.
	var rs []*big.Rat
	for _, t := range ts {
		if t.rm != nil {
			rs = append(rs, t.rm)
		}
	}
	f["r_count"] = fmt.Sprint(len(rs))
	meanR := new(big.Rat)
	if len(rs) > 0 {
		meanR = new(big.Rat).Quo(sum(rs), ri(len(rs)))
	}
	put("expectancy_r", len(rs) > 0, func() string { return round(meanR, 4) })
	varR := variance(rs)
	put("sqn", len(rs) >= 2 && varR.Sign() != 0, func() string {
		v := new(big.Float).SetPrec(256).SetRat(meanR)
		v.Mul(v, sqrt(ri(len(rs))))
		v.Quo(v, sqrt(varR))
		return round(floatRat(v), 4)
	})
	// The equity curve in close order, from 0.
	cum, peak, maxDD := new(big.Rat), new(big.Rat), new(big.Rat)
	bal := new(big.Rat)
	haveBal := true
	seen := map[string]bool{}
	for _, t := range ts {
		if !seen[t.g.Account] {
			seen[t.g.Account] = true
			a := accounts[t.g.Account]
			if !a.StartingBalance.Valid {
				haveBal = false
			} else {
				bal.Add(bal, r(a.StartingBalance.Decimal))
			}
		}
	}
	haveBal = haveBal && bal.Sign() > 0 && n > 0
	maxPct := new(big.Rat)
	for _, t := range ts {
		cum.Add(cum, t.pnl)
		if cum.Cmp(peak) > 0 {
			peak.Set(cum)
		}
		dd := new(big.Rat).Sub(peak, cum)
		if dd.Cmp(maxDD) > 0 {
			maxDD.Set(dd)
		}
		if haveBal {
			pct := new(big.Rat).Quo(dd, new(big.Rat).Add(bal, peak))
			if pct.Cmp(maxPct) > 0 {
				maxPct.Set(pct)
			}
		}
	}
	f["max_drawdown"] = decimal.NewFromBigRat(maxDD, 20).String()
	put("max_drawdown_pct", haveBal, func() string { return round(new(big.Rat).Mul(maxPct, ri(100)), 4) })
	put("recovery_factor", maxDD.Sign() > 0, func() string { return round(new(big.Rat).Quo(total, maxDD), 4) })
	// Daily returns: the days with a closed trade, in the user's zone.
	var days []string
	dayPnL := map[string]*big.Rat{}
	for _, t := range ts {
		d := t.closeDayInZone
		if dayPnL[d] == nil {
			dayPnL[d] = new(big.Rat)
			days = append(days, d)
		}
		dayPnL[d].Add(dayPnL[d], t.pnl)
	}
	sort.Strings(days)
	f["trading_days"] = fmt.Sprint(len(days))
	var rets []*big.Rat
	eq := new(big.Rat).Set(bal)
	eqOK := true
	for _, d := range days {
		if eq.Sign() <= 0 {
			eqOK = false
		}
		v, _ := new(big.Rat).SetString(round(new(big.Rat).Quo(dayPnL[d], eq), 12))
		rets = append(rets, v)
		eq.Add(eq, dayPnL[d])
	}
	ok := haveBal && eqOK && len(days) >= 2
	meanRet := new(big.Rat)
	if len(rets) > 0 {
		meanRet.Quo(sum(rets), ri(len(rets)))
	}
	varRet := variance(rets)
	put("sharpe", ok && varRet.Sign() != 0, func() string {
		v := new(big.Float).SetPrec(256).SetRat(meanRet)
		v.Quo(v, sqrt(varRet))
		v.Mul(v, sqrt(ri(252)))
		return round(floatRat(v), 4)
	})
	down := new(big.Rat)
	for _, x := range rets {
		if x.Sign() < 0 {
			down.Add(down, new(big.Rat).Mul(x, x))
		}
	}
	put("sortino", ok && down.Sign() != 0, func() string {
		dd := new(big.Rat).Quo(down, ri(len(rets)))
		v := new(big.Float).SetPrec(256).SetRat(meanRet)
		v.Quo(v, sqrt(dd))
		v.Mul(v, sqrt(ri(252)))
		return round(floatRat(v), 4)
	})
	// Streaks (a breakeven ends one).
	var maxW, maxL, run int
	var cur trading.Outcome
	for _, t := range ts {
		if t.outcome == cur {
			run++
		} else {
			cur, run = t.outcome, 1
		}
		if cur == trading.Win && run > maxW {
			maxW = run
		}
		if cur == trading.Loss && run > maxL {
			maxL = run
		}
	}
	f["max_consecutive_wins"] = fmt.Sprint(maxW)
	f["max_consecutive_losses"] = fmt.Sprint(maxL)
	f["current_streak"] = fmt.Sprintf("%s %d", cur, run)
	// Holding times: mean to the nanosecond, half away from zero.
	hold := func(o trading.Outcome) string {
		s, k := new(big.Rat), 0
		for _, t := range ts {
			if o == "" || t.outcome == o {
				s.Add(s, ri(int(t.g.ExitAt.Sub(t.g.EntryAt))))
				k++
			}
		}
		if k == 0 {
			return "null"
		}
		return round(new(big.Rat).Quo(s, ri(k)), 0)
	}
	f["avg_hold_ns"], f["avg_hold_win_ns"], f["avg_hold_loss_ns"] = hold(""), hold(trading.Win), hold(trading.Loss)
	return f
}

// variance is the sample variance Σ(x − mean)² / (n − 1); 0 for n < 2.
func variance(xs []*big.Rat) *big.Rat {
	if len(xs) < 2 {
		return new(big.Rat)
	}
	mean := new(big.Rat)
	for _, x := range xs {
		mean.Add(mean, x)
	}
	mean.Quo(mean, ri(len(xs)))
	s := new(big.Rat)
	for _, x := range xs {
		d := new(big.Rat).Sub(x, mean)
		s.Add(s, d.Mul(d, d))
	}
	return s.Quo(s, ri(len(xs)-1))
}

// Diff lists the figures on which got differs from want.
func Diff(got, want Figures) string {
	var out []string
	for k, w := range want {
		if g, ok := got[k]; !ok || g != w {
			out = append(out, fmt.Sprintf("%s = %s, want %s", k, g, w))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
