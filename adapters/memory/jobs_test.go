package memory_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

func TestJobsBackendContract(t *testing.T) {
	jobstest.RunBackendContract(t, func(t *testing.T) jobs.Backend { return memory.NewJobs() })
}

func TestJobsWorkerSuite(t *testing.T) {
	jobstest.RunWorkerSuite(t, func(t *testing.T) jobs.Backend { return memory.NewJobs() })
}

// TestJobSpanJoinsTheEnqueuingTrace: the attempt's span is a child of the
// span that enqueued the job, through the trace context stored with it.
func TestJobSpanJoinsTheEnqueuingTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop := propagation.TraceContext{}
	backend, broker, reg := memory.NewJobs(), jobstest.NewChanBroker(), jobs.NewRegistry()
	done := make(chan struct{})
	reg.Register("default.traced", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { close(done); return nil, nil }})
	log := slog.New(slog.DiscardHandler)
	client := jobs.NewClient(jobs.Config{}, reg, backend, broker, prop, log, nil)
	w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "w", Queues: map[string]int{jobs.QueueDefault: 1}}, reg, backend, broker, client, prop, tp, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = w.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()

	reqCtx, span := tp.Tracer("test").Start(context.Background(), "POST /api/v1/things")
	if _, err := client.Enqueue(reqCtx, "default.traced", nil); err != nil {
		t.Fatal(err)
	}
	span.End()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("job did not run")
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range rec.Ended() {
			if s.Name() == "job default.traced" {
				if s.SpanContext().TraceID() != span.SpanContext().TraceID() || s.Parent().SpanID() != span.SpanContext().SpanID() {
					t.Fatalf("job span trace %s parent %s; want trace %s parent %s", s.SpanContext().TraceID(), s.Parent().SpanID(),
						span.SpanContext().TraceID(), span.SpanContext().SpanID())
				}
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("no job span recorded")
}

func TestJobsSharedBackendContract(t *testing.T) {
	jobstest.RunSharedBackendContract(t, func(t *testing.T) (jobs.Backend, jobs.Backend) {
		b := memory.NewJobs()
		return b, b
	})
}

// RunUnder (the worker program's lifecycle): at the stop the probes turn
// "not ready" at once and keep answering while a running job drains; the
// probe server stops only after the job finished and the worker returned.
func TestRunUnderKeepsProbesUpWhileTheWorkerDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		backend, broker, reg := memory.NewJobs(), jobstest.NewChanBroker(), jobs.NewRegistry()
		started := make(chan struct{})
		reg.Register("default.slow", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
			close(started)
			time.Sleep(10 * time.Second)
			return nil, nil
		}})
		log := slog.New(slog.DiscardHandler)
		client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
		w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "w", Queues: map[string]int{jobs.QueueDefault: 1}, ShutdownTimeout: time.Minute},
			reg, backend, broker, client, nil, nil, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		var serveStoppedAt time.Time
		drained := make(chan time.Time, 1)
		serve := func(ctx context.Context) error { <-ctx.Done(); serveStoppedAt = time.Now(); return nil }
		draining := func() { drained <- time.Now() }
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- jobs.RunUnder(ctx, serve, draining, w) }()
		id, err := client.Enqueue(context.Background(), "default.slow", nil)
		if err != nil {
			t.Fatal(err)
		}
		<-started
		stopAt := time.Now()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		j, err := backend.Get(context.Background(), id)
		if err != nil || j.State != jobs.StateSucceeded {
			t.Fatalf("the running job after the drain: %+v %v", j, err)
		}
		drainingAt := <-drained
		if !drainingAt.Equal(stopAt) {
			t.Fatalf("readiness turned at %s, %s after the stop", drainingAt, drainingAt.Sub(stopAt))
		}
		if got := serveStoppedAt.Sub(stopAt); got < 10*time.Second-time.Second {
			t.Fatalf("the probe server stopped %s after the stop, before the running job (10s) finished", got)
		}
	})
}

// A probe server that cannot start stops the worker.
func TestRunUnderStopsTheWorkerWhenTheServerFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		backend, broker, reg := memory.NewJobs(), jobstest.NewChanBroker(), jobs.NewRegistry()
		log := slog.New(slog.DiscardHandler)
		client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
		w, err := jobs.NewWorker(jobs.Config{}, jobs.WorkerConfig{ID: "w", Queues: map[string]int{jobs.QueueDefault: 1}}, reg, backend, broker, client, nil, nil, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		boom := errors.New("listen: address in use")
		err = jobs.RunUnder(context.Background(), func(context.Context) error { return boom }, func() {}, w)
		if !errors.Is(err, boom) {
			t.Fatalf("RunUnder = %v; want the server's error", err)
		}
	})
}
