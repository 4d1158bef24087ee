package analyticstest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// Stores are the trading repositories and the analytics source under
// test, over an empty database.
type Stores struct {
	tradingtest.Stores
	Source analytics.Source
}

// Factory returns stores over an empty database.
type Factory func(t *testing.T) Stores

// Env is a trading service and an analytics service (without a cache)
// over Stores.
type Env struct {
	*tradingtest.Env
	Source    analytics.Source
	Analytics *analytics.Service
}

// NewEnv builds an Env over st.
func NewEnv(t testing.TB, st Stores) *Env {
	t.Helper()
	te := tradingtest.NewEnv(t, st.Stores)
	svc, err := analytics.NewService(analytics.DefaultConfig(), analytics.Deps{Trading: te.Svc, Source: st.Source})
	if err != nil {
		t.Fatal(err)
	}
	return &Env{Env: te, Source: st.Source, Analytics: svc}
}

func str(v decimal.NullDecimal) string {
	if !v.Valid {
		return "null"
	}
	return v.Decimal.String()
}

func durStr(d *time.Duration) string {
	if d == nil {
		return "null"
	}
	return fmt.Sprint(int64(*d))
}

// SummaryFigures is s in the calculator's terms.
func SummaryFigures(s analytics.Summary) Figures {
	return Figures{
		"trade_count": fmt.Sprint(s.Count), "wins": fmt.Sprint(s.Wins), "losses": fmt.Sprint(s.Losses), "breakevens": fmt.Sprint(s.Breakevens),
		"gross_pnl": s.GrossPnL.String(), "fees": s.Fees.String(), "net_pnl": s.NetPnL.String(),
		"win_rate": str(s.WinRate), "avg_win": str(s.AvgWin), "avg_loss": str(s.AvgLoss), "largest_win": str(s.LargestWin),
		"largest_loss": str(s.LargestLoss), "payoff_ratio": str(s.PayoffRatio), "profit_factor": str(s.ProfitFactor),
		"expectancy": str(s.Expectancy), "kelly": str(s.Kelly), "r_count": fmt.Sprint(s.RCount), "expectancy_r": str(s.ExpectancyR),
		"sqn": str(s.SQN), "max_drawdown": s.MaxDrawdown.String(), "max_drawdown_pct": str(s.MaxDrawdownPct),
		"recovery_factor": str(s.RecoveryFactor), "trading_days": fmt.Sprint(s.TradingDays), "sharpe": str(s.Sharpe), "sortino": str(s.Sortino),
		"max_consecutive_wins": fmt.Sprint(s.MaxConsecutiveWins), "max_consecutive_losses": fmt.Sprint(s.MaxConsecutiveLosses),
		"current_streak": fmt.Sprintf("%s %d", s.CurrentStreak.Outcome, s.CurrentStreak.Length),
		"avg_hold_ns":    durStr(s.AvgHold), "avg_hold_win_ns": durStr(s.AvgHoldWin), "avg_hold_loss_ns": durStr(s.AvgHoldLoss),
	}
}

// selection is a filter and the same selection written as a predicate on
// the CSV rows.
type selection struct {
	name   string
	filter func(g *Golden) trading.Filter
	keep   func(g *Golden, tr *GoldenTrade) bool
}

func accountZone(g *Golden, tr *GoldenTrade) *time.Location {
	for _, a := range GoldenAccounts {
		if a.Name == tr.Account && a.Timezone != "" {
			loc, _ := time.LoadLocation(a.Timezone)
			return loc
		}
	}
	return g.Zone
}

