package watermill_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/testenv"
)

// waitUntil polls cond every 10 ms for up to timeout.
func waitUntil(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A consumer keeps consuming across a Redis that is killed and comes back
// empty (its consumer groups gone): it re-creates the group, the messages
// published after the restart are delivered to the same Consume call, and
// ConsumeErr reports the outage while it lasts.
func TestRedisStreamsRecoverFromARedisRestartedEmpty(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = rdb.Close() })
	b := newRedisBroker(t, rdb, "t:", "c1", nil)
	ctx := context.Background()

	got := make(chan string, 16)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Consume(cctx, jobs.QueueEmail, 4, func(_ context.Context, m jobs.Message) error { got <- m.JobID; return nil })
	}()
	defer func() { stop(); <-done }()
	deliver := func(when string) {
		t.Helper()
		id := uuid.NewString()
		if err := b.Publish(ctx, jobs.Message{JobID: id, Seq: 1, Queue: jobs.QueueEmail}); err != nil {
			t.Fatalf("%s: publish: %v", when, err)
		}
		select {
		case m := <-got:
			if m != id {
				t.Fatalf("%s: got %s, want %s", when, m, id)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: message not delivered", when)
		}
	}
	deliver("before the restart")
	if err := b.ConsumeErr(); err != nil {
		t.Fatalf("ConsumeErr while consuming: %v", err)
	}

	if err := rdb.Set(ctx, "t:marker", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	waitUntil(t, "ConsumeErr to report Redis down", 5*time.Second, func() bool { return b.ConsumeErr() != nil })
	srv.Start() // empty: no stream, no group
	if n, err := rdb.Exists(ctx, "t:marker").Result(); err != nil || n != 0 {
		t.Fatalf("the restarted Redis kept its data: %d, %v", n, err)
	}
	deliver("after the restart")
	deliver("again")
	waitUntil(t, "ConsumeErr to clear", 5*time.Second, func() bool { return b.ConsumeErr() == nil })
}

// A group deleted under a running consumer (the stream survives) is
// re-created from ID 0: a message published meanwhile is delivered.
func TestRedisStreamsRecreateADeletedGroup(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	b := newRedisBroker(t, rdb, "t:", "c1", nil)
	ctx := context.Background()
	got := make(chan string, 16)
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Consume(cctx, jobs.QueueDefault, 2, func(_ context.Context, m jobs.Message) error { got <- m.JobID; return nil })
	}()
	defer func() { stop(); <-done }()
	stream := "t:jobs:" + jobs.QueueDefault
	waitUntil(t, "the group to exist", 5*time.Second, func() bool {
		g, err := rdb.XInfoGroups(ctx, stream).Result()
		return err == nil && len(g) == 1
	})
	if err := rdb.XGroupDestroy(ctx, stream, "workers").Err(); err != nil {
		t.Fatal(err)
	}
	id := uuid.NewString()
	if err := b.Publish(ctx, jobs.Message{JobID: id, Seq: 1, Queue: jobs.QueueDefault}); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != id {
			t.Fatalf("got %s, want %s", m, id)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("message published after the group was deleted was not delivered")
	}
}

// Depth, which the API's "jobs" readiness check reads, fails when a
// queue's stream has messages but no consumer group: no worker has
// consumed since Redis lost its state.
func TestRedisStreamsDepthFailsWithoutAConsumerGroup(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	b := newRedisBroker(t, rdb, "t:", "api", nil)
	ctx := context.Background()
	if d, err := b.Depth(ctx, jobs.QueueDefault); err != nil || d != (jobs.Depth{}) {
		t.Fatalf("depth of a queue never used: %+v, %v", d, err)
	}
	if err := b.Publish(ctx, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault}); err != nil {
		t.Fatal(err)
	}
	d, err := b.Depth(ctx, jobs.QueueDefault)
	if err == nil || !strings.Contains(err.Error(), "no consumer group") || d.Pending != 1 {
		t.Fatalf("depth without a group: %+v, %v; want 1 pending and an error", d, err)
	}
	if b.ConsumeErr() != nil {
		t.Fatal("ConsumeErr without a running Consume must be nil")
	}
}
