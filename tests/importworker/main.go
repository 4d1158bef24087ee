// Command importworker is a test helper: a job worker on the real Redis
// adapters and PostgreSQL that runs broker imports (imports.run). With
// COMMIT_DELAY it sleeps inside the import's transaction, after the
// executions are written and before the commit, so that a crash test can
// kill it there.
//
// Environment: REDIS_URL, PREFIX, WORKER_ID, DATABASE_URL, BLOB_DIR,
// COMMIT_DELAY.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/blobdir"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

type slowImports struct {
	imports.Imports
	delay time.Duration
}

// Update sleeps before the update that marks an import succeeded: inside
// the import's transaction, after its executions were inserted.
func (s slowImports) Update(ctx context.Context, imp *imports.Import) error {
	if imp.Status == imports.Succeeded && s.delay > 0 {
		fmt.Fprintln(os.Stdout, "committing")
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.Imports.Update(ctx, imp)
}

type noEvents struct{}

func (noEvents) Publish(context.Context, realtime.Event) error { return nil }

// services are the import service and what it runs on.
func services(db *sqlstore.DB, blobs *blobdir.Store, client func(*jobs.Registry) imports.Enqueuer, delay time.Duration) (*imports.Service, *trading.Service, *jobs.Registry, error) {
	zones := trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return time.UTC, nil })
	ledger := sqlstore.NewLedger(db)
	tr, err := trading.NewService(trading.Deps{Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db),
		Executions: sqlstore.NewExecutions(db), Ledger: ledger, Trades: ledger, Labels: sqlstore.NewTradeLabels(db),
		Versions: sqlstore.NewDataVersions(db), Zones: zones, Tx: sqlstore.NewUnitOfWork(db), Events: noEvents{}})
	if err != nil {
		return nil, nil, nil, err
	}
	reg := jobs.NewRegistry()
	var svc *imports.Service
	svc, err = imports.NewService(imports.DefaultConfig(), imports.Deps{Imports: slowImports{sqlstore.NewImports(db), delay},
		Mappings: sqlstore.NewImportMappings(db), Trading: tr, Blobs: blobs, Jobs: lazyEnqueuer{func() imports.Enqueuer { return client(reg) }},
		Events: noEvents{}, Zones: zones, Tx: sqlstore.NewUnitOfWork(db)})
	if err != nil {
		return nil, nil, nil, err
	}
	svc.Register(reg)
	return svc, tr, reg, nil
}

type lazyEnqueuer struct{ get func() imports.Enqueuer }

func (l lazyEnqueuer) Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error) {
	return l.get().Enqueue(ctx, kind, payload, opts...)
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	prefix, id := os.Getenv("PREFIX"), os.Getenv("WORKER_ID")
	delay, _ := time.ParseDuration(os.Getenv("COMMIT_DELAY"))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	cfg := sqlstore.DefaultConfig()
	cfg.URL = os.Getenv("DATABASE_URL")
	db, closeDB, err := sqlstore.Open(ctx, cfg, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		return err
	}
	defer closeDB()
	blobs, closeBlobs, err := blobdir.New(blobdir.Config{Dir: os.Getenv("BLOB_DIR")})
	if err != nil {
		return err
	}
	defer closeBlobs()

	backend := redisstore.NewJobsOn(rdb, prefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:stream:", Consumer: id, ClaimInterval: 200 * time.Millisecond, MaxIdleTime: 300 * time.Millisecond, NackDelay: 100 * time.Millisecond}, backend.Alive, log)
	if err != nil {
		return err
	}
	defer cleanup()
	var client *jobs.Client
	_, _, reg, err := services(db, blobs, func(*jobs.Registry) imports.Enqueuer { return client }, delay)
	if err != nil {
		return err
	}
	jc := jobs.Config{MaxRetries: 5, Backoff: jobs.LinearBackoff(100 * time.Millisecond), Jitter: jobs.NoJitter}
	client = jobs.NewClient(jc, reg, backend, broker, nil, log, nil)
	w, err := jobs.NewWorker(jc, jobs.WorkerConfig{
		ID: id, Queues: map[string]int{jobs.QueueDefault: 2}, ShutdownTimeout: 5 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTTL: 600 * time.Millisecond, PollInterval: 100 * time.Millisecond,
	}, reg, backend, broker, client, nil, nil, log, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "ready")
	return w.Run(ctx)
}
