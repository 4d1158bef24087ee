package memory_test

import (
	"context"
	"log/slog"
	"testing"
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
