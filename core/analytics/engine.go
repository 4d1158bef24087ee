package analytics

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// Dimension is what a breakdown groups trades by.
type Dimension string

// The dimensions. Every one but ByTag partitions the trades (a trade with
// several tags is counted under each; an untagged one under "none").
const (
	BySymbol     Dimension = "symbol"
	ByAssetClass Dimension = "asset_class"
	ByTag        Dimension = "tag"
	ByPlaybook   Dimension = "playbook"
	ByAccount    Dimension = "account"
	ByDirection  Dimension = "direction"
	ByWeekday    Dimension = "weekday"
	ByHour       Dimension = "hour"
	ByHolding    Dimension = "holding"
	ByMonth      Dimension = "month"
)

// Dimensions lists every dimension.
var Dimensions = []Dimension{BySymbol, ByAssetClass, ByTag, ByPlaybook, ByAccount, ByDirection, ByWeekday, ByHour, ByHolding, ByMonth}

// Valid reports whether d is one of Dimensions.
func (d Dimension) Valid() bool { return slices.Contains(Dimensions, d) }

// The distributions.
const (
	OfPnL     = "pnl"
	OfR       = "r"
	OfHolding = "hold_time"
)

// KeyNone is the breakdown key of trades without a tag or a playbook.
const KeyNone = "none"

// HoldingBucket is a holding-time range [Min, Max); Max 0 is open.
type HoldingBucket struct {
	Key, Label string
	Min, Max   time.Duration
}

// HoldingBuckets are the holding-time buckets of breakdowns and
// distributions.
var HoldingBuckets = []HoldingBucket{
	{"lt_1m", "under 1 min", 0, time.Minute},
	{"1m_5m", "1–5 min", time.Minute, 5 * time.Minute},
	{"5m_15m", "5–15 min", 5 * time.Minute, 15 * time.Minute},
	{"15m_1h", "15–60 min", 15 * time.Minute, time.Hour},
	{"1h_4h", "1–4 h", time.Hour, 4 * time.Hour},
	{"4h_1d", "4–24 h", 4 * time.Hour, 24 * time.Hour},
	{"1d_1w", "1–7 days", 24 * time.Hour, 7 * 24 * time.Hour},
	{"ge_1w", "7 days or more", 7 * 24 * time.Hour, 0},
}

func holdingBucket(h time.Duration) int {
	for i, b := range HoldingBuckets {
		if b.Max == 0 || h < b.Max {
			return i
		}
	}
	return len(HoldingBuckets) - 1
}

// rEdges are the inner bounds of the R distribution: buckets of ½ R from
// −3 R to +3 R and one open bucket on each side.
var rEdges = func() []decimal.Decimal {
	var out []decimal.Decimal
	for i := -6; i <= 6; i++ {
		out = append(out, decimal.New(int64(i*5), -1))
	}
	return out
}()

// rEdges4 are rEdges in units of 10^-rScale.
var rEdges4 = func() []int64 {
	out := make([]int64, len(rEdges))
	for i, e := range rEdges {
		out[i] = e.Shift(rScale).IntPart()
	}
	return out
}()

// rowAmts are one trade's amounts (pnl: on the basis).
type rowAmts struct{ gross, costs, net, pnl amt }

// stats accumulates Stats.
type stats struct {
	n, w, l, be       int
	gross, costs, net acc
	sum               acc // on the basis
	sumWin, sumLoss   acc // on the basis; sumLoss ≤ 0
}

func (s *stats) add(x *rowAmts, o trading.Outcome) {
	s.n++
	s.gross.add(x.gross)
	s.costs.add(x.costs)
	s.net.add(x.net)
	s.sum.add(x.pnl)
	switch o {
	case trading.Win:
		s.w++
		s.sumWin.add(x.pnl)
	case trading.Loss:
		s.l++
		s.sumLoss.add(x.pnl)
	default:
		s.be++
	}
}

func (s *stats) result() Stats {
	out := Stats{Count: s.n, Wins: s.w, Losses: s.l, Breakevens: s.be, GrossPnL: s.gross.dec(), Fees: s.costs.dec(), NetPnL: s.net.dec(),
		WinRate: ratioInt(s.w, s.w+s.l), Expectancy: quoInt(s.sum.dec(), s.n)}
	if s.l > 0 {
		out.ProfitFactor = quo(s.sumWin.dec(), s.sumLoss.dec().Abs())
	}
	return out
}

type day struct {
	y     int
	m     time.Month
	d     int
	date  string
	month string
	stats stats
	end   acc // cumulative P&L at the day's end
	dd    amt // drawdown at the day's end
}

// periodFx is the peak and the trough of a drawdown period during the
// pass (DrawdownPeriod's decimals are filled in by finish).
type periodFx struct{ peak, trough acc }

type group struct {
	key, label, order string
	stats             stats
}

