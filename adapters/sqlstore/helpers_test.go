package sqlstore_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/tests/testenv"
)

type dialectCase struct {
	name string
	// url returns a DATABASE_URL for a fresh, empty database.
	url func(t *testing.T) string
}

var dialects = []dialectCase{
	{"SQLite", func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "test.db") }},
	{"Postgres", func(t *testing.T) string { return testenv.PostgresDB(t) }},
}

func testConfig(url string) sqlstore.Config {
	cfg := sqlstore.DefaultConfig()
	cfg.URL = url
	cfg.ConnectTimeout = 5e9
	return cfg
}

// open opens cfg and closes it when the test ends.
func open(t testing.TB, cfg sqlstore.Config) *sqlstore.DB {
	t.Helper()
	return openWith(t, cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider())
}

func openWith(t testing.TB, cfg sqlstore.Config, log *slog.Logger, tp trace.TracerProvider) *sqlstore.DB {
	t.Helper()
	db, cleanup, err := sqlstore.Open(context.Background(), cfg, log, tp, metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(cleanup)
	return db
}

// openMigrated opens cfg and applies every migration.
func openMigrated(t testing.TB, cfg sqlstore.Config) *sqlstore.DB {
	t.Helper()
	db := open(t, cfg)
	if err := db.Migrate(context.Background(), sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return db
}
