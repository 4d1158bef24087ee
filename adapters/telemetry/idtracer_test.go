package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

func noExporter(t *testing.T, ratio float64) trace.Tracer {
	t.Helper()
	tp, cleanup, err := NewTracerProvider(context.Background(), Config{ServiceName: "t", SampleRatio: ratio}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return tp.Tracer("t")
}

func TestSpansWithoutAnExporterCarryIDsAndTheSamplingDecision(t *testing.T) {
	tr := noExporter(t, 1)
	ctx, root := tr.Start(context.Background(), "root")
	rsc := root.SpanContext()
	if !rsc.IsValid() || !rsc.IsSampled() || root.IsRecording() {
		t.Fatalf("root: %+v sampled %v recording %v; want valid IDs, sampled (ratio 1), not recording", rsc, rsc.IsSampled(), root.IsRecording())
	}
	_, child := tr.Start(ctx, "child")
	csc := child.SpanContext()
	if csc.TraceID() != rsc.TraceID() || csc.SpanID() == rsc.SpanID() || !csc.IsSampled() {
		t.Fatalf("child %v of %v: want the parent's trace ID, its own span ID, sampled", csc, rsc)
	}
	if trace.SpanFromContext(ctx) != root || child.TracerProvider() == nil {
		t.Fatal("the span is not in its context, or has no provider")
	}
	_, other := tr.Start(ctx, "new root", trace.WithNewRoot())
	if other.SpanContext().TraceID() == rsc.TraceID() {
		t.Fatal("WithNewRoot kept the parent's trace")
	}

	// What the process propagates is what the SDK would propagate.
	h := http.Header{}
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(h))
	want := "00-" + rsc.TraceID().String() + "-" + rsc.SpanID().String() + "-01"
	if got := h.Get("traceparent"); got != want {
		t.Fatalf("traceparent %q, want %q", got, want)
	}
}

func TestSpansWithoutAnExporterFollowTheSampler(t *testing.T) {
	never := noExporter(t, 0)
	_, s := never.Start(context.Background(), "root")
	if !s.SpanContext().IsValid() || s.SpanContext().IsSampled() {
		t.Fatalf("ratio 0: %v, want valid IDs, not sampled", s.SpanContext())
	}
	// A sampled remote parent is followed (parent-based), ratio or not.
	h := http.Header{"Traceparent": {"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}
	ctx := propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	_, c := never.Start(ctx, "server")
	if c.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || !c.SpanContext().IsSampled() {
		t.Fatalf("child of a sampled remote parent: %v", c.SpanContext())
	}
	h.Set("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
	ctx = propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))
	if _, c := noExporter(t, 1).Start(ctx, "server"); c.SpanContext().IsSampled() {
		t.Fatal("child of an unsampled remote parent was sampled")
	}
}
