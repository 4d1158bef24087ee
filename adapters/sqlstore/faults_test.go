package sqlstore_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
)

// TestOpenUnreachable: a database that never answers gives, within
// ConnectTimeout, an error that names the host and never the password.
func TestOpenUnreachable(t *testing.T) {
	cfg := sqlstore.DefaultConfig()
	cfg.URL = "postgres://app:s3cr3t-pa55word@127.0.0.1:1/tradesense?sslmode=disable"
	cfg.ConnectTimeout = 700 * time.Millisecond
	start := time.Now()
	_, _, err := sqlstore.Open(context.Background(), cfg, nil, tracenoop.NewTracerProvider(), sdkmetric.NewMeterProvider())
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Open took %s; ConnectTimeout does not bound it", d)
	}
	msg := err.Error()
	if !strings.Contains(msg, "127.0.0.1:1/tradesense") || strings.Contains(msg, "s3cr3t-pa55word") {
		t.Fatalf("error %q must name the host and never the password", msg)
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  sqlstore.Config
	}{
		{"bad scheme", sqlstore.Config{URL: "mysql://u:pw-leak-check@h/db"}},
		{"no scheme", sqlstore.Config{URL: "u:pw-leak-check@h/db"}},
		{"bad postgres", sqlstore.Config{URL: "postgres://u:pw-leak-check@h:notaport/db"}},
		{"sqlite query", sqlstore.Config{URL: "sqlite://x.db?_pragma=foo"}},
		{"idle above open", sqlstore.Config{MaxOpenConns: 2, MaxIdleConns: 3}},
		{"negative timeout", sqlstore.Config{AcquireTimeout: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := sqlstore.Open(context.Background(), tc.cfg, nil, tracenoop.NewTracerProvider(), sdkmetric.NewMeterProvider())
			if err == nil {
				t.Fatal("Open accepted a bad configuration")
			}
			if strings.Contains(err.Error(), "pw-leak-check") {
				t.Fatalf("error leaks the password: %v", err)
			}
		})
	}
}

// TestPoolExhaustion: with every connection held, further requests wait
// AcquireTimeout and fail with Unavailable db_pool_timeout; nothing leaks.
func TestPoolExhaustion(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			// SQLite has one writer and its transactions begin IMMEDIATE,
			// so only one transaction can be held open at a time there.
			holdersN := 2
			if dc.name == "SQLite" {
				holdersN = 1
			}
			cfg := testConfig(dc.url(t))
			cfg.MaxOpenConns, cfg.MaxIdleConns = holdersN, holdersN
			cfg.AcquireTimeout = 200 * time.Millisecond
			db := openMigrated(t, cfg)
			users := sqlstore.NewUsers(db)
			tx := sqlstore.NewUnitOfWork(db)
			ctx := context.Background()

			release := make(chan struct{})
			var holders sync.WaitGroup
			held := make(chan error, holdersN)
			for range holdersN {
				holders.Go(func() {
					err := tx.Do(ctx, func(ctx context.Context) error {
						held <- nil
						<-release
						return nil
					})
					if err != nil {
						held <- err
					}
				})
			}
			for range holdersN {
				select {
				case err := <-held:
					if err != nil {
						t.Fatalf("holder: %v", err)
					}
				case <-time.After(10 * time.Second):
					t.Fatal("holders did not get their connections")
				}
			}

			const waiters = 8
			errs := make([]error, waiters)
			var wg sync.WaitGroup
			start := time.Now()
			for i := range waiters {
				wg.Go(func() { _, errs[i] = users.Get(ctx, uuid.New()) })
			}
			wg.Wait()
			elapsed := time.Since(start)
			for i, err := range errs {
				if !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != sqlstore.CodePoolTimeout {
					t.Fatalf("waiter %d: %v; want Unavailable %s", i, err, sqlstore.CodePoolTimeout)
				}
			}
			if elapsed < 150*time.Millisecond {
				t.Fatalf("waiters failed after %s; they must wait for AcquireTimeout", elapsed)
			}
			if s := db.Stats(); s.AcquireTimeouts != waiters || s.InUse != holdersN {
				t.Fatalf("stats while held = %+v; want %d timeouts, %d in use", s, waiters, holdersN)
			}

			close(release)
			holders.Wait()
			if s := db.Stats(); s.InUse != 0 {
				t.Fatalf("in use after release = %d; a connection leaked", s.InUse)
			}
			if _, err := users.Get(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("pool unusable after exhaustion: %v", err)
			}
			if s := db.Stats(); s.InUse != 0 {
				t.Fatalf("in use after a query = %d", s.InUse)
			}
		})
	}
}

