package httpapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/identity"
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

// TestHeaderCarrierMatchesNetHTTP: the allocation-free carrier answers
// every key as propagation.HeaderCarrier (http.Header.Get) does.
func TestHeaderCarrierMatchesNetHTTP(t *testing.T) {
	h := http.Header{}
	h.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.Set("Tracestate", "a=b")
	h.Set("baggage", "k=v")
	h.Set("X-Odd_Key", "odd")
	for _, k := range []string{"traceparent", "TRACEPARENT", "tracestate", "baggage", "Baggage", "x-odd_key", "X-Odd_Key",
		"missing", "", "a b", "é", strings.Repeat("x", 100)} {
		if got, want := headerCarrier(h).Get(k), propagation.HeaderCarrier(h).Get(k); got != want {
			t.Errorf("Get(%q) = %q, want %q", k, got, want)
		}
	}
	if got := headerCarrier(h).Get("traceparent"); got == "" {
		t.Fatal("traceparent not found")
	}
}

func FuzzCanonicalKey(f *testing.F) {
	for _, s := range []string{"traceparent", "x-request-id", "X-REQUEST-ID", "a--b", "-a", "1x", "a_b", "a b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		var buf [64]byte
		k, ok := canonicalKey(buf[:0], key)
		if !ok {
			return
		}
		if got, want := string(k), textproto.CanonicalMIMEHeaderKey(key); got != want {
			t.Fatalf("canonicalKey(%q) = %q, textproto says %q", key, got, want)
		}
	})
}

// TestGeneratedRequestIDIsUUIDv4: a request without a sane X-Request-ID
// gets a version 4, RFC 4122 UUID, a different one each time.
func TestGeneratedRequestIDIsUUIDv4(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		u, err := uuid.Parse(id)
		if err != nil || len(id) != 36 || u.Version() != 4 || u.Variant() != uuid.RFC4122 || u.String() != id {
			t.Fatalf("%q: %v, version %d, variant %v", id, err, u.Version(), u.Variant())
		}
		if seen[id] {
			t.Fatalf("%q generated twice", id)
		}
		seen[id] = true
	}
}

// TestHealthAnswerIsTheGeneratedOne: /health answers exactly what the
// generated response type writes.
func TestHealthAnswerIsTheGeneratedOne(t *testing.T) {
	want := httptest.NewRecorder()
	if err := (gen.GetHealth200JSONResponse{Status: gen.Ok}).VisitGetHealthResponse(want); err != nil {
		t.Fatal(err)
	}
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	got := httptest.NewRecorder()
	s.Handler().ServeHTTP(got, httptest.NewRequest("GET", "/health", nil))
	if got.Code != want.Code || got.Body.String() != want.Body.String() ||
		!slices.Equal(got.Header().Values("Content-Type"), want.Header().Values("Content-Type")) {
		t.Fatalf("got %d %q %v, want %d %q %v", got.Code, got.Body, got.Header(), want.Code, want.Body, want.Header())
	}
}

// TestClientMetaReachesHandlers: every request's context carries the
// client address (as Gin resolves it) and user agent that sessions and
// the audit log record, set once by observe.
func TestClientMetaReachesHandlers(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	var got identity.ClientMeta
	s.engine.GET("/meta", func(c *gin.Context) { got = identity.ClientMetaFrom(c.Request.Context()) })
	req := httptest.NewRequest("GET", "/meta", nil)
	req.RemoteAddr = "203.0.113.7:4242"
	req.Header.Set("User-Agent", "probe/1.0")
	serve(s, req)
	if got.IP != "203.0.113.7" || got.UserAgent != "probe/1.0" {
		t.Fatalf("client meta %+v", got)
	}
}
