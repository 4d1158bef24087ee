package telemetry

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/metric"
)

func TestMetricsServesInstrumentsAndRuntime(t *testing.T) {
	m, cleanup, err := NewMetrics(Config{ServiceName: "tradesense"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	c, err := m.Provider.Meter("test").Int64Counter("jobs.done")
	if err != nil {
		t.Fatal(err)
	}
	c.Add(context.Background(), 3, metric.WithAttributes())
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{"jobs_done_total 3", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

// TestTracesExportOverOTLPWhenConfigured points the exporter at a fake
// collector and checks that spans arrive on /v1/traces at shutdown.
func TestTracesExportOverOTLPWhenConfigured(t *testing.T) {
	var hits atomic.Int32
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" && r.Method == "POST" {
			hits.Add(1)
		}
		w.WriteHeader(200)
	}))
	defer collector.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tp, cleanup, err := NewTracerProvider(context.Background(), Config{ServiceName: "t", SampleRatio: 1, OTLPEndpoint: collector.URL}, log)
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "op")
	span.End()
	cleanup()
	if hits.Load() == 0 {
		t.Fatal("no spans reached the collector")
	}

	tp2, cleanup2, err := NewTracerProvider(context.Background(), Config{ServiceName: "t", SampleRatio: 1}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup2()
	_, s2 := tp2.Tracer("t").Start(context.Background(), "op")
	if !s2.SpanContext().IsValid() {
		t.Fatal("without an exporter spans must still carry IDs for log correlation")
	}
	s2.End()
}

// TestMetricsKeepNoExemplars: /metrics is the Prometheus text format,
// which carries no exemplars, so none are collected (the SDK's default
// would offer one per measurement under a sampled trace: work on every
// request that no scrape sees). Fails if the exemplar filter is dropped.
func TestMetricsKeepNoExemplars(t *testing.T) {
	m, cleanup, err := NewMetrics(Config{ServiceName: "tradesense"}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	h, err := m.Provider.Meter("test").Float64Histogram("req.duration", metric.WithExplicitBucketBoundaries(0.01, 1))
	if err != nil {
		t.Fatal(err)
	}
	tp, _, err := NewTracerProvider(context.Background(), Config{SampleRatio: 1}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	if !span.SpanContext().IsSampled() {
		t.Fatal("the span must be sampled for the SDK's default filter to offer exemplars")
	}
	for range 10 {
		h.Record(ctx, 0.005)
	}
	span.End()
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range families {
		if f.GetName() != "req_duration" {
			continue
		}
		for _, mt := range f.GetMetric() {
			for _, b := range mt.GetHistogram().GetBucket() {
				found = true
				if b.GetExemplar() != nil {
					t.Fatalf("bucket %v carries an exemplar", b.GetUpperBound())
				}
			}
		}
	}
	if !found {
		t.Fatal("the histogram is not in the registry")
	}
}
