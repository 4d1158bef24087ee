package tests

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/blobdir"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/tests/testenv"
)

type dropEvents struct{}

func (dropEvents) Publish(context.Context, realtime.Event) error { return nil }

type lateClient struct{ c **jobs.Client }

func (l lateClient) Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error) {
	return (*l.c).Enqueue(ctx, kind, payload, opts...)
}

// startImportWorker runs tests/importworker as a process; committing is
// closed when it has written an import's executions and waits to commit.
func startImportWorker(t *testing.T, bin string, env []string, id string) (cmd *exec.Cmd, committing chan struct{}) {
	t.Helper()
	committing = make(chan struct{})
	cmd = startWorker(t, bin, env, id, 30*time.Second, func(line string) {
		if line == "committing" {
			close(committing)
		}
	})
	return cmd, committing
}

// TestKilledWorkerMidImportFinishesOnce: the import job's worker is
// SIGKILLed inside the import's transaction (executions written, not
// committed); another worker takes the job over and the import finishes
// once, with exact counts. PostgreSQL and Redis, as in production.
func TestKilledWorkerMidImportFinishesOnce(t *testing.T) {
	ctx := context.Background()
	redisURL := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	prefix := "test:" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	dbURL := testenv.PostgresDB(t)
	cfg := sqlstore.DefaultConfig()
	cfg.URL = dbURL
	log := slog.New(slog.DiscardHandler)
	db, closeDB, err := sqlstore.Open(ctx, cfg, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeDB)
	if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	blobDir := t.TempDir()
	blobs, closeBlobs, err := blobdir.New(blobdir.Config{Dir: blobDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeBlobs)

	bin := buildProgram(t, "./importworker")

	// The uploading side: the services over the same database, blobs
	// and job store.
	zones := trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return time.UTC, nil })
	ledger := sqlstore.NewLedger(db)
	tr, err := trading.NewService(trading.Deps{Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db),
		Executions: sqlstore.NewExecutions(db), Ledger: ledger, Trades: ledger, Labels: sqlstore.NewTradeLabels(db),
		Versions: sqlstore.NewDataVersions(db), Zones: zones, Tx: sqlstore.NewUnitOfWork(db), Events: dropEvents{}})
	if err != nil {
		t.Fatal(err)
	}
	var client *jobs.Client
	svc, err := imports.NewService(imports.DefaultConfig(), imports.Deps{Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db),
		Trading: tr, Blobs: blobs, Jobs: lateClient{&client}, Events: dropEvents{}, Zones: zones, Tx: sqlstore.NewUnitOfWork(db)})
	if err != nil {
		t.Fatal(err)
	}
	backend := redisstore.NewJobsOn(rdb, prefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:stream:"}, backend.Alive, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	reg := jobs.NewRegistry()
	svc.Register(reg)
	client = jobs.NewClient(jobs.Config{MaxRetries: 5}, reg, backend, broker, nil, log, nil)

	u := &identity.User{Email: "crash-" + uuid.NewString()[:8] + "@example.com"}
	if err := sqlstore.NewUsers(db).Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	acct, err := tr.CreateAccount(ctx, u.ID, trading.AccountInput{Name: "Crash", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	const rows = 5000
	file := importstest.FlexRows(rows)

	env := []string{"REDIS_URL=" + redisURL, "PREFIX=" + prefix, "DATABASE_URL=" + dbURL, "BLOB_DIR=" + blobDir}
	a, committing := startImportWorker(t, bin, append(env, "COMMIT_DELAY=60s"), "worker-a")
	imp, err := svc.Create(ctx, u.ID, imports.Upload{AccountID: acct.ID, Body: bytes.NewReader(file), Size: int64(len(file))})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-committing:
	case <-time.After(60 * time.Second):
		t.Fatal("worker-a never reached the commit")
	}
	kill(t, a)
	count := func() int {
		n := 0
		for cursor := ""; ; {
			page, next, err := tr.ListExecutions(ctx, u.ID, trading.ExecutionFilter{AccountIDs: []uuid.UUID{acct.ID}}, trading.Page{Limit: trading.MaxPageSize, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			n += len(page)
			if next == "" {
				return n
			}
			cursor = next
		}
	}
	if n := count(); n != 0 {
		t.Fatalf("%d executions visible after the killed attempt", n)
	}
	if got, err := svc.Get(ctx, u.ID, imp.ID); err != nil || got.Status != imports.Running {
		t.Fatalf("after the kill: %v %+v", err, got)
	}

	startImportWorker(t, bin, append(env, "COMMIT_DELAY=0s"), "worker-b")
	deadline := time.Now().Add(90 * time.Second)
	var got *imports.Import
	for {
		if got, err = svc.Get(ctx, u.ID, imp.ID); err == nil && got.Status.Terminal() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the import did not finish: %v %+v", err, got)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got.Status != imports.Succeeded || got.Counts.ExecutionsAdded != rows || got.Counts.Duplicates != 0 || got.Counts.Rows != rows {
		t.Fatalf("import %s %+v %q", got.Status, got.Counts, got.Error)
	}
	if n := count(); n != rows {
		t.Fatalf("%d executions, want %d", n, rows)
	}
	j, err := backend.Get(ctx, imp.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	if j.State != jobs.StateSucceeded || j.Worker != "worker-b" || j.Attempt != 2 {
		t.Fatalf("job %s on %s at attempt %d; want succeeded on worker-b at attempt 2", j.State, j.Worker, j.Attempt)
	}
}