type adherence struct {
	followed, not stats
}

// book accumulates one currency.
type book struct {
	currency             string
	accounts             map[uuid.UUID]bool
	all, long, short     stats
	largestWin           amt
	largestLoss          amt
	hasWin, hasLoss      bool
	hold, holdWin, hold0 durSum // all, winners, losers
	rN                   int
	rSum, rSum2          acc
	rBuckets             []int
	rBucketStats         []stats
	holdStats            []stats

	// The equity curve (cumulative P&L on the basis, in close order).
	started     bool
	cum, peak   acc
	peakAt      time.Time
	lastAt      time.Time
	inDD        bool
	periods     []DrawdownPeriod
	fx          []periodFx
	maxDD       decimal.Decimal // set by finish
	maxDDx      amt
	lastDD      amt
	maxIdx      int
	longest     time.Duration
	points      []EquityPoint
	days        []day
	pnls        []decimal.Decimal
	pnlOutcomes []trading.Outcome

	streak           Streak
	maxW, maxL       int
	winRuns, lossRun map[int]int

	groups    map[string]*group
	idGroups  map[uuid.UUID]*group // account, playbook, tag
	adherence map[uuid.UUID]*adherence
}

// durSum sums durations exactly (whole seconds and nanoseconds apart, so
// that 50,000 holding times of months do not overflow).
type durSum struct {
	n        int
	sec, nsc int64
}

func (s *durSum) add(d time.Duration) {
	s.n++
	s.sec += int64(d / time.Second)
	s.nsc += int64(d % time.Second)
}

// mean is the mean rounded half away from zero to the nanosecond; nil
// without values.
func (s *durSum) mean() *time.Duration {
	if s.n == 0 {
		return nil
	}
	total := new(big.Int).Mul(big.NewInt(s.sec), big.NewInt(int64(time.Second)))
	total.Add(total, big.NewInt(s.nsc))
	q := decimal.NewFromBigInt(total, 0).DivRound(decimal.NewFromInt(int64(s.n)), 0)
	d := time.Duration(q.IntPart())
	return &d
}

// engine runs one pass.
type engine struct {
	basis    Basis
	band     decimal.NullDecimal
	loc      *time.Location
	cat      *Catalog
	dim      Dimension
	perTrade bool
	values   bool
	books    map[string]*book

	// The last trade's account, its currency, book (nil until a trade in
	// that currency comes: an account whose trades in the result are all
	// priced in other currencies makes no empty book of its own) and
	// band: trades come in runs of one account.
	lastAcct uuid.UUID
	lastCur  string
	lastBook *book
	lastBand amt
	// lastTouched: the account is among its book's accounts (it has a
	// trade in its own currency).
	lastTouched bool
}

func newEngine(q *Query, cat *Catalog, dim Dimension, perTrade, values bool) *engine {
	loc := q.Filter.Location
	if loc == nil {
		loc = time.UTC
	}
	return &engine{basis: q.Basis, band: q.Filter.BreakevenBand, loc: loc, cat: cat, dim: dim, perTrade: perTrade, values: values,
		books: map[string]*book{}}
}

func (e *engine) book(cur string) *book {
	b := e.books[cur]
	if b == nil {
		b = &book{currency: cur, accounts: map[uuid.UUID]bool{}, maxIdx: -1, winRuns: map[int]int{}, lossRun: map[int]int{},
			groups: map[string]*group{}, idGroups: map[uuid.UUID]*group{}, adherence: map[uuid.UUID]*adherence{},
			rBuckets: make([]int, len(rEdges)+1), rBucketStats: make([]stats, len(rEdges)+1), holdStats: make([]stats, len(HoldingBuckets))}
		e.books[cur] = b
	}
	return b
}

