package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/wire"
)

// The identity stack of these tests is the api program as wire assembles
// it (InitializeStack: the real services, repositories on SQLite, JWT
// adapter and HTTP server), in-process with a fake clock and a fake
// mailer, so that expiry, grace windows and lockouts can be driven;
// tests/identity_program_test.go runs the program itself through cli.Run.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type fakeMailer struct {
	mu   sync.Mutex
	sent []identity.Email
}

func (m *fakeMailer) SendEmail(_ context.Context, e identity.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return "job-" + e.IdempotencyKey, nil
}

func (m *fakeMailer) all() []identity.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Email(nil), m.sent...)
}

// wait returns the newest email to `to` with template, waiting for
// background sends.
func (m *fakeMailer) wait(t testing.TB, to, template string) identity.Email {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		all := m.all()
		for i := len(all) - 1; i >= 0; i-- {
			if all[i].To == to && all[i].Template == template {
				return all[i]
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %s email to %s; sent: %v", template, to, templatesOf(all))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func templatesOf(es []identity.Email) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Template+"→"+e.To)
	}
	return out
}

func linkToken(t testing.TB, e identity.Email) string {
	t.Helper()
	link, _ := e.Data["Link"].(string)
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("email %s has no link with a token: %q", e.Template, link)
	}
	return u.Query().Get("token")
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.buf.String() }

type stack struct {
	t      testing.TB
	url    string
	clock  *fakeClock
	mail   *fakeMailer
	svc    *identity.Service
	ring   *identity.KeyRing
	tokens *jwtauth.Tokens
	db     *sqlstore.DB
	cache  *cache.Layer // the service's Revocations (and profile cache)
	logs   *syncBuffer
	bodies *syncBuffer // every response body, for the secrets scan
}

var (
	testSigningKey = []byte("identity-test-signing-key-0123456789abcdef")
	testMFAKey     = "mfa-test-encryption-key-0123456789abcdef"
	testJWTConfig  = jwtauth.Config{Issuer: "tradesense-test", Audience: "tradesense-api"}
)

type stackOption func(*identity.Config)

func newStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	return buildStack(t, stackSpec{hashing: identity.TestParams, opts: opts})
}

// newStackHashing is newStack with the given argon2id cost, for tests whose
// point is that password checks take time.
func newStackHashing(t testing.TB, hashing identity.Argon2Params, opts ...stackOption) *stack {
	t.Helper()
	return buildStack(t, stackSpec{hashing: hashing, opts: opts})
}

// stackSpec says what buildStack assembles.
type stackSpec struct {
	hashing identity.Argon2Params
	// start is the fake clock's first reading (zero: 2025-06-02 09:00 UTC).
	start time.Time
	opts  []stackOption
}

// buildStack assembles the api program with wire's InitializeStack, the
// production wiring of the local profile (SQLite under a temporary
// DATA_DIR, memory adapters) with the fake clock and the fake mailer, and
// serves it on a test server.
func buildStack(t testing.TB, spec stackSpec) *stack {
	t.Helper()
	start := spec.start
	if start.IsZero() {
		start = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	}
	st := &stack{t: t, clock: &fakeClock{t: start}, mail: &fakeMailer{}, logs: &syncBuffer{}, bodies: &syncBuffer{}}
	env := map[string]string{
		"APP_ENV": "test", "DATA_DIR": t.TempDir(), "LOG_FORMAT": "json", "LOG_LEVEL": "debug",
		"PUBLIC_URL":      "https://app.tradesense.test",
		"JWT_SIGNING_KEY": string(testSigningKey), "MFA_ENCRYPTION_KEY": testMFAKey,
		"AUTH_JWT_ISSUER": testJWTConfig.Issuer, "AUTH_JWT_AUDIENCE": testJWTConfig.Audience,
	}
	cfg, err := wire.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Argon2 = spec.hashing
	for _, o := range spec.opts {
		o(&cfg.Identity.Service)
	}
	app, cleanup, err := wire.InitializeStack(context.Background(), cfg, wire.LogOutput{Writer: st.logs}, st.clock.Now, st.mail)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	st.svc, st.ring, st.tokens, st.db, st.cache = app.Identity, app.Keys, app.Tokens, app.DB, app.Cache
	hs := httptest.NewServer(app.Server.Handler())
	t.Cleanup(hs.Close)
	st.url = hs.URL
	return st
}

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r resp) str(k string) string { s, _ := r.body[k].(string); return s }

func (st *stack) do(method, path, token string, body any) resp {
	st.t.Helper()
	return st.doIP(method, path, token, body, "")
}

// doIP sends a request; ip, when set, is sent as X-Forwarded-For (not
// trusted by the server: every request comes from 127.0.0.1).
func (st *stack) doIP(method, path, token string, body any, ua string) resp {
	st.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, st.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ua != "" {
		req.Header.Set("User-Agent", ua)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	_, _ = st.bodies.Write(append(raw, '\n'))
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (st *stack) expect(r resp, status int, code string) {
	st.t.Helper()
	if r.status != status || (code != "" && r.str("code") != code) {
		st.t.Fatalf("got %d %s; want %d %s\n%s", r.status, r.str("code"), status, code, r.raw)
	}
}

const goodPassword = "correct horse battery staple"

// registerVerified registers and verifies email and logs in; it returns
// the access and refresh tokens.
func (st *stack) registerVerified(email string) (access, refresh string) {
	st.t.Helper()
	st.expect(st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": goodPassword, "display_name": "Test"}), 201, "")
	tok := linkToken(st.t, st.mail.wait(st.t, email, identity.TemplateVerifyEmail))
	st.expect(st.do("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": tok}), 200, "")
	return st.login(email, goodPassword, "")
}

func (st *stack) login(email, password, ua string) (access, refresh string) {
	st.t.Helper()
	r := st.doIP("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": password}, ua)
	st.expect(r, 200, "")
	return r.str("access_token"), r.str("refresh_token")
}

var _ ratelimit.Limiter = (*memory.RateLimiter)(nil)
