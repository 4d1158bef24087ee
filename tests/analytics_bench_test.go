package tests

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
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
	db := openStore(b, url)
	users := sqlstore.NewUsers(db)
	st := sqlStores(db)
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
	fills := benchFills()
	if _, err := env.Svc.AddExecutions(ctx, u.ID, acct.ID, fills, trading.AddOptions{ImportID: uuid.New()}); err != nil {
		b.Fatal(err)
	}
	// The state autovacuum leaves a bulk load in: planner statistics.
	if err := sqlstore.NewAnalyticsSource(db).Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	return db, env, u.ID
}

// benchFills are the book's 100,000 executions: 50,000 round trips over
// 100 symbols, one every 10 minutes, a commission on every fill.
func benchFills() []trading.ExecutionInput {
	base := time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC)
	one := decimal.NewFromInt(1)
	fills := make([]trading.ExecutionInput, 0, 100000)
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
	return fills
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
				loopCPU(b, func() {
					if _, err := src.SumNetPnL(ctx, user); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run("SQLWindow_CountSumDrawdown", func(b *testing.B) {
				loopCPU(b, func() {
					if _, _, _, err := src.WindowSummary(ctx, user); err != nil {
						b.Fatal(err)
					}
				})
			})
			b.Run("SummaryCold", func(b *testing.B) {
				loopCPU(b, func() {
					if _, err := cold.Summary(ctx, user, analytics.Query{}); err != nil {
						b.Fatal(err)
					}
				})
			})
			for _, dim := range analytics.Dimensions {
				b.Run("BreakdownCold_"+string(dim), func(b *testing.B) {
					loopCPU(b, func() {
						if _, err := cold.Breakdown(ctx, user, analytics.Query{}, dim); err != nil {
							b.Fatal(err)
						}
					})
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

// loopCPU runs fn in b.Loop and reports this process's CPU per call
// (getrusage: the client's half, not the database server's), which
// other load on the machine inflates far less than the wall time.
func loopCPU(b *testing.B, fn func()) {
	n, cpu0 := 0, cpuTime()
	for b.Loop() {
		fn()
		n++
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(n), "cpu-ms/op")
}

// BenchmarkAnalyticsSummaryHTTP measures the warm summary as a client
// sees it, the issue's `hey -c 16` target: the api program as wired for
// production (PostgreSQL, Redis cache), over a loopback TCP listener with
// keep-alive clients; 16 concurrent clients ask GET
// /api/v1/analytics/summary of one user with 50,000 closed trades, the
// figure already cached. Every request still reads the user's data
// version and time zone and GETs the cache entry (never stale). It
// reports p50, p90, p99, the maximum, req/s and the process's CPU per
// request.
//
//	TEST_POSTGRES_URL=… TEST_REDIS_URL=… go test ./tests/ -run '^$' -bench BenchmarkAnalyticsSummaryHTTP -benchtime 1x
func BenchmarkAnalyticsSummaryHTTP(b *testing.B) {
	url := os.Getenv("ANALYTICS_BENCH_PG_URL")
	if url == "" {
		url = testenv.PostgresDB(b)
	}
	st := buildStack(b, stackSpec{hashing: identity.TestParams, env: map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "warn",
		"REDIS_URL": testenv.URL(b, "TEST_REDIS_URL"), "REDIS_KEY_PREFIX": "bench-analytics-" + uuid.NewString()[:8] + ":"}})
	ctx := context.Background()
	const email, password = "bench-analytics-http@example.com", "bench analytics passphrase 1"
	if u, err := st.svc.CreateUser(ctx, email, password, identity.RoleUser); err == nil {
		acct, err := st.app.Trading.CreateAccount(ctx, u.ID, trading.AccountInput{Name: "Bench", Currency: "USD", StartingBalance: decimal.NewNullDecimal(decimal.NewFromInt(100000))})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.app.Trading.AddExecutions(ctx, u.ID, acct.ID, benchFills(), trading.AddOptions{ImportID: uuid.New()}); err != nil {
			b.Fatal(err)
		}
		if err := sqlstore.NewAnalyticsSource(st.app.DB).Analyze(ctx); err != nil {
			b.Fatal(err)
		}
	}
	srv := httptest.NewServer(st.app.Server.Handler())
	b.Cleanup(srv.Close)
	token, _ := st.login(email, password, "")

	const clients, perClient = 16, 250
	path := srv.URL + "/api/v1/analytics/summary"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	get := func() (time.Duration, []byte, error) {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, nil, err
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		if err != nil {
			return 0, nil, err
		}
		if res.StatusCode != 200 {
			return 0, nil, fmt.Errorf("status %d: %s", res.StatusCode, body)
		}
		return time.Since(start), body, nil
	}
	// The first request computes and stores the figure (cold); it must
	// see the whole book.
	cold, body, err := get()
	if err != nil {
		b.Fatal(err)
	}
	if !strings.Contains(string(body), `"trade_count":50000`) {
		b.Fatalf("summary of the book: %.300s", body)
	}
	for range 50 { // warm the pools
		if _, _, err := get(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	loadHTTP(b, clients, perClient, func() (time.Duration, error) { d, _, err := get(); return d, err })
	b.ReportMetric(float64(cold)/float64(time.Millisecond), "first-ms") // the cold request (ResetTimer would drop it)
}
