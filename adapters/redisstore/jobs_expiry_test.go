package redisstore_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

// Finished jobs leave nothing behind but the running totals: the records
// expire after ResultTTL (dead letters after DeadTTL) by Redis's own TTL,
// PurgeExpired then drops their index entries, and idempotency keys expire
// with their window. Real time: Redis keeps its own clock.
func TestJobRecordsExpireAsConfigured(t *testing.T) {
	backend, c := openJobsClient(t)
	ctx := context.Background()
	const ttl, deadTTL, idem = 700 * time.Millisecond, 900 * time.Millisecond, 800 * time.Millisecond
	cfg := jobs.Config{ResultTTL: ttl, DeadTTL: deadTTL, IdempotencyWindow: idem, MaxRetries: -1}
	reg := jobs.NewRegistry()
	reg.Register("default.ok", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { return "done", nil }})
	reg.Register("default.bad", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
		return nil, jobs.Permanent(apperr.New(apperr.Invalid, "bad", "bad"))
	}})
	broker := jobstest.NewChanBroker()
	log := slog.New(slog.DiscardHandler)
	client := jobs.NewClient(cfg, reg, backend, broker, nil, log, nil)
	w, err := jobs.NewWorker(cfg, jobs.WorkerConfig{ID: "expiry-" + c.KeyPrefix(), Queues: map[string]int{jobs.QueueDefault: 4}}, reg, backend, broker, client, nil, nil, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()

	var ids []string
	for range 5 {
		id, err := client.Enqueue(ctx, "default.ok", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	keyed, err := client.Enqueue(ctx, "default.ok", nil, jobs.WithIdempotencyKey("expiry"))
	if err != nil {
		t.Fatal(err)
	}
	dead, err := client.Enqueue(ctx, "default.bad", nil)
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, keyed)
	wait := func(id string, st jobs.State) {
		t.Helper()
		// A deadline for a job that never ends, not a budget: the worker
		// runs at the host's speed.
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			j, err := backend.Get(ctx, id)
			if err == nil && j.State == st {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s not %s: %+v, %v", id, st, j, err)
			}
		}
	}
	for _, id := range ids {
		wait(id, jobs.StateSucceeded)
	}
	wait(dead, jobs.StateDead)
	cancel()
	<-done
	rdb := c.Redis()
	for _, id := range append(ids, dead) {
		left, err := rdb.PTTL(ctx, c.KeyPrefix()+"jobs:job:"+id).Result()
		limit := ttl
		if id == dead {
			limit = deadTTL
		}
		if err != nil || left <= 0 || left > limit {
			t.Fatalf("record %s: PTTL %s, %v; want in (0, %s]", id, left, err, limit)
		}
	}
	time.Sleep(deadTTL + 200*time.Millisecond)
	for _, id := range append(ids, dead) {
		if _, err := backend.Get(ctx, id); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("job %s after its TTL: %v; want NotFound", id, err)
		}
	}
	n, err := backend.PurgeExpired(ctx, time.Now())
	if err != nil || n != len(ids)+1 {
		t.Fatalf("PurgeExpired = %d, %v; want %d index entries removed", n, err, len(ids)+1)
	}
	keys, err := rdb.Keys(ctx, c.KeyPrefix()+"jobs:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if strings.Contains(k, "jobs:total:") {
			continue
		}
		// A heartbeat (such as the queue-served one) may outlive the
		// worker, but expires on its own.
		if left, err := rdb.PTTL(ctx, k).Result(); strings.Contains(k, "jobs:worker:") && err == nil && left > 0 && left <= jobs.DefaultWorkerConfig().HeartbeatTTL {
			continue
		}
		t.Errorf("key %s left behind (only the running totals and expiring heartbeats may stay)", k)
	}
	counts, _ := backend.Counts(ctx, jobs.QueueDefault)
	if counts.Processed != int64(len(ids)) || counts.Failed != 1 {
		t.Fatalf("totals %+v; want %d processed, 1 failed (kept)", counts, len(ids))
	}
}
