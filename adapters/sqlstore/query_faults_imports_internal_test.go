package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
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
	fdb := openFaultDB(t)
	db := fdb.db
	users := NewUsers(db)
	st := importstest.Stores{Trading: tradingtest.Stores{Accounts: NewTradingAccounts(db), Instruments: NewInstruments(db),
		Executions: NewExecutions(db), Ledger: NewLedger(db), Trades: NewLedger(db), Labels: NewTradeLabels(db), Versions: NewDataVersions(db),
		Tx: NewUnitOfWork(db)}, Imports: NewImports(db), Mappings: NewImportMappings(db)}
	e := importstest.NewEnv(t, st)
	var n int
	fdb.everyFault(t, 29, []error{errImportNotDone}, func(f *apperrtest.Faults) error {
		n++
		u := &identity.User{Email: fmt.Sprintf("imports-%d@example.com", n)}
		if err := users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.Arm()
		return importLife(ctx, e, u.ID)
	})
}
