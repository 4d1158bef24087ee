package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/idempotency"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testDeps(t testing.TB, logs io.Writer, reg *health.Registry) Deps {
	t.Helper()
	if reg == nil {
		reg = health.NewRegistry(time.Second)
	}
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return Deps{
		Log:            slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		TracerProvider: tp,
		MeterProvider:  noop.NewMeterProvider(),
		Propagator:     propagation.TraceContext{},
		Metrics:        http.NotFoundHandler(),
		Health:         reg,
		Build:          BuildInfo{Version: "test"},
		Identity:       stubIdentity{},
		Keys:           stubKeys{},
		MFA:            struct{ MFAFactors }{},
		MFAFlows:       struct{ MFAFlows }{},
		Jobs:           struct{ JobInspector }{},
		Mail:           struct{ BulkMailer }{},
		OAuth:          struct{ OAuth }{},
		Trading:        struct{ Trading }{},
		Journal:        struct{ Journal }{},
		Idempotency:    &idempotency.Guard{},
		Realtime:       &fakeRealtime{},
		RealtimeTokens: struct{ RealtimeTokens }{},
		Imports:        stubImports{},
		Analytics:      struct{ Analytics }{},
		Reports:        struct{ Reports }{},
	}
}

func newTestServer(t testing.TB, cfg Config, d Deps) *Server {
	t.Helper()
	s, err := New(context.Background(), cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func serve(s *Server, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) map[string]any {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("content type %q", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p["code"] != code || p["status"] != float64(status) || p["request_id"] == "" || p["request_id"] == nil {
		t.Fatalf("problem %v, want code %q status %d", p, code, status)
	}
	return p
}

// TestEveryRouteIsInTheSpecAndEveryOperationIsRouted keeps the router and
// openapi.yaml in step.
func TestEveryRouteIsInTheSpecAndEveryOperationIsRouted(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	doc, err := loadSpec(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{([^}]+)\}`)
	var spec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			spec = append(spec, method+" "+param.ReplaceAllString(path, ":$1"))
			if method == http.MethodGet { // answered as GET (answerHead)
				spec = append(spec, http.MethodHead+" "+param.ReplaceAllString(path, ":$1"))
			}
		}
	}
	var routed []string
	for _, r := range s.Routes() {
		routed = append(routed, r[0]+" "+r[1])
	}
	slices.Sort(spec)
	slices.Sort(routed)
	if !slices.Equal(spec, routed) {
		t.Fatalf("routes and spec differ:\nspec:   %v\nrouted: %v", spec, routed)
	}
	if len(spec) < 7 {
		t.Fatalf("suspiciously few operations: %v", spec)
	}
}

func TestPanicBecomesProblemWithStackInLog(t *testing.T) {
	logs := &syncBuffer{}
	s := newTestServer(t, DefaultConfig(), testDeps(t, logs, nil))
	s.engine.GET("/boom", func(*gin.Context) { panic("kaboom") })
	rec := serve(s, httptest.NewRequest("GET", "/boom", nil))
	wantProblem(t, rec, 500, "internal")
	if strings.Contains(rec.Body.String(), "kaboom") {
		t.Fatal("panic value leaked to the client")
	}
	if !strings.Contains(logs.String(), "kaboom") || !strings.Contains(logs.String(), "server_test.go") {
		t.Fatalf("log lacks panic and stack: %s", logs)
	}
}

func TestHandlerErrorsMapToProblems(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{apperr.New(apperr.NotFound, "trade_not_found", "no"), 404, "trade_not_found"},
		{apperr.Validation("bad", map[string]string{"email": "is required"}), 400, "validation_failed"},
		{apperr.New(apperr.Conflict, "email_taken", "taken"), 409, "email_taken"},
		{apperr.New(apperr.Unauthenticated, "token_expired", "expired"), 401, "token_expired"},
		{apperr.New(apperr.Forbidden, "forbidden", "no"), 403, "forbidden"},
		{apperr.New(apperr.RateLimited, "rate_limited", "slow"), 429, "rate_limited"},
		{apperr.New(apperr.Unavailable, "db_pool_timeout", "busy"), 503, "db_pool_timeout"},
		{errors.New("driver said: password=hunter2"), 500, "internal"},
		{context.DeadlineExceeded, 503, "timeout"},
	}
	for i, tc := range cases {
		path := "/err/" + string(rune('a'+i))
		s.engine.GET(path, func(c *gin.Context) { writeProblem(c, s.log, tc.err) })
		rec := serve(s, httptest.NewRequest("GET", path, nil))
		p := wantProblem(t, rec, tc.status, tc.code)
		if strings.Contains(rec.Body.String(), "hunter2") {
			t.Fatalf("cause leaked: %s", rec.Body)
		}
		if tc.code == "validation_failed" {
			if errs, _ := p["errors"].(map[string]any); errs["email"] != "is required" {
				t.Fatalf("field errors missing: %v", p)
			}
		}
	}
}

func TestChunkedOversizeBodyIs413(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 16
	s := newTestServer(t, cfg, testDeps(t, io.Discard, nil))
	s.engine.POST("/echo", func(c *gin.Context) {
		if _, err := io.ReadAll(c.Request.Body); err != nil {
			writeProblem(c, s.log, err)
			return
		}
		c.Status(204)
	})
	req := httptest.NewRequest("POST", "/echo", io.MultiReader(strings.NewReader(strings.Repeat("y", 64))))
	req.ContentLength = -1
	wantProblem(t, serve(s, req), 413, "body_too_large")

	small := httptest.NewRequest("POST", "/echo", strings.NewReader("ok"))
	if rec := serve(s, small); rec.Code != 204 {
		t.Fatalf("small body: %d", rec.Code)
	}
}

func TestRequestValidationAgainstTheSpec(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	rec := serve(s, httptest.NewRequest("GET", "/docs/"+strings.Repeat("a", 129), nil))
	p := wantProblem(t, rec, 400, "validation_failed")
	if errs, _ := p["errors"].(map[string]any); errs["file"] == nil {
		t.Fatalf("want a field error for the path parameter, got %v", p)
	}
}

func TestReadinessReflectsChecks(t *testing.T) {
	reg := health.NewRegistry(50 * time.Millisecond)
	var dbErr error
	var mu sync.Mutex
	reg.Register(health.Registration{Name: "database", Required: true, Check: health.CheckFunc(func(context.Context) (map[string]any, error) {
		mu.Lock()
		defer mu.Unlock()
		return map[string]any{"open": 1}, dbErr
	})})
	reg.Register(health.Registration{Name: "cache", Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
		<-ctx.Done() // hangs: must be cut off by the registry timeout
		return nil, ctx.Err()
	})})
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, reg))

	read := func() (int, map[string]any) {
		rec := serve(s, httptest.NewRequest("GET", "/health/ready", nil))
		var body map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return rec.Code, body
	}
	code, body := read()
	if code != 200 || body["status"] != "degraded" {
		t.Fatalf("optional check failing: %d %v", code, body)
	}
	checks := body["checks"].(map[string]any)
	if checks["cache"].(map[string]any)["status"] != "down" || checks["database"].(map[string]any)["status"] != "up" {
		t.Fatalf("checks %v", checks)
	}

	mu.Lock()
	dbErr = errors.New("connection refused")
	mu.Unlock()
	code, body = read()
	if code != 503 || body["status"] != "down" {
		t.Fatalf("required check failing: %d %v", code, body)
	}
	db := body["checks"].(map[string]any)["database"].(map[string]any)
	if db["status"] != "down" || db["required"] != true || db["error"] != nil {
		t.Fatalf("database check: %v", db)
	}
}

// TestGracefulShutdownDrainsInFlight cancels the server while a request is
// being served: readiness turns 503 at once, the request completes, Run
// returns nil.
func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	// The 503 can only be seen during the delay (the listener closes after
	// it): 2 s, not 300 ms, so that a slow host's first probes fit in it.
	cfg.ShutdownDelay = 2 * time.Second
	cfg.ShutdownTimeout = 5 * time.Second
	s := newTestServer(t, cfg, testDeps(t, io.Discard, nil))
	started, release := make(chan struct{}), make(chan struct{})
	s.engine.GET("/slow", func(c *gin.Context) {
		close(started)
		<-release
		c.String(200, "done")
	})
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- s.Run(ctx) }()
	base := "http://" + s.Addr()

	slow := make(chan string, 1)
	go func() {
		resp, err := http.Get(base + "/slow")
		if err != nil {
			slow <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		slow <- string(b)
	}()
	<-started
	cancel()
	deadline := time.Now().Add(cfg.ShutdownDelay)
	for {
		resp, err := http.Get(base + "/health/ready")
		if err == nil {
			code := resp.StatusCode
			_ = resp.Body.Close()
			if code == 503 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("readiness never turned 503 during shutdown")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if got := <-slow; got != "done" {
		t.Fatalf("in-flight request: %q", got)
	}
	if err := <-runErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestCORS(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CORSAllowedOrigins = []string{"https://app.tradesense.test"}
	s := newTestServer(t, cfg, testDeps(t, io.Discard, nil))

	pre := httptest.NewRequest("OPTIONS", "/api/v1/version", nil)
	pre.Header.Set("Origin", "https://app.tradesense.test")
	pre.Header.Set("Access-Control-Request-Method", "GET")
	rec := serve(s, pre)
	if rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.tradesense.test" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "true" {
		t.Fatalf("allowed preflight: %d %v", rec.Code, rec.Header())
	}
	// A page may send every header the API documents (docs/journal.md's
	// If-Match and Idempotency-Key, the spec's X-Current-Password) and
	// read every one it answers with.
	pre = httptest.NewRequest("OPTIONS", "/api/v1/accounts", nil)
	pre.Header.Set("Origin", "https://app.tradesense.test")
	pre.Header.Set("Access-Control-Request-Method", "POST")
	pre.Header.Set("Access-Control-Request-Headers", "authorization,content-type,idempotency-key,if-match")
	rec = serve(s, pre)
	allowed := headerSet(rec.Header().Get("Access-Control-Allow-Headers"))
	for _, h := range []string{"Authorization", "Content-Type", "X-Request-Id", "Idempotency-Key", "If-Match", "X-Current-Password"} {
		if !allowed[http.CanonicalHeaderKey(h)] {
			t.Errorf("preflight does not allow %s: %v", h, rec.Header())
		}
	}
	get := httptest.NewRequest("GET", "/api/v1/version", nil)
	get.Header.Set("Origin", "https://app.tradesense.test")
	rec = serve(s, get)
	exposed := headerSet(rec.Header().Get("Access-Control-Expose-Headers"))
	for _, h := range []string{"X-Request-Id", "Retry-After", "ETag", "Idempotent-Replayed", "Location", "Content-Disposition"} {
		if !exposed[http.CanonicalHeaderKey(h)] {
			t.Errorf("%s is not exposed: %v", h, rec.Header())
		}
	}
	if exposed["Set-Cookie"] {
		t.Errorf("Set-Cookie exposed: %v", rec.Header())
	}

	evil := httptest.NewRequest("GET", "/api/v1/version", nil)
	evil.Header.Set("Origin", "https://evil.test")
	rec = serve(s, evil)
	if rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("foreign origin allowed: %v", rec.Header())
	}

	bad := DefaultConfig()
	bad.CORSAllowedOrigins = []string{"*"}
	if _, err := New(context.Background(), bad, testDeps(t, io.Discard, nil)); err == nil || !strings.Contains(err.Error(), "CORS_ALLOWED_ORIGINS") {
		t.Fatalf("wildcard origin accepted: %v", err)
	}
}

// headerSet is a comma-separated header list by canonical name.
func headerSet(list string) map[string]bool {
	set := map[string]bool{}
	for _, h := range strings.Split(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			set[http.CanonicalHeaderKey(h)] = true
		}
	}
	return set
}

func TestOpsServerServesProbesOnly(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	d.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("# metrics")) })
	s, err := NewOps(DefaultConfig(), d)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]int{"/health": 200, "/health/ready": 200, "/metrics": 200, "/api/v1/version": 404} {
		if rec := serve(s, httptest.NewRequest("GET", path, nil)); rec.Code != want {
			t.Errorf("%s: %d, want %d", path, rec.Code, want)
		}
	}
}

func FuzzRequestID(f *testing.F) {
	for _, seed := range []string{"abc", "", "a b", strings.Repeat("z", 200), "x\r\ny", "ü"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		got := id
		if !saneRequestID(id) {
			got = "generated"
		}
		if got == id && (len(id) > maxRequestIDLen || strings.ContainsAny(id, " \r\n\t<>\"'")) {
			t.Fatalf("accepted unsafe id %q", id)
		}
	})
}

// FuzzRouting sends arbitrary methods and paths through the whole chain: the
// answer is never a 5xx and every error is problem+json.
func FuzzRouting(f *testing.F) {
	s := newTestServer(f, DefaultConfig(), testDeps(f, io.Discard, nil))
	for _, seed := range [][2]string{{"GET", "/health"}, {"POST", "/api/v1/version"}, {"GET", "/docs/%00"}, {"PATCH", "/docs/x/y"}, {"GET", "/api/v1/version?x=%zz"}} {
		f.Add(seed[0], seed[1], "{}")
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		req, err := http.NewRequest(method, "http://h"+target, strings.NewReader(body))
		if err != nil || req.URL.Path == "" || !strings.HasPrefix(req.URL.Path, "/") {
			return
		}
		req.RequestURI = req.URL.RequestURI()
		rec := serve(s, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %q: %d %s", method, target, rec.Code, rec.Body)
		}
		if rec.Code >= 400 && rec.Header().Get("Content-Type") != ProblemContentType {
			t.Fatalf("%s %q: %d without problem+json", method, target, rec.Code)
		}
	})
}

// TestProtocolErrors: the failures of the exchange itself have their own
// statuses and codes, outside the application's error kinds.
func TestProtocolErrors(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 64
	s := newTestServer(t, cfg, testDeps(t, io.Discard, nil))
	wantProblem(t, serve(s, httptest.NewRequest("DELETE", "/health", nil)), 405, "method_not_allowed")

	text := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader("email=a@example.com"))
	text.Header.Set("Content-Type", "text/plain")
	wantProblem(t, serve(s, text), 415, "unsupported_media_type")

	big := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader(`{"email":"`+strings.Repeat("a", 100)+`@example.com"}`))
	big.Header.Set("Content-Type", "application/json")
	wantProblem(t, serve(s, big), 413, "body_too_large")

	status, p := Problem(context.Background(), fmt.Errorf("read body: %w", &http.MaxBytesError{Limit: 64}))
	if status != 413 || p.Code != "body_too_large" || p.Title != "Request Entity Too Large" {
		t.Fatalf("a wrapped MaxBytesError: %d %+v", status, p)
	}
}
