// Package jobstest holds the contract suites of the jobs ports (Backend and
// Broker) and of the worker's behaviour, with the in-process broker they
// need. The worker suite runs in synctest bubbles: no fake clock.
package jobstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// Env is a job system on a ChanBroker, for tests of the worker's
// behaviour against a real Backend. Build it inside a synctest bubble:
// the worker's countdowns, time limits, polls, heartbeats and shutdown
// deadline then run on the bubble's clock, time.Sleep moves them, and
// synctest.Wait lets the worker do all it can without time passing.
type Env struct {
	T       *testing.T
	Backend jobs.Backend
	Broker  *ChanBroker
	Reg     *jobs.Registry
	Cfg     jobs.Config
	Client  *jobs.Client
}

// NewEnv builds an Env. Register kinds on Reg before StartWorker.
func NewEnv(t *testing.T, newBackend func(t *testing.T) jobs.Backend) *Env {
	e := &Env{T: t, Backend: newBackend(t), Broker: NewChanBroker(), Reg: jobs.NewRegistry()}
	e.Cfg = jobs.Config{Jitter: jobs.NoJitter}
	e.Client = jobs.NewClient(e.Cfg, e.Reg, e.Backend, e.Broker, nil, slog.New(slog.DiscardHandler), nil)
	return e
}

// StartWorker runs a worker until the test ends; stop stops it early and
// waits for Run to return (a draining worker reaches its deadline as the
// bubble's time passes).
func (e *Env) StartWorker(id string, mod func(*jobs.WorkerConfig)) (stop func()) {
	wc := jobs.WorkerConfig{ID: id, Queues: map[string]int{jobs.QueueDefault: 4, jobs.QueueEmail: 4, jobs.QueueMaintenance: 1}, ShutdownTimeout: 30 * time.Second}
	if mod != nil {
		mod(&wc)
	}
	w, err := jobs.NewWorker(e.Cfg, wc, e.Reg, e.Backend, e.Broker, e.Client, nil, nil, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				e.T.Errorf("worker %s: %v", id, err)
			}
		})
	}
	e.T.Cleanup(stop)
	return stop
}

// Job reads a job, failing the test on error.
func (e *Env) Job(id string) *jobs.Job {
	e.T.Helper()
	j, err := e.Backend.Get(context.Background(), id)
	if err != nil {
		e.T.Fatalf("get job %s: %v", id, err)
	}
	return j
}

// WaitState lets the worker do all it can without time passing, then
// requires the job to be in state.
func (e *Env) WaitState(id string, state jobs.State) *jobs.Job {
	e.T.Helper()
	synctest.Wait()
	j, err := e.Backend.Get(context.Background(), id)
	if err != nil || j.State != state {
		e.T.Fatalf("job %s: state %v (err %v), want %s", id, stateOf(j), err, state)
	}
	return j
}

func stateOf(j *jobs.Job) any {
	if j == nil {
		return nil
	}
	return j.State
}

// AdvanceUntil lets time pass in steps of step until cond holds, letting
// the worker settle before each check; it fails after max.
func (e *Env) AdvanceUntil(step, max time.Duration, cond func() bool) {
	e.T.Helper()
	for moved := time.Duration(0); ; moved += step {
		synctest.Wait()
		if cond() {
			return
		}
		if moved >= max {
			e.T.Fatalf("condition not met after %s", max)
		}
		time.Sleep(step)
	}
}

