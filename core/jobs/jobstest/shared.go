package jobstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// RunSharedBackendContract checks two backends over the same storage (two
// processes, say): an Update through one sees, and never overwrites,
// what the other wrote since, even when the first one wrote the record
// last and may have kept its bytes. newPair returns both, one pair per
// subtest; a backend may be paired with itself.
func RunSharedBackendContract(t *testing.T, newPair func(t *testing.T) (a, b jobs.Backend)) {
	ctx := context.Background()
	create := func(t *testing.T, b jobs.Backend) *jobs.Job {
		t.Helper()
		j := NewJob("default.x")
		if _, _, err := b.Create(ctx, j, time.Hour); err != nil {
			t.Fatal(err)
		}
		return j
	}
	bump := func(t *testing.T, b jobs.Backend, id string, edit func(*jobs.Job)) *jobs.Job {
		t.Helper()
		j, err := b.Update(ctx, id, func(j *jobs.Job) (*jobs.Job, error) { edit(j); return j, nil })
		if err != nil {
			t.Fatal(err)
		}
		return j
	}

	t.Run("UpdateAfterAnotherWriterSeesItsWrite", func(t *testing.T) {
		a, b := newPair(t)
		j := create(t, a)
		bump(t, a, j.ID, func(j *jobs.Job) { j.State, j.Worker, j.Attempt = jobs.StateStarted, "w1", 1 })
		bump(t, b, j.ID, func(j *jobs.Job) { j.State, j.Worker, j.Attempt = jobs.StateStarted, "w2", 2 })
		// fn may run more than once; what is stored comes from its last
		// call, which must have seen the other write.
		got := bump(t, a, j.ID, func(j *jobs.Job) {
			j.State = jobs.StateSucceeded
			j.Attempt++
		})
		if got.Attempt != 3 || got.Worker != "w2" {
			t.Fatalf("Attempt = %d, Worker = %q, want 3, w2 (the other write kept)", got.Attempt, got.Worker)
		}
		stored, err := b.Get(ctx, j.ID)
		if err != nil || stored.Attempt != 3 || stored.State != jobs.StateSucceeded {
			t.Fatalf("stored = %+v, %v", stored, err)
		}
		if started, _ := b.List(ctx, jobs.Filter{State: jobs.StateStarted}); len(started) != 0 {
			t.Fatalf("still indexed as started: %v", ids(started))
		}
	})

	t.Run("StaleUpdateIsDroppedAfterAnotherWriter", func(t *testing.T) {
		// A worker's finishing write must not land once another process
		// moved the job on (a retry bumped Seq, another worker took it).
		a, b := newPair(t)
		j := create(t, a)
		bump(t, a, j.ID, func(j *jobs.Job) { j.State, j.Worker = jobs.StateStarted, "w1" })
		bump(t, b, j.ID, func(j *jobs.Job) { j.State, j.Worker, j.Seq = jobs.StateQueued, "", 2 })
		drop := errors.New("drop")
		_, err := a.Update(ctx, j.ID, func(cur *jobs.Job) (*jobs.Job, error) {
			if cur.Seq != 1 || cur.Worker != "w1" {
				return nil, drop
			}
			cur.State = jobs.StateSucceeded
			return cur, nil
		})
		if !errors.Is(err, drop) {
			t.Fatalf("err = %v, want the fn to see the other write and drop", err)
		}
		if stored, _ := b.Get(ctx, j.ID); stored.State != jobs.StateQueued || stored.Seq != 2 {
			t.Fatalf("stored = %s seq %d, want queued seq 2", stored.State, stored.Seq)
		}
	})

	t.Run("UpdateAfterAnotherDeletedIsNotFound", func(t *testing.T) {
		a, b := newPair(t)
		j := create(t, a)
		bump(t, a, j.ID, func(j *jobs.Job) { j.State = jobs.StateStarted })
		if err := b.Delete(ctx, j.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Update(ctx, j.ID, func(j *jobs.Job) (*jobs.Job, error) { return j, nil }); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("err = %v, want NotFound", err)
		}
		if _, err := b.Get(ctx, j.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("the Update brought the deleted job back: %v", err)
		}
		// Recreated under the same ID: Update works on the new record.
		if _, _, err := b.Create(ctx, j, time.Hour); err != nil {
			t.Fatal(err)
		}
		got := bump(t, a, j.ID, func(j *jobs.Job) { j.Attempt = 7 })
		if got.Attempt != 7 || got.State != jobs.StateQueued {
			t.Fatalf("got %s attempt %d, want the new record (queued) with attempt 7", got.State, got.Attempt)
		}
	})
}