// add takes the next trade in close order.
func (e *engine) add(r *Row) {
	if r.AccountID != e.lastAcct { // uuid.Nil before the first trade
		acct := e.cat.Accounts[r.AccountID]
		band := acct.BreakevenBand
		if e.band.Valid {
			band = e.band.Decimal
		}
		e.lastAcct, e.lastCur, e.lastBook, e.lastBand, e.lastTouched = r.AccountID, acct.Currency, nil, amtOf(band), false
	}
	var b *book
	band := e.lastBand
	if cur, ok := e.cat.Currencies[InstrumentRef{r.AssetClass, r.Symbol}]; ok && cur != e.lastCur {
		// Priced in another currency than the account's: its own book,
		// which the account's starting balance and band (amounts in the
		// account's currency) do not apply to; a band given in the query
		// applies to every currency.
		b, band = e.book(cur), amt{}
		if e.band.Valid {
			band = e.lastBand
		}
	} else {
		if e.lastBook == nil {
			e.lastBook = e.book(e.lastCur)
		}
		b = e.lastBook
		if !e.lastTouched {
			b.accounts[r.AccountID] = true
			e.lastTouched = true
		}
	}
	x := rowAmts{gross: r.GrossPnL.a, costs: r.Costs.a, net: r.NetPnL.a}
	x.pnl = x.net
	if e.basis == Gross {
		x.pnl = x.gross
	}
	var o trading.Outcome
	switch {
	case x.pnl.cmp(band) > 0:
		o = trading.Win
	case x.pnl.cmp(band.neg()) < 0:
		o = trading.Loss
	default:
		o = trading.Breakeven
	}

	b.all.add(&x, o)
	if r.Direction == trading.Short {
		b.short.add(&x, o)
	} else {
		b.long.add(&x, o)
	}
	b.hold.add(r.Holding)
	switch o {
	case trading.Win:
		b.holdWin.add(r.Holding)
		if !b.hasWin || x.pnl.cmp(b.largestWin) > 0 {
			b.largestWin, b.hasWin = x.pnl, true
		}
	case trading.Loss:
		b.hold0.add(r.Holding)
		if !b.hasLoss || x.pnl.cmp(b.largestLoss) < 0 {
			b.largestLoss, b.hasLoss = x.pnl, true
		}
	}
	hb := holdingBucket(r.Holding)
	b.holdStats[hb].add(&x, o)
	if r.InitialRisk.Valid && r.InitialRisk.Amount.Sign() > 0 {
		b.rN++
		i := 0
		if r4, ok := rMultiple(x.pnl, r.InitialRisk.Amount.a); ok && r4 <= rFixMax && r4 >= -rFixMax {
			b.rSum.add(amt{v: r4 * pow10[fixScale-rScale]})
			if r4 <= rSquareMax && r4 >= -rSquareMax {
				b.rSum2.add(amt{v: r4 * r4 * pow10[fixScale-2*rScale]})
			} else {
				rm := decimal.New(r4, -rScale)
				b.rSum2.add(amtOf(rm.Mul(rm)))
			}
			for i < len(rEdges4) && r4 >= rEdges4[i] {
				i++
			}
		} else { // exact decimals: an amount beyond the int64 range
			rm := x.pnl.dec().DivRound(r.InitialRisk.Amount.Decimal(), rScale)
			b.rSum.add(amtOf(rm))
			b.rSum2.add(amtOf(rm.Mul(rm)))
			for i < len(rEdges) && !rm.LessThan(rEdges[i]) {
				i++
			}
		}
		b.rBuckets[i]++
		b.rBucketStats[i].add(&x, o)
	}
	if e.values {
		b.pnls = append(b.pnls, x.pnl.dec())
		b.pnlOutcomes = append(b.pnlOutcomes, o)
	}
	e.curve(b, r, x.pnl)
	e.day(b, r, &x, o)
	b.addStreak(o)
	if e.dim != "" {
		e.group(b, r, &x, o)
	}
	if r.PlaybookID != uuid.Nil {
		if pb, ok := e.cat.Playbooks[r.PlaybookID]; ok && pb.Rules > 0 {
			a := b.adherence[r.PlaybookID]
			if a == nil {
				a = &adherence{}
				b.adherence[r.PlaybookID] = a
			}
			if r.FollowedRules >= pb.Rules {
				a.followed.add(&x, o)
			} else {
				a.not.add(&x, o)
			}
		}
	}
}

// rFixMax bounds an R multiple (units of 10^-rScale) kept as an int64 of
// 10^-fixScale; rSquareMax one whose square is.
const (
	rFixMax    = 9_000_000_000_000 // 9 × 10^8 R
	rSquareMax = 300_000_000       // 30,000 R
)

func (e *engine) curve(b *book, r *Row, pnl amt) {
	if !b.started {
		b.started = true
		b.peakAt = r.OpenedAt // the curve starts at 0 when the first trade opened
	}
	t := r.ClosedAt
	b.lastAt = t
	b.cum.add(pnl)
	if b.cum.cmp(&b.peak) >= 0 {
		if b.inDD {
			p := &b.periods[len(b.periods)-1]
			rec := t // only a recovery allocates its time
			p.RecoveredAt = &rec
			p.Trades++
			b.longest = max(b.longest, t.Sub(p.PeakAt))
			b.inDD = false
		}
		b.peak, b.peakAt, b.lastDD = b.cum, t, amt{}
	} else {
		dd := b.peak.sub(&b.cum)
		b.lastDD = dd
		if !b.inDD {
			b.inDD = true
			b.periods = append(b.periods, DrawdownPeriod{PeakAt: b.peakAt, TroughAt: t})
			b.fx = append(b.fx, periodFx{peak: b.peak, trough: b.cum})
		}
		n := len(b.periods) - 1
		p, f := &b.periods[n], &b.fx[n]
		p.Trades++
		if b.cum.cmp(&f.trough) < 0 {
			f.trough, p.TroughAt = b.cum, t
		}
		if dd.cmp(b.maxDDx) > 0 {
			b.maxDDx, b.maxIdx = dd, n
		}
	}
	if e.perTrade {
		b.points = append(b.points, EquityPoint{At: t, TradeID: r.ID, PnL: pnl.dec(), Equity: b.cum.dec(), Drawdown: b.lastDD.dec()})
	}
}