// RunWorkerSuite checks the worker's behaviour on the backends made by
// newBackend, whose clock must be time.Now: each case runs in a synctest
// bubble of its own, with the backend made inside it.
func RunWorkerSuite(t *testing.T, newBackend func(t *testing.T) jobs.Backend) {
	ctx := context.Background()
	each := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) { synctest.Test(t, f) })
	}

	each("RetryCountdownsThenDead", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var mu sync.Mutex
		var starts []time.Time
		e.Reg.Register("email.send", jobs.KindConfig{Handler: func(ctx context.Context, j *jobs.Job) (any, error) {
			mu.Lock()
			starts = append(starts, time.Now())
			mu.Unlock()
			return nil, apperr.New(apperr.Unavailable, "smtp_down", "try later")
		}})
		e.StartWorker("w1", nil)
		t0 := time.Now()
		id, err := e.Client.Enqueue(ctx, "email.send", map[string]string{"to": "a@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		j := e.WaitState(id, jobs.StateRetrying)
		if !j.RunAt.Equal(t0.Add(60*time.Second)) || j.Attempt != 1 || j.Queue != "email" {
			t.Fatalf("after attempt 1: run_at %s attempt %d queue %s; want run_at t0+60s", j.RunAt.Sub(t0), j.Attempt, j.Queue)
		}
		e.AdvanceUntil(time.Second, 10*time.Minute, func() bool {
			j, _ := e.Backend.Get(ctx, id)
			return j != nil && j.State == jobs.StateDead
		})
		mu.Lock()
		defer mu.Unlock()
		if len(starts) != 4 {
			t.Fatalf("%d attempts, want 4 (1 + max_retries 3)", len(starts))
		}
		dead := e.Job(id)
		// Celery's countdown 60 × (retries + 1): 60 s, 120 s, 180 s after
		// each failure (time moves in 1 s steps).
		for i := 1; i < len(starts) && i <= len(dead.Errors); i++ {
			want := time.Duration(i) * 60 * time.Second
			got := starts[i].Sub(dead.Errors[i-1].At)
			if got < want || got > want+2*time.Second {
				t.Errorf("attempt %d started %s after attempt %d failed, want %s", i+1, got, i, want)
			}
		}
		if dead.Attempt != 4 || !strings.Contains(dead.Error, "try later") || len(dead.Errors) != 4 || dead.Queue != "email" ||
			dead.ExpiresAt.Sub(dead.FinishedAt) != 7*24*time.Hour {
			t.Fatalf("dead job = attempt %d error %q errors %d queue %s ttl %s", dead.Attempt, dead.Error, len(dead.Errors), dead.Queue, dead.ExpiresAt.Sub(dead.FinishedAt))
		}
		if got, _ := e.Client.List(ctx, jobs.Filter{State: jobs.StateDead}); len(got) != 1 || got[0].ID != id {
			t.Fatalf("dead letters = %v", ids(got))
		}
	})

	each("PerKindBackoffAndRetryAfter", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var n atomic.Int32
		e.Reg.Register("default.flaky", jobs.KindConfig{MaxRetries: 5, Backoff: func(int) time.Duration { return 7 * time.Second },
			Handler: func(context.Context, *jobs.Job) (any, error) {
				switch n.Add(1) {
				case 1:
					return nil, errors.New("first")
				case 2:
					return nil, jobs.RetryAfter(42*time.Second, errors.New("second"))
				}
				return "ok", nil
			}})
		e.StartWorker("w1", nil)
		t0 := time.Now()
		id, _ := e.Client.Enqueue(ctx, "default.flaky", nil)
		j := e.WaitState(id, jobs.StateRetrying)
		if j.RunAt.Sub(t0) != 7*time.Second || j.MaxRetries != 5 {
			t.Fatalf("kind backoff: run_at t0+%s max_retries %d", j.RunAt.Sub(t0), j.MaxRetries)
		}
		e.AdvanceUntil(time.Second, time.Minute, func() bool { return n.Load() >= 2 })
		j = e.WaitState(id, jobs.StateRetrying)
		if d := j.RunAt.Sub(e.Job(id).Errors[1].At); d != 42*time.Second {
			t.Fatalf("RetryAfter countdown = %s, want 42s", d)
		}
		e.AdvanceUntil(time.Second, 2*time.Minute, func() bool { j, _ := e.Backend.Get(ctx, id); return j.State == jobs.StateSucceeded })
		if got := e.Job(id); string(got.Result) != `"ok"` || got.Attempt != 3 {
			t.Fatalf("result %s attempt %d", got.Result, got.Attempt)
		}
	})

	each("PermanentErrorsGoDeadAtOnce", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		type payload struct {
			To string `json:"to"`
		}
		var calls atomic.Int32
		jobs.Handle(e.Reg, "email.send", jobs.KindConfig{}, func(_ context.Context, _ *jobs.Job, p payload) (any, error) {
			calls.Add(1)
			return nil, apperr.Validation("bad address", map[string]string{"to": "invalid"})
		})
		e.StartWorker("w1", nil)
		id, _ := e.Client.Enqueue(ctx, "email.send", payload{To: "x"})
		j := e.WaitState(id, jobs.StateDead)
		if j.Attempt != 1 || calls.Load() != 1 {
			t.Fatalf("validation error: attempt %d calls %d, want dead after 1", j.Attempt, calls.Load())
		}
		// A payload that does not decode is permanent too.
		bad, _ := e.Client.Enqueue(ctx, "email.send", map[string]any{"unknown": true})
		if j := e.WaitState(bad, jobs.StateDead); !strings.Contains(j.Error, "does not decode") {
			t.Fatalf("undecodable payload error = %q", j.Error)
		}
		if calls.Load() != 1 {
			t.Fatal("the handler ran for an undecodable payload")
		}
	})

	each("CancelEndsFailedSuccessKeepsResult", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		e.Reg.Register("default.cancel", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
			return nil, jobs.Cancel(errors.New("account closed"))
		}})
		e.Reg.Register("default.ok", jobs.KindConfig{Handler: func(ctx context.Context, j *jobs.Job) (any, error) {
			info, _ := jobs.InfoFrom(ctx)
			return map[string]any{"attempt": info.Attempt, "id": info.ID}, nil
		}})
		e.StartWorker("w1", nil)
		c, _ := e.Client.Enqueue(ctx, "default.cancel", nil)
		if j := e.WaitState(c, jobs.StateFailed); j.Error != "account closed" || j.ExpiresAt.Sub(j.FinishedAt) != time.Hour {
			t.Fatalf("cancelled job: %+v", j)
		}
		okID, _ := e.Client.Enqueue(ctx, "default.ok", nil)
		j := e.WaitState(okID, jobs.StateSucceeded)
		if string(j.Result) != fmt.Sprintf(`{"attempt":1,"id":%q}`, okID) || j.Worker != "w1" || j.StartedAt.IsZero() ||
			j.ExpiresAt.Sub(j.FinishedAt) != time.Hour {
			t.Fatalf("succeeded job: result %s worker %q ttl %s", j.Result, j.Worker, j.ExpiresAt.Sub(j.FinishedAt))
		}
		stats, err := e.Client.Stats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range stats {
			if s.Queue == jobs.QueueDefault && (s.Processed != 1 || s.Failed != 1) {
				t.Fatalf("default queue stats = %+v", s)
			}
		}
	})

	each("SoftTimeLimitCancelsTheContext", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		cleaned := make(chan struct{})
		e.Reg.Register("default.slow", jobs.KindConfig{SoftTimeout: 10 * time.Second, HardTimeout: 20 * time.Second, MaxRetries: jobs.NoRetries,
			Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
				<-ctx.Done()
				close(cleaned)
				return nil, ctx.Err()
			}})
		e.StartWorker("w1", nil)
		id, _ := e.Client.Enqueue(ctx, "default.slow", nil)
		e.WaitState(id, jobs.StateStarted)
		e.AdvanceUntil(time.Second, 15*time.Second, func() bool {
			select {
			case <-cleaned:
				return true
			default:
				return false
			}
		})
		j := e.WaitState(id, jobs.StateDead)
		if !strings.Contains(j.Error, "soft time limit (10s) exceeded") {
			t.Fatalf("error = %q", j.Error)
		}
	})

	each("HardTimeLimitAbandonsTheHandler", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		release := make(chan struct{})
		defer close(release)
		var calls atomic.Int32
		e.Reg.Register("default.stuck", jobs.KindConfig{SoftTimeout: 10 * time.Second, HardTimeout: 20 * time.Second,
			Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
				calls.Add(1)
				<-release // ignores its context
				return nil, nil
			}})
		e.StartWorker("w1", nil)
		id, _ := e.Client.Enqueue(ctx, "default.stuck", nil)
		e.WaitState(id, jobs.StateStarted)
		e.AdvanceUntil(time.Second, 25*time.Second, func() bool {
			j, _ := e.Backend.Get(ctx, id)
			return j.State == jobs.StateRetrying
		})
		j := e.Job(id)
		if !strings.Contains(j.Error, "hard time limit (20s) exceeded") || j.Attempt != 1 {
			t.Fatalf("after the hard limit: %q attempt %d", j.Error, j.Attempt)
		}
	})

	each("IdempotencyKeyReturnsTheFirstJob", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var calls atomic.Int32
		e.Reg.Register("email.send", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { calls.Add(1); return nil, nil }})
		e.StartWorker("w1", nil)
		a, err := e.Client.Enqueue(ctx, "email.send", 1, jobs.WithIdempotencyKey("welcome:u1"))
		if err != nil {
			t.Fatal(err)
		}
		e.WaitState(a, jobs.StateSucceeded)
		b, _ := e.Client.Enqueue(ctx, "email.send", 2, jobs.WithIdempotencyKey("welcome:u1"))
		c, _ := e.Client.Enqueue(ctx, "email.send", 3, jobs.WithIdempotencyKey("welcome:u2"))
		if a != b || a == c {
			t.Fatalf("ids %s %s %s: same key must give the first job, another key a new one", a, b, c)
		}
		e.WaitState(c, jobs.StateSucceeded)
		synctest.Wait()
		if calls.Load() != 2 {
			t.Fatalf("%d runs, want 2", calls.Load())
		}
	})

	each("EnqueueManyRunsEveryJobOnce", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var mu sync.Mutex
		runs := map[string]int{}
		e.Reg.Register("email.send", jobs.KindConfig{Handler: func(_ context.Context, j *jobs.Job) (any, error) {
			mu.Lock()
			runs[j.ID]++
			mu.Unlock()
			return nil, nil
		}})
		e.StartWorker("w1", nil)
		// An invalid request fails the call before anything is stored.
		if _, err := e.Client.EnqueueMany(ctx, []jobs.Request{{Kind: "email.send"}, {Kind: "no.such.kind"}}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("EnqueueMany with an unknown kind: %v; want Invalid", err)
		}
		if n := e.Broker.Published(); n != 0 {
			t.Fatalf("%d messages published by a refused batch", n)
		}
		fixed := uuid.NewString()
		var reqs []jobs.Request
		for i := range 20 {
			reqs = append(reqs, jobs.Request{Kind: "email.send", Payload: i})
		}
		reqs = append(reqs,
			jobs.Request{Kind: "email.send", Payload: "keyed", Options: []jobs.Option{jobs.WithIdempotencyKey("many:k")}},
			jobs.Request{Kind: "email.send", Payload: "keyed again", Options: []jobs.Option{jobs.WithIdempotencyKey("many:k")}},
			jobs.Request{Kind: "email.send", Payload: "fixed", Options: []jobs.Option{jobs.WithID(fixed)}},
			jobs.Request{Kind: "email.send", Payload: "fixed again", Options: []jobs.Option{jobs.WithID(fixed)}},
			jobs.Request{Kind: "email.send", Payload: "later", Options: []jobs.Option{jobs.WithDelay(time.Minute)}},
		)
		ids, err := e.Client.EnqueueMany(ctx, reqs)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != len(reqs) || ids[20] != ids[21] || ids[22] != fixed || ids[23] != fixed {
			t.Fatalf("ids %v: one per request, a used key or ID giving the first job", ids)
		}
		unique := map[string]bool{}
		for _, id := range ids {
			unique[id] = true
		}
		if len(unique) != 23 {
			t.Fatalf("%d distinct jobs; want 23", len(unique))
		}
		for _, id := range ids[:24] {
			e.WaitState(id, jobs.StateSucceeded)
		}
		if j := e.Job(ids[24]); j.State != jobs.StateQueued {
			t.Fatalf("the delayed job is %s before its time", j.State)
		}
		time.Sleep(2 * time.Minute)
		e.WaitState(ids[24], jobs.StateSucceeded)
		mu.Lock()
		defer mu.Unlock()
		for id := range unique {
			if runs[id] != 1 {
				t.Fatalf("job %s ran %d times", id, runs[id])
			}
		}
	})

	each("DelayedJobRunsAtItsTime", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var ranAt atomic.Int64
		e.Reg.Register("reports.build", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
			ranAt.Store(time.Now().Unix())
			return nil, nil
		}})
		e.StartWorker("w1", func(c *jobs.WorkerConfig) { c.Queues[jobs.QueueReports] = 1 })
		t0 := time.Now()
		id, _ := e.Client.Enqueue(ctx, "reports.build", nil, jobs.WithDelay(30*time.Second))
		synctest.Wait()
		if j := e.Job(id); j.State != jobs.StateQueued || ranAt.Load() != 0 {
			t.Fatalf("a delayed job ran at once (%s)", j.State)
		}
		e.AdvanceUntil(time.Second, time.Minute, func() bool { return ranAt.Load() != 0 })
		if at := time.Unix(ranAt.Load(), 0).Sub(t0); at < 30*time.Second || at > 32*time.Second {
			t.Fatalf("ran at t0+%s, want t0+30s", at)
		}
	})

	each("DuplicateMessagesRunOnce", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var calls atomic.Int32
		gate := make(chan struct{})
		e.Reg.Register("default.once", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
			calls.Add(1)
			<-gate
			return nil, nil
		}})
		e.StartWorker("w1", nil)
		id, _ := e.Client.Enqueue(ctx, "default.once", nil)
		e.WaitState(id, jobs.StateStarted)
		m := jobs.Message{JobID: id, Seq: 1, Queue: jobs.QueueDefault, Kind: "default.once"}
		_ = e.Broker.Publish(ctx, m) // while it runs
		synctest.Wait()
		close(gate)
		e.WaitState(id, jobs.StateSucceeded)
		_ = e.Broker.Publish(ctx, m) // after it finished
		stale := m
		stale.Seq = 0
		_ = e.Broker.Publish(ctx, stale)
		synctest.Wait()
		if calls.Load() != 1 {
			t.Fatalf("%d runs for one job, want 1", calls.Load())
		}
	})

	each("JobOfADeadWorkerIsTakenOver", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var calls atomic.Int32
		e.Reg.Register("default.rescued", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { calls.Add(1); return nil, nil }})
		j := NewJob("default.rescued")
		j.State, j.Attempt, j.Worker = jobs.StateStarted, 1, "ghost" // ghost never heartbeats
		_, _, _ = e.Backend.Create(ctx, j, time.Hour)
		alive := NewJob("default.rescued")
		alive.State, alive.Attempt, alive.Worker = jobs.StateStarted, 1, "alive-elsewhere"
		_, _, _ = e.Backend.Create(ctx, alive, time.Hour)
		_ = e.Backend.Heartbeat(ctx, "alive-elsewhere", time.Hour)
		e.StartWorker("w1", nil)
		_ = e.Broker.Publish(ctx, jobs.Message{JobID: j.ID, Seq: 1, Queue: jobs.QueueDefault})
		_ = e.Broker.Publish(ctx, jobs.Message{JobID: alive.ID, Seq: 1, Queue: jobs.QueueDefault})
		got := e.WaitState(j.ID, jobs.StateSucceeded)
		if got.Attempt != 2 || got.Worker != "w1" {
			t.Fatalf("taken over: attempt %d worker %s", got.Attempt, got.Worker)
		}
		synctest.Wait()
		if e.Job(alive.ID).State != jobs.StateStarted || calls.Load() != 1 {
			t.Fatalf("the job of a live worker was run again (calls %d)", calls.Load())
		}
	})

	each("ProgressIsVisible", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		gate := make(chan struct{})
		e.Reg.Register("reports.big", jobs.KindConfig{Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
			if err := jobs.Progress(ctx, map[string]int{"done": 40, "total": 100}); err != nil {
				return nil, err
			}
			<-gate
			return nil, nil
		}})
		e.StartWorker("w1", func(c *jobs.WorkerConfig) { c.Queues[jobs.QueueReports] = 1 })
		id, _ := e.Client.Enqueue(ctx, "reports.big", nil)
		j := e.WaitState(id, jobs.StateProgress)
		close(gate)
		if string(j.Progress) != `{"done":40,"total":100}` {
			t.Fatalf("progress = %s", j.Progress)
		}
		e.WaitState(id, jobs.StateSucceeded)
	})

	each("ShutdownWaitsThenAbandons", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		quick, stuck := make(chan struct{}), make(chan struct{})
		defer close(stuck)
		e.Reg.Register("default.quick", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { <-quick; return nil, nil }})
		e.Reg.Register("default.stuck", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { <-stuck; return nil, nil }})
		stop := e.StartWorker("w1", nil)
		q, _ := e.Client.Enqueue(ctx, "default.quick", nil)
		s, _ := e.Client.Enqueue(ctx, "default.stuck", nil)
		e.WaitState(q, jobs.StateStarted)
		e.WaitState(s, jobs.StateStarted)
		go func() { time.Sleep(20 * time.Millisecond); close(quick) }()
		stop() // the drain runs to the 30 s shutdown deadline
		if j := e.Job(q); j.State != jobs.StateSucceeded {
			t.Fatalf("a job that finished within the deadline is %s", j.State)
		}
		j := e.Job(s)
		if j.State != jobs.StateQueued || j.Attempt != 0 {
			t.Fatalf("abandoned job: %s attempt %d, want queued 0", j.State, j.Attempt)
		}
		if ab := e.Broker.Abandoned(); len(ab) != 1 || ab[0].JobID != s {
			t.Fatalf("abandoned messages = %+v", ab)
		}
		if alive, _ := e.Backend.Alive(ctx, "w1"); alive {
			t.Fatal("a stopped worker is still alive")
		}
	})

	each("PeriodicRunsOncePerTickWithTwoWorkers", func(t *testing.T) {
		e := NewEnv(t, newBackend)
		var mu sync.Mutex
		runs := map[string]int{}
		e.Reg.Register("maintenance.tick", jobs.KindConfig{Handler: func(ctx context.Context, j *jobs.Job) (any, error) {
			mu.Lock()
			runs[j.IdempotencyKey]++
			mu.Unlock()
			return nil, nil
		}})
		every := everyMinute{}
		p := []jobs.Periodic{{Name: "tick", Schedule: every, Kind: "maintenance.tick"}}
		stopA := e.StartWorker("a", func(c *jobs.WorkerConfig) { c.Periodic = p; c.LeaseTTL = 15 * time.Second })
		e.StartWorker("b", func(c *jobs.WorkerConfig) { c.Periodic = p; c.LeaseTTL = 15 * time.Second })
		count := func() (ticks, total int) {
			mu.Lock()
			defer mu.Unlock()
			for _, n := range runs {
				ticks++
				total += n
			}
			return
		}
		e.AdvanceUntil(5*time.Second, 10*time.Minute, func() bool { n, _ := count(); return n >= 3 })
		stopA() // whoever led, the other one goes on alone
		e.AdvanceUntil(5*time.Second, 10*time.Minute, func() bool { n, _ := count(); return n >= 6 })
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		for key, n := range runs {
			if n != 1 {
				t.Errorf("tick %s ran %d times", key, n)
			}
			if !strings.HasPrefix(key, "periodic:tick:") || !strings.HasSuffix(key, ":00Z") {
				t.Errorf("unexpected key %q", key)
			}
		}
	})
}

// everyMinute is a Schedule ticking at every whole minute.
type everyMinute struct{}

func (everyMinute) Next(t time.Time) time.Time { return t.Truncate(time.Minute).Add(time.Minute) }
