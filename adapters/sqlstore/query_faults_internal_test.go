package sqlstore

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// errInjected is the fault: a connection lost in the middle of a query.
var errInjected = fmt.Errorf("injected fault: %w", io.ErrUnexpectedEOF)

// faultDB is a migrated SQLite database whose every GORM statement first
// asks the current run's faults whether to fail, as a lost connection does.
type faultDB struct {
	db  *DB
	cur atomic.Pointer[apperrtest.Faults]
}

func openFaultDB(t *testing.T) *faultDB {
	t.Helper()
	db := openMigratedForTest(t, "sqlite://"+filepath.Join(t.TempDir(), "faults.db"))
	d := &faultDB{db: db}
	inject := func(kind string) func(*gorm.DB) {
		return func(g *gorm.DB) {
			if f := d.cur.Load(); f != nil {
				if err := f.Next(kind + " " + g.Statement.Table); err != nil {
					_ = g.AddError(err)
				}
			}
		}
	}
	cb := db.gorm.Callback()
	for _, err := range []error{
		cb.Create().Before("gorm:create").Register("test:fault", inject("create")),
		cb.Query().Before("gorm:query").Register("test:fault", inject("query")),
		cb.Update().Before("gorm:update").Register("test:fault", inject("update")),
		cb.Delete().Before("gorm:delete").Register("test:fault", inject("delete")),
		cb.Row().Before("gorm:row").Register("test:fault", inject("row")),
		cb.Raw().Before("gorm:raw").Register("test:fault", inject("raw")),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// everyFault runs run with the n-th statement failing (apperrtest.EveryFault):
// run arms the faults when the life under test begins. Each fault must
// surface as the lost connection, Unavailable, or as one of allowed.
func (d *faultDB) everyFault(t *testing.T, minStatements int, allowed []error, run func(f *apperrtest.Faults) error) {
	t.Helper()
	s := apperrtest.Scenario{Err: errInjected, Allowed: allowed, MinCalls: minStatements, Calls: "statements"}
	apperrtest.EveryFault(t, s, func(f *apperrtest.Faults) error {
		d.cur.Store(f)
		return run(f)
	})
}

// tradingLife is a trader's book through the trading service: accounts,
// executions, trades and their annotations, a manual trade, deletions. It
// returns the first step's error.
func tradingLife(ctx context.Context, svc *trading.Service, u uuid.UUID) error {
	d := decimal.RequireFromString
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	a, err := svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		return step("CreateAccount", err)
	}
	if _, err := svc.ListAccounts(ctx, u, false); err != nil {
		return step("ListAccounts", err)
	}
	name := "Renamed"
	if _, err := svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Name: &name}, 0); err != nil {
		return step("UpdateAccount", err)
	}
	res, err := svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("10"), Price: d("100"), ExecutedAt: at},
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("10"), Price: d("101"), ExecutedAt: at.Add(time.Hour)},
		{Symbol: "MSFT", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("5"), Price: d("300"), ExecutedAt: at},
	}, trading.AddOptions{})
	if err != nil {
		return step("AddExecutions", err)
	}
	if _, _, err := svc.ListExecutions(ctx, u, trading.ExecutionFilter{}, trading.Page{}); err != nil {
		return step("ListExecutions", err)
	}
	ex := res.Executions[1]
	if _, err := svc.GetExecution(ctx, u, ex.ID); err != nil {
		return step("GetExecution", err)
	}
	price := d("102")
	if _, _, err := svc.UpdateExecution(ctx, u, ex.ID, trading.ExecutionPatch{Price: &price}, 0); err != nil {
		return step("UpdateExecution", err)
	}
	page, err := svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{}, trading.Page{})
	if err != nil {
		return step("ListTrades", err)
	}
	if len(page.Items) != 2 {
		return fmt.Errorf("ListTrades: %d trades", len(page.Items))
	}
	tr := page.Items[0]
	if tr.Symbol != "AAPL" {
		tr = page.Items[1]
	}
	if _, err := svc.GetTrade(ctx, u, tr.ID); err != nil {
		return step("GetTrade", err)
	}
	notes, rating := "held through the open", 4
	if _, err := svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{Notes: &notes, Rating: &rating}, 0); err != nil {
		return step("UpdateAnnotation", err)
	}
	if _, err := svc.BulkAnnotate(ctx, u, []uuid.UUID{page.Items[0].ID, page.Items[1].ID}, trading.BulkAnnotation{}); err != nil {
		return step("BulkAnnotate", err)
	}
	if _, err := svc.CreateManualTrade(ctx, u, trading.ManualTrade{AccountID: a.ID, Symbol: "NVDA", AssetClass: trading.Stock, Direction: trading.Long,
		Entries: []trading.ManualFill{{Price: d("900"), Quantity: d("1"), At: at}},
		Exits:   []trading.ManualFill{{Price: d("910"), Quantity: d("1"), At: at.Add(time.Minute)}}}); err != nil {
		return step("CreateManualTrade", err)
	}
	if _, err := svc.DataVersion(ctx, u); err != nil {
		return step("DataVersion", err)
	}
	if _, err := svc.DeleteExecutions(ctx, u, []uuid.UUID{res.Executions[2].ID}); err != nil {
		return step("DeleteExecutions", err)
	}
	if _, err := svc.DeleteTrade(ctx, u, tr.ID); err != nil {
		return step("DeleteTrade", err)
	}
	if err := svc.DeleteAccount(ctx, u, a.ID, true); err != nil {
		return step("DeleteAccount", err)
	}
	return nil
}

// TestAQueryFailureAnywhereInTheBookSurfacesAsUnavailable: the trading
// book's life is run again and again with the n-th SQL statement failing
// as a lost connection does, until a run meets no fault. Every step that
// meets it returns that failure as Unavailable (the API answers 503, the
// client retries): never a panic, a NotFound or Conflict the client would
// act on, or an Internal error that hides a retryable outage.
func TestAQueryFailureAnywhereInTheBookSurfacesAsUnavailable(t *testing.T) {
	ctx := context.Background()
	fdb := openFaultDB(t)
	db := fdb.db
	users := NewUsers(db)
	env := tradingtest.NewEnv(t, tradingtest.Stores{Accounts: NewTradingAccounts(db), Instruments: NewInstruments(db), Executions: NewExecutions(db),
		Ledger: NewLedger(db), Trades: NewLedger(db), Labels: NewTradeLabels(db), Versions: NewDataVersions(db), Tx: NewUnitOfWork(db)})
	var n int
	fdb.everyFault(t, 39, nil, func(f *apperrtest.Faults) error {
		n++
		u := &identity.User{Email: fmt.Sprintf("trader-%d@example.com", n)}
		if err := users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.Arm()
		return tradingLife(ctx, env.Svc, u.ID)
	})
}