func (e *engine) day(b *book, r *Row, x *rowAmts, o trading.Outcome) {
	y, m, dd := r.ClosedAt.In(e.loc).Date()
	n := len(b.days)
	if n == 0 || b.days[n-1].y != y || b.days[n-1].m != m || b.days[n-1].d != dd {
		b.days = append(b.days, day{y: y, m: m, d: dd, date: fmt.Sprintf("%04d-%02d-%02d", y, m, dd), month: fmt.Sprintf("%04d-%02d", y, m)})
		n++
	}
	last := &b.days[n-1]
	last.stats.add(x, o)
	last.end = b.cum
	last.dd = b.lastDD
}

func (b *book) addStreak(o trading.Outcome) {
	if b.streak.Outcome == o {
		b.streak.Length++
	} else {
		b.endRun()
		b.streak = Streak{Outcome: o, Length: 1}
	}
	switch o {
	case trading.Win:
		b.maxW = max(b.maxW, b.streak.Length)
	case trading.Loss:
		b.maxL = max(b.maxL, b.streak.Length)
	}
}

func (b *book) endRun() {
	switch b.streak.Outcome {
	case trading.Win:
		b.winRuns[b.streak.Length]++
	case trading.Loss:
		b.lossRun[b.streak.Length]++
	}
}

var weekdayNames = [7]string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}

// The keys and labels of the fixed dimensions, made once.
var (
	weekdayKeys = func() (out [7]string) {
		for i := range out {
			out[i] = fmt.Sprint(i)
		}
		return out
	}()
	hourKeys, hourLabels = func() (keys, labels [24]string) {
		for i := range keys {
			keys[i], labels[i] = fmt.Sprintf("%02d", i), fmt.Sprintf("%02d:00", i)
		}
		return keys, labels
	}()
	holdingOrder = func() []string {
		out := make([]string, len(HoldingBuckets))
		for i := range out {
			out[i] = fmt.Sprint(i)
		}
		return out
	}()
)

// keyed returns the group of key, made with label and order when new.
func (b *book) keyed(key, label, order string) *group {
	g := b.groups[key]
	if g == nil {
		g = &group{key: key, label: label, order: order}
		b.groups[key] = g
	}
	return g
}

// named returns the group of a catalog entry (account, playbook, tag).
func (b *book) named(id uuid.UUID, name string) *group {
	g := b.idGroups[id]
	if g == nil {
		g = &group{key: id.String(), label: name, order: strings.ToLower(name) + "\x00" + id.String()}
		b.idGroups[id] = g
	}
	return g
}

func (e *engine) group(b *book, r *Row, x *rowAmts, o trading.Outcome) {
	const last = "\xff" // sorts "none" after every real key
	var g *group
	switch e.dim {
	case BySymbol:
		g = b.keyed(r.Symbol, r.Symbol, r.Symbol)
	case ByAssetClass:
		g = b.keyed(string(r.AssetClass), string(r.AssetClass), string(r.AssetClass))
	case ByDirection:
		g = b.keyed(string(r.Direction), string(r.Direction), string(r.Direction))
	case ByAccount:
		g = b.named(r.AccountID, e.cat.Accounts[r.AccountID].Name)
	case ByPlaybook:
		if r.PlaybookID == uuid.Nil {
			g = b.keyed(KeyNone, "no playbook", last)
		} else {
			g = b.named(r.PlaybookID, e.cat.Playbooks[r.PlaybookID].Name)
		}
	case ByTag:
		if len(r.TagIDs) == 0 {
			b.keyed(KeyNone, "untagged", last).stats.add(x, o)
		}
		for _, id := range r.TagIDs {
			b.named(id, e.cat.Tags[id]).stats.add(x, o)
		}
		return
	case ByWeekday:
		w := int(r.OpenWeekday) % 7
		g = b.keyed(weekdayKeys[w], weekdayNames[w], weekdayKeys[w])
	case ByHour:
		if h := r.OpenHour; h >= 0 && h < 24 {
			g = b.keyed(hourKeys[h], hourLabels[h], hourKeys[h])
		} else {
			k := fmt.Sprintf("%02d", h)
			g = b.keyed(k, k+":00", k)
		}
	case ByHolding:
		i := holdingBucket(r.Holding)
		g = b.keyed(HoldingBuckets[i].Key, HoldingBuckets[i].Label, holdingOrder[i])
	case ByMonth:
		m := b.days[len(b.days)-1].month // day() ran first
		g = b.keyed(m, m, m)
	default:
		return
	}
	g.stats.add(x, o)
}

