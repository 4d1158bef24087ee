package sqlstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
)

// repositories are every store of the package, as wire builds them.
func repositories(db *sqlstore.DB) map[string]any {
	return map[string]any{
		"AnalyticsSource": sqlstore.NewAnalyticsSource(db), "EmailTokens": sqlstore.NewEmailTokens(db),
		"Events": sqlstore.NewEvents(db), "IdempotencyKeys": sqlstore.NewIdempotencyKeys(db),
		"Identities": sqlstore.NewIdentities(db), "Imports": sqlstore.NewImports(db),
		"ImportMappings": sqlstore.NewImportMappings(db), "JobJournal": sqlstore.NewJobJournal(db),
		"Tags": sqlstore.NewTags(db), "Playbooks": sqlstore.NewPlaybooks(db),
		"JournalEntries": sqlstore.NewJournalEntries(db), "Attachments": sqlstore.NewAttachments(db),
		"MFAFactors": sqlstore.NewMFAFactors(db), "MFABackupCodes": sqlstore.NewMFABackupCodes(db),
		"Reports": sqlstore.NewReports(db), "ReportSchedules": sqlstore.NewReportSchedules(db),
		"Sessions": sqlstore.NewSessions(db), "RefreshTokens": sqlstore.NewRefreshTokens(db),
		"TradingAccounts": sqlstore.NewTradingAccounts(db), "Instruments": sqlstore.NewInstruments(db),
		"Executions": sqlstore.NewExecutions(db), "Ledger": sqlstore.NewLedger(db),
		"DataVersions": sqlstore.NewDataVersions(db), "TradeLabels": sqlstore.NewTradeLabels(db),
		"UnitOfWork": sqlstore.NewUnitOfWork(db), "Users": sqlstore.NewUsers(db),
	}
}

// callCanceled calls m with ctx and zero values for the other arguments
// (non-nil for pointers, so a method that reads its input before the
// database does not fail on a nil); it returns the method's error result.
func callCanceled(m reflect.Value, ctx context.Context) (err error, hasErr bool) {
	typ := m.Type()
	args := []reflect.Value{reflect.ValueOf(ctx)}
	for i := 1; i < typ.NumIn(); i++ {
		in := typ.In(i)
		v := reflect.New(in).Elem()
		if in.Kind() == reflect.Pointer {
			v = reflect.New(in.Elem())
		}
		if typ.IsVariadic() && i == typ.NumIn()-1 {
			v = reflect.MakeSlice(in, 0, 0)
		}
		args = append(args, v)
	}
	defer func() {
		if r := recover(); r != nil {
			err, hasErr = fmt.Errorf("panic: %v", r), true
		}
	}()
	var out []reflect.Value
	if typ.IsVariadic() {
		out = m.CallSlice(args)
	} else {
		out = m.Call(args)
	}
	errType := reflect.TypeFor[error]()
	for i := len(out) - 1; i >= 0; i-- {
		if typ.Out(i) == errType {
			e, _ := out[i].Interface().(error)
			return e, true
		}
	}
	return nil, false
}

// TestEveryRepositoryAnswersACanceledCallerWithUnavailable: a request
// that was canceled (client gone, deadline passed) before its query gets
// Unavailable from every method of every repository: never a panic, never
// a success, and never a domain answer such as NotFound, which a caller
// could act on (a 404 for a record that exists, a "free" email).
func TestEveryRepositoryAnswersACanceledCallerWithUnavailable(t *testing.T) {
	db := openMigrated(t, testConfig("sqlite://"+filepath.Join(t.TempDir(), "test.db")))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	t.Run("own connection", func(t *testing.T) { checkCanceled(t, db, ctx, nil) })
	// Inside a unit of work the connection is the transaction's, and the
	// query itself meets the canceled context.
	errDone := errors.New("rolled back")
	err := sqlstore.NewUnitOfWork(db).Do(context.Background(), func(txctx context.Context) error {
		ctx, cancel := context.WithCancel(txctx)
		cancel()
		// An empty batch needs no query there (on a connection of their
		// own these methods acquire it first), and a nested Do runs its
		// (here nil) function on the outer transaction.
		t.Run("in a transaction", func(t *testing.T) {
			checkCanceled(t, db, ctx, map[string]bool{"Ledger.Apply": true, "Executions.Delete": true,
				"Executions.Fingerprinted": true, "Executions.Insert": true, "JobJournal.Save": true, "UnitOfWork.Do": true})
		})
		return errDone
	})
	if !errors.Is(err, errDone) {
		t.Fatalf("Do = %v", err)
	}
}

func checkCanceled(t *testing.T, db *sqlstore.DB, ctx context.Context, skip map[string]bool) {
	ctxType := reflect.TypeFor[context.Context]()
	// Methods that answer an empty input without a query, and those that
	// refuse the zero query (a limit of 0) before they reach the database.
	noQuery := map[string]bool{"TradeLabels.CheckTags": true, "JobJournal.Remove": true,
		"Executions.InsertNew":      true, // on main since the streamed import
		"Ledger.PositionLegKeys":    true, // no trades, no legs to read
		"Ledger.Existing":           true, // no ids, none to look up
		"Executions.FingerprintsOf": true, // no ids, none to look up
		"Attachments.OfEntries":     true} // no entries, no attachments to list
	validatesFirst := map[string]bool{"Events.List": true, "Users.List": true}
	checked := 0
	for name, repo := range repositories(db) {
		v := reflect.ValueOf(repo)
		for i := range v.NumMethod() {
			m, method := v.Method(i), v.Type().Method(i).Name
			if m.Type().NumIn() == 0 || m.Type().In(0) != ctxType || skip[name+"."+method] {
				continue
			}
			err, hasErr := callCanceled(m, ctx)
			if !hasErr {
				continue
			}
			full := name + "." + method
			if err == nil && noQuery[full] {
				continue
			}
			checked++
			if validatesFirst[full] {
				if !apperr.Is(err, apperr.Invalid) {
					t.Errorf("%s with a zero query = %v; want Invalid", full, err)
				}
				continue
			}
			if !apperr.Is(err, apperr.Unavailable) {
				t.Errorf("%s with a canceled context = %v; want Unavailable", full, err)
			}
		}
	}
	if checked < 80 {
		t.Fatalf("only %d methods checked", checked)
	}
}