// TestPoolRecoversAfterTerminate kills every server connection of the pool
// with pg_terminate_backend, as a restart would, and checks that the pool
// replaces them with no manual action.
func TestPoolRecoversAfterTerminate(t *testing.T) {
	url := dialects[1].url(t)
	for _, tc := range []struct {
		name          string
		pingIdleAfter time.Duration
	}{
		// Idle connections are pinged before use: no caller sees the failure.
		{"PingedBeforeUse", 50 * time.Millisecond},
		// Connections used too recently to be pinged: a caller may see one
		// Unavailable error (never Internal), after which the dead
		// connections are discarded.
		{"UsedWithoutPing", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(url)
			cfg.MaxOpenConns, cfg.MaxIdleConns = 4, 4
			cfg.PingIdleAfter = tc.pingIdleAfter
			db := openMigrated(t, cfg)
			users := sqlstore.NewUsers(db)
			ctx := context.Background()
			warmPool(t, db)

			killed := terminateBackends(t, url)
			if killed < 4 {
				t.Fatalf("terminated %d backends; want the pool's 4", killed)
			}
			time.Sleep(150 * time.Millisecond) // longer than the first case's PingIdleAfter

			failures := 0
			for i := range 20 {
				_, err := users.Get(ctx, uuid.New())
				switch {
				case apperr.Is(err, apperr.NotFound):
				case apperr.Is(err, apperr.Unavailable):
					failures++
				default:
					t.Fatalf("query %d after terminate: %v; want NotFound or (without ping) Unavailable", i, err)
				}
			}
			switch {
			case tc.pingIdleAfter < time.Second && failures != 0:
				t.Fatalf("%d queries failed although idle connections are pinged before use", failures)
			case failures > cfg.MaxIdleConns:
				t.Fatalf("%d queries failed; dead connections are not being discarded", failures)
			}
			if _, err := db.Health().Check.Check(ctx); err != nil {
				t.Fatalf("readiness after recovery: %v", err)
			}
		})
	}
}

// warmPool opens MaxOpenConns connections at once so that all are idle.
func warmPool(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	tx := sqlstore.NewUnitOfWork(db)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range db.Stats().MaxOpen {
		wg.Go(func() {
			_ = tx.Do(context.Background(), func(ctx context.Context) error {
				<-start
				return sqlstore.ExecForTest(ctx, db, "SELECT 1")
			})
		})
	}
	time.Sleep(100 * time.Millisecond)
	close(start)
	wg.Wait()
	if s := db.Stats(); s.Open != s.MaxOpen {
		t.Fatalf("warm pool has %d open connections; want %d", s.Open, s.MaxOpen)
	}
}

func terminateBackends(t *testing.T, dbURL string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestHealthAndMetrics(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			reader := sdkmetric.NewManualReader()
			mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
			db, cleanup, err := sqlstore.Open(context.Background(), testConfig(dc.url(t)), slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), mp)
			if err != nil {
				t.Fatal(err)
			}
			reg := health.NewRegistry(2 * time.Second)
			reg.Register(db.Health())
			rep := reg.Run(context.Background())
			if !rep.Ready || len(rep.Checks) != 1 || rep.Checks[0].Name != "database" || !rep.Checks[0].Required {
				t.Fatalf("readiness = %+v; want a required, passing check named database", rep)
			}
			for _, k := range []string{"open", "in_use", "idle", "wait_count", "wait_duration_ms", "max_lifetime_closed", "acquire_timeouts"} {
				if _, ok := rep.Checks[0].Details[k]; !ok {
					t.Errorf("readiness details lack %s: %v", k, rep.Checks[0].Details)
				}
			}
			if s := fmt.Sprint(rep.Checks[0].Details); strings.Contains(s, "postgres://") || strings.Contains(s, "password") {
				t.Fatalf("details expose the connection string: %s", s)
			}

			var rm metricdata.ResourceMetrics
			if err := reader.Collect(context.Background(), &rm); err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, sm := range rm.ScopeMetrics {
				for _, m := range sm.Metrics {
					names[m.Name] = true
				}
			}
			for _, n := range []string{"db.client.connection.count", "db.client.connection.max", "db.client.connection.wait_count", "db.client.connection.wait_duration", "db.client.connection.closed"} {
				if !names[n] {
					t.Errorf("metric %s not exported; have %v", n, names)
				}
			}

			cleanup()
			rep = reg.Run(context.Background())
			if rep.Ready || rep.Checks[0].Status != health.StatusDown {
				t.Fatalf("readiness after close = %+v; want not ready", rep)
			}
			if msg := rep.Checks[0].Error; !strings.Contains(msg, string(db.Dialect())) {
				t.Fatalf("check error %q does not name the database", msg)
			}
		})
	}
}