// result is everything one pass computed, per currency (sorted).
type result struct {
	books []*book
	eng   *engine
}

func (e *engine) finish() *result {
	out := &result{eng: e}
	for _, b := range e.books {
		b.endRun()
		for i := range b.periods {
			b.periods[i].Peak, b.periods[i].Trough = b.fx[i].peak.dec(), b.fx[i].trough.dec()
		}
		b.maxDD = b.maxDDx.dec()
		for _, g := range b.idGroups {
			b.groups[g.key] = g
		}
		out.books = append(out.books, b)
	}
	slices.SortFunc(out.books, func(a, b *book) int { return strings.Compare(a.currency, b.currency) })
	return out
}

// balance is the sum of the starting balances of the book's accounts, or
// the reason there is none usable.
func (e *engine) balance(b *book) (decimal.Decimal, string) {
	if len(b.accounts) == 0 {
		// Only trades priced in a currency none of their accounts is in.
		return decimal.Decimal{}, ReasonNoBalance
	}
	var sum decimal.Decimal
	for id := range b.accounts {
		sb := e.cat.Accounts[id].StartingBalance
		if !sb.Valid {
			return decimal.Decimal{}, ReasonNoBalance
		}
		sum = sum.Add(sb.Decimal)
	}
	if !sum.IsPositive() {
		return sum, ReasonBalanceNotPositive
	}
	return sum, ""
}

// startingBalance is the book's starting balance for display (valid when
// every account has one).
func (e *engine) startingBalance(b *book) decimal.NullDecimal {
	bal, why := e.balance(b)
	if why == ReasonNoBalance || len(b.accounts) == 0 {
		return decimal.NullDecimal{}
	}
	return null(bal)
}

func (e *engine) summary(b *book) Summary {
	s := Summary{Currency: b.currency, Basis: e.basis, Stats: b.all.result(), Nulls: map[string]string{},
		RCount: b.rN, SQNReliable: b.rN >= 30,
		MaxDrawdown: b.maxDD, TradingDays: len(b.days), MaxConsecutiveWins: b.maxW, MaxConsecutiveLosses: b.maxL,
		CurrentStreak: b.streak, AvgHold: b.hold.mean(), AvgHoldWin: b.holdWin.mean(), AvgHoldLoss: b.hold0.mean(),
		Long: b.long.result(), Short: b.short.result(), StartingBalance: e.startingBalance(b)}
	a := &b.all
	if b.hasWin {
		s.LargestWin = null(b.largestWin.dec())
	}
	if b.hasLoss {
		s.LargestLoss = null(b.largestLoss.dec())
	}
	sumWin, sumLoss, sum := a.sumWin.dec(), a.sumLoss.dec(), a.sum.dec()
	rSum, rSum2 := b.rSum.dec(), b.rSum2.dec()
	nulls := s.Nulls
	why := func(field string, v decimal.NullDecimal, reason string) {
		if !v.Valid {
			nulls[field] = reason
		}
	}
	if a.w > 0 {
		s.AvgWin = quoInt(sumWin, a.w)
	}
	if a.l > 0 {
		s.AvgLoss = quoInt(sumLoss, a.l)
	}
	if a.w > 0 && a.l > 0 {
		// (Σwins / W) / (|Σlosses| / L), from the exact sums.
		s.PayoffRatio = quo(sumWin.Mul(decimal.NewFromInt(int64(a.l))), sumLoss.Abs().Mul(decimal.NewFromInt(int64(a.w))))
		// Kelly = p − (1 − p) / b with p = W / (W + L) and b the payoff
		// ratio, which is W (Σwins − |Σlosses|) / ((W + L) Σwins).
		s.Kelly = quo(decimal.NewFromInt(int64(a.w)).Mul(sumWin.Sub(sumLoss.Abs())), decimal.NewFromInt(int64(a.w+a.l)).Mul(sumWin))
	}
	noWL := ReasonNoTrades
	if a.n > 0 {
		noWL = ReasonNoDecisions
	}
	why("win_rate", s.WinRate, noWL)
	why("expectancy", s.Expectancy, ReasonNoTrades)
	why("avg_win", s.AvgWin, ReasonNoWins)
	why("largest_win", s.LargestWin, ReasonNoWins)
	why("avg_loss", s.AvgLoss, ReasonNoLosses)
	why("largest_loss", s.LargestLoss, ReasonNoLosses)
	why("profit_factor", s.ProfitFactor, ReasonNoLosses)
	switch {
	case a.w == 0:
		why("payoff_ratio", s.PayoffRatio, ReasonNoWins)
		why("kelly", s.Kelly, ReasonNoWins)
	case a.l == 0:
		why("payoff_ratio", s.PayoffRatio, ReasonNoLosses)
		why("kelly", s.Kelly, ReasonNoLosses)
	}
	if b.rN > 0 {
		s.ExpectancyR = quoInt(rSum, b.rN)
	}
	why("expectancy_r", s.ExpectancyR, ReasonNoRisk)
	// SQN = √N × mean / stdev = ΣR × √((N − 1) / (N ΣR² − (ΣR)²)).
	switch q := decimal.NewFromInt(int64(b.rN)).Mul(rSum2).Sub(rSum.Mul(rSum)); {
	case b.rN < 2:
		nulls["sqn"] = ReasonTooFewR
	case q.IsZero():
		nulls["sqn"] = ReasonNoRVariance
	default:
		s.SQN = null(sqrtTimes(rSum, ratInt(b.rN-1), rat(q)))
	}
	if b.maxDD.IsPositive() {
		s.RecoveryFactor = quo(sum, b.maxDD)
	} else {
		nulls["recovery_factor"] = ReasonNoDrawdown
	}
	bal, balWhy := e.balance(b)
	if a.n == 0 {
		balWhy = ReasonNoTrades
	}
	if balWhy == "" {
		s.MaxDrawdownPct = null(maxPct(b.periods, bal))
	} else {
		nulls["max_drawdown_pct"] = balWhy
	}
	s.Sharpe, s.Sortino = e.ratios(b, bal, balWhy, nulls)
	return s
}

