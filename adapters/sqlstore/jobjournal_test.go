package sqlstore_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/sqlstore"
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
			gone := &jobs.Job{ID: "j3", Kind: "default.x", Queue: jobs.QueueDefault, State: jobs.StateQueued, CreatedAt: at, UpdatedAt: at}
			if err := j.Save(ctx, []*jobs.Job{gone}); err != nil {
				t.Fatal(err)
			}
			if err := j.Remove(ctx, "j3", "never-saved"); err != nil {
				t.Fatal(err)
			}
			if err := j.Remove(ctx); err != nil {
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
