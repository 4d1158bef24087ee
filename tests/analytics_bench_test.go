package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// benchBookEmail names the user of a book kept across runs.
const benchBookEmail = "bench-analytics-book@example.com"

// benchBook is one user with 50,000 closed trades over 100 symbols (one
// every 10 minutes, a year's worth), 70 % with a risk, on db. A database
// that already holds the book (ANALYTICS_BENCH_PG_URL or
// ANALYTICS_BENCH_SQLITE, for comparing two binaries on the same rows)
// is used as it is.
func benchBook(b *testing.B, url string) (*sqlstore.DB, *tradingtest.Env, uuid.UUID) {
	ctx := context.Background()
	cfg := sqlstore.DefaultConfig()
	cfg.URL = url
	db, cleanup, err := sqlstore.Open(ctx, cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cleanup)
	if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
		b.Fatal(err)
	}
	users := sqlstore.NewUsers(db)
	st := tradingtest.Stores{Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db), Executions: sqlstore.NewExecutions(db),
		Ledger: sqlstore.NewLedger(db), Trades: sqlstore.NewLedger(db), Labels: sqlstore.NewTradeLabels(db), Versions: sqlstore.NewDataVersions(db),
		Tx: sqlstore.NewUnitOfWork(db)}
	env := tradingtest.NewEnv(b, st)
	if u, err := users.GetByEmail(ctx, benchBookEmail); err == nil {
		return db, env, u.ID
	}
	u := &identity.User{Email: benchBookEmail}
	if err := users.Create(ctx, u); err != nil {
		b.Fatal(err)
	}
	acct, err := env.Svc.CreateAccount(ctx, u.ID, trading.AccountInput{Name: "Bench", Currency: "USD", StartingBalance: decimal.NewNullDecimal(decimal.NewFromInt(100000))})
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC)
	one := decimal.NewFromInt(1)
	var fills []trading.ExecutionInput
	for i := range 50000 {
		at := base.Add(time.Duration(i) * 10 * time.Minute)
		entry := decimal.New(int64(10000+(i*37)%5000), -2)
		exit := entry.Add(decimal.New(int64((i*53)%401-200), -2))
		side, back := trading.Buy, trading.Sell
		if i%3 == 0 {
			side, back = trading.Sell, trading.Buy
		}
		sym := fmt.Sprintf("S%03d", i%100)
		fills = append(fills,
			trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: side, Quantity: decimal.NewFromInt(100), Price: entry, Commission: one, ExecutedAt: at},
			trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: back, Quantity: decimal.NewFromInt(100), Price: exit, Commission: one, ExecutedAt: at.Add(7 * time.Minute)})
	}
	if _, err := env.Svc.AddExecutions(ctx, u.ID, acct.ID, fills, trading.AddOptions{ImportID: uuid.New()}); err != nil {
		b.Fatal(err)
	}
	// The state autovacuum leaves a bulk load in: planner statistics.
	if err := sqlstore.NewAnalyticsSource(db).Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	return db, env, u.ID
}

// BenchmarkAnalytics measures the figures over one user's 50,000 closed
// trades (docs/benchmarks.md): the floor (a bare sum), the SQL window
// alternative, the summary and every breakdown computed cold, and the
// summary served warm from Redis. PostgreSQL and SQLite.
func BenchmarkAnalytics(b *testing.B) {
	for _, db := range []struct {
		name string
		url  func(b *testing.B) string
	}{
		{"Postgres", func(b *testing.B) string {
			if u := os.Getenv("ANALYTICS_BENCH_PG_URL"); u != "" {
				return u
			}
			return testenv.PostgresDB(b)
		}},
		{"SQLite", func(b *testing.B) string {
			if p := os.Getenv("ANALYTICS_BENCH_SQLITE"); p != "" {
				return "sqlite://" + p
			}
			return "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
		}},
	} {
		b.Run(db.name, func(b *testing.B) {
			sdb, env, user := benchBook(b, db.url(b))
			ctx := context.Background()
			src := sqlstore.NewAnalyticsSource(sdb)
			cold, err := analytics.NewService(analytics.DefaultConfig(), analytics.Deps{Trading: env.Svc, Source: src})
			if err != nil {
				b.Fatal(err)
			}
			if s, err := cold.Summary(ctx, user, analytics.Query{}); err != nil || len(s) != 1 || s[0].Count != 50000 {
				b.Fatalf("summary %+v %v", s, err)
			}
			b.Run("Floor_SumNetPnL", func(b *testing.B) {
				for b.Loop() {
					if _, err := src.SumNetPnL(ctx, user); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SQLWindow_CountSumDrawdown", func(b *testing.B) {
				for b.Loop() {
					if _, _, _, err := src.WindowSummary(ctx, user); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("SummaryCold", func(b *testing.B) {
				for b.Loop() {
					if _, err := cold.Summary(ctx, user, analytics.Query{}); err != nil {
						b.Fatal(err)
					}
				}
			})
			for _, dim := range analytics.Dimensions {
				b.Run("BreakdownCold_"+string(dim), func(b *testing.B) {
					for b.Loop() {
						if _, err := cold.Breakdown(ctx, user, analytics.Query{}, dim); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run("SummaryWarmRedis", func(b *testing.B) {
				url := testenv.URL(b, "TEST_REDIS_URL")
				rc, stop, err := redisstore.Open(ctx, redisstore.Config{URL: url, KeyPrefix: "bench-analytics-" + uuid.NewString() + ":"},
					slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
				if err != nil {
					b.Fatal(err)
				}
				defer stop()
				layer, err := cache.NewLayer(redisstore.NewCache(rc), cache.Config{}, slog.New(slog.DiscardHandler), metricnoop.NewMeterProvider())
				if err != nil {
					b.Fatal(err)
				}
				warm, err := analytics.NewService(analytics.DefaultConfig(), analytics.Deps{Trading: env.Svc, Source: src, Cache: layer})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := warm.Summary(ctx, user, analytics.Query{}); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				for b.Loop() {
					if _, err := warm.Summary(ctx, user, analytics.Query{}); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
