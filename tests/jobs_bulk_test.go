package tests

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
)

// recordingSender counts deliveries per recipient.
type recordingSender struct {
	mu   sync.Mutex
	sent map[string]int
	n    atomic.Int64
}

func (s *recordingSender) Send(_ context.Context, m notifications.Message) error {
	s.mu.Lock()
	s.sent[m.To]++
	s.mu.Unlock()
	s.n.Add(1)
	return nil
}

// flakyEnqueuer fails once, after failAfter successful enqueues, to force
// a retry of the fan-out halfway through.
type flakyEnqueuer struct {
	notifications.Enqueuer
	failAfter int64
	calls     atomic.Int64
	failed    atomic.Bool
}

func (f *flakyEnqueuer) Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error) {
	if kind == notifications.KindSend && f.calls.Add(1) == f.failAfter && f.failed.CompareAndSwap(false, true) {
		return "", apperr.New(apperr.Unavailable, jobs.CodeBrokerDown, "forced failure")
	}
	return f.Enqueuer.Enqueue(ctx, kind, payload, opts...)
}

// EnqueueMany fails the batch that crosses failAfter sends, once.
func (f *flakyEnqueuer) EnqueueMany(ctx context.Context, reqs []jobs.Request) ([]string, error) {
	before := f.calls.Add(int64(len(reqs))) - int64(len(reqs))
	if before < f.failAfter && before+int64(len(reqs)) >= f.failAfter && f.failed.CompareAndSwap(false, true) {
		return nil, apperr.New(apperr.Unavailable, jobs.CodeBrokerDown, "forced failure")
	}
	return f.Enqueuer.EnqueueMany(ctx, reqs)
}

// TestBulkEmailFansOutOncePerRecipient: 10,000 recipients give 10,000
// sends, none twice, although the fan-out fails halfway and is retried.
func TestBulkEmailFansOutOncePerRecipient(t *testing.T) {
	const n = 10000
	log := slog.New(slog.DiscardHandler)
	backend := memory.NewJobs()
	broker, cleanup, err := watermill.NewGoChannel(watermill.GoChannelConfig{Buffer: 4096}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	reg := jobs.NewRegistry()
	cfg := jobs.Config{Backoff: jobs.LinearBackoff(50 * time.Millisecond), Jitter: jobs.NoJitter}
	client := jobs.NewClient(cfg, reg, backend, broker, nil, log, nil)
	tpl, err := notifications.DefaultTemplates()
	if err != nil {
		t.Fatal(err)
	}
	sender := &recordingSender{sent: map[string]int{}}
	flaky := &flakyEnqueuer{Enqueuer: client, failAfter: n / 2}
	svc := notifications.NewService(notifications.Config{}, tpl, flaky, backend, sender, log)
	svc.Register(reg)
	// A probe on the email queue tells when the worker consumes it: the
	// in-process broker drops what is published before a subscriber
	// exists (the job would only be republished an hour later).
	probed := make(chan struct{}, 1)
	reg.Register("email.test_probe", jobs.KindConfig{Queue: jobs.QueueEmail, Handler: func(context.Context, *jobs.Job) (any, error) {
		select {
		case probed <- struct{}{}:
		default:
		}
		return nil, nil
	}})
	w, err := jobs.NewWorker(cfg, jobs.WorkerConfig{ID: "bulk-test", Queues: map[string]int{jobs.QueueEmail: 16}, PollInterval: 20 * time.Millisecond}, reg, backend, broker, client, nil, nil, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	subscribed := time.Now().Add(60 * time.Second)
	for waiting := true; waiting; {
		if _, err := client.Enqueue(context.Background(), "email.test_probe", struct{}{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-probed:
			waiting = false
		case <-time.After(100 * time.Millisecond):
			if time.Now().After(subscribed) {
				t.Fatal("the worker did not consume the email queue within 60 s")
			}
		}
	}

	recipients := make([]string, n)
	for i := range recipients {
		recipients[i] = fmt.Sprintf("trader%05d@example.com", i)
	}
	id, err := svc.SendBulk(context.Background(), notifications.Bulk{Recipients: recipients, Subject: "Release notes", Body: "New reports are live."})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for sender.n.Load() < n || !isState(backend, id, jobs.StateSucceeded) {
		if time.Now().After(deadline) {
			j, _ := backend.Get(context.Background(), id)
			t.Fatalf("after 90s: %d sends, bulk job %+v", sender.n.Load(), j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // any duplicate would arrive now
	bulk, _ := backend.Get(context.Background(), id)
	if !flaky.failed.Load() || bulk.Attempt != 2 {
		t.Fatalf("the fan-out was not retried (attempt %d)", bulk.Attempt)
	}
	sender.mu.Lock()
	defer sender.mu.Unlock()
	if len(sender.sent) != n || sender.n.Load() != n {
		t.Fatalf("%d sends to %d recipients, want %d each", sender.n.Load(), len(sender.sent), n)
	}
	for to, c := range sender.sent {
		if c != 1 {
			t.Fatalf("%s got %d emails", to, c)
		}
	}
}

func isState(b jobs.Store, id string, s jobs.State) bool {
	j, err := b.Get(context.Background(), id)
	return err == nil && j.State == s
}