// maxPct is the largest (peak − trough) / (balance + peak) × 100 of the
// periods (balance > 0, peaks ≥ 0), rounded.
func maxPct(periods []DrawdownPeriod, bal decimal.Decimal) decimal.Decimal {
	best := fraction{num: decimal.Zero, den: decimal.NewFromInt(1)}
	for _, p := range periods {
		f := fraction{num: p.Peak.Sub(p.Trough), den: bal.Add(p.Peak)}
		if f.greater(best) {
			best = f
		}
	}
	return best.num.Mul(hundred).DivRound(best.den, Scale)
}

// ratios computes Sharpe and Sortino on the daily returns: r = the day's
// P&L / the equity at the start of that day (starting balance + P&L of
// the days before), each rounded to returnScale places.
func (e *engine) ratios(b *book, bal decimal.Decimal, balWhy string, nulls map[string]string) (sharpe, sortino decimal.NullDecimal) {
	fail := func(reason string) (decimal.NullDecimal, decimal.NullDecimal) {
		nulls["sharpe"], nulls["sortino"] = reason, reason
		return decimal.NullDecimal{}, decimal.NullDecimal{}
	}
	if balWhy != "" {
		return fail(balWhy)
	}
	n := len(b.days)
	if n < 2 {
		return fail(ReasonTooFewDays)
	}
	var s1, s2, down decimal.Decimal
	eq := bal
	for i := range b.days {
		if !eq.IsPositive() {
			return fail(ReasonEquityNotPositive)
		}
		p := b.days[i].stats.sum.dec()
		r := p.DivRound(eq, returnScale)
		s1 = s1.Add(r)
		r2 := r.Mul(r)
		s2 = s2.Add(r2)
		if r.IsNegative() {
			down = down.Add(r2)
		}
		eq = eq.Add(p)
	}
	nn := decimal.NewFromInt(int64(n))
	// Sharpe = mean / stdev × √252 = Σr × √(252 (n − 1) / (n (n Σr² − (Σr)²))).
	if q := nn.Mul(s2).Sub(s1.Mul(s1)); q.IsZero() {
		nulls["sharpe"] = ReasonNoVariance
	} else {
		sharpe = null(sqrtTimes(s1, rat(annualise.Mul(decimal.NewFromInt(int64(n-1)))), rat(nn.Mul(q))))
	}
	// Sortino = mean / √(Σ min(r, 0)² / n) × √252 = Σr × √(252 / (n Σ min(r, 0)²)).
	if down.IsZero() {
		nulls["sortino"] = ReasonNoLosingDays
	} else {
		sortino = null(sqrtTimes(s1, rat(annualise), rat(nn.Mul(down))))
	}
	return sharpe, sortino
}

// offset is what turns cumulative P&L into equity: the starting balance
// when every account has one, else 0.
func (e *engine) offset(b *book) decimal.Decimal {
	if sb := e.startingBalance(b); sb.Valid {
		return sb.Decimal
	}
	return decimal.Zero
}

func (e *engine) equity(b *book) Equity {
	off := e.offset(b)
	out := Equity{Currency: b.currency, Basis: e.basis, StartingBalance: e.startingBalance(b)}
	if e.perTrade {
		out.ByTrade = make([]EquityPoint, len(b.points))
		for i, p := range b.points {
			p.Equity = p.Equity.Add(off)
			out.ByTrade[i] = p
		}
	}
	out.ByDay = make([]DayPoint, len(b.days))
	for i, d := range b.days {
		out.ByDay[i] = DayPoint{Date: d.date, Trades: d.stats.n, PnL: d.stats.sum.dec(), Equity: d.end.dec().Add(off), Drawdown: d.dd.dec()}
	}
	return out
}

