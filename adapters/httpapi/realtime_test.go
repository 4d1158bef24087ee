package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/realtime"
)

// fakeRealtime is the engine's fake: its handler says which request it
// got, and Shutdown is counted.
type fakeRealtime struct {
	shutdowns atomic.Int32
	sawValue  atomic.Bool
}

type ctxProbe struct{}

func (f *fakeRealtime) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, authed := identity.PrincipalFrom(r.Context())
		f.sawValue.Store(r.Context().Value(ctxProbe{}) != nil || authed)
		w.WriteHeader(http.StatusTeapot)
	})
}

// AllowsOrigin allows no Origin or https://app.example.
func (f *fakeRealtime) AllowsOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	return o == "" || o == "https://app.example"
}

func (f *fakeRealtime) Shutdown(context.Context) error {
	f.shutdowns.Add(1)
	return nil
}

// authedIdentity accepts the bearer token "good" as a fixed principal.
type authedIdentity struct{ stubIdentity }

var (
	rtUser    = uuid.MustParse("0b5c5d6e-0000-4000-8000-0000000000aa")
	rtSession = uuid.MustParse("0b5c5d6e-0000-4000-8000-0000000000bb")
)

func (authedIdentity) Authenticate(_ context.Context, tok string) (identity.Principal, error) {
	if tok != "good" {
		return identity.Principal{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenMalformed, "The access token is invalid.")
	}
	return identity.Principal{UserID: rtUser, SessionID: rtSession, Role: identity.RoleUser, AAL: 1}, nil
}

type fakeRTTokens struct{ user, session uuid.UUID }

func (f *fakeRTTokens) IssueConnectionToken(_ context.Context, u, s uuid.UUID) (realtime.ConnectionToken, error) {
	f.user, f.session = u, s
	return realtime.ConnectionToken{Token: "conn-token", ExpiresAt: time.Date(2026, 5, 6, 7, 18, 9, 0, time.UTC)}, nil
}

func TestRealtimeTokenIsIssuedForTheCallersSession(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	d.Identity = authedIdentity{}
	toks := &fakeRTTokens{}
	d.RealtimeTokens = toks
	s := newTestServer(t, DefaultConfig(), d)

	req := httptest.NewRequest("POST", "/api/v1/realtime/token", nil)
	req.Header.Set("Authorization", "Bearer good")
	rec := serve(s, req)
	if rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d cache-control %q: %s", rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
	}
	var body struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Token != "conn-token" || !body.ExpiresAt.Equal(time.Date(2026, 5, 6, 7, 18, 9, 0, time.UTC)) {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}
	if toks.user != rtUser || toks.session != rtSession {
		t.Fatalf("issued for %s/%s, want the caller's user and session", toks.user, toks.session)
	}

	for _, auth := range []string{"", "Bearer bad"} {
		req := httptest.NewRequest("POST", "/api/v1/realtime/token", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if rec := serve(s, req); rec.Code != 401 || rec.Header().Get("Content-Type") != "application/problem+json" {
			t.Fatalf("%q: status %d %s", auth, rec.Code, rec.Body)
		}
	}
}

// The WebSocket route reaches the engine's handler, with a context free
// of what the middleware stored (an idle connection keeps it for life).
func TestRealtimeUpgradeReachesTheEngine(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	rt := &fakeRealtime{}
	d.Realtime = rt
	s := newTestServer(t, DefaultConfig(), d)
	upgrade := func(path string, hdr ...string) *http.Request {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Connection", "keep-alive, Upgrade")
		req.Header.Set("Upgrade", "websocket")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		return req
	}
	req := upgrade(RealtimePath, "Origin", "https://app.example")
	req = req.WithContext(context.WithValue(req.Context(), ctxProbe{}, 1))
	if rec := serve(s, req); rec.Code != http.StatusTeapot {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if rt.sawValue.Load() {
		t.Fatal("the engine got the request's context values")
	}
	// What the engine would refuse in plain text is a problem with the
	// request ID, refused before the engine sees it.
	plain := httptest.NewRequest("GET", RealtimePath, nil)
	for name, c := range map[string]struct {
		req    *http.Request
		status int
		code   string
	}{
		"not an upgrade":     {plain, 400, "websocket_upgrade_required"},
		"a foreign origin":   {upgrade(RealtimePath, "Origin", "https://evil.example"), 403, "realtime_origin_refused"},
		"a token in the URL": {upgrade(RealtimePath + "?token=abc"), 400, "realtime_token_in_url"},
	} {
		p := wantProblem(t, serve(s, c.req), c.status, c.code)
		if id, _ := p["request_id"].(string); id == "" {
			t.Errorf("%s: no request_id: %v", name, p)
		}
	}
}

// Run shuts the engine down when it drains: net/http's Shutdown does not
// close hijacked connections.
func TestRunShutsTheRealtimeEngineDown(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	d := testDeps(t, io.Discard, nil)
	rt := &fakeRealtime{}
	d.Realtime = rt
	s := newTestServer(t, cfg, d)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Listening()
	if rt.shutdowns.Load() != 0 {
		t.Fatal("shut down before the drain")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := rt.shutdowns.Load(); n != 1 {
		t.Fatalf("engine shut down %d times, want 1", n)
	}
}
