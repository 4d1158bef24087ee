package telemetry

import (
	"context"
	"encoding/binary"
	"math/rand/v2"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// idProvider is the tracer provider of a process that exports no spans
// (no OTEL_EXPORTER_OTLP_ENDPOINT). The SDK provider would record every
// sampled span, attributes and all, and drop it at End, as it has no span
// processor: a few microseconds and a dozen allocations per request for
// nothing (docs/benchmarks.md, #18 item 3). Its spans carry what is
// observable without an exporter, exactly as the SDK's would: a new span
// ID under the parent's trace ID (a new trace ID for a root), the
// sampling decision of the configured sampler in the trace flags (so what
// this process propagates to jobs and other services is unchanged) and the
// sampler's trace state. They record nothing and report IsRecording false.
type idProvider struct {
	noop.TracerProvider
	sampler sdktrace.Sampler
}

var _ trace.TracerProvider = (*idProvider)(nil)

func (p *idProvider) Tracer(string, ...trace.TracerOption) trace.Tracer {
	return idTracer{p: p}
}

type idTracer struct {
	noop.Tracer
	p *idProvider
}

func (t idTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	cfg := trace.NewSpanStartConfig(opts...)
	parent := trace.SpanContextFromContext(ctx)
	if cfg.NewRoot() {
		parent = trace.SpanContext{}
		ctx = trace.ContextWithSpanContext(ctx, parent)
	}
	tid := parent.TraceID()
	if !tid.IsValid() {
		tid = newTraceID()
	}
	res := t.p.sampler.ShouldSample(sdktrace.SamplingParameters{
		ParentContext: ctx, TraceID: tid, Name: name, Kind: cfg.SpanKind(),
		Attributes: cfg.Attributes(), Links: cfg.Links(),
	})
	flags := parent.TraceFlags() &^ trace.FlagsSampled
	if res.Decision == sdktrace.RecordAndSample {
		flags |= trace.FlagsSampled
	}
	s := &idSpan{p: t.p, sc: trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: tid, SpanID: newSpanID(), TraceFlags: flags, TraceState: res.Tracestate,
	})}
	return trace.ContextWithSpan(ctx, s), s
}

type idSpan struct {
	noop.Span
	p  *idProvider
	sc trace.SpanContext
}

func (s *idSpan) SpanContext() trace.SpanContext       { return s.sc }
func (s *idSpan) TracerProvider() trace.TracerProvider { return s.p }

// newTraceID and newSpanID are random and never zero, like the SDK's
// (which also draws them from a non-cryptographic generator: trace IDs
// name requests, they are not secrets or capabilities).
func newTraceID() trace.TraceID {
	var id trace.TraceID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:8], rand.Uint64()) // #nosec G404 -- an identifier, not a secret
		binary.BigEndian.PutUint64(id[8:], rand.Uint64()) // #nosec G404 -- an identifier, not a secret
	}
	return id
}

func newSpanID() trace.SpanID {
	var id trace.SpanID
	for !id.IsValid() {
		binary.BigEndian.PutUint64(id[:], rand.Uint64()) // #nosec G404 -- an identifier, not a secret
	}
	return id
}
