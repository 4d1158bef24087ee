package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/identity"
)

// Strict request contracts (issue 11 item 5).

// TestJSONBodiesAreOneValueWithoutDuplicateKeys: a body with trailing data
// after its JSON value, or with a key twice in one object, is refused with
// a 400 problem naming the body; the first value no longer wins.
func TestJSONBodiesAreOneValueWithoutDuplicateKeys(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), testDeps(t, io.Discard, nil))
	for name, body := range map[string]string{
		"two values":         `{"email":"a@example.com"}{"email":"b@example.com"}`,
		"trailing garbage":   `{"email":"a@example.com"}garbage`,
		"trailing bracket":   `{"email":"a@example.com"}]`,
		"duplicate key":      `{"email":"a@example.com","email":"b@example.com"}`,
		"nested duplicate":   `{"email":"a@example.com","x":{"k":1,"k":2}}`,
		"duplicate in array": `{"email":"a@example.com","x":[{"k":1,"k":2}]}`,
		"not UTF-8":          "{\"email\":\"a\xff\xfe@example.com\"}",
		"a UTF-8 surrogate":  "{\"email\":\"a\xed\xa0\x80@example.com\"}",
	} {
		req := httptest.NewRequest("POST", "/api/v1/auth/password/forgot", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		p := wantProblem(t, serve(s, req), 400, "validation_failed")
		if errs, _ := p["errors"].(map[string]any); errs["body"] == nil {
			t.Errorf("%s: no field error for the body: %v", name, p)
		}
	}
}

// TestBadUUIDInAPathIsA400NamingTheParameter: a path parameter of format
// uuid that is not one answers 400 with the parameter in errors.
func TestBadUUIDInAPathIsA400NamingTheParameter(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	d.Identity = &fakeProfiles{caller: identity.Principal{UserID: uuid.New(), SessionID: uuid.New(), Role: identity.RoleAdmin}}
	s := newTestServer(t, DefaultConfig(), d)
	for _, path := range []string{"/api/v1/jobs/not-a-uuid", "/api/v1/admin/users/123/events", "/api/v1/auth/sessions/zz"} {
		method := "GET"
		if strings.HasPrefix(path, "/api/v1/auth/sessions/") {
			method = "DELETE"
		}
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", "Bearer admin")
		p := wantProblem(t, serve(s, req), 400, "validation_failed")
		if errs, _ := p["errors"].(map[string]any); errs["id"] == nil {
			t.Errorf("%s: want an error naming id, got %v", path, p)
		}
	}
}

// TestCORSRejectionIsAProblem: a foreign Origin on an API call answers 403
// problem+json, not an empty body.
func TestCORSRejectionIsAProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.CORSAllowedOrigins = []string{"https://app.tradesense.test"}
	s := newTestServer(t, cfg, testDeps(t, io.Discard, nil))
	for _, method := range []string{"GET", "OPTIONS"} {
		req := httptest.NewRequest(method, "/api/v1/version", nil)
		req.Header.Set("Origin", "https://evil.test")
		req.Header.Set("Access-Control-Request-Method", "GET")
		wantProblem(t, serve(s, req), 403, "cors_origin_refused")
	}
	// Same origin (the browser sends Origin on a same-origin POST) passes.
	same := httptest.NewRequest("GET", "http://api.tradesense.test/api/v1/version", nil)
	same.Header.Set("Origin", "http://api.tradesense.test")
	if rec := serve(s, same); rec.Code != 200 {
		t.Fatalf("same origin: %d %s", rec.Code, rec.Body)
	}
}

// TestPublicReadinessSaysOnlyUpOrDown: the unauthenticated readiness body
// carries each check's status, never its error string or details (internal
// addresses); those go to the log.
func TestPublicReadinessSaysOnlyUpOrDown(t *testing.T) {
	reg := health.NewRegistry(50 * time.Millisecond)
	reg.Register(health.Registration{Name: "cache", Check: health.CheckFunc(func(context.Context) (map[string]any, error) {
		return map[string]any{"addr": "10.0.0.7:6379"}, errors.New("redis at 10.0.0.7:6379: ping: dial tcp 10.0.0.7:6379: connection refused")
	})})
	logs := &syncBuffer{}
	s := newTestServer(t, DefaultConfig(), testDeps(t, logs, reg))
	rec := serve(s, httptest.NewRequest("GET", "/health/ready", nil))
	if strings.Contains(rec.Body.String(), "10.0.0.7") || strings.Contains(rec.Body.String(), "refused") {
		t.Fatalf("public readiness leaks internals: %s", rec.Body)
	}
	var body struct {
		Status string                    `json:"status"`
		Checks map[string]map[string]any `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body.Status != "degraded" || body.Checks["cache"]["status"] != "down" {
		t.Fatalf("readiness %s", rec.Body)
	}
	if !strings.Contains(logs.String(), "10.0.0.7:6379") {
		t.Fatalf("the failing check's error is not logged: %s", logs)
	}
}

// TestNetHTTPErrorsAreProblems: the 4xx that net/http answers before any
// handler runs (a header value with control bytes, headers over the
// limit) are problem+json too, with a request ID of their own in the body
// and in X-Request-ID, logged with the problem.
func TestNetHTTPErrorsAreProblems(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	logs := &syncBuffer{}
	s := newTestServer(t, cfg, testDeps(t, logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	addr := s.Addr()
	for name, tc := range map[string]struct {
		raw    string
		status int
	}{
		"control byte in Content-Type":  {"GET /health HTTP/1.1\r\nHost: x\r\nContent-Type: text/\x01plain\r\n\r\n", 400},
		"control byte in Authorization": {"GET /api/v1/auth/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \x7f\r\n\r\n", 400},
		"200 KB of headers":             {"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\n\r\n", 431},
		"no Host":                       {"GET /health HTTP/1.1\r\n\r\n", 400},
	} {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		go func() { _, _ = io.WriteString(conn, tc.raw) }()
		res, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, _ := io.ReadAll(res.Body)
		_ = conn.Close()
		var p map[string]any
		if res.StatusCode != tc.status || res.Header.Get("Content-Type") != ProblemContentType || json.Unmarshal(b, &p) != nil || p["status"] != float64(tc.status) || p["code"] == "" {
			t.Errorf("%s: %d %q %s", name, res.StatusCode, res.Header.Get("Content-Type"), b)
			continue
		}
		// The security headers of every other answer.
		for k, v := range apiSecurityHeaders(cfg.HSTS) {
			if res.Header.Get(k) != v[0] {
				t.Errorf("%s: %s = %q; want %q", name, k, res.Header.Get(k), v[0])
			}
		}
		id, _ := p["request_id"].(string)
		if _, err := uuid.Parse(id); err != nil || res.Header.Get("X-Request-Id") != id {
			t.Errorf("%s: request_id %q, X-Request-ID %q; want one UUID in both", name, id, res.Header.Get("X-Request-Id"))
			continue
		}
		deadline := time.Now().Add(2 * time.Second)
		for !strings.Contains(logs.String(), id) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if line := logs.String(); !strings.Contains(line, `"request_id":"`+id+`"`) || !strings.Contains(line, "request refused before any handler") {
			t.Errorf("%s: request %s not logged: %s", name, id, line)
		}
	}
}
