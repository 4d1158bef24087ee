package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/tradesense/tradesense/adapters/telemetry"
)

// BenchmarkDefaultChain is GET /health through the chain with the
// telemetry `tradesense api` uses by default (no OTLP endpoint: spans
// carry IDs and record nothing; JSON logger at info; the Prometheus meter
// provider), which BenchmarkMiddlewareChain's SDK tracer and slog handler
// do not show. Test-only use of the telemetry adapter, to measure what the
// binary runs: `go test -run '^$' -bench DefaultChain -benchmem ./adapters/httpapi`.
func BenchmarkDefaultChain(b *testing.B) {
	cfg := telemetry.Config{ServiceName: "bench", LogLevel: slog.LevelInfo, LogFormat: "json", SampleRatio: 1}
	log := telemetry.NewLogger(cfg, io.Discard)
	tp, _, err := telemetry.NewTracerProvider(context.Background(), cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	m, done, err := telemetry.NewMetrics(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	defer done()
	d := testDeps(b, io.Discard, nil)
	d.Log, d.TracerProvider, d.MeterProvider, d.Propagator = log, tp, m.Provider, telemetry.Propagator()
	h := newTestServer(b, DefaultConfig(), d).Handler()
	req := httptest.NewRequest("GET", "/health", nil)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d", rec.Code)
		}
	}
}
