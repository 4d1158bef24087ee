package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// BenchmarkMiddlewareChain compares GET /health through the full production
// chain (server span on a recording SDK provider, request ID, JSON
// access log, RED metrics on an SDK meter, recovery, security headers, body
// limit, spec validation) with the same handler on a bare Gin engine, in one
// run: `go test -run '^$' -bench MiddlewareChain -benchmem ./adapters/httpapi`.
func BenchmarkMiddlewareChain(b *testing.B) {
	tp := sdktrace.NewTracerProvider()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	defer func() { _ = tp.Shutdown(context.Background()); _ = mp.Shutdown(context.Background()) }()
	d := testDeps(b, io.Discard, nil)
	d.Log = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{AddSource: true}))
	d.TracerProvider, d.MeterProvider, d.Propagator = tp, mp, propagation.TraceContext{}
	full := newTestServer(b, DefaultConfig(), d).Handler()

	gin.SetMode(gin.ReleaseMode)
	bare := gin.New()
	bare.GET("/health", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/json", []byte(`{"status":"ok"}`+"\n"))
	})

	for _, bc := range []struct {
		name string
		h    http.Handler
	}{{"bare-gin", bare}, {"full-chain", full}} {
		b.Run(bc.name, func(b *testing.B) {
			req := httptest.NewRequest("GET", "/health", nil)
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				bc.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}
