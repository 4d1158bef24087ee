package httpapi

import (
	"context"
	"io"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// TestServerSpans: each request gets a server span named after its route,
// joined to the caller's W3C trace, with the status and request ID; 5xx
// marks the span as an error.
func TestServerSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	d := testDeps(t, io.Discard, nil)
	d.TracerProvider, d.Propagator = tp, propagation.TraceContext{}
	s := newTestServer(t, DefaultConfig(), d)
	s.engine.GET("/boom", func(*gin.Context) { panic("x") })

	const parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req := httptest.NewRequest("GET", "/health", nil)
	req.Header.Set("traceparent", "00-"+parentTrace+"-00f067aa0ba902b7-01")
	req.Header.Set(RequestIDHeader, "req-span-1")
	serve(s, req)
	serve(s, httptest.NewRequest("GET", "/boom", nil))
	serve(s, httptest.NewRequest("GET", "/nowhere", nil))

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	attrs := func(i int) map[string]string {
		m := map[string]string{}
		for _, a := range spans[i].Attributes() {
			m[string(a.Key)] = a.Value.String()
		}
		return m
	}
	h := attrs(0)
	if spans[0].Name() != "GET /health" || spans[0].SpanContext().TraceID().String() != parentTrace ||
		h["http.response.status_code"] != "200" || h["http.route"] != "/health" || h["http.request.id"] != "req-span-1" {
		t.Fatalf("health span %q trace %s attrs %v", spans[0].Name(), spans[0].SpanContext().TraceID(), h)
	}
	if spans[1].Status().Code != codes.Error || attrs(1)["http.response.status_code"] != "500" {
		t.Fatalf("panic span status %v attrs %v", spans[1].Status(), attrs(1))
	}
	if spans[2].Name() != "GET" || attrs(2)["http.route"] != "unmatched" || spans[2].Status().Code == codes.Error {
		t.Fatalf("404 span %q attrs %v status %v", spans[2].Name(), attrs(2), spans[2].Status())
	}
}
