// Package tests holds component tests: each starts the real program through
// cli.Run on a free port and talks HTTP to it.
package tests

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/tests/harness"
)

type problem struct {
	Type      string            `json:"type"`
	Title     string            `json:"title"`
	Status    int               `json:"status"`
	Detail    string            `json:"detail"`
	Code      string            `json:"code"`
	RequestID string            `json:"request_id"`
	Errors    map[string]string `json:"errors"`
}

func do(t *testing.T, method, url string, body io.Reader, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	// The programs' answers are held to the spec too (respvalidate_test.go).
	if verr := validateResponse(req, resp, b); verr != nil {
		t.Errorf("response not in the spec: %s %s -> %d: %v", method, req.URL.Path, resp.StatusCode, verr)
	}
	return resp, b
}

func decodeProblem(t *testing.T, resp *http.Response, body []byte, wantStatus int, wantCode string) problem {
	t.Helper()
	if resp.StatusCode != wantStatus {
		t.Fatalf("status %d, want %d; body %s", resp.StatusCode, wantStatus, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p problem
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem body %s: %v", body, err)
	}
	if p.Status != wantStatus || p.Code != wantCode || p.Title == "" || p.Type == "" {
		t.Fatalf("problem %+v, want status %d code %q", p, wantStatus, wantCode)
	}
	if p.RequestID == "" || p.RequestID != resp.Header.Get("X-Request-ID") {
		t.Fatalf("problem request_id %q does not match header %q", p.RequestID, resp.Header.Get("X-Request-ID"))
	}
	return p
}

func TestOperationalEndpoints(t *testing.T) {
	app := harness.Start(t, harness.Env(t))

	resp, body := do(t, "GET", app.URL+"/health", nil, nil)
	if resp.StatusCode != 200 || strings.TrimSpace(string(body)) != `{"status":"ok"}` {
		t.Fatalf("/health: %d %s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", app.URL+"/health/ready", nil, nil)
	var ready struct {
		Status string                     `json:"status"`
		Checks map[string]json.RawMessage `json:"checks"`
	}
	if err := json.Unmarshal(body, &ready); err != nil || resp.StatusCode != 200 || ready.Status != "up" {
		t.Fatalf("/health/ready: %d %s (%v)", resp.StatusCode, body, err)
	}

	resp, body = do(t, "GET", app.URL+"/openapi.yaml", nil, nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "openapi: 3") {
		t.Fatalf("/openapi.yaml: %d %.40s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", app.URL+"/docs", nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "/docs/swagger-ui-bundle.js") {
		t.Fatalf("/docs: %d %s", resp.StatusCode, body)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Fatalf("/docs CSP %q", csp)
	}
	for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui.css", "init.js"} {
		resp, body = do(t, "GET", app.URL+"/docs/"+asset, nil, nil)
		if resp.StatusCode != 200 || len(body) == 0 {
			t.Fatalf("/docs/%s: %d, %d bytes", asset, resp.StatusCode, len(body))
		}
	}
	resp, body = do(t, "GET", app.URL+"/docs/..%2f..%2fetc%2fpasswd", nil, nil)
	decodeProblem(t, resp, body, 404, "not_found")

	resp, body = do(t, "GET", app.URL+"/api/v1/version", nil, nil)
	var v map[string]string
	if err := json.Unmarshal(body, &v); err != nil || resp.StatusCode != 200 || v["version"] == "" || v["go_version"] == "" {
		t.Fatalf("/api/v1/version: %d %s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", app.URL+"/metrics", nil, nil)
	text := string(body)
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`http_server_request_duration_seconds_count{`,
		`http_route="/health"`,
		`http_response_status_code="200"`,
		"go_goroutines",
		"process_resident_memory_bytes",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	app := harness.Start(t, harness.Env(t))
	for _, path := range []string{"/health", "/nope", "/api/v1/version"} {
		resp, _ := do(t, "GET", app.URL+path, nil, nil)
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
			"Cache-Control":          "no-store",
		} {
			if got := resp.Header.Get(h); got != want {
				t.Errorf("%s: %s = %q, want %q", path, h, got, want)
			}
		}
		if resp.Header.Get("Strict-Transport-Security") != "" {
			t.Errorf("%s: HSTS sent outside production", path)
		}
	}
}

func TestRequestID(t *testing.T) {
	app := harness.Start(t, harness.Env(t))
	tests := []struct {
		name, sent string
		honoured   bool
	}{
		{"sane token", "req-123_abc.DEF:9/x", true},
		{"absent", "", false},
		{"bad characters", "abc<script>", false},
		{"space", "abc def", false},
		{"non-ASCII", "h\u00e9llo", false},
		{"too long", strings.Repeat("a", 129), false},
		{"max length", strings.Repeat("a", 128), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := map[string]string{}
			if tc.sent != "" {
				h["X-Request-ID"] = tc.sent
			}
			resp, _ := do(t, "GET", app.URL+"/health", nil, h)
			got := resp.Header.Get("X-Request-ID")
			if tc.honoured && got != tc.sent {
				t.Fatalf("got %q, want the sent %q", got, tc.sent)
			}
			if !tc.honoured && (got == "" || got == tc.sent || len(got) != 36) {
				t.Fatalf("got %q, want a generated UUID", got)
			}
		})
	}
	// The ID reaches the access log of the request.
	const id = "trace-me-42"
	do(t, "GET", app.URL+"/health", nil, map[string]string{"X-Request-ID": id})
	found := false
	for _, l := range app.Logs.Lines() {
		if l["msg"] == "request completed" && l["request_id"] == id {
			found = true
			for _, k := range []string{"trace_id", "span_id", "method", "route", "status", "duration", "client_ip", "bytes", "source", "logger"} {
				if _, ok := l[k]; !ok {
					t.Errorf("access log line lacks %q: %v", k, l)
				}
			}
		}
	}
	if !found {
		t.Fatalf("no access log line with request_id %q", id)
	}
}

func TestProblemsForUnknownRoutesMethodsAndOversizeBodies(t *testing.T) {
	env := harness.Env(t)
	env["HTTP_MAX_BODY_BYTES"] = "1024"
	app := harness.Start(t, env)

	resp, body := do(t, "GET", app.URL+"/api/v1/nothing-here", nil, nil)
	decodeProblem(t, resp, body, 404, "not_found")

	resp, body = do(t, "DELETE", app.URL+"/health", nil, nil)
	decodeProblem(t, resp, body, 405, "method_not_allowed")

	resp, body = do(t, "POST", app.URL+"/api/v1/version", strings.NewReader(strings.Repeat("x", 2048)), map[string]string{"Content-Type": "application/json"})
	decodeProblem(t, resp, body, 413, "body_too_large")
}

// TestLogsCarryNoSecrets sends credentials every way a client might and
// checks that none of them reaches the logs.
func TestLogsCarryNoSecrets(t *testing.T) {
	app := harness.Start(t, harness.Env(t))
	const secret = "s3cr3t-Zq9-value"
	do(t, "GET", app.URL+"/health?token="+secret+"&password="+secret, nil, map[string]string{
		"Authorization": "Bearer " + secret,
		"Cookie":        "session=" + secret,
		"X-Api-Key":     secret,
	})
	do(t, "POST", app.URL+"/api/v1/version", strings.NewReader(`{"password":"`+secret+`"}`), map[string]string{"Content-Type": "application/json"})
	do(t, "GET", app.URL+"/nope/"+secret[:0], nil, map[string]string{"Authorization": "Basic " + secret})
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := app.Logs.String()
	if len(app.Logs.Lines()) < 4 {
		t.Fatalf("expected access log lines, got:\n%s", logs)
	}
	if strings.Contains(logs, secret) {
		t.Fatalf("a secret reached the logs:\n%s", logs)
	}
}

func TestGracefulShutdownExitsCleanly(t *testing.T) {
	app := harness.Start(t, harness.Env(t))
	if err := app.Stop(); err != nil {
		t.Fatalf("Run returned %v after SIGTERM-equivalent, want nil", err)
	}
	var sawDrain, sawStopped bool
	for _, l := range app.Logs.Lines() {
		switch l["msg"] {
		case "shutting down: readiness is now 503":
			sawDrain = true
		case "http server stopped":
			sawStopped = true
		}
	}
	if !sawDrain || !sawStopped {
		t.Fatalf("shutdown log lines missing (drain %v, stopped %v):\n%s", sawDrain, sawStopped, app.Logs)
	}
}
