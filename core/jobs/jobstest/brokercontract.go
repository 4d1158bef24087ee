package jobstest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/jobs"
)

// RunBrokerContract runs the jobs.Broker contract against the brokers made
// by newBroker, one per subtest.
func RunBrokerContract(t *testing.T, newBroker func(t *testing.T) jobs.Broker) {
	t.Run("DeliversWithMetadataAndAcks", func(t *testing.T) {
		b := newBroker(t)
		got := make(chan jobs.Message, 10)
		stop := consume(t, b, jobs.QueueEmail, 2, func(_ context.Context, m jobs.Message) error { got <- m; return nil })
		defer stop()
		want := jobs.Message{JobID: uuid.NewString(), Seq: 3, Queue: jobs.QueueEmail, Kind: "email.send",
			Metadata: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}
		publishSoon(t, b, want)
		select {
		case m := <-got:
			if m.JobID != want.JobID || m.Seq != 3 || m.Kind != "email.send" || m.Queue != jobs.QueueEmail || m.Metadata["traceparent"] != want.Metadata["traceparent"] {
				t.Fatalf("got %+v, want %+v", m, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("message not delivered")
		}
		select {
		case m := <-got:
			t.Fatalf("an acknowledged message came again: %+v", m)
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("PublishManyDeliversEveryMessageOnce", func(t *testing.T) {
		b := newBroker(t)
		got := make(chan jobs.Message, 100)
		stopE := consume(t, b, jobs.QueueEmail, 4, func(_ context.Context, m jobs.Message) error { got <- m; return nil })
		defer stopE()
		stopD := consume(t, b, jobs.QueueDefault, 4, func(_ context.Context, m jobs.Message) error { got <- m; return nil })
		defer stopD()
		time.Sleep(50 * time.Millisecond)
		var ms []jobs.Message
		for i := range 40 {
			q, k := jobs.QueueEmail, "email.send"
			if i%3 == 0 {
				q, k = jobs.QueueDefault, "default.x"
			}
			ms = append(ms, jobs.Message{JobID: uuid.NewString(), Seq: i + 1, Queue: q, Kind: k, Metadata: map[string]string{"n": strconv.Itoa(i)}})
		}
		if err := b.PublishMany(context.Background(), ms); err != nil {
			t.Fatal(err)
		}
		if err := b.PublishMany(context.Background(), nil); err != nil {
			t.Fatalf("PublishMany(nil): %v", err)
		}
		seen := map[string]jobs.Message{}
		for range ms {
			select {
			case m := <-got:
				if _, dup := seen[m.JobID]; dup {
					t.Fatalf("delivered twice: %+v", m)
				}
				seen[m.JobID] = m
			case <-time.After(10 * time.Second):
				t.Fatalf("delivered %d of %d", len(seen), len(ms))
			}
		}
		for _, m := range ms {
			g, ok := seen[m.JobID]
			if !ok || g.Seq != m.Seq || g.Queue != m.Queue || g.Kind != m.Kind || g.Metadata["n"] != m.Metadata["n"] {
				t.Fatalf("got %+v; want %+v", g, m)
			}
		}
		select {
		case m := <-got:
			t.Fatalf("an extra message: %+v", m)
		case <-time.After(200 * time.Millisecond):
		}
	})

	t.Run("QueuesAreSeparate", func(t *testing.T) {
		b := newBroker(t)
		var wrong atomic.Int32
		stop := consume(t, b, jobs.QueueReports, 1, func(_ context.Context, m jobs.Message) error {
			if m.Queue != jobs.QueueReports {
				wrong.Add(1)
			}
			return nil
		})
		defer stop()
		publishSoon(t, b, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault})
		time.Sleep(200 * time.Millisecond)
		if wrong.Load() != 0 {
			t.Fatal("a reports consumer got a default message")
		}
	})

	t.Run("ErrorRedelivers", func(t *testing.T) {
		b := newBroker(t)
		var calls atomic.Int32
		done := make(chan struct{})
		stop := consume(t, b, jobs.QueueDefault, 1, func(context.Context, jobs.Message) error {
			if calls.Add(1) == 1 {
				return errors.New("store down")
			}
			close(done)
			return nil
		})
		defer stop()
		publishSoon(t, b, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault})
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("not redelivered after an error (%d calls)", calls.Load())
		}
	})

	t.Run("ConcurrencyIsBounded", func(t *testing.T) {
		b := newBroker(t)
		var cur, peak, total atomic.Int32
		release := make(chan struct{})
		stop := consume(t, b, jobs.QueueDefault, 3, func(context.Context, jobs.Message) error {
			n := cur.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			<-release
			cur.Add(-1)
			total.Add(1)
			return nil
		})
		defer stop()
		for range 10 {
			publishSoon(t, b, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault})
		}
		deadline := time.Now().Add(10 * time.Second)
		for cur.Load() < 3 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(100 * time.Millisecond)
		d, err := b.Depth(context.Background(), jobs.QueueDefault)
		if err != nil {
			t.Fatal(err)
		}
		if d.InFlight < 3 || d.Pending < 1 || d.Pending+d.InFlight > 10 {
			t.Errorf("depth with 3 running and 7 waiting = %+v", d)
		}
		close(release)
		for total.Load() < 10 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if total.Load() != 10 || peak.Load() != 3 {
			t.Fatalf("handled %d, peak concurrency %d; want 10 and 3", total.Load(), peak.Load())
		}
	})

	t.Run("StopWaitsForRunningHandlers", func(t *testing.T) {
		b := newBroker(t)
		started, release := make(chan struct{}), make(chan struct{})
		var finished atomic.Bool
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- b.Consume(ctx, jobs.QueueDefault, 2, func(hctx context.Context, _ jobs.Message) error {
				close(started)
				<-release
				if hctx.Err() != nil {
					t.Error("the handler's context was cancelled with Consume's")
				}
				finished.Store(true)
				return nil
			})
		}()
		publishSoon(t, b, jobs.Message{JobID: uuid.NewString(), Seq: 1, Queue: jobs.QueueDefault})
		select {
		case <-started:
		case <-time.After(10 * time.Second):
			t.Fatal("not delivered")
		}
		cancel()
		select {
		case <-done:
			t.Fatal("Consume returned while a handler ran")
		case <-time.After(150 * time.Millisecond):
		}
		close(release)
		select {
		case err := <-done:
			if err != nil || !finished.Load() {
				t.Fatalf("Consume = %v, finished %v", err, finished.Load())
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Consume did not return after its handlers")
		}
		d, _ := b.Depth(context.Background(), jobs.QueueDefault)
		if d.InFlight != 0 {
			t.Fatalf("in flight after a clean stop: %+v (the ack was lost)", d)
		}
	})
}

// consume runs Consume in the background until stop.
func consume(t *testing.T, b jobs.Broker, queue string, n int, h func(context.Context, jobs.Message) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Consume(ctx, queue, n, h); err != nil {
			t.Errorf("Consume: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Consume did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// publishSoon publishes after the consumer had a moment to subscribe (an
// in-process transport drops messages nobody subscribed to yet).
func publishSoon(t *testing.T, b jobs.Broker, m jobs.Message) {
	t.Helper()
	time.Sleep(50 * time.Millisecond)
	if err := b.Publish(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}
