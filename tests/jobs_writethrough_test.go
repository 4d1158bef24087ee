package tests

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/testenv"
)

// openJournalDB opens a migrated database of url until the test ends.
func openJournalDB(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	cfg := sqlstore.DefaultConfig()
	cfg.URL = url
	db, cleanup, err := sqlstore.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if err := db.Migrate(context.Background(), sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	return db
}

// A write-through memory backend journals a job when it is accepted,
// keeps its retry state, and lets it go when it finishes; what a crash
// leaves in the journal is exactly the unfinished work. When the journal
// cannot take a job, the enqueue fails and the job is withdrawn: nothing
// is acknowledged that a crash would lose.
func TestWriteThroughJournal(t *testing.T) {
	for name, url := range map[string]func(t *testing.T) string{
		"SQLite":   func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "test.db") },
		"Postgres": func(t *testing.T) string { return testenv.PostgresDB(t) },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			db := openJournalDB(t, url(t))
			journal := sqlstore.NewJobJournal(db)
			mem := memory.NewJobs()
			wt := jobs.NewWriteThrough(mem, journal, slog.New(slog.DiscardHandler))
			now := time.Now().UTC().Truncate(time.Millisecond)
			job := func(id string) *jobs.Job {
				return &jobs.Job{ID: id, Kind: "email.send", Queue: jobs.QueueEmail, State: jobs.StateQueued, MaxRetries: 3, CreatedAt: now, UpdatedAt: now, RunAt: now}
			}
			for _, id := range []string{"done", "retry", "queued", "deleted"} {
				if _, created, err := wt.Create(ctx, job(id), 0); err != nil || !created {
					t.Fatalf("create %s: %v %v", id, created, err)
				}
			}
			if res, err := wt.CreateMany(ctx, []*jobs.Job{job("many-1"), job("many-2"), job("queued")}, 0); err != nil || len(res) != 3 || !res[0].Created || !res[1].Created || res[2].Created {
				t.Fatalf("create many: %+v %v", res, err)
			}
			if _, created, err := wt.Create(ctx, job("queued"), 0); err != nil || created {
				t.Fatalf("a second create of the same ID: created=%v err=%v", created, err)
			}
			set := func(id string, st jobs.State, attempt int) {
				t.Helper()
				if _, err := wt.Update(ctx, id, func(j *jobs.Job) (*jobs.Job, error) {
					j.State, j.Attempt, j.RunAt = st, attempt, now.Add(time.Hour)
					return j, nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			set("done", jobs.StateStarted, 1)
			set("done", jobs.StateSucceeded, 1)
			set("retry", jobs.StateStarted, 1)
			set("retry", jobs.StateRetrying, 1)
			if err := wt.Delete(ctx, "deleted"); err != nil {
				t.Fatal(err)
			}
			// The process dies here: no SaveUnfinished. The journal holds
			// the unfinished jobs as last written.
			left, err := sqlstore.NewJobJournal(db).Take(ctx)
			if err != nil {
				t.Fatal(err)
			}
			byID := map[string]*jobs.Job{}
			for _, j := range left {
				byID[j.ID] = j
			}
			if len(left) != 4 || byID["queued"] == nil || byID["retry"] == nil || byID["many-1"] == nil || byID["many-2"] == nil {
				t.Fatalf("journal after the crash holds %v; want queued, retry, many-1 and many-2", left)
			}
			if r := byID["retry"]; r.State != jobs.StateRetrying || r.Attempt != 1 || !r.RunAt.Equal(now.Add(time.Hour)) {
				t.Fatalf("retry journaled as %+v", r)
			}

			// The next start restores them and journals them again.
			if err := journal.Save(ctx, left); err != nil {
				t.Fatal(err)
			}
			next := memory.NewJobs()
			wt2 := jobs.NewWriteThrough(next, journal, slog.New(slog.DiscardHandler))
			if n, err := wt2.RestoreSaved(ctx, now); err != nil || n != 4 {
				t.Fatalf("restore: %d %v", n, err)
			}
			if again, err := sqlstore.NewJobJournal(db).Take(ctx); err != nil || len(again) != 4 {
				t.Fatalf("after a restore the journal holds %d jobs (%v); want the 4 restored", len(again), err)
			}

			// A journal that cannot write (here: the request's context is
			// gone before it could) refuses the job.
			gone, cancel := context.WithCancel(ctx)
			cancel()
			_, created, err := wt.Create(gone, job("late"), 0)
			if created || apperr.KindOf(err) != apperr.Unavailable || apperr.CodeOf(err) != "jobs_journal_unavailable" {
				t.Fatalf("create with the journal down: created=%v err=%v", created, err)
			}
			if _, err := mem.Get(ctx, "late"); apperr.KindOf(err) != apperr.NotFound {
				t.Fatalf("a job the journal refused is still stored: %v", err)
			}
			if _, err := wt.CreateMany(gone, []*jobs.Job{job("late-1"), job("late-2")}, 0); apperr.CodeOf(err) != "jobs_journal_unavailable" {
				t.Fatalf("create many with the journal down: %v", err)
			}
			for _, id := range []string{"late-1", "late-2"} {
				if _, err := mem.Get(ctx, id); apperr.KindOf(err) != apperr.NotFound {
					t.Fatalf("%s, refused by the journal, is still stored: %v", id, err)
				}
			}
		})
	}
}
