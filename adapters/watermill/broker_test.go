package watermill_test

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
	"github.com/tradesense/tradesense/tests/testenv"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestGoChannelBrokerContract(t *testing.T) {
	jobstest.RunBrokerContract(t, func(t *testing.T) jobs.Broker {
		b, cleanup, err := watermill.NewGoChannel(watermill.GoChannelConfig{}, discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup)
		return b
	})
}

// redisClient connects to TEST_REDIS_URL (skipping without it, failing
// under CI) and removes the test's keys at the end.
func redisClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	prefix := "test:" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func newRedisBroker(t *testing.T, rdb *redis.Client, prefix, consumer string, alive watermill.Liveness) *watermill.Broker {
	b, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{
		StreamPrefix: prefix + "jobs:", Consumer: consumer, ClaimInterval: 100 * time.Millisecond,
		MaxIdleTime: 200 * time.Millisecond, NackDelay: 50 * time.Millisecond, TrimInterval: 100 * time.Millisecond,
	}, alive, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return b
}

func TestRedisStreamsBrokerContract(t *testing.T) {
	jobstest.RunBrokerContract(t, func(t *testing.T) jobs.Broker {
		rdb, prefix := redisClient(t)
		return newRedisBroker(t, rdb, prefix, "c-"+uuid.NewString()[:8], nil)
	})
}

// A message left pending by a consumer is claimed by another one only
// once the first is dead, and acknowledged there.
func TestRedisStreamsClaimsOnlyFromDeadConsumers(t *testing.T) {
	rdb, prefix := redisClient(t)
	var aliveA atomic.Bool
	aliveA.Store(true)
	alive := func(_ context.Context, worker string) (bool, error) { return worker == "a" && aliveA.Load(), nil }
	a := newRedisBroker(t, rdb, prefix, "a", alive)
	b := newRedisBroker(t, rdb, prefix, "b", alive)
	ctx := context.Background()

	ctxA, stopA := context.WithCancel(ctx)
	abandoned := make(chan struct{})
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		_ = a.Consume(ctxA, jobs.QueueDefault, 4, func(context.Context, jobs.Message) error {
			close(abandoned)
			return jobs.ErrAbandon
		})
	}()
	time.Sleep(100 * time.Millisecond)
	id := uuid.NewString()
	if err := a.Publish(ctx, jobs.Message{JobID: id, Seq: 1, Queue: jobs.QueueDefault}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-abandoned:
	case <-time.After(5 * time.Second):
		t.Fatal("not delivered to a")
	}
	stopA()
	<-doneA

	got := make(chan string, 4)
	ctxB, stopB := context.WithCancel(ctx)
	doneB := make(chan struct{})
	go func() {
		defer close(doneB)
		_ = b.Consume(ctxB, jobs.QueueDefault, 4, func(_ context.Context, m jobs.Message) error { got <- m.JobID; return nil })
	}()
	defer func() { stopB(); <-doneB }()
	select {
	case m := <-got:
		t.Fatalf("b claimed %s from a live consumer", m)
	case <-time.After(600 * time.Millisecond):
	}
	aliveA.Store(false)
	select {
	case m := <-got:
		if m != id {
			t.Fatalf("b got %s, want %s", m, id)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a dead consumer's message was not claimed")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, err := b.Depth(ctx, jobs.QueueDefault)
		if err != nil {
			t.Fatal(err)
		}
		if d.InFlight == 0 && d.Pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("claimed message not acknowledged: %+v", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Messages published before the consumer starts are read in batches and
// all delivered once, never more than the concurrency at a time.
func TestRedisStreamsBacklogIsDeliveredOnce(t *testing.T) {
	rdb, prefix := redisClient(t)
	b := newRedisBroker(t, rdb, prefix, "c", nil)
	ctx := context.Background()
	const n, conc = 300, 8
	for range n {
		if err := b.Publish(ctx, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault}); err != nil {
			t.Fatal(err)
		}
	}
	var seen sync.Map
	var cur, peak, total atomic.Int32
	cctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Consume(cctx, jobs.QueueDefault, conc, func(_ context.Context, m jobs.Message) error {
			c := cur.Add(1)
			for p := peak.Load(); c > p && !peak.CompareAndSwap(p, c); p = peak.Load() {
			}
			if _, dup := seen.LoadOrStore(m.JobID, true); dup {
				t.Errorf("%s delivered twice", m.JobID)
			}
			time.Sleep(time.Millisecond)
			cur.Add(-1)
			total.Add(1)
			return nil
		})
	}()
	deadline := time.Now().Add(20 * time.Second)
	for total.Load() < n && time.Now().Before(deadline) {
		d, _ := b.Depth(ctx, jobs.QueueDefault)
		if d.InFlight > conc {
			t.Errorf("%d messages held by a consumer of concurrency %d", d.InFlight, conc)
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Every acknowledgement reaches Redis while the consumer runs on
	// (most travel with the next read, the last ones without one).
	waitUntil(t, "no message pending", 5*time.Second, func() bool {
		d, err := b.Depth(ctx, jobs.QueueDefault)
		return err == nil && d.InFlight == 0
	})
	stop()
	<-done
	if total.Load() != n || peak.Load() > conc {
		t.Fatalf("delivered %d of %d, peak concurrency %d (max %d)", total.Load(), n, peak.Load(), conc)
	}
}

// A message handled while the reader waits in a blocking XREADGROUP (the
// stream is empty, no read is coming to carry the acknowledgement) is
// acknowledged at once, not after the read's BlockTime.
func TestRedisStreamsAcknowledgeDuringABlockingRead(t *testing.T) {
	rdb, prefix := redisClient(t)
	const block = 5 * time.Second
	b, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:", Consumer: "c", BlockTime: block}, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	ctx, stop := context.WithCancel(context.Background())
	handled := make(chan time.Time, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = b.Consume(ctx, jobs.QueueDefault, 4, func(context.Context, jobs.Message) error {
			// Handled after the reader went back to its (blocking) read.
			time.Sleep(300 * time.Millisecond)
			handled <- time.Now()
			return nil
		})
	}()
	defer func() { stop(); <-done }()
	time.Sleep(200 * time.Millisecond) // the group exists, the reader blocks
	if err := b.Publish(ctx, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault}); err != nil {
		t.Fatal(err)
	}
	at := <-handled
	waitUntil(t, "the message acknowledged", block/2, func() bool {
		d, err := b.Depth(ctx, jobs.QueueDefault)
		return err == nil && d.InFlight == 0
	})
	t.Logf("acknowledged %v after the handler returned", time.Since(at).Round(time.Millisecond))
}

// TestRedisStreamsLeaveTheClientOpen: the broker's cleanup does not close
// the client it was given; its owner (redisstore's cleanup) closes it,
// once. watermill's publisher closed it, so the owner's close warned
// "redis: close … client is closed" on every shutdown (issue 11 item 8).
func TestRedisStreamsLeaveTheClientOpen(t *testing.T) {
	rdb, prefix := redisClient(t)
	_, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:"}, nil, discard())
	if err != nil {
		t.Fatal(err)
	}
	cleanup()
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("the broker's cleanup closed the shared client: %v", err)
	}
}