func (e *engine) drawdown(b *book) Drawdown {
	s := e.summary(b)
	out := Drawdown{Currency: b.currency, Basis: e.basis, MaxDrawdown: b.maxDD, MaxDrawdownPct: s.MaxDrawdownPct, Longest: b.longest,
		RecoveryFactor: s.RecoveryFactor, Nulls: map[string]string{}}
	for _, k := range []string{"max_drawdown_pct", "recovery_factor"} {
		if r, ok := s.Nulls[k]; ok {
			out.Nulls[k] = r
		}
	}
	if b.inDD {
		out.Longest = max(out.Longest, b.lastAt.Sub(b.periods[len(b.periods)-1].PeakAt))
	}
	off := e.offset(b)
	bal, balWhy := e.balance(b)
	periods := make([]DrawdownPeriod, len(b.periods))
	for i, p := range b.periods {
		p.Depth = p.Peak.Sub(p.Trough)
		if balWhy == "" {
			p.DepthPct = null(p.Depth.Mul(hundred).DivRound(bal.Add(p.Peak), Scale))
		}
		p.Peak, p.Trough = p.Peak.Add(off), p.Trough.Add(off)
		periods[i] = p
	}
	if b.maxIdx >= 0 {
		m := periods[b.maxIdx]
		out.Max = &m
		tt := m.TroughAt.Sub(m.PeakAt)
		out.TimeToTrough = &tt
		var dur time.Duration
		if m.RecoveredAt != nil {
			rec := m.RecoveredAt.Sub(m.TroughAt)
			out.Recovery = &rec
			dur = m.RecoveredAt.Sub(m.PeakAt)
		} else {
			dur = b.lastAt.Sub(m.PeakAt)
		}
		out.Duration = &dur
	}
	slices.SortStableFunc(periods, func(a, b DrawdownPeriod) int { return b.Depth.Cmp(a.Depth) })
	out.Periods = periods[:min(len(periods), 10)]
	return out
}

func (e *engine) calendar(b *book) Calendar {
	out := Calendar{Currency: b.currency, Basis: e.basis, Days: make([]CalendarDay, len(b.days))}
	for i, d := range b.days {
		s := d.stats.result()
		out.Days[i] = CalendarDay{Date: d.date, Trades: s.Count, Wins: s.Wins, Losses: s.Losses, Breakevens: s.Breakevens,
			GrossPnL: s.GrossPnL, Fees: s.Fees, NetPnL: s.NetPnL}
	}
	return out
}

func (e *engine) streaks(b *book) Streaks {
	runs := func(m map[int]int) []RunCount {
		out := make([]RunCount, 0, len(m))
		for l, c := range m {
			out = append(out, RunCount{Length: l, Count: c})
		}
		slices.SortFunc(out, func(a, b RunCount) int { return a.Length - b.Length })
		return out
	}
	return Streaks{Currency: b.currency, Basis: e.basis, MaxConsecutiveWins: b.maxW, MaxConsecutiveLosses: b.maxL, Current: b.streak,
		WinRuns: runs(b.winRuns), LossRuns: runs(b.lossRun)}
}

func bucketOf(key string, lo, hi decimal.NullDecimal, s *stats) Bucket {
	return Bucket{Key: key, Lower: lo, Upper: hi, Count: s.n, Wins: s.w, Losses: s.l, PnL: s.sum.dec()}
}

func (e *engine) distribution(b *book, of string) Distribution {
	out := Distribution{Currency: b.currency, Basis: e.basis, Of: of}
	switch of {
	case OfR:
		out.Count = b.rN
		for i := range b.rBuckets {
			var lo, hi decimal.NullDecimal
			if i > 0 {
				lo = null(rEdges[i-1])
			}
			if i < len(rEdges) {
				hi = null(rEdges[i])
			}
			out.Buckets = append(out.Buckets, bucketOf(rangeKey(lo, hi), lo, hi, &b.rBucketStats[i]))
		}
	case OfHolding:
		out.Count = b.all.n
		for i, hb := range HoldingBuckets {
			lo := null(decimal.NewFromInt(int64(hb.Min / time.Second)))
			var hi decimal.NullDecimal
			if hb.Max > 0 {
				hi = null(decimal.NewFromInt(int64(hb.Max / time.Second)))
			}
			out.Buckets = append(out.Buckets, bucketOf(hb.Key, lo, hi, &b.holdStats[i]))
		}
	case OfPnL:
		out.Count = len(b.pnls)
		out.Buckets = pnlBuckets(b.pnls, b.pnlOutcomes)
	}
	return out
}

