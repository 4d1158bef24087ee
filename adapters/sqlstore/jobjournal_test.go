package sqlstore_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// The journal gives back exactly what was saved, once: a second Take, or
// a concurrent one, gets nothing; saving a job again replaces it.
func TestJobJournal(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			j := sqlstore.NewJobJournal(openMigrated(t, testConfig(dc.url(t))))
			at := time.Date(2030, 1, 2, 3, 4, 5, 678000, time.UTC)
			full := &jobs.Job{ID: "j1", Kind: "email.send", Queue: jobs.QueueEmail, Payload: json.RawMessage(`{"to":"a@example.com"}`),
				Owner: "u1", IdempotencyKey: "k1", State: jobs.StateRetrying, Attempt: 2, MaxRetries: 5, Seq: 3,
				SoftTimeout: time.Minute, HardTimeout: 2 * time.Minute, RunAt: at, Scheduled: true, TimerAt: at,
				CreatedAt: at, UpdatedAt: at, StartedAt: at, Worker: "w1", Error: "boom",
				Errors: []jobs.AttemptError{{Attempt: 1, At: at, Error: "boom"}}, Progress: json.RawMessage(`{"p":1}`),
				Trace: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
			plain := &jobs.Job{ID: "j2", Kind: "default.x", Queue: jobs.QueueDefault, State: jobs.StateQueued, CreatedAt: at.Add(time.Second), UpdatedAt: at}
			if err := j.Save(ctx, []*jobs.Job{full, plain}); err != nil {
				t.Fatal(err)
			}
			changed := plain.Clone()
			changed.Attempt = 7
			if err := j.Save(ctx, []*jobs.Job{changed}); err != nil {
				t.Fatal(err)
			}
			var (
				wg    sync.WaitGroup
				mu    sync.Mutex
				taken []*jobs.Job
			)
			for range 4 {
				wg.Go(func() {
					got, err := j.Take(ctx)
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					taken = append(taken, got...)
					mu.Unlock()
				})
			}
			wg.Wait()
			if len(taken) != 2 {
				t.Fatalf("took %d jobs, want 2", len(taken))
			}
			byID := map[string]*jobs.Job{}
			for _, tj := range taken {
				byID[tj.ID] = tj
			}
			if !reflect.DeepEqual(byID["j1"], full) {
				t.Fatalf("j1 = %+v\nwant %+v", byID["j1"], full)
			}
			if byID["j2"] == nil || byID["j2"].Attempt != 7 {
				t.Fatalf("j2 = %+v; want the second save", byID["j2"])
			}
			if again, err := j.Take(ctx); err != nil || len(again) != 0 {
				t.Fatalf("second Take = %v, %v", again, err)
			}
		})
	}
}

// A write-through memory backend journals a job when it is accepted,
// keeps its retry state, and lets it go when it finishes; what a crash
// leaves in the journal is exactly the unfinished work. When the journal
// cannot take a job, the enqueue fails and the job is withdrawn: nothing
// is acknowledged that a crash would lose.
func TestWriteThroughJournal(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
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
			if len(left) != 2 || byID["queued"] == nil || byID["retry"] == nil {
				t.Fatalf("journal after the crash holds %v; want queued and retry", left)
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
			if n, err := wt2.RestoreSaved(ctx, next, now); err != nil || n != 2 {
				t.Fatalf("restore: %d %v", n, err)
			}
			if again, err := sqlstore.NewJobJournal(db).Take(ctx); err != nil || len(again) != 2 {
				t.Fatalf("after a restore the journal holds %d jobs (%v); want the 2 restored", len(again), err)
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
		})
	}
}
