package tradingtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && (code == "" || e.Code == code)
}

// t0 is a Monday 09:30:00.123456789 in New York.
var t0 = time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func fill(sym string, class trading.AssetClass, sec int, side trading.Side, qty, price string, cf ...string) trading.ExecutionInput {
	in := trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: d(qty), Price: d(price), ExecutedAt: at(sec)}
	if len(cf) > 0 {
		in.Commission = d(cf[0])
	}
	if len(cf) > 1 {
		in.Fees = d(cf[1])
	}
	return in
}

func stock(sec int, side trading.Side, qty, price string, cf ...string) trading.ExecutionInput {
	return fill("AAPL", trading.Stock, sec, side, qty, price, cf...)
}

// withMultiplier is in with the multiplier mult ("" leaves none).
func withMultiplier(in trading.ExecutionInput, mult string) trading.ExecutionInput {
	if mult != "" {
		in.Multiplier = d(mult)
	}
	return in
}

// eurusd is a forex fill of EURUSD with the multiplier mult ("" for none).
func eurusd(sec int, side trading.Side, qty, price, mult string) trading.ExecutionInput {
	return withMultiplier(fill("EURUSD", trading.Forex, sec, side, qty, price), mult)
}

// account creates another account of u.
func (e *Env) account(t *testing.T, u uuid.UUID, name string) *trading.Account {
	t.Helper()
	a, err := e.Svc.CreateAccount(context.Background(), u, trading.AccountInput{Name: name, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func (e *Env) user(t *testing.T) (uuid.UUID, *trading.Account) {
	t.Helper()
	u := e.NewUser(t)
	a, err := e.Svc.CreateAccount(context.Background(), u, trading.AccountInput{Name: "Main " + u.String()[:8], Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	e.Events.Take()
	return u, a
}

func (e *Env) add(t *testing.T, u uuid.UUID, a *trading.Account, ins ...trading.ExecutionInput) *trading.AddResult {
	t.Helper()
	res, err := e.Svc.AddExecutions(context.Background(), u, a.ID, ins, trading.AddOptions{})
	if err != nil {
		t.Fatalf("AddExecutions: %v", err)
	}
	return res
}

func (e *Env) trades(t *testing.T, u uuid.UUID, f trading.Filter, s trading.Sort) []trading.Trade {
	t.Helper()
	var out []trading.Trade
	p := trading.Page{Limit: trading.MaxPageSize}
	for {
		page, err := e.Svc.ListTrades(context.Background(), u, f, s, p)
		if err != nil {
			t.Fatalf("ListTrades: %v", err)
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out
		}
		p.Cursor = page.NextCursor
	}
}

// multiplierConflict tells whether err refuses a fill's multiplier as
// another than its account's.
func multiplierConflict(err error) bool {
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid {
		return false
	}
	for k, v := range e.Fields {
		if strings.HasSuffix(k, "].multiplier") && strings.Contains(v, "recorded in this account with multiplier") {
			return true
		}
	}
	return false
}

func eqD(t *testing.T, name string, got decimal.Decimal, want string) {
	t.Helper()
	if !got.Equal(d(want)) {
		t.Errorf("%s = %s; want %s", name, got, want)
	}
}

// Run runs the contract suite.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("Accounts", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, other := e.NewUser(t), e.NewUser(t)
		a, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: " Prop Eval ", Broker: "Tradovate", BrokerPreset: "tradovate", Currency: "usd",
			StartingBalance: decimal.NewNullDecimal(d("50000.00")), Timezone: "Europe/London", BreakevenBand: d("0.5"),
			Multipliers: map[string]decimal.Decimal{"es": d("50")}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.Svc.GetAccount(ctx, u, a.ID)
		if err != nil || got.Name != "Prop Eval" || got.Currency != "USD" || !got.StartingBalance.Decimal.Equal(d("50000")) ||
			got.Timezone != "Europe/London" || !got.Multipliers["ES"].Equal(d("50")) || got.Version != 1 || got.BrokerPreset != "tradovate" {
			t.Fatalf("GetAccount = %+v, %v", got, err)
		}
		if _, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "prop eval", Currency: "USD"}); !isCode(err, apperr.Conflict, trading.CodeAccountNameTaken) {
			t.Fatalf("same name again = %v; want account_name_taken", err)
		}
		if _, err := e.Svc.CreateAccount(ctx, other, trading.AccountInput{Name: "Prop Eval", Currency: "USD"}); err != nil {
			t.Fatalf("another user's account of the same name: %v", err)
		}
		for _, in := range []trading.AccountInput{{Name: "", Currency: "USD"}, {Name: "x", Currency: "US"}, {Name: "x", Currency: "USD", Timezone: "Mars/Base"},
			{Name: "x", Currency: "USD", BreakevenBand: d("-1")}, {Name: "x", Currency: "USD", Multipliers: map[string]decimal.Decimal{"ES": d("0")}}} {
			if _, err := e.Svc.CreateAccount(ctx, u, in); !isCode(err, apperr.Invalid, "") {
				t.Errorf("CreateAccount(%+v) = %v; want Invalid", in, err)
			}
		}
		name := "Renamed"
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Name: &name}, 7); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Fatalf("stale update = %v; want version_mismatch", err)
		}
		arch := true
		up, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Name: &name, Archived: &arch}, 1)
		if err != nil || up.Version != 2 || up.Name != "Renamed" || !up.Archived {
			t.Fatalf("update = %+v, %v", up, err)
		}
		if l, _ := e.Svc.ListAccounts(ctx, u, false); len(l) != 0 {
			t.Fatalf("archived account listed: %+v", l)
		}
		if l, _ := e.Svc.ListAccounts(ctx, u, true); len(l) != 1 || l[0].ID != a.ID {
			t.Fatalf("ListAccounts(archived) = %+v", l)
		}
		if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(0, trading.Buy, "1", "1")}, trading.AddOptions{}); !isCode(err, apperr.Conflict, trading.CodeAccountArchived) {
			t.Fatalf("execution in an archived account = %v", err)
		}
		// Its record is read-only too: settings that would rebuild its
		// trades (multipliers, zone, breakeven band) or any other change,
		// unless the same patch unarchives it. Restating a setting is not
		// a change.
		zone, band, again, renamed := "Asia/Tokyo", d("1"), "Renamed", "Another name"
		for name, p := range map[string]trading.AccountPatch{
			"multipliers": {Multipliers: &map[string]decimal.Decimal{"ES": d("5")}}, "timezone": {Timezone: &zone},
			"breakeven_band": {BreakevenBand: &band}, "name": {Name: &renamed}, "archived and a name": {Name: &renamed, Archived: &arch},
		} {
			if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, p, 0); !isCode(err, apperr.Conflict, trading.CodeAccountArchived) {
				t.Fatalf("%s of an archived account = %v", name, err)
			}
		}
		if same, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Name: &again, Archived: &arch}, 0); err != nil || same.Version != up.Version {
			t.Fatalf("restating an archived account = %+v, %v; a patch that changes nothing keeps version %d", same, err, up.Version)
		}
		// Another user sees nothing.
		if _, err := e.Svc.GetAccount(ctx, other, a.ID); !isCode(err, apperr.NotFound, trading.CodeAccountNotFound) {
			t.Fatalf("other user's GetAccount = %v", err)
		}
		if _, err := e.Svc.UpdateAccount(ctx, other, a.ID, trading.AccountPatch{Name: &name}, 0); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's UpdateAccount = %v", err)
		}
		if err := e.Svc.DeleteAccount(ctx, other, a.ID, true); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's DeleteAccount = %v", err)
		}
		// Delete refuses while executions exist, unless cascade.
		no := false
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Archived: &no}, 0); err != nil {
			t.Fatal(err)
		}
		e.add(t, u, a, stock(0, trading.Buy, "1", "1"))
		if err := e.Svc.DeleteAccount(ctx, u, a.ID, false); !isCode(err, apperr.Conflict, trading.CodeAccountHasData) {
			t.Fatalf("delete with executions = %v", err)
		}
		if err := e.Svc.DeleteAccount(ctx, u, a.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.GetAccount(ctx, u, a.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("deleted account: %v", err)
		}
		if tr := e.trades(t, u, trading.Filter{}, trading.Sort{}); len(tr) != 0 {
			t.Fatalf("trades outlived their account: %d", len(tr))
		}
	})

	t.Run("ExecutionsBuildTrades", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		v0, _ := e.Svc.DataVersion(ctx, u)
		var visible []bool
		e.Events.During = func(ev realtime.Event) {
			id, _ := uuid.Parse(fmt.Sprint(ev.Payload["trade_id"]))
			_, err := e.Trades.Get(ctx, u, id)
			visible = append(visible, err == nil)
		}
		res := e.add(t, u, a,
			stock(0, trading.Buy, "100", "187.25", "1.00", "0.01"),
			stock(60, trading.Buy, "50", "187.75", "0.50"),
			stock(120, trading.Sell, "150", "188.10", "1.50", "0.03"),
			fill("ESZ6", trading.Future, 0, trading.Sell, "2", "5000.25", "2.50"),
		)
		e.Events.During = nil
		if len(res.Executions) != 4 || len(res.Duplicates) != 0 || len(res.Trades) != 2 {
			t.Fatalf("AddExecutions = %d executions, %d duplicates, %d trades", len(res.Executions), len(res.Duplicates), len(res.Trades))
		}
		if v, _ := e.Svc.DataVersion(ctx, u); v <= v0 {
			t.Fatalf("data version %d → %d: not bumped", v0, v)
		}
		evs := e.Events.Take()
		if len(evs) != 2 || slices.Contains(visible, false) {
			t.Fatalf("events %d, visible during publish %v; want 2 after commit", len(evs), visible)
		}
		for _, ev := range evs {
			if ev.Type != realtime.TypeTradeCreated || ev.UserID != u {
				t.Fatalf("event %+v", ev)
			}
		}
		all := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		if len(all) != 2 {
			t.Fatalf("%d trades; want 2", len(all))
		}
		var aapl, es trading.Trade
		for _, tr := range all {
			if tr.Symbol == "AAPL" {
				aapl = tr
			} else {
				es = tr
			}
		}
		// 100 × 0.85 + 50 × 0.35 = 102.5 gross; fees 3 + 0.04.
		if aapl.Status != trading.Closed || aapl.Direction != trading.Long || aapl.Outcome != trading.Win || aapl.AssetClass != trading.Stock {
			t.Fatalf("AAPL trade %+v", aapl)
		}
		eqD(t, "gross", aapl.GrossPnL, "102.5")
		eqD(t, "commission", aapl.Commission, "3")
		eqD(t, "fees", aapl.Fees, "0.04")
		eqD(t, "net", aapl.NetPnL, "99.46")
		eqD(t, "avg entry", aapl.AvgEntryPrice, "187.4166666667")
		eqD(t, "avg exit", aapl.AvgExitPrice.Decimal, "188.1")
		eqD(t, "max position", aapl.MaxPosition, "150")
		if !aapl.OpenedAt.Equal(at(0)) || !aapl.ClosedAt.Equal(at(120)) || aapl.Holding != 120*time.Second ||
			aapl.OpenWeekday != time.Monday || aapl.OpenHour != 9 {
			t.Fatalf("AAPL times %v %v %v %v %d (nanoseconds must survive)", aapl.OpenedAt, aapl.ClosedAt, aapl.Holding, aapl.OpenWeekday, aapl.OpenHour)
		}
		if es.Symbol != "ESZ26" || es.Status != trading.Open || es.Direction != trading.Short || es.Outcome != "" {
			t.Fatalf("ES trade %+v", es)
		}
		eqD(t, "ES cost basis", es.CostBasis, "500025")
		eqD(t, "ES multiplier", es.Multiplier, "50")
		eqD(t, "ES open quantity", es.OpenQuantity, "2")
		eqD(t, "ES net", es.NetPnL, "-2.5")

		got, err := e.Svc.GetTrade(ctx, u, aapl.ID)
		if err != nil || len(got.Legs) != 3 || got.Legs[2].Role != trading.Exit || got.Annotation.Version != 1 {
			t.Fatalf("GetTrade = %+v, %v", got, err)
		}
		eqD(t, "exit leg P&L", got.Legs[2].RealizedPnL, "102.5")
		if !got.Legs[0].ExecutedAt.Equal(at(0)) {
			t.Fatalf("leg instant %v", got.Legs[0].ExecutedAt)
		}
		ex, err := e.Svc.GetExecution(ctx, u, res.Executions[0].ID)
		if err != nil || ex.Symbol != "AAPL" || !ex.ExecutedAt.Equal(at(0)) || !ex.Fees.Equal(d("0.01")) || ex.Source() != "manual" || ex.Fingerprint == "" {
			t.Fatalf("GetExecution = %+v, %v", ex, err)
		}

		// Pages of executions: newest first, no repeats.
		var seen []uuid.UUID
		p := trading.Page{Limit: 3}
		for {
			items, next, err := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{}, p)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range items {
				seen = append(seen, it.ID)
			}
			if next == "" {
				break
			}
			p.Cursor = next
		}
		if len(seen) != 4 {
			t.Fatalf("listed %d executions; want 4", len(seen))
		}
		// The spellings POST accepts (and the trade filter matches) for ESZ26.
		for _, sym := range []string{"esz26", "/ESZ26", "ES DEC26", " es  dec  2026 ", "ES 12-26", "ESZ2026"} {
			if items, _, err := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{Symbols: []string{sym}}, trading.Page{}); err != nil || len(items) != 1 || items[0].Symbol != "ESZ26" {
				t.Fatalf("filter by symbol %q: %d executions, %v; want the ESZ26 fill", sym, len(items), err)
			}
		}

		// Isolation.
		other := e.NewUser(t)
		if _, err := e.Svc.GetTrade(ctx, other, aapl.ID); !isCode(err, apperr.NotFound, trading.CodeTradeNotFound) {
			t.Fatalf("other user's GetTrade = %v", err)
		}
		if _, err := e.Svc.GetExecution(ctx, other, ex.ID); !isCode(err, apperr.NotFound, trading.CodeExecutionNotFound) {
			t.Fatalf("other user's GetExecution = %v", err)
		}
		if _, err := e.Svc.AddExecutions(ctx, other, a.ID, []trading.ExecutionInput{stock(0, trading.Buy, "1", "1")}, trading.AddOptions{}); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's AddExecutions = %v", err)
		}
		if _, err := e.Svc.DeleteExecutions(ctx, other, []uuid.UUID{ex.ID}); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's DeleteExecutions = %v", err)
		}
		if _, _, err := e.Svc.UpdateExecution(ctx, other, ex.ID, trading.ExecutionPatch{}, 0); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's UpdateExecution = %v", err)
		}
		if _, err := e.Svc.DeleteTrade(ctx, other, aapl.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's DeleteTrade = %v", err)
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, other, aapl.ID, trading.AnnotationPatch{}, 0); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("other user's UpdateAnnotation = %v", err)
		}
		if l := e.trades(t, other, trading.Filter{}, trading.Sort{}); len(l) != 0 {
			t.Fatalf("other user lists %d trades", len(l))
		}
	})

	t.Run("InvalidInput", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		bad := []trading.ExecutionInput{stock(0, trading.Buy, "0", "1"), stock(0, "hold", "1", "1"), stock(0, trading.Buy, "1", "-1"),
			fill("NOPE", trading.Option, 0, trading.Buy, "1", "1"), {Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("1"), Price: d("1")}}
		_, err := e.Svc.AddExecutions(ctx, u, a.ID, bad, trading.AddOptions{})
		ae, ok := apperr.As(err)
		if !ok || ae.Kind != apperr.Invalid || ae.Fields["executions[0].quantity"] == "" || ae.Fields["executions[1].side"] == "" ||
			ae.Fields["executions[2].price"] == "" || ae.Fields["executions[4].executed_at"] == "" {
			t.Fatalf("bad batch = %v", err)
		}
		_, err = e.Svc.AddExecutions(ctx, u, a.ID, bad[3:4], trading.AddOptions{})
		if ae, ok := apperr.As(err); !ok || ae.Fields["executions[0].symbol"] == "" {
			t.Fatalf("bad symbol = %v", err)
		}
		formula := stock(0, trading.Buy, "1", "1")
		formula.Currency = "=1+1"
		_, err = e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(0, trading.Buy, "1", "1"), formula}, trading.AddOptions{})
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.Invalid || ae.Fields["executions[1].currency"] == "" {
			t.Fatalf("a currency not of ISO 4217 = %v", err)
		}
		if _, err := e.Svc.AddExecutions(ctx, u, a.ID, make([]trading.ExecutionInput, trading.MaxBatch+1), trading.AddOptions{}); !isCode(err, apperr.Invalid, trading.CodeBatchTooLarge) {
			t.Fatalf("oversize batch = %v", err)
		}
		if l := e.trades(t, u, trading.Filter{}, trading.Sort{}); len(l) != 0 {
			t.Fatal("a rejected batch left trades")
		}
		if _, err := e.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{}, trading.Page{Cursor: "garbage"}); !isCode(err, apperr.Invalid, trading.CodeCursorInvalid) {
			t.Fatalf("bad cursor = %v", err)
		}
		if _, err := e.Svc.ListTrades(ctx, u, trading.Filter{Direction: "up"}, trading.Sort{}, trading.Page{}); !isCode(err, apperr.Invalid, trading.CodeFilterInvalid) {
			t.Fatalf("bad filter = %v", err)
		}
	})

	// A future may fill below zero (WTI's May 2020 contract, spreads); the
	// arithmetic is the same, and a cost basis bought below zero is
	// negative. Other classes refuse a negative price.
	t.Run("FuturesBelowZero", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a,
			fill("CLM6", "", 0, trading.Buy, "2", "-37.63"), fill("CLM6", "", 60, trading.Sell, "1", "10.01"),
			fill("CLN6", trading.Future, 0, trading.Sell, "1", "5"), fill("CLN6", trading.Future, 60, trading.Buy, "1", "-10"))
		byOpen := map[string]trading.Trade{}
		for _, tr := range res.Trades {
			byOpen[tr.Symbol] = tr
		}
		long, short := byOpen["CLM26"], byOpen["CLN26"]
		// (10.01 − −37.63) × 1 × 1,000; the other lot stays open at −37.63.
		if long.AssetClass != trading.Future || !long.GrossPnL.Equal(d("47640")) || !long.OpenQuantity.Equal(d("1")) || !long.CostBasis.Equal(d("-37630")) {
			t.Fatalf("long below zero: %+v", long)
		}
		// (5 − −10) × 1,000.
		if short.Status != trading.Closed || !short.GrossPnL.Equal(d("15000")) || !short.AvgExitPrice.Decimal.Equal(d("-10")) {
			t.Fatalf("short covered below zero: %+v", short)
		}
		for _, in := range []trading.ExecutionInput{stock(0, trading.Buy, "1", "-0.01"), fill("AAPL261218C00150000", "", 0, trading.Buy, "1", "-1"),
			fill("EUR/USD", trading.Forex, 0, trading.Buy, "1", "-1")} {
			_, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{in}, trading.AddOptions{})
			if ae, ok := apperr.As(err); !ok || ae.Fields["executions[0].price"] == "" {
				t.Errorf("%s at %s = %v; want a field error on the price", in.Symbol, in.Price, err)
			}
		}
	})

	// An override is looked up by root: a key naming a contract month of
	// a known root (ESZ26) would never apply, so it is refused with the
	// root to give; roots that merely end in a digit are kept.
	t.Run("OverrideKeysAreRoots", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u := e.NewUser(t)
		for _, key := range []string{"ESZ26", "esz6", "NQH27"} {
			_, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: key, Currency: "USD", Multipliers: map[string]decimal.Decimal{key: d("5")}})
			if ae, ok := apperr.As(err); !ok || !strings.Contains(ae.Fields["multipliers"], "per root") {
				t.Errorf("override keyed %s = %v; want a field error naming the root", key, err)
			}
		}
		a, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Roots", Currency: "USD",
			Multipliers: map[string]decimal.Decimal{"ES": d("5"), "SR3": d("2500"), "M2K": d("5"), "6E": d("62500")}})
		if err != nil || len(a.Multipliers) != 4 {
			t.Fatalf("roots as keys: %+v, %v", a, err)
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		batch := []trading.ExecutionInput{stock(0, trading.Buy, "100", "10"), stock(0, trading.Buy, "100", "10"), stock(5, trading.Sell, "200", "11")}
		res := e.add(t, u, a, batch...)
		if len(res.Executions) != 3 {
			t.Fatalf("identical fills in one batch: %d kept; want 3", len(res.Executions))
		}
		if _, err := e.Svc.AddExecutions(ctx, u, a.ID, batch, trading.AddOptions{}); !isCode(err, apperr.Conflict, trading.CodeExecutionDuplicate) {
			t.Fatalf("same batch again = %v; want execution_duplicate", err)
		}
		imp := uuid.New()
		more := append(batch, stock(10, trading.Buy, "1", "10"))
		res, err := e.Svc.AddExecutions(ctx, u, a.ID, more, trading.AddOptions{ImportID: imp, SkipDuplicates: true})
		if err != nil || len(res.Executions) != 1 || !slices.Equal(res.Duplicates, []int{0, 1, 2}) || res.Executions[0].Source() != "import" {
			t.Fatalf("overlapping import = %+v, %v", res, err)
		}
		withID := []trading.ExecutionInput{stock(20, trading.Sell, "1", "10"), stock(21, trading.Sell, "1", "10.01")}
		withID[0].BrokerExecutionID, withID[1].BrokerExecutionID = "X-1", "X-1"
		res, err = e.Svc.AddExecutions(ctx, u, a.ID, withID, trading.AddOptions{SkipDuplicates: true})
		if err != nil || len(res.Executions) != 1 || !slices.Equal(res.Duplicates, []int{1}) {
			t.Fatalf("repeated broker execution ID = %+v, %v", res, err)
		}
		items, _, _ := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{ImportID: imp}, trading.Page{})
		if len(items) != 1 {
			t.Fatalf("executions of the import: %d", len(items))
		}
	})

	t.Run("AnEditThatDuplicatesAFillIsRefused", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		// P and Q differ in price; R and S are two genuine identical fills
		// of one batch; I and J come from an import.
		res := e.add(t, u, a, stock(0, trading.Buy, "100", "10"), stock(0, trading.Buy, "100", "10.5"), stock(5, trading.Sell, "200", "11"),
			stock(30, trading.Buy, "5", "12"), stock(30, trading.Buy, "5", "12"), stock(35, trading.Sell, "10", "13"))
		q, s := res.Executions[1], res.Executions[4]
		imp, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(60, trading.Buy, "1", "20"), stock(60, trading.Buy, "1", "21"), stock(65, trading.Sell, "2", "22")},
			trading.AddOptions{ImportID: uuid.New(), SkipDuplicates: true})
		if err != nil || len(imp.Executions) != 3 {
			t.Fatalf("import: %+v, %v", imp, err)
		}
		j := imp.Executions[1]
		before := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		v0, _ := e.Svc.DataVersion(ctx, u)
		e.Events.Take()
		ten, twenty := d("10.00"), d("20")
		for name, c := range map[string]struct {
			id uuid.UUID
			p  trading.ExecutionPatch
		}{
			"a manual fill priced as another":    {q.ID, trading.ExecutionPatch{Price: &ten}},
			"an imported fill priced as another": {j.ID, trading.ExecutionPatch{Price: &twenty}},
		} {
			if _, _, err := e.Svc.UpdateExecution(ctx, u, c.id, c.p, 0); !isCode(err, apperr.Conflict, trading.CodeExecutionDuplicate) {
				t.Errorf("%s = %v; want execution_duplicate, as POSTing that fill", name, err)
			}
		}
		for _, want := range []trading.Execution{q, j} {
			got, err := e.Svc.GetExecution(ctx, u, want.ID)
			if err != nil || !got.Price.Equal(want.Price) || got.Version != want.Version || got.Fingerprint != want.Fingerprint {
				t.Fatalf("refused edit changed %+v into %+v, %v", want, got, err)
			}
		}
		after := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		if len(after) != len(before) {
			t.Fatalf("%d trades after the refused edits; want %d", len(after), len(before))
		}
		for i := range after {
			if after[i].ID != before[i].ID || !after[i].MaxPosition.Equal(before[i].MaxPosition) || after[i].Digest != before[i].Digest {
				t.Fatalf("trade %d rebuilt by a refused edit: %+v", i, after[i])
			}
		}
		if v, _ := e.Svc.DataVersion(ctx, u); v != v0 || len(e.Events.Take()) != 0 {
			t.Fatalf("refused edits: data version %d → %d, or events published", v0, v)
		}
		// An edit outside the fingerprint keeps the identical fill S (its
		// ordinal 1) as it is.
		fee := d("0.5")
		if got, _, err := e.Svc.UpdateExecution(ctx, u, s.ID, trading.ExecutionPatch{Commission: &fee}, 0); err != nil || got.Fingerprint != s.Fingerprint {
			t.Fatalf("commission of an identical fill: %+v, %v", got, err)
		}
		// A manual fill corrected to a new price is that fill now: POSTing
		// it again is the duplicate.
		p := d("10.25")
		if _, _, err := e.Svc.UpdateExecution(ctx, u, q.ID, trading.ExecutionPatch{Price: &p}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(0, trading.Buy, "100", "10.25")}, trading.AddOptions{}); !isCode(err, apperr.Conflict, trading.CodeExecutionDuplicate) {
			t.Fatalf("POST of the corrected fill = %v; want execution_duplicate", err)
		}
	})

	t.Run("ANoOpEditKeepsTheExecutionsVersion", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a, fill("ESZ6", trading.Future, 0, trading.Buy, "1", "5000.25", "2.5"), fill("ESZ6", trading.Future, 60, trading.Sell, "1", "5001"))
		x, err := e.Svc.GetExecution(ctx, u, res.Executions[0].ID) // as stored (timestamps at the store's precision)
		if err != nil {
			t.Fatal(err)
		}
		v0, _ := e.Svc.DataVersion(ctx, u)
		e.Events.Take()
		price, fee, side, at0, sym, class := d("5000.250"), d("2.50"), trading.Buy, x.ExecutedAt.In(time.FixedZone("", 3600)), "/ESZ26", trading.Future
		for name, p := range map[string]trading.ExecutionPatch{
			"{}":                                {},
			"the same price":                    {Price: &price},
			"the same commission":               {Commission: &fee},
			"the same side and instant":         {Side: &side, ExecutedAt: &at0},
			"the same symbol spelled otherwise": {Symbol: &sym, AssetClass: &class},
		} {
			got, trades, err := e.Svc.UpdateExecution(ctx, u, x.ID, p, x.Version)
			if err != nil || got.Version != x.Version || len(trades) != 0 {
				t.Errorf("%s: %+v, %d trades, %v; want version %d kept, nothing rebuilt", name, got, len(trades), err, x.Version)
			}
		}
		if got, _ := e.Svc.GetExecution(ctx, u, x.ID); got.Version != x.Version || !got.UpdatedAt.Equal(x.UpdatedAt) {
			t.Errorf("execution rewritten: %+v", got)
		}
		if v, _ := e.Svc.DataVersion(ctx, u); v != v0 || len(e.Events.Take()) != 0 {
			t.Errorf("no-op edits: data version %d → %d, or events published", v0, v)
		}
		if _, _, err := e.Svc.UpdateExecution(ctx, u, x.ID, trading.ExecutionPatch{}, x.Version+1); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Errorf("stale no-op = %v; want version_mismatch", err)
		}
		other := d("5000.5")
		if got, trades, err := e.Svc.UpdateExecution(ctx, u, x.ID, trading.ExecutionPatch{Price: &other}, x.Version); err != nil || got.Version != x.Version+1 || len(trades) != 1 {
			t.Errorf("a new price: %+v, %d trades, %v", got, len(trades), err)
		}
	})

	t.Run("EditRebuildsOnlyItsPosition", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a, stock(0, trading.Buy, "10", "100"), stock(60, trading.Sell, "10", "101"),
			fill("MSFT", trading.Stock, 0, trading.Buy, "5", "400"), fill("MSFT", trading.Stock, 60, trading.Sell, "5", "390"))
		before := e.trades(t, u, trading.Filter{Symbols: []string{"MSFT"}}, trading.Sort{})[0]
		aapl := e.trades(t, u, trading.Filter{Symbols: []string{"AAPL"}}, trading.Sort{})[0]
		notes := "keep me"
		if _, err := e.Svc.UpdateAnnotation(ctx, u, aapl.ID, trading.AnnotationPatch{Notes: &notes}, 0); err != nil {
			t.Fatal(err)
		}
		e.Events.Take()
		exit := res.Executions[1]
		price := d("103")
		if _, _, err := e.Svc.UpdateExecution(ctx, u, exit.ID, trading.ExecutionPatch{Price: &price}, exit.Version+5); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Fatalf("stale execution edit = %v", err)
		}
		ex, changed, err := e.Svc.UpdateExecution(ctx, u, exit.ID, trading.ExecutionPatch{Price: &price}, exit.Version)
		if err != nil || ex.Version != exit.Version+1 || len(changed) != 1 || changed[0].ID != aapl.ID {
			t.Fatalf("UpdateExecution = %+v, %d trades, %v", ex, len(changed), err)
		}
		eqD(t, "rebuilt net", changed[0].NetPnL, "30")
		if changed[0].Annotation.Notes != notes {
			t.Fatalf("annotation lost in the rebuild: %+v", changed[0].Annotation)
		}
		after := e.trades(t, u, trading.Filter{Symbols: []string{"MSFT"}}, trading.Sort{})[0]
		if !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Fatal("the other position was rewritten")
		}
		evs := e.Events.Take()
		if len(evs) != 1 || evs[0].Type != realtime.TypeTradeUpdated || evs[0].Payload["trade_id"] != aapl.ID.String() {
			t.Fatalf("events %+v", evs)
		}
		// Moving the exit to MSFT rebuilds both positions.
		sym := "MSFT"
		if _, _, err := e.Svc.UpdateExecution(ctx, u, exit.ID, trading.ExecutionPatch{Symbol: &sym}, 0); err != nil {
			t.Fatal(err)
		}
		if l := e.trades(t, u, trading.Filter{Symbols: []string{"AAPL"}}, trading.Sort{}); len(l) != 1 || l[0].Status != trading.Open || l[0].ID != aapl.ID {
			t.Fatalf("AAPL after the move: %+v", l)
		}
		if l := e.trades(t, u, trading.Filter{Symbols: []string{"MSFT"}}, trading.Sort{}); len(l) != 2 {
			t.Fatalf("MSFT after the move: %d trades", len(l))
		}
		// Deleting executions rebuilds too.
		if _, err := e.Svc.DeleteExecutions(ctx, u, []uuid.UUID{res.Executions[0].ID}); err != nil {
			t.Fatal(err)
		}
		if l := e.trades(t, u, trading.Filter{Symbols: []string{"AAPL"}}, trading.Sort{}); len(l) != 0 {
			t.Fatalf("AAPL trade outlived its executions: %+v", l)
		}
		if _, err := e.Svc.DeleteExecutions(ctx, u, []uuid.UUID{uuid.New()}); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("delete of an unknown execution = %v", err)
		}
	})

	t.Run("MoveAnOpenerIntoAnotherPosition", func(t *testing.T) {
		// The fill that opens OP2's only trade moves to BBB, whose
		// instrument came first (so it sorts first): the trade it opened
		// goes, and it opens one in BBB, whichever position is rebuilt
		// first by ID.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.add(t, u, a, fill("BBB", trading.Stock, 0, trading.Buy, "10", "100"), fill("BBB", trading.Stock, 60, trading.Sell, "10", "110"))
		lone := e.add(t, u, a, fill("OP2", trading.Stock, 120, trading.Buy, "1", "1")).Executions[0]
		sym := "BBB"
		if _, _, err := e.Svc.UpdateExecution(ctx, u, lone.ID, trading.ExecutionPatch{Symbol: &sym}, lone.Version); err != nil {
			t.Fatalf("moving the opener of OP2's trade to BBB: %v", err)
		}
		if l := e.trades(t, u, trading.Filter{Symbols: []string{"OP2"}}, trading.Sort{}); len(l) != 0 {
			t.Fatalf("OP2 kept %d trades", len(l))
		}
		l := e.trades(t, u, trading.Filter{Symbols: []string{"BBB"}}, trading.Sort{})
		if len(l) != 2 || l[0].Status != trading.Open || l[0].OpeningExecutionID != lone.ID || l[1].Status != trading.Closed {
			t.Fatalf("BBB after the move: %+v", l)
		}
	})

	t.Run("CorrectingASymbolReinfersAnImpliedClass", func(t *testing.T) {
		// A class the old symbol implied follows the new symbol (AAPL typed
		// for ESZ6 becomes a future at ×50); one the symbol does not imply
		// (SPY recorded as an ETF) is kept.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a, fill("AAPL", trading.Stock, 0, trading.Buy, "1", "5000"), fill("ESZ6", trading.Future, 60, trading.Sell, "1", "5002"),
			fill("SPY", trading.ETF, 0, trading.Buy, "1", "500"))
		sym := "ESZ6"
		ex, _, err := e.Svc.UpdateExecution(ctx, u, res.Executions[0].ID, trading.ExecutionPatch{Symbol: &sym}, 0)
		if err != nil || ex.AssetClass != trading.Future || ex.Symbol != "ESZ26" {
			t.Fatalf("AAPL corrected to ESZ6 = %+v, %v; want the future ESZ26", ex, err)
		}
		l := e.trades(t, u, trading.Filter{Symbols: []string{"ESZ26"}}, trading.Sort{})
		if len(l) != 1 || l[0].Status != trading.Closed {
			t.Fatalf("ESZ26 trades after the correction: %+v", l)
		}
		eqD(t, "ESZ26 gross", l[0].GrossPnL, "100")
		sym = "QQQ"
		if ex, _, err = e.Svc.UpdateExecution(ctx, u, res.Executions[2].ID, trading.ExecutionPatch{Symbol: &sym}, 0); err != nil || ex.AssetClass != trading.ETF {
			t.Fatalf("SPY (ETF) corrected to QQQ = %+v, %v; want an ETF", ex, err)
		}
	})

	t.Run("CorrectingASymbolKeepsTheJournal", func(t *testing.T) {
		// A round trip typed under a misspelt symbol, annotated, then
		// corrected one fill at a time: the trade follows its opening
		// fill (same ID, same annotation), the piece left behind is a
		// split of it, and when the last fill moves that piece merges
		// into the corrected trade. Nothing the trader wrote is lost.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a, fill("APPL", trading.Stock, 0, trading.Buy, "10", "100"), fill("APPL", trading.Stock, 60, trading.Sell, "10", "101"))
		tr := e.trades(t, u, trading.Filter{}, trading.Sort{})[0]
		tag := e.NewTag(t, u)
		notes, rating, risk := "lesson", 5, decimal.NewNullDecimal(d("50"))
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &notes, Rating: &rating, InitialRisk: &risk, TagIDs: &[]uuid.UUID{tag}}, 0); err != nil {
			t.Fatal(err)
		}
		sym := "AAPL"
		if _, _, err := e.Svc.UpdateExecution(ctx, u, res.Executions[0].ID, trading.ExecutionPatch{Symbol: &sym}, 0); err != nil {
			t.Fatal(err)
		}
		moved := e.trades(t, u, trading.Filter{Symbols: []string{"AAPL"}}, trading.Sort{})
		if len(moved) != 1 || moved[0].ID != tr.ID || moved[0].Annotation.Notes != notes || moved[0].Annotation.Rating != rating || moved[0].Status != trading.Open {
			t.Fatalf("AAPL after the entry moved: %+v", moved)
		}
		left := e.trades(t, u, trading.Filter{Symbols: []string{"APPL"}}, trading.Sort{})
		if len(left) != 1 || left[0].ID == tr.ID || left[0].Annotation.Notes != "" || !slices.Equal(left[0].Annotation.TagIDs, []uuid.UUID{tag}) {
			t.Fatalf("APPL after the entry moved (a split: tags, not notes): %+v", left)
		}
		if _, _, err := e.Svc.UpdateExecution(ctx, u, res.Executions[1].ID, trading.ExecutionPatch{Symbol: &sym}, 0); err != nil {
			t.Fatal(err)
		}
		if l := e.trades(t, u, trading.Filter{Symbols: []string{"APPL"}}, trading.Sort{}); len(l) != 0 {
			t.Fatalf("APPL kept %d trades", len(l))
		}
		got, err := e.Svc.GetTrade(ctx, u, tr.ID)
		if err != nil || got.Symbol != "AAPL" || got.Status != trading.Closed || got.Annotation.Notes != notes || got.Annotation.Rating != rating ||
			!got.Annotation.InitialRisk.Valid || !slices.Equal(got.Annotation.TagIDs, []uuid.UUID{tag}) {
			t.Fatalf("the corrected trade = %+v, %v", got, err)
		}
		eqD(t, "net of the corrected trade", got.NetPnL, "10")
		eqD(t, "R of the corrected trade", got.RMultiple.Decimal, "0.2")

		// A one-fill trade whose asset class is corrected keeps its ID
		// and annotation too.
		lone := e.add(t, u, a, fill("QQQ", trading.Stock, 120, trading.Buy, "1", "400")).Executions[0]
		open := e.trades(t, u, trading.Filter{Symbols: []string{"QQQ"}}, trading.Sort{})[0]
		if _, err := e.Svc.UpdateAnnotation(ctx, u, open.ID, trading.AnnotationPatch{Notes: &notes}, 0); err != nil {
			t.Fatal(err)
		}
		etf := trading.ETF
		if _, _, err := e.Svc.UpdateExecution(ctx, u, lone.ID, trading.ExecutionPatch{AssetClass: &etf}, 0); err != nil {
			t.Fatal(err)
		}
		got, err = e.Svc.GetTrade(ctx, u, open.ID)
		if err != nil || got.AssetClass != trading.ETF || got.Annotation.Notes != notes {
			t.Fatalf("the trade after its asset class was corrected = %+v, %v", got, err)
		}
	})

	t.Run("Annotations", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.add(t, u, a, stock(0, trading.Buy, "100", "10"), stock(60, trading.Sell, "100", "12", "2"))
		tr := e.trades(t, u, trading.Filter{}, trading.Sort{})[0]
		tag1, tag2 := e.NewTag(t, u), e.NewTag(t, u)
		pb, rules := e.NewPlaybook(t, u, 3)
		foreignTag := e.NewTag(t, e.NewUser(t))
		risk := decimal.NewNullDecimal(d("50"))
		rating, conf := 4, 8
		notes := "# Plan\nbreakout"
		p := trading.AnnotationPatch{PlaybookID: &pb, TagIDs: &[]uuid.UUID{tag1, tag2, tag1}, Notes: &notes, InitialRisk: &risk,
			Rating: &rating, Confidence: &conf, FollowedRules: &[]uuid.UUID{rules[0], rules[2]}}
		got, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, p, 1)
		if err != nil || got.Annotation.Version != 2 || len(got.Annotation.TagIDs) != 2 || !got.RMultiple.Valid {
			t.Fatalf("UpdateAnnotation = %+v, %v", got, err)
		}
		eqD(t, "R", got.RMultiple.Decimal, "3.96") // (200 − 2) / 50
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, p, 1); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Fatalf("stale If-Match = %v", err)
		}
		// The repository refuses a stale version itself (compare and swap),
		// and of concurrent edits naming one version exactly one wins.
		staleCopy := *got
		staleCopy.Annotation.Version = 2 // stored is 2: a write of 2 expects 1
		if err := e.Tx.Do(ctx, func(ctx context.Context) error { return e.Trades.SaveAnnotation(ctx, &staleCopy) }); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Fatalf("SaveAnnotation of a stale version = %v", err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n := fmt.Sprint("device ", i)
				if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &n}, 2); err == nil {
					wins.Add(1)
				} else if !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
					t.Errorf("concurrent edit: %v", err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent edits of version 2 won; want exactly 1", wins.Load())
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &notes}, 3); err != nil {
			t.Fatal(err)
		}
		reread, _ := e.Svc.GetTrade(ctx, u, tr.ID)
		an := reread.Annotation
		if an.PlaybookID != pb || an.Notes != notes || an.Rating != 4 || an.Confidence != 8 || !an.InitialRisk.Decimal.Equal(d("50")) ||
			len(an.FollowedRules) != 2 || len(an.TagIDs) != 2 {
			t.Fatalf("stored annotation = %+v", an)
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{TagIDs: &[]uuid.UUID{foreignTag}}, 0); !isCode(err, apperr.NotFound, trading.CodeTagNotFound) {
			t.Fatalf("another user's tag = %v", err)
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{FollowedRules: &[]uuid.UUID{uuid.New()}}, 0); !isCode(err, apperr.Invalid, trading.CodePlaybookRuleUnknown) {
			t.Fatalf("unknown rule = %v", err)
		}
		bad := 6
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Rating: &bad}, 0); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("rating 6 = %v", err)
		}
		// Filters see the annotation.
		if l := e.trades(t, u, trading.Filter{TagIDs: []uuid.UUID{tag1, tag2}, TagMode: trading.AllTags, PlaybookIDs: []uuid.UUID{pb},
			MinR: decimal.NewNullDecimal(d("3.5"))}, trading.Sort{}); len(l) != 1 || len(l[0].Annotation.TagIDs) != 2 {
			t.Fatalf("filtered by annotation: %+v", l)
		}
		// Annotations survive a rebuild that changes the trade (scale in
		// before the exit) and bulk changes apply.
		e.add(t, u, a, stock(30, trading.Buy, "100", "11"), stock(90, trading.Sell, "100", "11"))
		reread, _ = e.Svc.GetTrade(ctx, u, tr.ID)
		if reread.Annotation.Notes != notes || reread.Annotation.Version != 4 || len(reread.Legs) != 4 {
			t.Fatalf("after the rebuild: %+v", reread)
		}
		eqD(t, "R after rebuild", reread.RMultiple.Decimal, "3.96")
		none := uuid.Nil
		bulk, err := e.Svc.BulkAnnotate(ctx, u, []uuid.UUID{tr.ID}, trading.BulkAnnotation{RemoveTags: []uuid.UUID{tag1}, PlaybookID: &none})
		if err != nil || len(bulk) != 1 || !slices.Equal(bulk[0].Annotation.TagIDs, []uuid.UUID{tag2}) || bulk[0].Annotation.PlaybookID != uuid.Nil ||
			len(bulk[0].Annotation.FollowedRules) != 0 {
			t.Fatalf("BulkAnnotate = %+v, %v", bulk, err)
		}
		if _, err := e.Svc.BulkAnnotate(ctx, u, []uuid.UUID{tr.ID, uuid.New()}, trading.BulkAnnotation{AddTags: []uuid.UUID{tag1}}); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("bulk with an unknown trade = %v", err)
		}
		if reread, _ = e.Svc.GetTrade(ctx, u, tr.ID); slices.Contains(reread.Annotation.TagIDs, tag1) {
			t.Fatal("a failed bulk change was partly applied")
		}
		// A tag to remove must be the user's as well: another user's or
		// an unknown one answers 404, and nothing changes.
		for name, tag := range map[string]uuid.UUID{"another user's": foreignTag, "unknown": uuid.New()} {
			if _, err := e.Svc.BulkAnnotate(ctx, u, []uuid.UUID{tr.ID}, trading.BulkAnnotation{RemoveTags: []uuid.UUID{tag}}); !isCode(err, apperr.NotFound, "") {
				t.Fatalf("bulk removal of %s tag = %v", name, err)
			}
		}
		n2nd := "second thoughts"
		// A change that changes nothing keeps the version (the ETag) and
		// tells no device anything.
		version := bulk[0].Annotation.Version
		e.Events.Take()
		if again, err := e.Svc.BulkAnnotate(ctx, u, []uuid.UUID{tr.ID}, trading.BulkAnnotation{AddTags: []uuid.UUID{tag2}, RemoveTags: []uuid.UUID{tag1}}); err != nil || again[0].Annotation.Version != version {
			t.Fatalf("no-op bulk change = %+v, %v; version %d", again, err, version)
		}
		same := notes
		if again, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &same, TagIDs: &[]uuid.UUID{tag2, tag2}}, version); err != nil || again.Annotation.Version != version {
			t.Fatalf("no-op annotation update = %+v, %v; version %d", again, err, version)
		}
		if again, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{}, 0); err != nil || again.Annotation.Version != version {
			t.Fatalf("empty annotation update = %+v, %v", again, err)
		}
		for _, ev := range e.Events.Take() {
			if ev.Type == realtime.TypeTradeUpdated {
				t.Fatalf("a no-op change published %+v", ev)
			}
		}
		if again, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &n2nd}, version); err != nil || again.Annotation.Version != version+1 {
			t.Fatalf("a real change after no-ops = %+v, %v", again, err)
		}
		// Another playbook starts with no followed rules unless the patch
		// names some of its own: the old ones were the old playbook's.
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pb, FollowedRules: &[]uuid.UUID{rules[1]}}, 0); err != nil {
			t.Fatal(err)
		}
		pb2, rules2 := e.NewPlaybook(t, u, 2)
		if moved, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pb2}, 0); err != nil || moved.Annotation.PlaybookID != pb2 || len(moved.Annotation.FollowedRules) != 0 {
			t.Fatalf("another playbook = %+v, %v", moved, err)
		}
		if moved, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pb, FollowedRules: &[]uuid.UUID{rules[0]}}, 0); err != nil || !slices.Equal(moved.Annotation.FollowedRules, []uuid.UUID{rules[0]}) {
			t.Fatalf("another playbook with its rules = %+v, %v", moved, err)
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pb2, FollowedRules: &[]uuid.UUID{rules[0]}}, 0); !isCode(err, apperr.Invalid, trading.CodePlaybookRuleUnknown) {
			t.Fatalf("another playbook with the old one's rules = %v (rules of the new one: %v)", err, rules2)
		}
	})

	t.Run("SplitAndMerge", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res := e.add(t, u, a, stock(0, trading.Buy, "100", "10"), stock(60, trading.Sell, "100", "11"),
			stock(120, trading.Buy, "100", "10"), stock(180, trading.Sell, "100", "12"))
		l := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		if len(l) != 2 {
			t.Fatalf("%d trades; want 2", len(l))
		}
		tag1, tag2 := e.NewTag(t, u), e.NewTag(t, u)
		n1, n2 := "first", "second"
		if _, err := e.Svc.UpdateAnnotation(ctx, u, l[0].ID, trading.AnnotationPatch{Notes: &n1, TagIDs: &[]uuid.UUID{tag1}}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.UpdateAnnotation(ctx, u, l[1].ID, trading.AnnotationPatch{Notes: &n2, TagIDs: &[]uuid.UUID{tag2}}, 0); err != nil {
			t.Fatal(err)
		}
		var att uuid.UUID
		if e.Attach != nil {
			att = e.Attach(t, u, l[1].ID)
		}
		e.Events.Take()
		// Deleting the first exit merges the trades into the first.
		if _, err := e.Svc.DeleteExecutions(ctx, u, []uuid.UUID{res.Executions[1].ID}); err != nil {
			t.Fatal(err)
		}
		m := e.trades(t, u, trading.Filter{}, trading.Sort{})
		if len(m) != 1 || m[0].ID != l[0].ID || m[0].Status != trading.Open {
			t.Fatalf("after the merge: %+v", m)
		}
		got, _ := e.Svc.GetTrade(ctx, u, m[0].ID)
		if got.Annotation.Notes != "first\n\n---\n\nsecond" || len(got.Annotation.TagIDs) != 2 || got.Annotation.Version != 3 {
			t.Fatalf("merged annotation = %+v", got.Annotation)
		}
		if _, err := e.Svc.GetTrade(ctx, u, l[1].ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("absorbed trade still there: %v", err)
		}
		if e.Attach != nil {
			if on := e.AttachmentTrade(t, att); on != l[0].ID {
				t.Fatalf("attachment on %s; want the survivor %s", on, l[0].ID)
			}
		}
		var types []string
		for _, ev := range e.Events.Take() {
			types = append(types, ev.Type)
		}
		slices.Sort(types)
		if !slices.Equal(types, []string{realtime.TypeTradeDeleted, realtime.TypeTradeUpdated}) {
			t.Fatalf("merge events %v", types)
		}
		// Putting an exit back splits them again: the second piece is new
		// and inherits the tags.
		e.add(t, u, a, stock(60, trading.Sell, "100", "11"))
		s := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		if len(s) != 2 || s[0].ID != l[0].ID || s[1].ID == l[1].ID {
			t.Fatalf("after the split: %+v", s)
		}
		if len(s[1].Annotation.TagIDs) != 2 || s[1].Annotation.Notes != "" {
			t.Fatalf("split piece annotation = %+v", s[1].Annotation)
		}
	})

	t.Run("ManualTrade", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		risk := decimal.NewNullDecimal(d("100"))
		notes := "typed in"
		trades, err := e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{
			AccountID: a.ID, Symbol: "/MESZ6", AssetClass: trading.Future, Direction: trading.Short,
			Entries:    []trading.ManualFill{{Price: d("5000"), Quantity: d("2"), At: at(0), Commission: d("0.62")}},
			Exits:      []trading.ManualFill{{Price: d("4990.50"), Quantity: d("1"), At: at(300), Commission: d("0.31")}, {Price: d("4995"), Quantity: d("1"), At: at(600), Commission: d("0.31")}},
			Annotation: &trading.AnnotationPatch{InitialRisk: &risk, Notes: &notes},
		})
		if err != nil || len(trades) != 1 {
			t.Fatalf("CreateManualTrade = %+v, %v", trades, err)
		}
		tr := trades[0]
		// (9.5 + 5) × 5 = 72.5 gross, 1.24 commission.
		if tr.Direction != trading.Short || tr.Status != trading.Closed || tr.Symbol != "MESZ26" || tr.Annotation.Notes != notes {
			t.Fatalf("manual trade %+v", tr)
		}
		eqD(t, "net", tr.NetPnL, "71.26")
		eqD(t, "R", tr.RMultiple.Decimal, "0.7126")
		got, _ := e.Svc.GetTrade(ctx, u, tr.ID)
		if len(got.Legs) != 3 {
			t.Fatalf("manual trade has %d executions; want 3", len(got.Legs))
		}
		if _, err := e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "AAPL", AssetClass: trading.Stock, Direction: trading.Long,
			Entries: []trading.ManualFill{{Price: d("1"), Quantity: d("1"), At: at(10)}},
			Exits:   []trading.ManualFill{{Price: d("1"), Quantity: d("2"), At: at(5)}}}); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("exits beyond entries = %v", err)
		} else if ae, _ := apperr.As(err); ae.Fields["exits"] == "" || ae.Fields["exits[0].at"] == "" {
			t.Fatalf("fields %v", ae.Fields)
		}
		if _, err := e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "AAPL", AssetClass: trading.Stock, Direction: trading.Long,
			Entries: []trading.ManualFill{{Price: d("1"), Quantity: d("0"), At: at(10)}}}); func() bool { ae, ok := apperr.As(err); return !ok || ae.Fields["entries[0].quantity"] == "" }() {
			t.Fatalf("zero entry = %v", err)
		}
		// Deleting the trade deletes its executions.
		if _, err := e.Svc.DeleteTrade(ctx, u, tr.ID); err != nil {
			t.Fatal(err)
		}
		if items, _, _ := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{}, trading.Page{}); len(items) != 0 {
			t.Fatalf("%d executions left", len(items))
		}
		if _, err := e.Svc.GetTrade(ctx, u, tr.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatal("trade still there")
		}
	})

	t.Run("ManualTradeAnnotationGoesToTheTradeItOpens", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		// An open long of 1 with its own notes.
		e.add(t, u, a, fill("XYZ", trading.Stock, 0, trading.Buy, "1", "10"))
		long := e.trades(t, u, trading.Filter{}, trading.Sort{})[0]
		mine := "my long idea"
		if _, err := e.Svc.UpdateAnnotation(ctx, u, long.ID, trading.AnnotationPatch{Notes: &mine}, 0); err != nil {
			t.Fatal(err)
		}
		// A short typed in whose entry (sell 3) first closes that long:
		// the entry is split at zero, and the annotation is the short's.
		notes := "my short idea"
		trades, err := e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "XYZ", AssetClass: trading.Stock, Direction: trading.Short,
			Entries:    []trading.ManualFill{{Price: d("11"), Quantity: d("3"), At: at(1800)}},
			Exits:      []trading.ManualFill{{Price: d("10"), Quantity: d("2"), At: at(3600)}},
			Annotation: &trading.AnnotationPatch{Notes: &notes}})
		if err != nil || len(trades) != 2 {
			t.Fatalf("CreateManualTrade = %+v, %v", trades, err)
		}
		got, _ := e.Svc.GetTrade(ctx, u, long.ID)
		if got.Status != trading.Closed || got.Annotation.Notes != mine {
			t.Fatalf("the long the entry closed: %+v", got.Annotation)
		}
		var short trading.Trade
		for _, tr := range trades {
			if tr.ID != long.ID {
				short = tr
			}
		}
		if short.Direction != trading.Short || short.Annotation.Notes != notes {
			t.Fatalf("the short typed in: %+v", short)
		}
		// The reversal in a later entry: the first entry (sell 5) only
		// closes part of an open long of 10, the second (sell 8) closes
		// the rest and opens the short, which takes the annotation.
		e.add(t, u, a, fill("QQQ", trading.Stock, 0, trading.Buy, "10", "100"))
		qlong := e.trades(t, u, trading.Filter{Symbols: []string{"QQQ"}}, trading.Sort{})[0]
		if _, err := e.Svc.UpdateAnnotation(ctx, u, qlong.ID, trading.AnnotationPatch{Notes: &mine}, 0); err != nil {
			t.Fatal(err)
		}
		one := 1
		trades, err = e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "QQQ", AssetClass: trading.Stock, Direction: trading.Short,
			Entries:    []trading.ManualFill{{Price: d("102"), Quantity: d("8"), At: at(7200)}, {Price: d("101"), Quantity: d("5"), At: at(3600)}},
			Annotation: &trading.AnnotationPatch{Notes: &notes, Rating: &one}})
		if err != nil || len(trades) != 2 {
			t.Fatalf("CreateManualTrade reversing in its second entry = %+v, %v", trades, err)
		}
		for _, tr := range trades {
			switch tr.Direction {
			case trading.Short:
				if tr.Annotation.Notes != notes || tr.Annotation.Rating != 1 || !tr.OpenQuantity.Equal(d("3")) {
					t.Fatalf("the short opened by the second entry: %+v", tr)
				}
			default:
				if tr.ID != qlong.ID || tr.Annotation.Notes != mine || tr.Annotation.Rating != 0 {
					t.Fatalf("the long the entries closed: %+v", tr.Annotation)
				}
			}
		}
		// Fills that fall into a trade already there (adding to an open
		// long) join its annotation: nothing it held is overwritten.
		e.add(t, u, a, fill("ABC", trading.Stock, 0, trading.Buy, "1", "10"))
		open := e.trades(t, u, trading.Filter{Symbols: []string{"ABC"}}, trading.Sort{})[0]
		rating, other := 4, 2
		if _, err := e.Svc.UpdateAnnotation(ctx, u, open.ID, trading.AnnotationPatch{Notes: &mine, Rating: &rating}, 0); err != nil {
			t.Fatal(err)
		}
		risk := decimal.NewNullDecimal(d("20"))
		trades, err = e.Svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "ABC", AssetClass: trading.Stock, Direction: trading.Long,
			Entries:    []trading.ManualFill{{Price: d("11"), Quantity: d("1"), At: at(60)}},
			Annotation: &trading.AnnotationPatch{Notes: &notes, Rating: &other, InitialRisk: &risk}})
		if err != nil || len(trades) != 1 || trades[0].ID != open.ID {
			t.Fatalf("CreateManualTrade into an open trade = %+v, %v", trades, err)
		}
		an := trades[0].Annotation
		if an.Notes != mine+"\n\n---\n\n"+notes || an.Rating != rating || !an.InitialRisk.Valid || an.Version != open.Annotation.Version+2 {
			t.Fatalf("merged annotation %+v", an)
		}
	})

	t.Run("FiltersAndPages", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		// One round trip a day for 10 days from Monday 2 March, opened at
		// 20:55 UTC (15:55 in New York, 16:55 once DST starts on 8 March)
		// and closed four hours later, after midnight UTC but the same
		// evening in New York; net P&L −4, −3, … +5 (the fifth breaks
		// even); even days long, odd days short.
		var ins []trading.ExecutionInput
		base := time.Date(2026, 3, 2, 20, 55, 0, 0, time.UTC)
		for i := range 10 {
			open := base.AddDate(0, 0, i)
			pnl := decimal.NewFromInt(int64(i - 4))
			s1, s2 := trading.Buy, trading.Sell
			p1, p2 := d("100"), d("100").Add(pnl)
			if i%2 == 1 {
				s1, s2 = trading.Sell, trading.Buy
				p2 = d("100").Sub(pnl)
			}
			ins = append(ins, trading.ExecutionInput{Symbol: "SPY", AssetClass: trading.ETF, Side: s1, Quantity: d("1"), Price: p1, ExecutedAt: open},
				trading.ExecutionInput{Symbol: "SPY", AssetClass: trading.ETF, Side: s2, Quantity: d("1"), Price: p2, ExecutedAt: open.Add(4 * time.Hour)})
		}
		e.add(t, u, a, ins...)
		tag := e.NewTag(t, u)
		all := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened, Asc: true})
		if len(all) != 10 {
			t.Fatalf("%d trades", len(all))
		}
		for _, tr := range all[:5] {
			if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{TagIDs: &[]uuid.UUID{tag}}, 0); err != nil {
				t.Fatal(err)
			}
		}
		count := func(f trading.Filter) int { return len(e.trades(t, u, f, trading.Sort{})) }
		// The close date in New York is the opening day; in UTC the next.
		day := func(i int) trading.Date { return trading.DateOf(base.AddDate(0, 0, i)) }
		cases := []struct {
			name string
			f    trading.Filter
			want int
		}{
			{"close range in the user's zone", trading.Filter{From: day(2), To: day(4)}, 3},
			{"one close day in the user's zone", trading.Filter{From: day(0), To: day(0)}, 1},
			{"the same day in UTC", trading.Filter{From: day(0), To: day(0), Location: time.UTC}, 0},
			{"close range in UTC", trading.Filter{From: day(1), To: day(3), Location: time.UTC}, 3},
			{"open range", trading.Filter{DateField: trading.ByOpen, From: day(0), To: day(0)}, 1},
			{"wins", trading.Filter{Outcomes: []trading.Outcome{trading.Win}}, 5},
			{"losses and breakevens", trading.Filter{Outcomes: []trading.Outcome{trading.Loss, trading.Breakeven}}, 5},
			{"band 1.5", trading.Filter{Outcomes: []trading.Outcome{trading.Breakeven}, BreakevenBand: decimal.NewNullDecimal(d("1.5"))}, 3},
			{"long", trading.Filter{Direction: trading.Long}, 5},
			{"tag", trading.Filter{TagIDs: []uuid.UUID{tag}}, 5},
			{"tag and date", trading.Filter{TagIDs: []uuid.UUID{tag}, From: day(3), To: day(9)}, 2},
			{"net range", trading.Filter{MinNetPnL: decimal.NewNullDecimal(d("-1")), MaxNetPnL: decimal.NewNullDecimal(d("2"))}, 4},
			{"holding", trading.Filter{MinHolding: 4 * time.Hour, MaxHolding: 4 * time.Hour}, 10},
			{"holding too long", trading.Filter{MinHolding: 5 * time.Hour}, 0},
			{"weekday Monday", trading.Filter{Weekdays: []time.Weekday{time.Monday}}, 2},
			{"hour 15 (before DST)", trading.Filter{Hours: []int{15}}, 6},
			{"hour 16 (after)", trading.Filter{Hours: []int{16}}, 4},
			{"asset class", trading.Filter{AssetClasses: []trading.AssetClass{trading.Stock}}, 0},
			{"symbol", trading.Filter{Symbols: []string{"spy"}}, 10},
			{"account", trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, 10},
			{"status open", trading.Filter{Status: trading.Open}, 0},
		}
		for _, c := range cases {
			reads := e.ZoneReads.Load()
			if got := count(c.f); got != c.want {
				t.Errorf("%s: %d trades; want %d", c.name, got, c.want)
			}
			// The user's zone is read for a date range it has to place,
			// and only then.
			needsZone := c.f.Location == nil && (!c.f.From.IsZero() || !c.f.To.IsZero())
			if read := e.ZoneReads.Load() > reads; read != needsZone {
				t.Errorf("%s: zone read %v; want %v", c.name, read, needsZone)
			}
		}
		// An account, tag or playbook that is not the user's is NotFound,
		// not an empty page; the user's own without trades is empty.
		other, _ := e.user(t)
		theirTag := e.NewTag(t, other)
		for name, f := range map[string]trading.Filter{
			"an unknown account": {AccountIDs: []uuid.UUID{uuid.New()}}, "another user's tag": {TagIDs: []uuid.UUID{theirTag}},
			"an unknown playbook": {PlaybookIDs: []uuid.UUID{uuid.New()}},
		} {
			if _, err := e.Svc.ListTrades(ctx, u, f, trading.Sort{}, trading.Page{}); !isCode(err, apperr.NotFound, "") {
				t.Errorf("%s: %v; want NotFound", name, err)
			}
		}
		if p, err := e.Svc.ListTrades(ctx, u, trading.Filter{TagIDs: []uuid.UUID{e.NewTag(t, u)}}, trading.Sort{}, trading.Page{}); err != nil || len(p.Items) != 0 {
			t.Errorf("an own tag without trades: %d trades, %v", len(p.Items), err)
		}
		// Sorts.
		byPnL := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortNetPnL, Asc: true})
		for i := range byPnL {
			eqD(t, fmt.Sprintf("sorted net[%d]", i), byPnL[i].NetPnL, fmt.Sprint(i-4))
		}
		desc := e.trades(t, u, trading.Filter{}, trading.Sort{Key: trading.SortClosed})
		if !desc[0].ClosedAt.After(desc[9].ClosedAt) {
			t.Fatal("closed desc is not newest first")
		}
		// Pages of 3 are stable under inserts: a trade added before the
		// second page is neither repeated nor does it shift the rest.
		p1, err := e.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened}, trading.Page{Limit: 3})
		if err != nil || len(p1.Items) != 3 || p1.NextCursor == "" {
			t.Fatalf("page 1: %d, %q, %v", len(p1.Items), p1.NextCursor, err)
		}
		e.add(t, u, a, trading.ExecutionInput{Symbol: "QQQ", AssetClass: trading.ETF, Side: trading.Buy, Quantity: d("1"), Price: d("1"), ExecutedAt: base.AddDate(0, 0, 30)})
		seen := map[uuid.UUID]bool{}
		for _, tr := range p1.Items {
			seen[tr.ID] = true
		}
		cur := p1.NextCursor
		for cur != "" {
			p, err := e.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{Key: trading.SortOpened}, trading.Page{Limit: 3, Cursor: cur})
			if err != nil {
				t.Fatal(err)
			}
			for _, tr := range p.Items {
				if seen[tr.ID] {
					t.Fatalf("trade %s on two pages", tr.ID)
				}
				seen[tr.ID] = true
			}
			cur = p.NextCursor
		}
		if len(seen) != 10 {
			t.Fatalf("paged through %d trades; want the 10 older than the insert", len(seen))
		}
		for _, k := range []trading.SortKey{trading.SortNetPnL, trading.SortR, trading.SortClosed} {
			for _, asc := range []bool{false, true} {
				got := pagedIDs(t, e, u, trading.Sort{Key: k, Asc: asc}, 4)
				slices.SortFunc(got, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
				if len(slices.Compact(got)) != 11 {
					t.Errorf("sort %s asc=%v: paged %d distinct trades; want 11", k, asc, len(slices.Compact(got)))
				}
			}
		}
		if _, err := e.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{Key: trading.SortR}, trading.Page{Cursor: p1.NextCursor}); !isCode(err, apperr.Invalid, trading.CodeCursorInvalid) {
			t.Fatalf("a cursor of another sort = %v", err)
		}
	})

	t.Run("SortByRPutsTradesWithoutRLast", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		// Round trips of one share each (symbol, entry, exit, risk; "" no
		// risk): Rs far beyond any finite stand-in for a missing R, one of
		// 22 significant digits (more than SQLite's REAL text keeps), and
		// three trades without R.
		rows := []struct{ sym, in, out, risk string }{
			{"BIGLOSS", "123456789012345678.2469", "0", "1"}, // R −123456789012345678.2469
			{"BIGWIN", "0", "123456789012345678.2469", "1"},  // R +123456789012345678.2469
			{"HUGELOSS", "100000000", "0", "0.000001"},       // R −100000000000000
			{"WIN", "100", "119.68", "10"},                   // R 1.968
			{"LOSS", "100", "50", "1"},                       // R −50
			{"NORA", "100", "101", ""}, {"NORB", "100", "99", ""}, {"NORC", "100", "100", ""},
		}
		for i, r := range rows {
			e.add(t, u, a, fill(r.sym, trading.Stock, 10*i, trading.Buy, "1", r.in), fill(r.sym, trading.Stock, 10*i+5, trading.Sell, "1", r.out))
		}
		bySymbol := map[string]trading.Trade{}
		for _, tr := range e.trades(t, u, trading.Filter{}, trading.Sort{}) {
			bySymbol[tr.Symbol] = tr
		}
		var noR []uuid.UUID
		for _, r := range rows {
			tr := bySymbol[r.sym]
			if r.risk == "" {
				noR = append(noR, tr.ID)
				continue
			}
			risk := decimal.NewNullDecimal(d(r.risk))
			if _, err := e.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{InitialRisk: &risk}, 0); err != nil {
				t.Fatal(err)
			}
		}
		symbols := func(ids []uuid.UUID) []string {
			var out []string
			for _, id := range ids {
				for s, tr := range bySymbol {
					if tr.ID == id {
						out = append(out, s)
					}
				}
			}
			return out
		}
		idOrder := func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) }
		slices.SortFunc(noR, idOrder)
		ids := func(syms ...string) []uuid.UUID {
			var out []uuid.UUID
			for _, s := range syms {
				out = append(out, bySymbol[s].ID)
			}
			return out
		}
		wantAsc := append(ids("BIGLOSS", "HUGELOSS", "LOSS", "WIN", "BIGWIN"), noR...)
		noRDesc := slices.Clone(noR)
		slices.Reverse(noRDesc)
		wantDesc := append(ids("BIGWIN", "WIN", "LOSS", "HUGELOSS", "BIGLOSS"), noRDesc...)
		for _, asc := range []bool{false, true} {
			want := wantDesc
			if asc {
				want = wantAsc
			}
			// Pages of 1, 2 and 3 cross the boundary between the last R and
			// the first trade without one at every offset.
			for _, limit := range []int{1, 2, 3, trading.MaxPageSize} {
				if got := pagedIDs(t, e, u, trading.Sort{Key: trading.SortR, Asc: asc}, limit); !slices.Equal(got, want) {
					t.Errorf("sort r asc=%v, pages of %d: %v; want %v (trades without R last, in id order)", asc, limit, symbols(got), symbols(want))
				}
			}
		}
		eqD(t, "the R of 22 digits", bySymbol["BIGLOSS"].NetPnL, "-123456789012345678.2469")
		if tr, err := e.Svc.GetTrade(ctx, u, bySymbol["BIGLOSS"].ID); err != nil || !tr.RMultiple.Valid || !tr.RMultiple.Decimal.Equal(d("-123456789012345678.2469")) {
			t.Fatalf("BIGLOSS R = %v, %v", tr.RMultiple, err)
		}
	})

	t.Run("AccountTermsRebuild", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.add(t, u, a, fill("ESZ6", trading.Future, 0, trading.Buy, "1", "5000"), fill("ESZ6", trading.Future, 60, trading.Sell, "1", "5001"))
		risk := decimal.NewNullDecimal(d("25"))
		if _, err := e.Svc.UpdateAnnotation(ctx, u, e.trades(t, u, trading.Filter{}, trading.Sort{})[0].ID, trading.AnnotationPatch{InitialRisk: &risk}, 0); err != nil {
			t.Fatal(err)
		}
		st, err := e.Svc.RebuildAccount(ctx, u, a.ID)
		if err != nil || st.Rows != 0 || st.Trades != 1 || st.Positions != 1 {
			t.Fatalf("idle rebuild after an annotation = %+v, %v; want nothing written", st, err)
		}
		m := map[string]decimal.Decimal{"ES": d("5")}
		band := d("10")
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Multipliers: &m, BreakevenBand: &band}, 0); err != nil {
			t.Fatal(err)
		}
		tr := e.trades(t, u, trading.Filter{}, trading.Sort{})[0]
		eqD(t, "net with the override", tr.NetPnL, "5")
		if tr.Outcome != trading.Breakeven {
			t.Fatalf("outcome in a 10 band = %s", tr.Outcome)
		}
	})

	t.Run("TheBandIsInTheAccountsCurrency", func(t *testing.T) {
		// A band of 1 dollar does not make a 0.5 euro FDAX trade a
		// breakeven (the analytics book it in euros with ε = 0): listed,
		// filtered and counted alike. Once the account is in euros, the
		// band applies to it.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		band := d("1")
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{BreakevenBand: &band}, 0); err != nil {
			t.Fatal(err)
		}
		e.add(t, u, a, fill("FDAXH6", trading.Future, 0, trading.Buy, "1", "18000"), fill("FDAXH6", trading.Future, 60, trading.Sell, "1", "18000.02"),
			fill("AAPL", trading.Stock, 0, trading.Buy, "1", "100"), fill("AAPL", trading.Stock, 60, trading.Sell, "1", "100.5"))
		outcomes := func() map[string]trading.Outcome {
			out := map[string]trading.Outcome{}
			for _, tr := range e.trades(t, u, trading.Filter{}, trading.Sort{}) {
				out[tr.Symbol] = tr.Outcome
			}
			return out
		}
		if got := outcomes(); got["FDAXH26"] != trading.Win || got["AAPL"] != trading.Breakeven {
			t.Fatalf("outcomes in a USD account with a band of 1: %v; want the EUR trade a win, AAPL +0.5 a breakeven", got)
		}
		if l := e.trades(t, u, trading.Filter{Outcomes: []trading.Outcome{trading.Win}}, trading.Sort{}); len(l) != 1 || l[0].Symbol != "FDAXH26" {
			t.Fatalf("outcome=win lists %+v", l)
		}
		eur := "EUR"
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Currency: &eur}, 0); err != nil {
			t.Fatal(err)
		}
		if got := outcomes(); got["FDAXH26"] != trading.Breakeven || got["AAPL"] != trading.Breakeven {
			t.Fatalf("outcomes once the account is in euros: %v; want both breakevens", got)
		}
	})

	t.Run("EveryTradeNamesItsCurrency", func(t *testing.T) {
		// A trade's amounts are in its instrument's currency when it names
		// one (EUR for FDAX, JPY for USD/JPY), else in the account's: as
		// built, as listed and as read one by one; a change of the
		// account's currency rewrites the trades it applies to.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		res, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
			fill("FDAXH6", trading.Future, 0, trading.Buy, "1", "18000"), fill("FDAXH6", trading.Future, 60, trading.Sell, "1", "18000.02"),
			fill("USD/JPY", trading.Forex, 0, trading.Buy, "1000", "150.1"), fill("AAPL", trading.Stock, 0, trading.Buy, "1", "100")}, trading.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check := func(when string, ts []trading.Trade, want map[string]string) {
			t.Helper()
			got := map[string]string{}
			for _, tr := range ts {
				got[tr.Symbol] = tr.Currency
				one, err := e.Svc.GetTrade(ctx, u, tr.ID)
				if err != nil || one.Currency != tr.Currency {
					t.Fatalf("%s: GetTrade %s: %v, currency %q, listed %q", when, tr.Symbol, err, one.Currency, tr.Currency)
				}
			}
			if !maps.Equal(got, want) {
				t.Fatalf("%s: currencies %v, want %v", when, got, want)
			}
		}
		want := map[string]string{"FDAXH26": "EUR", "USD/JPY": "JPY", "AAPL": "USD"}
		check("built", res.Trades, want)
		check("listed", e.trades(t, u, trading.Filter{}, trading.Sort{}), want)
		gbp := "GBP"
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Currency: &gbp}, 0); err != nil {
			t.Fatal(err)
		}
		want["AAPL"] = "GBP"
		check("listed after the account moved to GBP", e.trades(t, u, trading.Filter{}, trading.Sort{}), want)
	})

	t.Run("AFillsCurrencyIsTheInstruments", func(t *testing.T) {
		// An instrument has one currency for the user. A fill naming one
		// gives it to an instrument recorded without (each account's own)
		// when no trade's currency changes by it; a fill naming another
		// than the one its trades are in is refused, never ignored.
		e := NewEnv(t, newStores(t))
		u, usd := e.user(t)
		account := func(name, cur string) *trading.Account {
			a, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: name, Currency: cur})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		eur, eur2, gbp := account("EUR", "EUR"), account("EUR 2", "EUR"), account("GBP", "GBP")
		withCurrency := func(in trading.ExecutionInput, cur string) trading.ExecutionInput { in.Currency = cur; return in }
		currencyOf := func(a *trading.Account, sym string) string {
			t.Helper()
			for _, tr := range e.trades(t, u, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{}) {
				if tr.Symbol == sym {
					return tr.Currency
				}
			}
			t.Fatalf("no %s trade in %s", sym, a.Name)
			return ""
		}
		refused := func(a *trading.Account, in trading.ExecutionInput, want string) {
			t.Helper()
			conflicts, err := e.Svc.TermsConflicts(ctx, u, a.ID, []trading.ExecutionInput{in})
			if err != nil || !strings.Contains(conflicts[0], want) {
				t.Fatalf("TermsConflicts = %v, %v; want one naming %q", conflicts, err, want)
			}
			_, err = e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{in}, trading.AddOptions{})
			if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.Invalid || !strings.Contains(ae.Fields["executions[0].currency"], want) {
				t.Fatalf("AddExecutions = %v; want Invalid naming the currency with %q", err, want)
			}
		}
		// AAPL without a currency in the USD account, then with USD in a
		// EUR one: the instrument takes USD (the USD account's trade stays
		// in USD); then AAPL in another EUR account is in USD too.
		e.add(t, u, usd, stock(0, trading.Buy, "1", "100"))
		if conflicts, err := e.Svc.TermsConflicts(ctx, u, eur.ID, []trading.ExecutionInput{withCurrency(stock(60, trading.Buy, "1", "100"), "usd")}); err != nil || len(conflicts) != 0 {
			t.Fatalf("TermsConflicts of an adoption = %v, %v", conflicts, err)
		}
		e.add(t, u, eur, withCurrency(stock(60, trading.Buy, "1", "100"), "usd"))
		e.add(t, u, eur2, stock(120, trading.Buy, "1", "100"))
		for _, a := range []*trading.Account{usd, eur, eur2} {
			if got := currencyOf(a, "AAPL"); got != "USD" {
				t.Fatalf("AAPL in %s: %s, want USD", a.Name, got)
			}
		}
		// AAPL is USD now: a fill saying GBP is refused.
		refused(gbp, withCurrency(stock(180, trading.Buy, "1", "100"), "GBP"), "AAPL is recorded in USD, not GBP")
		// FDAX is EUR by the built-in table.
		e.add(t, u, usd, fill("FDAXH6", trading.Future, 0, trading.Buy, "1", "18000"))
		refused(usd, withCurrency(fill("FDAXH6", trading.Future, 60, trading.Sell, "1", "18000"), "USD"), "FDAXH26 is recorded in EUR")
		// MSFT without a currency in USD and EUR accounts: a fill saying USD
		// in the GBP account would move the EUR account's trade: refused.
		msft := func(sec int) trading.ExecutionInput { return fill("MSFT", trading.Stock, sec, trading.Buy, "1", "400") }
		e.add(t, u, usd, msft(0))
		e.add(t, u, eur, msft(0))
		refused(gbp, withCurrency(msft(60), "USD"), "EUR in one")
		if got := currencyOf(eur, "MSFT"); got != "EUR" {
			t.Fatalf("MSFT in the EUR account: %s, want EUR", got)
		}
		// A fill naming the currency its trades are in already is taken.
		e.add(t, u, eur, withCurrency(msft(120), "EUR"))
		// NFLX without a currency, then named USD in the one account that
		// holds it (its own currency): recorded, so the EUR account's NFLX
		// saying EUR is refused and one saying nothing is in USD.
		nflx := func(sec int) trading.ExecutionInput { return fill("NFLX", trading.Stock, sec, trading.Buy, "1", "90") }
		e.add(t, u, usd, nflx(0))
		e.add(t, u, usd, withCurrency(nflx(60), "USD"))
		refused(eur, withCurrency(nflx(120), "EUR"), "NFLX is recorded in USD, not EUR")
		e.add(t, u, eur2, nflx(180))
		if got := currencyOf(eur2, "NFLX"); got != "USD" {
			t.Fatalf("NFLX in the second EUR account: %s, want USD", got)
		}
	})

	t.Run("AFillAtTheAccountsOverrideIsTheAccounts", func(t *testing.T) {
		// ES recorded at the built-in 50, then the account overrides ES
		// to 5: every ES fill is valued at 5, so one giving 5 (as the
		// account's executions export writes it) is the account's, and
		// one giving 50 now conflicts with the 5 shown everywhere.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.add(t, u, a, fill("ESM6", trading.Future, 0, trading.Buy, "1", "5300"), fill("ESM6", trading.Future, 60, trading.Sell, "1", "5301"))
		m := map[string]decimal.Decimal{"ES": d("5")}
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Multipliers: &m}, 0); err != nil {
			t.Fatal(err)
		}
		five := []trading.ExecutionInput{withMultiplier(fill("ESM6", trading.Future, 120, trading.Buy, "1", "5300"), "5"),
			withMultiplier(fill("ESM6", trading.Future, 180, trading.Sell, "1", "5302"), "5")}
		if c, err := e.Svc.TermsConflicts(ctx, u, a.ID, five); err != nil || len(c) != 0 {
			t.Fatalf("conflicts of fills at the override = %v, %v; want none", c, err)
		}
		e.add(t, u, a, five...)
		trs := e.trades(t, u, trading.Filter{}, trading.Sort{})
		if len(trs) != 2 {
			t.Fatalf("trades = %d", len(trs))
		}
		for _, tr := range trs {
			eqD(t, "multiplier", tr.Multiplier, "5")
		}
		fifty := withMultiplier(fill("ESM6", trading.Future, 240, trading.Buy, "1", "5300"), "50")
		_, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{fifty}, trading.AddOptions{})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || !strings.Contains(e.Fields["executions[0].multiplier"], "give 5,") {
			t.Fatalf("a fill at 50 against the override of 5: %v; want Invalid asking for 5", err)
		}
	})

	t.Run("MultipliersPerAccount", func(t *testing.T) {
		// The multiplier a fill resolves to (its own or the built-in one) is
		// its account's, not the user's: the first account to trade a
		// symbol does not decide another's. Within an account, a fill
		// giving another multiplier than its executions were recorded
		// under is refused.
		e := NewEnv(t, newStores(t))
		u, a1 := e.user(t)
		a2, a3 := e.account(t, u, "Second"), e.account(t, u, "Third")
		fx := eurusd
		zz := func(sec int, side trading.Side, price, mult string) trading.ExecutionInput {
			return withMultiplier(fill("ZZM6", trading.Future, sec, side, "1", price), mult)
		}
		one := func(a *trading.Account, sym string) trading.Trade {
			t.Helper()
			var got []trading.Trade
			for _, tr := range e.trades(t, u, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{}) {
				if tr.Symbol == sym {
					got = append(got, tr)
				}
			}
			if len(got) != 1 {
				t.Fatalf("%s trades in %s: %d; want 1", sym, a.Name, len(got))
			}
			return got[0]
		}
		e.add(t, u, a1, fx(0, trading.Buy, "1", "1.085", "100000"), fx(60, trading.Sell, "1", "1.0865", "100000"),
			zz(0, trading.Buy, "100", "10"), zz(60, trading.Sell, "101", "10"))
		e.add(t, u, a2, fx(0, trading.Buy, "20000", "1.085", "1"), fx(60, trading.Sell, "20000", "1.086", "1"),
			zz(0, trading.Buy, "100", "20"), zz(60, trading.Sell, "101", "20"))
		e.add(t, u, a3, fx(0, trading.Buy, "1000", "1.085", ""), fx(60, trading.Sell, "1000", "1.086", ""))
		for _, c := range []struct {
			a           *trading.Account
			sym         string
			mult, gross string
		}{{a1, "EUR/USD", "100000", "150"}, {a2, "EUR/USD", "1", "20"}, {a3, "EUR/USD", "1", "1"}, {a1, "ZZM26", "10", "10"}, {a2, "ZZM26", "20", "20"}} {
			tr := one(c.a, c.sym)
			eqD(t, c.a.Name+" "+c.sym+" multiplier", tr.Multiplier, c.mult)
			eqD(t, c.a.Name+" "+c.sym+" gross", tr.GrossPnL, c.gross)
		}

		// A fill without a multiplier takes its account's.
		e.add(t, u, a1, fx(120, trading.Buy, "1", "1.08", ""), fx(180, trading.Sell, "1", "1.081", ""))
		for _, tr := range e.trades(t, u, trading.Filter{AccountIDs: []uuid.UUID{a1.ID}}, trading.Sort{}) {
			if tr.Symbol == "EUR/USD" {
				eqD(t, "a fill without a multiplier", tr.Multiplier, "100000")
			}
		}
		// Another multiplier than the account's executions': refused, also
		// within one batch, and nothing is written.
		for _, ins := range [][]trading.ExecutionInput{
			{fx(240, trading.Buy, "1", "1.08", "100000")},
			{zz(240, trading.Buy, "100", "20"), zz(300, trading.Sell, "100", "10")},
		} {
			_, err := e.Svc.AddExecutions(ctx, u, a2.ID, ins, trading.AddOptions{})
			if !multiplierConflict(err) {
				t.Fatalf("conflicting multiplier: %v; want Invalid on executions[0].multiplier", err)
			}
		}
		// The same rule read without writing (an import's preview): by
		// index, against what the account holds and the batch's first fill
		// of a contract new to it. Another user learns nothing of the
		// account: only the batch's own conflict is seen.
		batch := []trading.ExecutionInput{zz(240, trading.Buy, "100", "20"), zz(300, trading.Sell, "100", "10"),
			fx(360, trading.Buy, "1", "1.08", "100000"), fx(420, trading.Sell, "1", "1.09", "")}
		for _, c := range []struct {
			user uuid.UUID
			want map[int]string
		}{
			{u, map[int]string{1: "ZZM26 is recorded in this account with multiplier 20, not 10", 2: "EUR/USD is recorded in this account with multiplier 1, not 100000"}},
			{e.NewUser(t), map[int]string{1: "ZZM26 is recorded in this account with multiplier 20, not 10"}},
		} {
			got, err := e.Svc.TermsConflicts(ctx, c.user, a2.ID, batch)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("conflicts %v; want %v", got, c.want)
			}
			for i, w := range c.want {
				if !strings.HasPrefix(got[i], w) {
					t.Fatalf("conflicts %v; want %v", got, c.want)
				}
			}
		}
		fresh := e.account(t, u, "Fresh")
		_, err := e.Svc.AddExecutions(ctx, u, fresh.ID, []trading.ExecutionInput{zz(0, trading.Buy, "100", "20"), zz(60, trading.Sell, "101", "10")}, trading.AddOptions{})
		if !multiplierConflict(err) {
			t.Fatalf("two multipliers in one batch of a new position: %v; want Invalid on executions[1].multiplier", err)
		}
		// The refused batch left no multiplier behind that would bind the account.
		e.add(t, u, fresh, zz(0, trading.Buy, "100", "5"), zz(60, trading.Sell, "101", "5"))
		eqD(t, "after a refused batch", one(fresh, "ZZM26").GrossPnL, "5")
		// A rebuild keeps each account's.
		if _, err := e.Svc.RebuildAccount(ctx, u, a2.ID); err != nil {
			t.Fatal(err)
		}
		eqD(t, "rebuilt", one(a2, "EUR/USD").Multiplier, "1")
	})

	t.Run("AccountMultiplierOfARootOutsideTheTable", func(t *testing.T) {
		// 30-day Fed Funds (ZQ) is not in the built-in table: an account
		// that sets its multiplier records ZQ fills without one; another
		// account is still asked for it.
		e := NewEnv(t, newStores(t))
		u, plain := e.user(t)
		a, err := e.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Rates", Currency: "USD", Multipliers: map[string]decimal.Decimal{"ZQ": d("4167")}})
		if err != nil {
			t.Fatal(err)
		}
		zq := func(sec int, side trading.Side, price string) trading.ExecutionInput {
			return fill("ZQZ6", trading.Future, sec, side, "2", price)
		}
		// The preview of a batch sees the account's multiplier pinned by its
		// first fill, as recording it would.
		conflicts, err := e.Svc.TermsConflicts(ctx, u, a.ID, []trading.ExecutionInput{zq(0, trading.Buy, "95.5"), withMultiplier(zq(60, trading.Sell, "95.6"), "10")})
		if err != nil || len(conflicts) != 1 || conflicts[1] == "" {
			t.Fatalf("TermsConflicts = %v, %v; want the second fill's", conflicts, err)
		}
		e.add(t, u, a, zq(0, trading.Buy, "95.5"), zq(60, trading.Sell, "95.6"))
		trs := e.trades(t, u, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{})
		if len(trs) != 1 {
			t.Fatalf("trades = %d", len(trs))
		}
		eqD(t, "ZQ multiplier", trs[0].Multiplier, "4167")
		eqD(t, "ZQ gross", trs[0].GrossPnL, "833.4") // 0.1 × 2 × 4167
		_, err = e.Svc.AddExecutions(ctx, u, plain.ID, []trading.ExecutionInput{zq(0, trading.Buy, "95.5")}, trading.AddOptions{})
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || !strings.Contains(e.Fields["executions[0].symbol"], "ZQ") {
			t.Fatalf("ZQ in an account without its multiplier: %v; want Invalid naming the root", err)
		}
		// Given without a class, a dated ZQ contract is a future where the
		// account names ZQ, a stock elsewhere.
		bare := fill("ZQH7", "", 120, trading.Buy, "1", "95.5")
		if r := e.add(t, u, a, bare); r.Executions[0].AssetClass != trading.Future || r.Executions[0].Symbol != "ZQH27" {
			t.Fatalf("ZQH7 without a class in the account = %s %s; want the future ZQH27", r.Executions[0].AssetClass, r.Executions[0].Symbol)
		}
		if r := e.add(t, u, plain, bare); r.Executions[0].AssetClass != trading.Stock {
			t.Fatalf("ZQH7 without a class elsewhere = %s; want a stock", r.Executions[0].AssetClass)
		}
		// As a future there, it may fill below zero; as a stock elsewhere
		// it may not.
		below := fill("ZQM7", "", 180, trading.Buy, "1", "-0.5")
		if r := e.add(t, u, a, below); r.Executions[0].AssetClass != trading.Future {
			t.Fatalf("ZQM7 below zero in the account = %s; want a future", r.Executions[0].AssetClass)
		}
		_, err = e.Svc.AddExecutions(ctx, u, plain.ID, []trading.ExecutionInput{below}, trading.AddOptions{})
		if e, ok := apperr.As(err); !ok || e.Fields["executions[0].price"] == "" {
			t.Fatalf("ZQM7 below zero elsewhere: %v; want Invalid naming the price", err)
		}
	})

	t.Run("ConcurrentWritesToOnePosition", func(t *testing.T) {
		// Writers of one account serialise on its lock: four clients adding
		// fills to one position at once (every buy before every sell, so all
		// fills form one trade) end with that one trade built from all of
		// them. Without the lock each would build a trade from the fills it
		// saw.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		var wg sync.WaitGroup
		for w := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range 5 {
					sec := w*5 + j
					if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(sec, trading.Buy, "10", "100"),
						stock(1000+sec, trading.Sell, "10", "101")}, trading.AddOptions{}); err != nil {
						t.Errorf("writer %d: %v", w, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		l := e.trades(t, u, trading.Filter{}, trading.Sort{})
		if len(l) != 1 {
			t.Fatalf("%d trades; want the one all fills form", len(l))
		}
		got, _ := e.Svc.GetTrade(ctx, u, l[0].ID)
		if got.Status != trading.Closed || len(got.Legs) != 40 || !got.Quantity.Equal(d("200")) || !got.NetPnL.Equal(d("200")) {
			t.Fatalf("trade: %s, %d legs, quantity %s, net %s", got.Status, len(got.Legs), got.Quantity, got.NetPnL)
		}
	})

	t.Run("RollbackPublishesNothing", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		v0, _ := e.Svc.DataVersion(ctx, u)
		boom := errors.New("boom")
		err := e.Tx.Do(ctx, func(ctx context.Context) error {
			if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{stock(0, trading.Buy, "1", "1")}, trading.AddOptions{}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if evs := e.Events.Take(); len(evs) != 0 {
			t.Fatalf("published %d events for a rolled-back write", len(evs))
		}
		if v, _ := e.Svc.DataVersion(ctx, u); v != v0 {
			t.Fatalf("data version moved on rollback: %d → %d", v0, v)
		}
		if l := e.trades(t, u, trading.Filter{}, trading.Sort{}); len(l) != 0 {
			t.Fatal("rolled-back trade visible")
		}
	})
}

// pagedIDs lists the IDs of every trade of u in order srt, page by page
// of limit, following the cursors (at most 50 pages).
func pagedIDs(t *testing.T, e *Env, u uuid.UUID, srt trading.Sort, limit int) []uuid.UUID {
	t.Helper()
	var got []uuid.UUID
	p := trading.Page{Limit: limit}
	for range 50 {
		pg, err := e.Svc.ListTrades(context.Background(), u, trading.Filter{}, srt, p)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range pg.Items {
			got = append(got, tr.ID)
		}
		if pg.NextCursor == "" {
			break
		}
		p.Cursor = pg.NextCursor
	}
	return got
}