func rangeKey(lo, hi decimal.NullDecimal) string {
	s := func(v decimal.NullDecimal) string {
		if !v.Valid {
			return ""
		}
		return v.Decimal.String()
	}
	return s(lo) + ".." + s(hi)
}

// pnlBuckets spreads values over about 20 buckets of a round width (1, 2,
// 2.5 or 5 × 10^k) aligned on multiples of it.
func pnlBuckets(values []decimal.Decimal, outcomes []trading.Outcome) []Bucket {
	if len(values) == 0 {
		return []Bucket{}
	}
	lo, hi := values[0], values[0]
	for _, v := range values {
		if v.LessThan(lo) {
			lo = v
		}
		if v.GreaterThan(hi) {
			hi = v
		}
	}
	width := niceWidth(hi.Sub(lo).Div(decimal.NewFromInt(20)))
	start := lo.Div(width).Floor().Mul(width)
	n := int(hi.Sub(start).Div(width).Floor().IntPart()) + 1
	accs := make([]stats, n)
	for i, v := range values {
		k := int(v.Sub(start).Div(width).Floor().IntPart())
		accs[k].add(&rowAmts{pnl: amtOf(v)}, outcomes[i])
	}
	out := make([]Bucket, n)
	for i := range accs {
		l := start.Add(width.Mul(decimal.NewFromInt(int64(i))))
		out[i] = bucketOf(rangeKey(null(l), null(l.Add(width))), null(l), null(l.Add(width)), &accs[i])
	}
	return out
}

// niceWidth is the least of 1, 2, 2.5, 5 × 10^k not below x (1 for x ≤ 0;
// at least 10^-4).
func niceWidth(x decimal.Decimal) decimal.Decimal {
	if !x.IsPositive() {
		return decimal.NewFromInt(1)
	}
	p := decimal.New(1, -Scale)
	ten := decimal.NewFromInt(10)
	for p.Mul(ten).LessThan(x) {
		p = p.Mul(ten)
	}
	for _, m := range []string{"1", "2", "2.5", "5", "10"} {
		if w := p.Mul(decimal.RequireFromString(m)); !w.LessThan(x) {
			return w
		}
	}
	return p.Mul(ten)
}

func (e *engine) groupsOf(b *book) []Group {
	gs := make([]*group, 0, len(b.groups))
	for _, g := range b.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(a, b *group) int { return strings.Compare(a.order, b.order) })
	out := make([]Group, len(gs))
	for i, g := range gs {
		out[i] = Group{Key: g.key, Label: g.label, Currency: b.currency, Stats: g.stats.result()}
	}
	return out
}

func (e *engine) adherenceOf(b *book) Adherence {
	out := Adherence{Currency: b.currency, Basis: e.basis, ByPlaybook: []AdherenceRow{}}
	var all adherence
	ids := make([]uuid.UUID, 0, len(b.adherence))
	for id := range b.adherence {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y uuid.UUID) int {
		return strings.Compare(strings.ToLower(e.cat.Playbooks[x].Name)+x.String(), strings.ToLower(e.cat.Playbooks[y].Name)+y.String())
	})
	for _, id := range ids {
		a := b.adherence[id]
		pb := e.cat.Playbooks[id]
		out.ByPlaybook = append(out.ByPlaybook, AdherenceRow{PlaybookID: id, Name: pb.Name, Rules: pb.Rules, Followed: a.followed.result(), NotFollowed: a.not.result()})
		all.followed.merge(&a.followed)
		all.not.merge(&a.not)
	}
	out.All = AdherenceRow{Name: "all playbooks", Followed: all.followed.result(), NotFollowed: all.not.result()}
	return out
}

func (s *stats) merge(o *stats) {
	s.n, s.w, s.l, s.be = s.n+o.n, s.w+o.w, s.l+o.l, s.be+o.be
	s.gross.merge(&o.gross)
	s.costs.merge(&o.costs)
	s.net.merge(&o.net)
	s.sum.merge(&o.sum)
	s.sumWin.merge(&o.sumWin)
	s.sumLoss.merge(&o.sumLoss)
}

// validate checks and normalises a query's own fields (the filter is
// prepared by the trading module).
func (q *Query) validate() error {
	switch q.Basis {
	case "":
		q.Basis = Net
	case Net, Gross:
	default:
		e := apperr.Validation("invalid basis", map[string]string{"basis": "must be net or gross"})
		e.Code = CodeBasisInvalid
		return e
	}
	if q.Filter.Status == trading.Open {
		e := apperr.Validation("analytics cover closed trades", map[string]string{"status": "analytics cover closed trades only: leave status out or say closed"})
		e.Code = CodeStatusOpen
		return e
	}
	q.Filter.Status = trading.Closed
	return nil
}
