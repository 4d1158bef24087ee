package jobstest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// NewJob returns a valid queued job for tests.
func NewJob(kind string) *jobs.Job {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &jobs.Job{
		ID: uuid.Must(uuid.NewV7()).String(), Kind: kind, Queue: jobs.Route(kind),
		Payload: json.RawMessage(`{"n":1}`), State: jobs.StateQueued, Seq: 1, MaxRetries: 3,
		SoftTimeout: time.Minute, HardTimeout: 2 * time.Minute,
		CreatedAt: now, UpdatedAt: now, RunAt: now, Trace: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
}

// RunBackendContract runs the jobs.Backend contract against backends
// whose records, heartbeats and leases expire by the process clock
// (time.Now), one per case: each case runs in a synctest bubble with its
// backend made inside it, so the waits for an expiry cost nothing.
func RunBackendContract(t *testing.T, newBackend func(t *testing.T) jobs.Backend) {
	runBackendContract(t, newBackend, true)
}

// RunBackendContractRealTime runs the contract against backends that
// expire by their own clock (Redis TTLs): the cases wait in real time.
func RunBackendContractRealTime(t *testing.T, newBackend func(t *testing.T) jobs.Backend) {
	runBackendContract(t, newBackend, false)
}

func runBackendContract(t *testing.T, newBackend func(t *testing.T) jobs.Backend, bubble bool) {
	ctx := context.Background()
	each := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if bubble {
				synctest.Test(t, f)
				return
			}
			f(t)
		})
	}

	each("CreateGetRoundTrip", func(t *testing.T) {
		b := newBackend(t)
		j := NewJob("email.send")
		j.Owner, j.IdempotencyKey = "user-1", ""
		j.Errors = []jobs.AttemptError{{Attempt: 1, At: j.CreatedAt, Error: "boom"}}
		id, created, err := b.Create(ctx, j, time.Hour)
		if err != nil || !created || id != j.ID {
			t.Fatalf("Create = %q, %v, %v", id, created, err)
		}
		got, err := b.Get(ctx, j.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != j.Kind || got.Queue != "email" || string(got.Payload) != string(j.Payload) || got.Owner != "user-1" ||
			!got.CreatedAt.Equal(j.CreatedAt) || got.Trace["traceparent"] != j.Trace["traceparent"] || len(got.Errors) != 1 ||
			got.SoftTimeout != time.Minute || got.State != jobs.StateQueued || got.Seq != 1 {
			t.Fatalf("Get = %+v, want %+v", got, j)
		}
		got.Payload[0] = 'X' // a copy: the store must not change
		again, _ := b.Get(ctx, j.ID)
		if again.Payload[0] != '{' {
			t.Fatal("Get returned the stored job, not a copy")
		}
	})

	each("CreateManyStoresEachOnItsOwnTerms", func(t *testing.T) {
		b := newBackend(t)
		existing := NewJob("default.x")
		if _, _, err := b.Create(ctx, existing, time.Hour); err != nil {
			t.Fatal(err)
		}
		keyed := NewJob("email.send")
		keyed.IdempotencyKey = "many:" + keyed.ID
		sameKey := NewJob("email.send")
		sameKey.IdempotencyKey = keyed.IdempotencyKey
		delayed := NewJob("default.later")
		delayed.Scheduled, delayed.TimerAt = true, delayed.CreatedAt.Add(time.Hour)
		fresh := NewJob("default.y")
		dupOfExisting := existing.Clone()
		dupOfExisting.Kind = "overwritten"
		repeat := fresh.Clone()
		repeat.Kind = "overwritten"
		in := []*jobs.Job{fresh, dupOfExisting, keyed, sameKey, delayed, repeat}
		got, err := b.CreateMany(ctx, in, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cr := func(id string, created bool) jobs.Created { return jobs.Created{ID: id, Created: created} }
		want := []jobs.Created{cr(fresh.ID, true), cr(existing.ID, false), cr(keyed.ID, true), cr(keyed.ID, false), cr(delayed.ID, true), cr(fresh.ID, false)}
		if len(got) != len(want) {
			t.Fatalf("CreateMany returned %d results for %d jobs", len(got), len(in))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("job %d: %+v; want %+v", i, got[i], want[i])
			}
		}
		for _, j := range []*jobs.Job{fresh, existing, keyed, delayed} {
			g, err := b.Get(ctx, j.ID)
			if err != nil {
				t.Fatalf("Get %s: %v", j.Kind, err)
			}
			if g.Kind != j.Kind || g.Kind == "overwritten" {
				t.Fatalf("stored kind %q; want %q", g.Kind, j.Kind)
			}
		}
		if _, err := b.Get(ctx, sameKey.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("the job with a used key was stored: %v", err)
		}
		due, err := b.ClaimDue(ctx, delayed.TimerAt, time.Minute, 10)
		if err != nil || !slices.Contains(due, delayed.ID) {
			t.Fatalf("ClaimDue = %v, %v; want the delayed job in the timer set", due, err)
		}
		if got, err := b.CreateMany(ctx, nil, time.Hour); err != nil || len(got) != 0 {
			t.Fatalf("CreateMany(nil) = %v, %v", got, err)
		}
		c, err := b.Counts(ctx, jobs.QueueDefault)
		if err != nil || c.ByState[jobs.StateQueued] != 3 {
			t.Fatalf("queued default jobs = %d, %v; want 3 (existing, fresh, delayed: no duplicates)", c.ByState[jobs.StateQueued], err)
		}
	})

	each("CreateExistingIDIsNotOverwritten", func(t *testing.T) {
		b := newBackend(t)
		j := NewJob("default.x")
		if _, _, err := b.Create(ctx, j, time.Hour); err != nil {
			t.Fatal(err)
		}
		dup := j.Clone()
		dup.Kind = "other"
		id, created, err := b.Create(ctx, dup, time.Hour)
		if err != nil || created || id != j.ID {
			t.Fatalf("second Create = %q, %v, %v; want the first ID, false", id, created, err)
		}
		got, _ := b.Get(ctx, j.ID)
		if got.Kind != "default.x" {
			t.Fatalf("kind = %q: the record was overwritten", got.Kind)
		}
	})

	each("IdempotencyKey", func(t *testing.T) {
		b := newBackend(t)
		first := NewJob("email.send")
		first.IdempotencyKey = "welcome:" + first.ID
		if _, _, err := b.Create(ctx, first, 300*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		second := NewJob("email.send")
		second.IdempotencyKey = first.IdempotencyKey
		id, created, err := b.Create(ctx, second, 300*time.Millisecond)
		if err != nil || created || id != first.ID {
			t.Fatalf("Create with a used key = %q, %v, %v; want %q, false", id, created, err, first.ID)
		}
		if _, err := b.Get(ctx, second.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("the second job was stored: %v", err)
		}
		time.Sleep(400 * time.Millisecond)
		third := NewJob("email.send")
		third.IdempotencyKey = first.IdempotencyKey
		id, created, err = b.Create(ctx, third, time.Hour)
		if err != nil || !created || id != third.ID {
			t.Fatalf("Create after the window = %q, %v, %v; want a new job", id, created, err)
		}
	})

	each("ConcurrentIdempotentCreatesMakeOneJob", func(t *testing.T) {
		b := newBackend(t)
		key := "k-" + uuid.NewString()
		ids := make([]string, 20)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Go(func() {
				j := NewJob("default.x")
				j.IdempotencyKey = key
				id, _, err := b.Create(ctx, j, time.Hour)
				if err != nil {
					t.Error(err)
				}
				ids[i] = id
			})
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("ids differ: %v", ids)
			}
		}
	})

	each("GetMissingIsNotFound", func(t *testing.T) {
		b := newBackend(t)
		_, err := b.Get(ctx, uuid.NewString())
		if !apperr.Is(err, apperr.NotFound) || apperr.CodeOf(err) != jobs.CodeJobNotFound {
			t.Fatalf("err = %v, want NotFound job_not_found", err)
		}
		if _, err := b.Update(ctx, uuid.NewString(), func(j *jobs.Job) (*jobs.Job, error) { return j, nil }); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Update missing: %v", err)
		}
		if err := b.Delete(ctx, uuid.NewString()); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Delete missing: %v", err)
		}
	})

	each("UpdateIsAtomic", func(t *testing.T) {
		b := newBackend(t)
		j := NewJob("default.x")
		_, _, _ = b.Create(ctx, j, time.Hour)
		var wg sync.WaitGroup
		for range 25 {
			wg.Go(func() {
				if _, err := b.Update(ctx, j.ID, func(j *jobs.Job) (*jobs.Job, error) { j.Attempt++; return j, nil }); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		got, _ := b.Get(ctx, j.ID)
		if got.Attempt != 25 {
			t.Fatalf("Attempt = %d after 25 concurrent increments", got.Attempt)
		}
	})

	each("UpdateErrorWritesNothing", func(t *testing.T) {
		b := newBackend(t)
		j := NewJob("default.x")
		_, _, _ = b.Create(ctx, j, time.Hour)
		boom := fmt.Errorf("boom")
		_, err := b.Update(ctx, j.ID, func(j *jobs.Job) (*jobs.Job, error) { j.Attempt = 9; return nil, boom })
		if err != boom {
			t.Fatalf("err = %v, want the fn's error unchanged", err)
		}
		got, _ := b.Get(ctx, j.ID)
		if got.Attempt != 0 {
			t.Fatal("a failed Update wrote")
		}
		if _, err := b.Update(ctx, j.ID, func(j *jobs.Job) (*jobs.Job, error) { j.ID = uuid.NewString(); return j, nil }); err == nil {
			t.Fatal("Update changed the ID")
		}
	})

	each("ListFiltersAndOrders", func(t *testing.T) {
		b := newBackend(t)
		base := time.Now().UTC()
		var dead []string
		for i := range 5 {
			j := NewJob("email.send")
			j.UpdatedAt = base.Add(time.Duration(i) * time.Second)
			if i%2 == 0 {
				j.State = jobs.StateDead
				dead = append(dead, j.ID)
			}
			_, _, _ = b.Create(ctx, j, time.Hour)
		}
		other := NewJob("reports.build")
		other.State = jobs.StateDead
		_, _, _ = b.Create(ctx, other, time.Hour)
		got, err := b.List(ctx, jobs.Filter{State: jobs.StateDead, Queue: "email"})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0].ID != dead[2] || got[2].ID != dead[0] {
			t.Fatalf("List dead email = %v, want %v newest first", ids(got), dead)
		}
		all, _ := b.List(ctx, jobs.Filter{State: jobs.StateDead})
		if len(all) != 4 {
			t.Fatalf("List dead = %d jobs, want 4", len(all))
		}
		limited, _ := b.List(ctx, jobs.Filter{Queue: "email", Limit: 2})
		if len(limited) != 2 {
			t.Fatalf("Limit 2 gave %d", len(limited))
		}
		// A state change moves the job between the lists.
		_, _ = b.Update(ctx, dead[0], func(j *jobs.Job) (*jobs.Job, error) { j.State = jobs.StateQueued; return j, nil })
		again, _ := b.List(ctx, jobs.Filter{State: jobs.StateDead, Queue: "email"})
		if len(again) != 2 {
			t.Fatalf("after requeue, %d dead, want 2", len(again))
		}
	})

	each("ListByKindPagesWithAPosition", func(t *testing.T) {
		b := newBackend(t)
		base := time.Now().UTC().Truncate(time.Millisecond)
		var want []string
		at := map[string]time.Time{}
		for i := range 23 {
			kind := "email.send"
			if i%3 == 0 {
				kind = "email.bulk"
			}
			j := NewJob(kind)
			// Pairs of jobs share a millisecond, so pages must break ties
			// by ID.
			j.UpdatedAt = base.Add(time.Duration(i/2) * time.Millisecond)
			if i%2 == 1 {
				j.State = jobs.StateDead
			}
			if _, _, err := b.Create(ctx, j, time.Hour); err != nil {
				t.Fatal(err)
			}
			if kind == "email.send" {
				want = append(want, j.ID)
				at[j.ID] = j.UpdatedAt
			}
		}
		// Newest first, ties by ID descending.
		slices.SortFunc(want, func(a, b string) int {
			if c := at[b].Compare(at[a]); c != 0 {
				return c
			}
			return strings.Compare(b, a)
		})
		full, err := b.List(ctx, jobs.Filter{Kind: "email.send", Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(full) != len(want) {
			t.Fatalf("List kind email.send = %d jobs, want %d", len(full), len(want))
		}
		for _, j := range full {
			if j.Kind != "email.send" {
				t.Fatalf("kind filter let %s through", j.Kind)
			}
		}
		order := ids(full)
		if !slices.Equal(order, want) {
			t.Fatalf("order = %v\nwant    %v", order, want)
		}
		var paged []string
		var after *jobs.Position
		for range 20 {
			page, err := b.List(ctx, jobs.Filter{Kind: "email.send", After: after, Limit: 4})
			if err != nil {
				t.Fatal(err)
			}
			paged = append(paged, ids(page)...)
			if len(page) < 4 {
				break
			}
			last := page[len(page)-1]
			after = &jobs.Position{UpdatedAt: last.UpdatedAt, ID: last.ID}
		}
		if !slices.Equal(paged, order) {
			t.Fatalf("pages = %v\nwant    %v", paged, order)
		}
		seen := map[string]bool{}
		for _, id := range paged {
			if seen[id] {
				t.Fatalf("job %s listed twice", id)
			}
			seen[id] = true
		}
		dead, _ := b.List(ctx, jobs.Filter{Kind: "email.bulk", State: jobs.StateDead})
		for _, j := range dead {
			if j.Kind != "email.bulk" || j.State != jobs.StateDead {
				t.Fatalf("filters ignored: %s %s", j.Kind, j.State)
			}
		}
		if len(dead) != 4 { // i = 3, 9, 15, 21
			t.Fatalf("dead email.bulk = %d, want 4", len(dead))
		}
	})

	each("ClaimDue", func(t *testing.T) {
		b := newBackend(t)
		now := time.Now().UTC()
		due, later, unscheduled := NewJob("default.a"), NewJob("default.b"), NewJob("default.c")
		due.Scheduled, due.TimerAt = true, now.Add(-time.Second)
		later.Scheduled, later.TimerAt = true, now.Add(time.Hour)
		unscheduled.TimerAt = now.Add(-time.Hour)
		for _, j := range []*jobs.Job{due, later, unscheduled} {
			_, _, _ = b.Create(ctx, j, time.Hour)
		}
		got, err := b.ClaimDue(ctx, now, time.Minute, 10)
		if err != nil || len(got) != 1 || got[0] != due.ID {
			t.Fatalf("ClaimDue = %v, %v; want [%s]", got, err, due.ID)
		}
		if again, _ := b.ClaimDue(ctx, now, time.Minute, 10); len(again) != 0 {
			t.Fatalf("a claimed timer came back within its lease: %v", again)
		}
		if after, _ := b.ClaimDue(ctx, now.Add(2*time.Minute), time.Minute, 10); len(after) != 1 {
			t.Fatalf("after the lease: %v, want the due job again", after)
		}
		_, _ = b.Update(ctx, due.ID, func(j *jobs.Job) (*jobs.Job, error) { j.Scheduled = false; return j, nil })
		if got, _ := b.ClaimDue(ctx, now.Add(time.Hour*2), time.Minute, 10); len(got) != 1 || got[0] != later.ID {
			t.Fatalf("after unscheduling: %v, want only [%s]", got, later.ID)
		}
		// A new TimerAt re-arms a claimed timer.
		_, _ = b.Update(ctx, due.ID, func(j *jobs.Job) (*jobs.Job, error) {
			j.Scheduled, j.TimerAt = true, now.Add(3*time.Hour)
			return j, nil
		})
		if got, _ := b.ClaimDue(ctx, now.Add(4*time.Hour), time.Minute, 10); !slices.Contains(got, due.ID) {
			t.Fatalf("re-armed timer: %v, want it to contain %s", got, due.ID)
		}
	})

	each("ConcurrentClaimsAreDisjoint", func(t *testing.T) {
		b := newBackend(t)
		now := time.Now().UTC()
		for range 40 {
			j := NewJob("default.a")
			j.Scheduled, j.TimerAt = true, now.Add(-time.Second)
			_, _, _ = b.Create(ctx, j, time.Hour)
		}
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					got, err := b.ClaimDue(ctx, now, time.Minute, 7)
					if err != nil {
						t.Error(err)
						return
					}
					if len(got) == 0 {
						return
					}
					mu.Lock()
					for _, id := range got {
						seen[id]++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(seen) != 40 {
			t.Fatalf("claimed %d distinct jobs, want 40", len(seen))
		}
		for id, n := range seen {
			if n != 1 {
				t.Fatalf("job %s claimed %d times", id, n)
			}
		}
	})

	each("CountsAndTotals", func(t *testing.T) {
		b := newBackend(t)
		a, c := NewJob("reports.a"), NewJob("reports.b")
		_, _, _ = b.Create(ctx, a, time.Hour)
		_, _, _ = b.Create(ctx, c, time.Hour)
		set := func(id string, s jobs.State) {
			if _, err := b.Update(ctx, id, func(j *jobs.Job) (*jobs.Job, error) { j.State = s; return j, nil }); err != nil {
				t.Fatal(err)
			}
		}
		set(a.ID, jobs.StateStarted)
		set(a.ID, jobs.StateSucceeded)
		set(c.ID, jobs.StateStarted)
		set(c.ID, jobs.StateDead)
		got, err := b.Counts(ctx, "reports")
		if err != nil {
			t.Fatal(err)
		}
		if got.ByState[jobs.StateSucceeded] != 1 || got.ByState[jobs.StateDead] != 1 || got.ByState[jobs.StateQueued] != 0 ||
			got.Processed != 1 || got.Failed != 1 {
			t.Fatalf("Counts = %+v", got)
		}
		if other, _ := b.Counts(ctx, "email"); other.Processed != 0 || other.ByState[jobs.StateDead] != 0 {
			t.Fatalf("email counts = %+v, want zero", other)
		}
	})

	each("ExpiredRecordsDisappear", func(t *testing.T) {
		b := newBackend(t)
		j := NewJob("default.x")
		_, _, _ = b.Create(ctx, j, time.Hour)
		now := time.Now().UTC()
		_, err := b.Update(ctx, j.ID, func(j *jobs.Job) (*jobs.Job, error) {
			j.State, j.ExpiresAt = jobs.StateSucceeded, now.Add(200*time.Millisecond)
			return j, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, j.ID); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
		if _, err := b.Get(ctx, j.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("after expiry: %v, want NotFound", err)
		}
		if _, err := b.PurgeExpired(ctx, time.Now()); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.List(ctx, jobs.Filter{State: jobs.StateSucceeded}); len(got) != 0 {
			t.Fatalf("expired job still listed: %v", ids(got))
		}
	})

	each("HeartbeatsAndLeases", func(t *testing.T) {
		b := newBackend(t)
		w := "w-" + uuid.NewString()
		if ok, _ := b.Alive(ctx, w); ok {
			t.Fatal("alive before any heartbeat")
		}
		_ = b.Heartbeat(ctx, w, time.Minute)
		if ok, _ := b.Alive(ctx, w); !ok {
			t.Fatal("not alive after a heartbeat")
		}
		_ = b.Heartbeat(ctx, w, 0)
		if ok, _ := b.Alive(ctx, w); ok {
			t.Fatal("alive after retiring")
		}
		_ = b.Heartbeat(ctx, w, 150*time.Millisecond)
		time.Sleep(250 * time.Millisecond)
		if ok, _ := b.Alive(ctx, w); ok {
			t.Fatal("alive after the heartbeat expired")
		}

		name := "lease-" + uuid.NewString()
		if ok, err := b.AcquireLease(ctx, name, "a", time.Minute); !ok || err != nil {
			t.Fatalf("first acquire: %v %v", ok, err)
		}
		if ok, _ := b.AcquireLease(ctx, name, "b", time.Minute); ok {
			t.Fatal("b took a's lease")
		}
		if ok, _ := b.AcquireLease(ctx, name, "a", time.Minute); !ok {
			t.Fatal("a could not extend its lease")
		}
		_ = b.ReleaseLease(ctx, name, "b") // not b's: no effect
		if ok, _ := b.AcquireLease(ctx, name, "b", time.Minute); ok {
			t.Fatal("b's release freed a's lease")
		}
		_ = b.ReleaseLease(ctx, name, "a")
		if ok, _ := b.AcquireLease(ctx, name, "b", 150*time.Millisecond); !ok {
			t.Fatal("b could not take the released lease")
		}
		time.Sleep(250 * time.Millisecond)
		if ok, _ := b.AcquireLease(ctx, name, "a", time.Minute); !ok {
			t.Fatal("a could not take the expired lease")
		}
	})

	each("Markers", func(t *testing.T) {
		b := newBackend(t)
		k := "sent:" + uuid.NewString()
		if ok, _ := b.Marked(ctx, k); ok {
			t.Fatal("marked before Mark")
		}
		if first, err := b.Mark(ctx, k, time.Minute); !first || err != nil {
			t.Fatalf("first Mark = %v, %v", first, err)
		}
		if first, _ := b.Mark(ctx, k, time.Minute); first {
			t.Fatal("second Mark reported first")
		}
		if ok, _ := b.Marked(ctx, k); !ok {
			t.Fatal("not marked after Mark")
		}
	})
}

func ids(js []*jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}