var selections = []selection{
	{"All", func(*Golden) trading.Filter { return trading.Filter{} }, func(*Golden, *GoldenTrade) bool { return true }},
	{"Account", func(g *Golden) trading.Filter {
		return trading.Filter{AccountIDs: []uuid.UUID{g.Accounts["US Futures"]}}
	},
		func(_ *Golden, tr *GoldenTrade) bool { return tr.Account == "US Futures" }},
	{"MarchClosedInNewYork", func(*Golden) trading.Filter {
		return trading.Filter{From: trading.Date{Year: 2026, Month: 3, Day: 1}, To: trading.Date{Year: 2026, Month: 3, Day: 31}}
	}, func(g *Golden, tr *GoldenTrade) bool {
		y, m, _ := tr.ExitAt.In(g.Zone).Date()
		return y == 2026 && m == 3
	}},
	{"TagFOMOOrBreakout", func(g *Golden) trading.Filter {
		return trading.Filter{TagIDs: []uuid.UUID{g.Tags["FOMO"], g.Tags["breakout"]}}
	},
		func(_ *Golden, tr *GoldenTrade) bool {
			return slices.Contains(tr.Tags, "FOMO") || slices.Contains(tr.Tags, "breakout")
		}},
	{"ShortOnMondayOrFriday", func(*Golden) trading.Filter {
		return trading.Filter{Direction: trading.Short, Weekdays: []time.Weekday{time.Monday, time.Friday}}
	}, func(g *Golden, tr *GoldenTrade) bool {
		wd := tr.EntryAt.In(accountZone(g, tr)).Weekday()
		return tr.Direction == trading.Short && (wd == time.Monday || wd == time.Friday)
	}},
	{"PlaybookORB", func(g *Golden) trading.Filter {
		return trading.Filter{PlaybookIDs: []uuid.UUID{g.Playbooks["Opening Range Breakout"]}}
	},
		func(_ *Golden, tr *GoldenTrade) bool { return tr.Playbook == "Opening Range Breakout" }},
}

