package tests

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// openStore opens and migrates the database at url for the test, closed
// when it ends.
func openStore(t testing.TB, url string) *sqlstore.DB {
	t.Helper()
	ctx := context.Background()
	cfg := sqlstore.DefaultConfig()
	cfg.URL = url
	db, cleanup, err := sqlstore.Open(ctx, cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	return db
}

// memoryLayer is a bounded in-process cache (1 MiB) behind a cache.Layer,
// as the services' caches of encoded answers are wired.
func memoryLayer(t testing.TB) *cache.Layer {
	t.Helper()
	mem, stop, err := memory.NewCache(memory.CacheConfig{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	l, err := cache.NewLayer(mem, cache.Config{}, slog.New(slog.DiscardHandler), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// sqlStores are the trading repositories over db, with NewUser storing a
// user of its own for each call.
func sqlStores(db *sqlstore.DB) tradingtest.Stores {
	users := sqlstore.NewUsers(db)
	return tradingtest.Stores{Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db), Executions: sqlstore.NewExecutions(db),
		Ledger: sqlstore.NewLedger(db), Trades: sqlstore.NewLedger(db), Labels: sqlstore.NewTradeLabels(db), Versions: sqlstore.NewDataVersions(db),
		Tx: sqlstore.NewUnitOfWork(db),
		NewUser: func(t testing.TB) uuid.UUID {
			u := &identity.User{Email: "trader-" + uuid.NewString() + "@example.com"}
			if err := users.Create(context.Background(), u); err != nil {
				t.Fatal(err)
			}
			return u.ID
		}}
}

// newAccount creates a USD account of the user and returns its ID.
func newAccount(t testing.TB, svc *trading.Service, user uuid.UUID, name string) uuid.UUID {
	t.Helper()
	a, err := svc.CreateAccount(context.Background(), user, trading.AccountInput{Name: name, Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}
