package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

const faultsFile = "symbol,asset_class,side,quantity,price,commission,fees,executed_at\n" +
	"AAPL,stock,buy,10,100,0.5,0,2026-05-01 10:00:00\n" +
	"AAPL,stock,sell,10,103,0.5,0,2026-05-01 10:30:00\n" +
	"MSFT,stock,buy,5,300,0.5,0,2026-05-01 11:00:00\n"

// importLife is a trader's imports: a saved mapping, a preview, an import
// run and undone, the list, and both exports. It returns the first step's
// error.
func importLife(ctx context.Context, e *importstest.Env, u uuid.UUID) error {
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		return step("CreateAccount", err)
	}
	cols := map[string]string{"symbol": "symbol", "side": "side", "quantity": "quantity", "price": "price", "executed_at": "executed_at"}
	m, err := e.Svc.CreateMapping(ctx, u, imports.MappingInput{Name: "mine", Columns: cols})
	if err != nil {
		return step("CreateMapping", err)
	}
	if _, err := e.Svc.UpdateMapping(ctx, u, m.ID, imports.MappingInput{Name: "renamed", Columns: cols}, 0); err != nil {
		return step("UpdateMapping", err)
	}
	if _, err := e.Svc.ListMappings(ctx, u); err != nil {
		return step("ListMappings", err)
	}
	if _, err := e.Svc.GetMapping(ctx, u, m.ID); err != nil {
		return step("GetMapping", err)
	}
	up := func() imports.Upload {
		return imports.Upload{AccountID: a.ID, MappingID: m.ID, Filename: "fills.csv", Body: strings.NewReader(faultsFile), Size: int64(len(faultsFile))}
	}
	if _, err := e.Svc.Preview(ctx, u, up()); err != nil {
		return step("Preview", err)
	}
	imp, err := e.Svc.Create(ctx, u, up())
	if err != nil {
		return step("Create", err)
	}
	if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
		return step("Run", err)
	}
	got, err := e.Svc.Get(ctx, u, imp.ID)
	if err != nil {
		return step("Get", err)
	}
	if got.Status != imports.Succeeded {
		return fmt.Errorf("import %s: %w", got.Status, errImportNotDone)
	}
	if _, err := e.Svc.List(ctx, u, a.ID, time.Time{}, 10); err != nil {
		return step("List", err)
	}
	var buf bytes.Buffer
	if err := e.Svc.ExportExecutions(ctx, u, trading.ExecutionFilter{}, &buf); err != nil {
		return step("ExportExecutions", err)
	}
	if err := e.Svc.ExportTrades(ctx, u, trading.Filter{}, trading.Sort{}, &buf); err != nil {
		return step("ExportTrades", err)
	}
	if _, err := e.Svc.Undo(ctx, u, imp.ID); err != nil {
		return step("Undo", err)
	}
	if err := e.Svc.DeleteMapping(ctx, u, m.ID); err != nil {
		return step("DeleteMapping", err)
	}
	return nil
}

// errImportNotDone: the run met the fault, recorded the import as failed
// (it can be run again) and answered nil, as a job that must not retry a
// half-written import does.
var errImportNotDone = errors.New("the import did not succeed")

// TestAQueryFailureAnywhereInImportsSurfacesAsUnavailable: as for the
// trading book, for imports and exports; a run that meets the fault leaves
// the import failed, never succeeded.
func TestAQueryFailureAnywhereInImportsSurfacesAsUnavailable(t *testing.T) {
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.URL = "sqlite://" + filepath.Join(t.TempDir(), "faults.db")
	db, cleanup, err := Open(ctx, cfg, nil, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if err := db.Migrate(ctx, MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	f := &queryFaults{}
	f.install(t, db)
	users := NewUsers(db)
	st := importstest.Stores{Trading: tradingtest.Stores{Accounts: NewTradingAccounts(db), Instruments: NewInstruments(db),
		Executions: NewExecutions(db), Ledger: NewLedger(db), Trades: NewLedger(db), Labels: NewTradeLabels(db), Versions: NewDataVersions(db),
		Tx: NewUnitOfWork(db)}, Imports: NewImports(db), Mappings: NewImportMappings(db)}
	e := importstest.NewEnv(t, st)
	for n := int64(1); ; n++ {
		u := &identity.User{Email: fmt.Sprintf("imports-%d@example.com", n)}
		if err := users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.calls.Store(0)
		f.failAt.Store(n)
		f.hit.Store(false)
		f.armed.Store(true)
		var err error
		func() {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("panic: %v", r)
				}
			}()
			err = importLife(ctx, e, u.ID)
		}()
		f.armed.Store(false)
		if !f.hit.Load() {
			if err != nil {
				t.Fatalf("run %d met no fault but failed: %v", n, err)
			}
			if n < 30 {
				t.Fatalf("the imports' life ran only %d statements", n-1)
			}
			return
		}
		if err != nil && !errors.Is(err, errImportNotDone) && (!errors.Is(err, errInjected) || !apperr.Is(err, apperr.Unavailable)) {
			t.Errorf("fault in statement %d: %v (kind %v); want the lost connection as Unavailable", n, err, apperr.KindOf(err))
		}
	}
}