// Run runs the contract suite against the stores newStores returns.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("Golden", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		g := Seed(t, e.Env)
		if len(g.Trades) < 200 {
			t.Fatalf("golden set has %d trades; want at least 200", len(g.Trades))
		}
		for _, sel := range selections {
			for _, basis := range []analytics.Basis{analytics.Net, analytics.Gross} {
				t.Run(sel.name+"/"+string(basis), func(t *testing.T) {
					var subset []GoldenTrade
					for i := range g.Trades {
						if sel.keep(g, &g.Trades[i]) {
							subset = append(subset, g.Trades[i])
						}
					}
					if len(subset) == 0 {
						t.Fatal("selection keeps no trade: the test would prove nothing")
					}
					want := Expect(subset, string(basis), g.Zone, nil)
					got, err := e.Analytics.Summary(ctx, g.User, analytics.Query{Filter: sel.filter(g), Basis: basis})
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Fatalf("%d currencies; want %d", len(got), len(want))
					}
					for _, s := range got {
						w, ok := want[s.Currency]
						if !ok {
							t.Fatalf("unexpected currency %q", s.Currency)
						}
						if d := Diff(SummaryFigures(s), w); d != "" {
							t.Errorf("%s:\n%s", s.Currency, d)
						}
					}
				})
			}
		}
	})

	t.Run("BreakdownsAddUpToTheSummary", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		g := Seed(t, e.Env)
		for _, sel := range selections {
			f := sel.filter(g)
			sums, err := e.Analytics.Summary(ctx, g.User, analytics.Query{Filter: f})
			if err != nil {
				t.Fatal(err)
			}
			for _, dim := range analytics.Dimensions {
				rows, err := e.Analytics.Breakdown(ctx, g.User, analytics.Query{Filter: f}, dim)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range sums {
					var n, w, l, be int
					var gross, fees, net decimal.Decimal
					for _, r := range rows {
						if r.Currency != s.Currency {
							continue
						}
						n, w, l, be = n+r.Count, w+r.Wins, l+r.Losses, be+r.Breakevens
						gross, fees, net = gross.Add(r.GrossPnL), fees.Add(r.Fees), net.Add(r.NetPnL)
					}
					if dim == analytics.ByTag {
						if n < s.Count {
							t.Errorf("%s by tag: %d trades in the rows < %d", sel.name, n, s.Count)
						}
						continue
					}
					if n != s.Count || w != s.Wins || l != s.Losses || be != s.Breakevens || !gross.Equal(s.GrossPnL) || !fees.Equal(s.Fees) || !net.Equal(s.NetPnL) {
						t.Errorf("%s by %s, %s: rows add up to %d/%d/%d/%d %s %s %s; summary %d/%d/%d/%d %s %s %s", sel.name, dim, s.Currency,
							n, w, l, be, gross, fees, net, s.Count, s.Wins, s.Losses, s.Breakevens, s.GrossPnL, s.Fees, s.NetPnL)
					}
				}
			}
		}
	})

	t.Run("EquityEndsAtNetPnLAndCalendarAddsUp", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		g := Seed(t, e.Env)
		for _, sel := range selections {
			q := analytics.Query{Filter: sel.filter(g)}
			sums, err := e.Analytics.Summary(ctx, g.User, q)
			if err != nil {
				t.Fatal(err)
			}
			eqs, err := e.Analytics.Equity(ctx, g.User, q, true)
			if err != nil {
				t.Fatal(err)
			}
			cals, err := e.Analytics.Calendar(ctx, g.User, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(eqs) != len(sums) || len(cals) != len(sums) {
				t.Fatalf("%s: %d curves, %d calendars for %d summaries", sel.name, len(eqs), len(cals), len(sums))
			}
			for i, s := range sums {
				bal := s.StartingBalance.Decimal
				end := eqs[i].ByTrade[len(eqs[i].ByTrade)-1].Equity.Sub(bal)
				dayEnd := eqs[i].ByDay[len(eqs[i].ByDay)-1].Equity.Sub(bal)
				if !end.Equal(s.NetPnL) || !dayEnd.Equal(s.NetPnL) || len(eqs[i].ByTrade) != s.Count {
					t.Errorf("%s %s: curve ends at %s (by day %s) over %d points; net P&L %s over %d trades", sel.name, s.Currency, end, dayEnd,
						len(eqs[i].ByTrade), s.NetPnL, s.Count)
				}
				var net decimal.Decimal
				var n int
				for _, d := range cals[i].Days {
					net, n = net.Add(d.NetPnL), n+d.Trades
				}
				if !net.Equal(s.NetPnL) || n != s.Count || len(cals[i].Days) != s.TradingDays {
					t.Errorf("%s %s: calendar adds up to %s over %d trades and %d days", sel.name, s.Currency, net, n, len(cals[i].Days))
				}
			}
		}
		// The calendar's days are the user's (New York) days, DST days included.
		cals, err := e.Analytics.Calendar(ctx, g.User, analytics.Query{})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]map[string]int{}
		for _, tr := range g.Trades {
			cur := "USD"
			if tr.Account == "Zürich Swing €" {
				cur = "EUR"
			}
			if want[cur] == nil {
				want[cur] = map[string]int{}
			}
			want[cur][tr.ExitAt.In(g.Zone).Format(time.DateOnly)]++
		}
		for _, c := range cals {
			got := map[string]int{}
			for _, d := range c.Days {
				got[d.Date] = d.Trades
			}
			if fmt.Sprint(got) != fmt.Sprint(want[c.Currency]) {
				t.Errorf("%s calendar %v; want %v", c.Currency, got, want[c.Currency])
			}
		}
		for _, day := range []string{"2026-03-08", "2026-11-01", "2026-03-28"} {
			if want["USD"][day] == 0 && want["EUR"][day] == 0 {
				t.Errorf("the golden set has no trade closing on %s (a DST day in New York or Berlin)", day)
			}
		}
	})

	t.Run("SourceFieldsAreTheFullRowsFields", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		g := Seed(t, e.Env)
		f := trading.Filter{}
		if err := e.Svc.PrepareFilter(ctx, g.User, &f); err != nil {
			t.Fatal(err)
		}
		stream := func(fields analytics.Fields) []analytics.Row {
			var out []analytics.Row
			err := e.Source.ClosedTrades(ctx, g.User, f, fields, func(r *analytics.Row) error {
				c := *r
				c.TagIDs = slices.Clone(r.TagIDs)
				out = append(out, c)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
		full := stream(analytics.AllFields)
		var tagged, ruled, risked int
		for _, r := range full {
			tagged += min(len(r.TagIDs), 1)
			ruled += min(r.FollowedRules, 1)
			if r.InitialRisk.Valid {
				risked++
			}
		}
		if len(full) == 0 || tagged == 0 || ruled == 0 || risked == 0 {
			t.Fatalf("the golden set streams %d trades, %d tagged, %d with followed rules, %d with a risk: too few to check", len(full), tagged, ruled, risked)
		}
		core := func(r *analytics.Row) string {
			return fmt.Sprintf("%s %s %d %d %d %s %s %s %v/%s", r.AccountID, r.Direction, r.OpenedAt.UnixNano(), r.ClosedAt.UnixNano(), r.Holding,
				r.GrossPnL.Decimal(), r.Costs.Decimal(), r.NetPnL.Decimal(), r.InitialRisk.Valid, r.InitialRisk.Amount.Decimal())
		}
		for _, c := range []struct {
			fields analytics.Fields
			same   func(a, b *analytics.Row) bool
		}{
			{0, func(a, b *analytics.Row) bool { return true }},
			{analytics.FieldID, func(a, b *analytics.Row) bool { return a.ID == b.ID }},
			{analytics.FieldSymbol, func(a, b *analytics.Row) bool { return a.Symbol == b.Symbol }},
			{analytics.FieldAssetClass, func(a, b *analytics.Row) bool { return a.AssetClass == b.AssetClass }},
			{analytics.FieldPlaybook, func(a, b *analytics.Row) bool { return a.PlaybookID == b.PlaybookID }},
			{analytics.FieldRules, func(a, b *analytics.Row) bool {
				return a.PlaybookID == b.PlaybookID && a.FollowedRules == b.FollowedRules
			}},
			{analytics.FieldEntry, func(a, b *analytics.Row) bool { return a.OpenWeekday == b.OpenWeekday && a.OpenHour == b.OpenHour }},
			{analytics.FieldTags, func(a, b *analytics.Row) bool { return slices.Equal(a.TagIDs, b.TagIDs) }},
		} {
			got := stream(c.fields)
			if len(got) != len(full) {
				t.Fatalf("fields %b: %d trades, all fields %d", c.fields, len(got), len(full))
			}
			for i := range got {
				if core(&got[i]) != core(&full[i]) || !c.same(&got[i], &full[i]) {
					t.Fatalf("fields %b, trade %d: %+v, with all fields %+v", c.fields, i, got[i], full[i])
				}
			}
		}
	})

	t.Run("SourceSelectsWhatTheTradeListSelects", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		g := Seed(t, e.Env)
		for _, sel := range selections {
			f := sel.filter(g)
			f.Status = trading.Closed
			if err := e.Svc.PrepareFilter(ctx, g.User, &f); err != nil {
				t.Fatal(err)
			}
			var listed []uuid.UUID
			page := trading.Page{Limit: trading.MaxPageSize}
			for {
				p, err := e.Svc.ListTrades(ctx, g.User, f, trading.Sort{Key: trading.SortClosed, Asc: true}, page)
				if err != nil {
					t.Fatal(err)
				}
				for _, tr := range p.Items {
					listed = append(listed, tr.ID)
				}
				if p.NextCursor == "" {
					break
				}
				page.Cursor = p.NextCursor
			}
			var streamed []uuid.UUID
			var last time.Time
			err := e.Source.ClosedTrades(ctx, g.User, f, analytics.AllFields, func(r *analytics.Row) error {
				if r.ClosedAt.Before(last) {
					return fmt.Errorf("trade %s closed at %s after one closed at %s", r.ID, r.ClosedAt, last)
				}
				last = r.ClosedAt
				streamed = append(streamed, r.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(listed, streamed) {
				t.Errorf("%s: the source streamed %d trades, the list has %d (or another order)", sel.name, len(streamed), len(listed))
			}
		}
	})

	t.Run("EdgeCases", func(t *testing.T) { edgeCases(t, newStores) })
}

// book makes an account and adds round trips of n shares bought at 100
// and sold at prices (commission 0 unless given).
func book(t *testing.T, e *Env, u uuid.UUID, in trading.AccountInput, exits []string, commission string) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	a, err := e.Svc.CreateAccount(ctx, u, in)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 4, 6, 14, 0, 0, 0, time.UTC)
	var fills []trading.ExecutionInput
	c := decimal.RequireFromString(commission)
	for i, p := range exits {
		at := base.Add(time.Duration(i) * 24 * time.Hour)
		fills = append(fills,
			trading.ExecutionInput{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(10), Price: decimal.NewFromInt(100), Commission: c, ExecutedAt: at},
			trading.ExecutionInput{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: decimal.NewFromInt(10), Price: decimal.RequireFromString(p), Commission: c, ExecutedAt: at.Add(time.Hour)})
	}
	if len(fills) > 0 {
		if _, err := e.Svc.AddExecutions(ctx, u, a.ID, fills, trading.AddOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return a.ID
}

func edgeCases(t *testing.T, newStores Factory) {
	ctx := context.Background()
	e := NewEnv(t, newStores(t))
	bal := func(s string) decimal.NullDecimal { return decimal.NewNullDecimal(decimal.RequireFromString(s)) }
	summary := func(t *testing.T, u uuid.UUID, f trading.Filter) []analytics.Summary {
		t.Helper()
		s, err := e.Analytics.Summary(ctx, u, analytics.Query{Filter: f})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	one := func(t *testing.T, s []analytics.Summary) analytics.Summary {
		t.Helper()
		if len(s) != 1 {
			t.Fatalf("%d currencies; want 1", len(s))
		}
		return s[0]
	}
	check := func(t *testing.T, s analytics.Summary, want map[string]string) {
		t.Helper()
		got := SummaryFigures(s)
		for k, v := range s.Nulls {
			got["why:"+k] = v
		}
		if d := Diff(got, want); d != "" {
			t.Errorf("%s", d)
		}
	}

	t.Run("NoTrades", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Empty", Currency: "USD"}, nil, "0")
		if s := summary(t, u, trading.Filter{}); len(s) != 0 {
			t.Fatalf("summary of no trades = %+v; want no currency", s)
		}
		for _, dim := range analytics.Dimensions {
			rows, err := e.Analytics.Breakdown(ctx, u, analytics.Query{}, dim)
			if err != nil || len(rows) != 0 {
				t.Fatalf("breakdown by %s = %v, %v", dim, rows, err)
			}
		}
	})

	t.Run("OnlyWins", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Winner", Currency: "USD", StartingBalance: bal("1000")}, []string{"101", "102.5", "103"}, "0")
		check(t, one(t, summary(t, u, trading.Filter{})), map[string]string{
			"trade_count": "3", "wins": "3", "losses": "0", "win_rate": "1", "net_pnl": "65", "avg_win": "21.6667",
			"profit_factor": "null", "why:profit_factor": analytics.ReasonNoLosses, "payoff_ratio": "null", "avg_loss": "null",
			"max_drawdown": "0", "max_drawdown_pct": "0", "recovery_factor": "null", "why:recovery_factor": analytics.ReasonNoDrawdown,
			"sortino": "null", "why:sortino": analytics.ReasonNoLosingDays, "max_consecutive_wins": "3", "current_streak": "win 3",
			"expectancy": "21.6667", "kelly": "null",
		})
	})

	t.Run("OnlyBreakevens", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Flat", Currency: "USD"}, []string{"100", "100"}, "0")
		check(t, one(t, summary(t, u, trading.Filter{})), map[string]string{
			"trade_count": "2", "wins": "0", "losses": "0", "breakevens": "2", "win_rate": "null", "why:win_rate": analytics.ReasonNoDecisions,
			"expectancy": "0", "profit_factor": "null", "max_drawdown": "0", "current_streak": "breakeven 2", "max_consecutive_wins": "0",
			"sharpe": "null", "why:sharpe": analytics.ReasonNoBalance, "max_drawdown_pct": "null", "why:max_drawdown_pct": analytics.ReasonNoBalance,
		})
	})

	t.Run("OneTrade", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Once", Currency: "EUR", StartingBalance: bal("5000")}, []string{"97.5"}, "1.25")
		check(t, one(t, summary(t, u, trading.Filter{})), map[string]string{
			"trade_count": "1", "losses": "1", "win_rate": "0", "gross_pnl": "-25", "fees": "2.5", "net_pnl": "-27.5", "avg_loss": "-27.5",
			"largest_loss": "-27.5", "profit_factor": "0", "expectancy": "-27.5", "max_drawdown": "27.5", "max_drawdown_pct": "0.55",
			"recovery_factor": "-1", "sharpe": "null", "why:sharpe": analytics.ReasonTooFewDays, "sqn": "null", "why:sqn": analytics.ReasonTooFewR,
			"current_streak": "loss 1",
		})
	})

	t.Run("FilterMatchingNothing", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Some", Currency: "USD"}, []string{"101"}, "0")
		if s := summary(t, u, trading.Filter{Symbols: []string{"NOPE"}}); len(s) != 0 {
			t.Fatalf("summary = %+v; want none", s)
		}
		if eq, err := e.Analytics.Equity(ctx, u, analytics.Query{Filter: trading.Filter{Symbols: []string{"NOPE"}}}, true); err != nil || len(eq) != 0 {
			t.Fatalf("equity = %+v, %v", eq, err)
		}
	})

	t.Run("StartingBalanceZero", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Zero", Currency: "USD", StartingBalance: bal("0")}, []string{"101", "99", "102"}, "0")
		check(t, one(t, summary(t, u, trading.Filter{})), map[string]string{
			"net_pnl": "20", "max_drawdown": "10", "max_drawdown_pct": "null", "why:max_drawdown_pct": analytics.ReasonBalanceNotPositive,
			"sharpe": "null", "why:sharpe": analytics.ReasonBalanceNotPositive, "sortino": "null",
		})
	})

	t.Run("TwoCurrenciesAreNeverSummed", func(t *testing.T) {
		u := e.NewUser(t)
		book(t, e, u, trading.AccountInput{Name: "Dollars", Currency: "USD"}, []string{"101"}, "0")
		book(t, e, u, trading.AccountInput{Name: "Euros", Currency: "EUR"}, []string{"98"}, "0")
		s := summary(t, u, trading.Filter{})
		if len(s) != 2 || s[0].Currency != "EUR" || s[1].Currency != "USD" || !s[0].NetPnL.Equal(decimal.NewFromInt(-20)) || !s[1].NetPnL.Equal(decimal.NewFromInt(10)) {
			t.Fatalf("summaries %+v", s)
		}
	})

	// A trade's P&L is in its instrument's currency when the instrument
	// names one (FDAX in euros, USD/JPY in yen), not in its account's:
	// it is booked under that currency, without the account's starting
	// balance or band, and never added to the account's figures.
	t.Run("InstrumentCurrencyIsItsOwnBook", func(t *testing.T) {
		u := e.NewUser(t)
		acct := book(t, e, u, trading.AccountInput{Name: "Dollars", Currency: "USD", StartingBalance: bal("25000"), BreakevenBand: decimal.NewFromInt(5)},
			[]string{"101", "100.3"}, "0")
		at := time.Date(2026, 5, 4, 14, 0, 0, 0, time.UTC)
		fill := func(sym string, class trading.AssetClass, side trading.Side, qty, price string, d time.Duration) trading.ExecutionInput {
			return trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: decimal.RequireFromString(qty), Price: decimal.RequireFromString(price), ExecutedAt: at.Add(d)}
		}
		if _, err := e.Svc.AddExecutions(ctx, u, acct, []trading.ExecutionInput{
			fill("FDAXM6", trading.Future, trading.Buy, "1", "24000", 0), fill("FDAXM6", trading.Future, trading.Sell, "1", "24001", time.Hour),
			fill("USD/JPY", trading.Forex, trading.Buy, "10000", "150", 2*time.Hour), fill("USD/JPY", trading.Forex, trading.Sell, "10000", "151", 3*time.Hour),
			fill("USD/JPY", trading.Forex, trading.Buy, "1", "150", 4*time.Hour), fill("USD/JPY", trading.Forex, trading.Sell, "1", "153", 5*time.Hour),
		}, trading.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		s := summary(t, u, trading.Filter{})
		if len(s) != 3 || s[0].Currency != "EUR" || s[1].Currency != "JPY" || s[2].Currency != "USD" {
			t.Fatalf("books %+v; want EUR, JPY, USD", s)
		}
		// EUR: one point of FDAX, 25 euros; no starting balance in euros.
		check(t, s[0], map[string]string{"trade_count": "1", "wins": "1", "net_pnl": "25", "max_drawdown_pct": "null",
			"why:max_drawdown_pct": analytics.ReasonNoBalance, "sharpe": "null"})
		// JPY: 10,000 yen and 3 yen, both wins: the account's band of 5
		// (dollars) does not make the second a breakeven.
		check(t, s[1], map[string]string{"trade_count": "2", "wins": "2", "breakevens": "0", "net_pnl": "10003", "max_drawdown_pct": "null"})
		// USD: the two AAPL round trips only (+10, +3: a breakeven within
		// the band), with the account's starting balance.
		check(t, s[2], map[string]string{"trade_count": "2", "wins": "1", "breakevens": "1", "net_pnl": "13", "max_drawdown_pct": "0"})
		for i, want := range []string{"", "", "25000"} {
			if got := str(s[i].StartingBalance); (want == "" && got != "null") || (want != "" && got != want) {
				t.Errorf("%s starting balance %s, want %q", s[i].Currency, got, want)
			}
		}
		rows, err := e.Analytics.Breakdown(ctx, u, analytics.Query{}, analytics.BySymbol)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, g := range rows {
			got[g.Label] = g.Currency + " " + g.NetPnL.String()
		}
		if want := map[string]string{"AAPL": "USD 13", "FDAXM26": "EUR 25", "USD/JPY": "JPY 10003"}; !maps.Equal(got, want) {
			t.Errorf("by symbol %v, want %v", got, want)
		}
		// A band given in the query applies to every currency.
		band := decimal.NewFromInt(5)
		s = summary(t, u, trading.Filter{BreakevenBand: decimal.NewNullDecimal(band)})
		if len(s) != 3 || s[1].Wins != 1 || s[1].Breakevens != 1 {
			t.Errorf("JPY with the query's band of 5: %+v", s[1])
		}
		// Only trades in other currencies than the account's: no empty
		// book of the account's currency beside theirs.
		s = summary(t, u, trading.Filter{Symbols: []string{"FDAXM26", "USD/JPY"}})
		if len(s) != 2 || s[0].Currency != "EUR" || s[1].Currency != "JPY" {
			t.Errorf("books of FDAX and USD/JPY only: %+v; want EUR and JPY", s)
		}
	})

	t.Run("BadQueries", func(t *testing.T) {
		u := e.NewUser(t)
		if _, err := e.Analytics.Summary(ctx, u, analytics.Query{Basis: "tax"}); err == nil {
			t.Error("basis tax accepted")
		}
		if _, err := e.Analytics.Summary(ctx, u, analytics.Query{Filter: trading.Filter{Status: trading.Open}}); err == nil {
			t.Error("status open accepted")
		}
		if _, err := e.Analytics.Breakdown(ctx, u, analytics.Query{}, "colour"); err == nil {
			t.Error("breakdown by colour accepted")
		}
		if _, err := e.Analytics.Distribution(ctx, u, analytics.Query{}, "mood"); err == nil {
			t.Error("distribution of mood accepted")
		}
	})
}
