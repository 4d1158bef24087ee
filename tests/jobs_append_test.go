package tests

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// On one Redis the enqueue stores the record and appends its message in
// one script (jobs.StreamAppender): a stored job has exactly one message,
// a repeated ID or idempotency key and a delayed job append none, and the
// worker runs what was appended.
func TestJobsEnqueueAppendsTheMessageInTheStoreWrite(t *testing.T) {
	url := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	ctx := context.Background()
	prefix := "append:" + uuid.NewString()[:8] + ":"
	stream := prefix + "jobs:stream:" + jobs.QueueDefault
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		for chunk := range slices.Chunk(keys, 1000) {
			rdb.Del(ctx, chunk...)
		}
		if left, err := rdb.Keys(ctx, prefix+"*").Result(); err != nil || len(left) > 0 {
			t.Errorf("the test left %d keys under %s (%v)", len(left), prefix, err)
		}
		_ = rdb.Close()
	})
	log := slog.New(slog.DiscardHandler)
	backend := redisstore.NewJobsOn(rdb, prefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:stream:", Consumer: "append-w"}, backend.Alive, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	// The broker publishes nothing itself on this path: a broker on
	// another client would (its StreamTarget differs).
	var _ jobs.StreamAppender = backend
	var _ jobs.StreamEncoder = broker
	if backend.StreamTarget() != broker.StreamTarget() {
		t.Fatal("the store and the broker on one client name different targets")
	}
	reg := jobs.NewRegistry()
	ran := make(chan string, 100)
	reg.Register("default.echo", jobs.KindConfig{Handler: func(_ context.Context, j *jobs.Job) (any, error) {
		ran <- j.ID
		return nil, nil
	}})
	// A confidential kind (its payload may hold sign-in or reset links):
	// its messages never carry the record.
	reg.Register("default.secret", jobs.KindConfig{Confidential: true, Handler: func(context.Context, *jobs.Job) (any, error) {
		return nil, nil
	}})
	// As wire composes it: the Client gets the backend wrapped by
	// PublishEvents, which must keep the one-write enqueue.
	hub := realtimetest.NewHub()
	hinted := &recordCounter{Jobs: backend}
	wrapped := jobs.PublishEvents(hinted, hub, log)
	counted := &countingBroker{Broker: broker}
	client := jobs.NewClient(jobs.Config{}, reg, wrapped, counted, nil, log, nil)
	published := func(want int64) {
		t.Helper()
		if n := counted.n.Load(); n != want {
			t.Fatalf("the broker published %d messages itself, want %d (the store appends the others)", n, want)
		}
	}

	xlen := func() int64 {
		n, err := rdb.XLen(ctx, stream).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			t.Fatal(err)
		}
		return n
	}
	id := uuid.NewString()
	if got, err := client.Enqueue(ctx, "default.echo", map[string]int{"n": 1}, jobs.WithID(id)); err != nil || got != id {
		t.Fatalf("Enqueue: %s, %v", got, err)
	}
	if n := xlen(); n != 1 {
		t.Fatalf("%d messages after one enqueue, want 1", n)
	}
	published(0)
	// The same ID again: the job exists and is queued and due, so Enqueue
	// publishes it again (the worker drops the duplicate), as without the
	// shared write; the script itself appended nothing.
	if _, err := client.Enqueue(ctx, "default.echo", nil, jobs.WithID(id)); err != nil {
		t.Fatal(err)
	}
	if n := xlen(); n != 2 {
		t.Fatalf("%d messages after a repeated ID, want 2 (one republish)", n)
	}
	published(1)
	if _, err := client.Enqueue(ctx, "default.echo", nil, jobs.WithDelay(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := xlen(); n != 2 {
		t.Fatalf("a delayed job appended a message: %d", n)
	}
	ids, err := client.EnqueueMany(ctx, []jobs.Request{
		{Kind: "default.echo"}, {Kind: "default.echo", Options: []jobs.Option{jobs.WithDelay(time.Hour)}}, {Kind: "default.echo"},
	})
	if err != nil || len(ids) != 3 {
		t.Fatalf("EnqueueMany: %v, %v", ids, err)
	}
	if n := xlen(); n != 4 {
		t.Fatalf("%d messages after EnqueueMany of two due jobs, want 4", n)
	}
	published(1)
	// The message carries the stored seq: the worker runs each due job
	// once and drops the duplicate.
	w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "append-w", Queues: map[string]int{jobs.QueueDefault: 4}}, reg, wrapped, broker, client, nil, nil, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = w.Run(wctx); close(done) }()
	defer func() { cancel(); <-done }()
	want := map[string]bool{id: true, ids[0]: true, ids[2]: true}
	got := map[string]int{}
	deadline := time.After(10 * time.Second)
	for len(got) < len(want) {
		select {
		case r := <-ran:
			got[r]++
		case <-deadline:
			t.Fatalf("ran %v, want %v", got, want)
		}
	}
	for _, j := range []string{id, ids[0], ids[2]} {
		if err := waitState(ctx, backend, j, jobs.StateSucceeded); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-ran:
		t.Fatalf("%s ran again", r)
	case <-time.After(300 * time.Millisecond):
	}
	for r, n := range got {
		if !want[r] || n != 1 {
			t.Fatalf("ran %v, want each of %v once", got, want)
		}
	}
	// Each appended message carried its record, and the worker started
	// its job from it (no read first). The job enqueued twice has a
	// republished message too, which carries none; whichever of its two
	// came first was run, and the other dropped as a duplicate.
	for _, j := range []string{ids[0], ids[2]} {
		if !hinted.has(j) {
			t.Fatalf("job %s (only an appended message) was not started from the record its message carried", j)
		}
	}
	// Confidential jobs, single and batched: appended, without the record.
	before := xlen()
	secret := map[string]string{"link": "https://app.example/reset?token=very-secret-token"}
	if _, err := client.Enqueue(ctx, "default.secret", secret); err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnqueueMany(ctx, []jobs.Request{{Kind: "default.secret", Payload: secret}, {Kind: "default.secret", Payload: secret}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := rdb.XRange(ctx, stream, "-", "+").Result()
	if err != nil || int64(len(msgs)) < before+3 {
		t.Fatalf("stream: %d messages after 3 confidential enqueues (had %d), %v", len(msgs), before, err)
	}
	for _, m := range msgs {
		for k, v := range m.Values {
			if str, _ := v.(string); strings.Contains(str, "very-secret-token") {
				t.Fatalf("message %s field %s carries a confidential job's payload", m.ID, k)
			}
		}
	}
}

// recordCounter records the jobs whose update began from a record a
// message carried.
type recordCounter struct {
	*redisstore.Jobs
	mu  sync.Mutex
	ids map[string]bool
}

func (r *recordCounter) UpdateFromRecord(ctx context.Context, id, record string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	if record != "" {
		r.mu.Lock()
		if r.ids == nil {
			r.ids = map[string]bool{}
		}
		r.ids[id] = true
		r.mu.Unlock()
	}
	return r.Jobs.UpdateFromRecord(ctx, id, record, fn)
}

func (r *recordCounter) has(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ids[id]
}

// countingBroker counts the messages the broker publishes itself.
type countingBroker struct {
	*watermill.Broker
	n atomic.Int64
}

func (b *countingBroker) Publish(ctx context.Context, m jobs.Message) error {
	b.n.Add(1)
	return b.Broker.Publish(ctx, m)
}

func (b *countingBroker) PublishMany(ctx context.Context, ms []jobs.Message) error {
	b.n.Add(int64(len(ms)))
	return b.Broker.PublishMany(ctx, ms)
}

func waitState(ctx context.Context, s jobs.Store, id string, st jobs.State) error {
	var last *jobs.Job
	for range 500 {
		j, err := s.Get(ctx, id)
		if err != nil {
			return err
		}
		if j.State == st {
			return nil
		}
		last = j
		time.Sleep(10 * time.Millisecond)
	}
	return &stateError{id: id, want: st, got: last.State}
}

type stateError struct {
	id        string
	want, got jobs.State
}

func (e *stateError) Error() string {
	return "job " + e.id + " is " + string(e.got) + ", want " + string(e.want)
}
