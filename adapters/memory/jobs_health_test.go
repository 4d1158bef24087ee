package memory_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

// beatsFailing is a backend whose heartbeats can be made to fail, as
// when the store is unreachable from this worker.
type beatsFailing struct {
	jobs.Backend
	fail atomic.Bool
}

func (b *beatsFailing) Heartbeat(ctx context.Context, worker string, ttl time.Duration) error {
	if b.fail.Load() && ttl > 0 {
		return errors.New("store unreachable")
	}
	return b.Backend.Heartbeat(ctx, worker, ttl)
}

func TestJobsReadinessFollowsTheWorkerHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		backend := &beatsFailing{Backend: memory.NewJobs()}
		broker := jobstest.NewChanBroker()
		reg := jobs.NewRegistry()
		log := slog.New(slog.DiscardHandler)
		client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
		w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "w1", Queues: map[string]int{jobs.QueueDefault: 1},
			HeartbeatInterval: time.Second, HeartbeatTTL: 3 * time.Second, ShutdownTimeout: time.Second}, reg, backend, broker, client, nil, nil, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		check := w.Health()
		if check.Name != "jobs_worker" || !check.Required {
			t.Fatalf("registration = %+v", check)
		}
		details, err := check.Check.Check(ctx)
		if err != nil || details["worker_running"] != false {
			t.Fatalf("before Run: %v, %v; want up, worker not running", details, err)
		}

		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(runCtx) }()
		synctest.Wait()
		if details, err = check.Check.Check(ctx); err != nil || details["worker_running"] != true {
			t.Fatalf("worker never reported running: %v, %v", details, err)
		}
		// Failing heartbeats turn readiness down once the last stored one
		// is older than the TTL.
		backend.fail.Store(true)
		for i := 0; ; i++ {
			time.Sleep(time.Second)
			synctest.Wait()
			if _, err = check.Check.Check(ctx); err != nil {
				break
			}
			if i > 200 {
				t.Fatal("readiness stayed up while heartbeats failed")
			}
		}
		if !strings.Contains(err.Error(), "heartbeat") {
			t.Fatalf("error %q does not name the heartbeat", err)
		}
		backend.fail.Store(false)
		for i := 0; ; i++ {
			time.Sleep(time.Second)
			synctest.Wait()
			if _, err = check.Check.Check(ctx); err == nil {
				break
			}
			if i > 200 {
				t.Fatalf("readiness did not recover: %v", err)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if details, err := check.Check.Check(ctx); err != nil || details["worker_running"] != false {
			t.Fatalf("after Run: %v, %v", details, err)
		}
	})
}

// TestConsumersCheckNamesAQueueWithoutAWorker: an API that enqueues
// without running the worker (REDIS_URL, no embedded worker) reports "no
// live worker for queue email" until a worker serving email heartbeats, and
// again once that worker has stopped for longer than its heartbeat TTL
// (issue 11 item 8: mail used to stop silently).
func TestConsumersCheckNamesAQueueWithoutAWorker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		backend := memory.NewJobs()
		broker := jobstest.NewChanBroker()
		reg := jobs.NewRegistry()
		log := slog.New(slog.DiscardHandler)
		client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
		check := client.ConsumersHealth([]string{jobs.QueueDefault, jobs.QueueEmail})
		if check.Name != "jobs_consumers" || check.Required {
			t.Fatalf("registration = %+v", check)
		}
		_, err := check.Check.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "no live worker for queue default, email") {
			t.Fatalf("no worker at all: %v", err)
		}
		// A worker for the default queue only: email is still unserved.
		w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "w1", Queues: map[string]int{jobs.QueueDefault: 1},
			HeartbeatInterval: time.Second, HeartbeatTTL: 3 * time.Second, ShutdownTimeout: time.Second}, reg, backend, broker, client, nil, nil, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- w.Run(runCtx) }()
		synctest.Wait()
		time.Sleep(10 * time.Second) // heartbeats keep the queue served
		synctest.Wait()
		if _, err := check.Check.Check(ctx); err == nil || !strings.Contains(err.Error(), "no live worker for queue email") || strings.Contains(err.Error(), "default") {
			t.Fatalf("default served, email not: %v", err)
		}
		if missing, err := client.Unserved(ctx, []string{jobs.QueueDefault}); err != nil || len(missing) != 0 {
			t.Fatalf("default reported unserved: %v %v", missing, err)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second) // past the TTL of its last heartbeat
		if missing, _ := client.Unserved(ctx, []string{jobs.QueueDefault}); len(missing) != 1 {
			t.Fatalf("a stopped worker still serves: %v", missing)
		}
	})
}
