package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// The identity stack of these tests is the real service, repositories
// (SQLite), JWT adapter and HTTP server, assembled in-process with a fake
// clock and a fake mailer, so that expiry, grace windows and lockouts can
// be driven; tests/identity_program_test.go covers the same wiring
// through cli.Run.

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

// buildStack assembles the API as wire does for production, on SQLite,
// memory adapters and a fake clock, and serves it on a test server.
func buildStack(t testing.TB, spec stackSpec) *stack {
	t.Helper()
	ctx := context.Background()
	start := spec.start
	if start.IsZero() {
		start = time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)
	}
	st := &stack{t: t, clock: &fakeClock{t: start}, mail: &fakeMailer{}, logs: &syncBuffer{}, bodies: &syncBuffer{}}
	log := telemetry.NewLogger(telemetry.Config{LogLevel: slog.LevelDebug, LogFormat: "json", ServiceName: "test"}, st.logs)

	dbCfg := sqlstore.DefaultConfig()
	dbCfg.URL = "sqlite://" + filepath.Join(t.TempDir(), "identity.db")
	db, closeDB, err := sqlstore.Open(ctx, dbCfg, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeDB)
	if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	st.db = db
	ring, err := identity.NewKeyRing(testSigningKey)
	if err != nil {
		t.Fatal(err)
	}
	st.ring = ring
	st.tokens, err = jwtauth.New(testJWTConfig, ring, st.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := identity.NewPasswordHasher(spec.hashing, 0)
	if err != nil {
		t.Fatal(err)
	}
	revocations, closeCache, err := memory.NewCache(memory.CacheConfig{Now: st.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeCache)
	// As in production: the cache layer (whose GetMany lets Authenticate
	// read the revocation entry and the cached profile together) and the
	// profile invalidation around every users repository and transaction.
	layer, err := cache.NewLayer(revocations, cache.Config{Now: st.clock.Now}, log, metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	st.cache = layer
	pi := identity.NewProfileInvalidation(layer, log)
	limiter := memory.NewRateLimiter(st.clock.Now)

	keys, err := mfa.NewKeyRing([]byte("mfa-test-encryption-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := mfa.NewService(mfa.DefaultConfig(1), mfa.Deps{
		Factors: sqlstore.NewMFAFactors(db), BackupCodes: sqlstore.NewMFABackupCodes(db), Users: pi.Users(sqlstore.NewUsers(db)),
		Events: sqlstore.NewEvents(db), Tx: pi.Tx(sqlstore.NewUnitOfWork(db)), Pending: memory.NewShortLived(st.clock.Now),
		Limiter: limiter, Keys: keys, Passwords: hasher, Mailer: st.mail, Log: log, Now: st.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := identity.DefaultConfig()
	cfg.PublicURL = "https://app.tradesense.test"
	for _, o := range spec.opts {
		o(&cfg)
	}
	deps := identity.Deps{
		Users: pi.Users(sqlstore.NewUsers(db)), Sessions: sqlstore.NewSessions(db), RefreshTokens: sqlstore.NewRefreshTokens(db),
		EmailTokens: sqlstore.NewEmailTokens(db), Events: sqlstore.NewEvents(db), Tx: pi.Tx(sqlstore.NewUnitOfWork(db)),
		Tokens: st.tokens, Hasher: hasher, Policy: identity.NewPasswordPolicy(), Limiter: limiter,
		Revocations: layer, Mailer: st.mail, SecondFactor: second, Log: log, Now: st.clock.Now,
	}
	st.svc, err = identity.NewService(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.svc.Close)
	httpDeps := httpapi.Deps{
		Log: log, TracerProvider: tracenoop.NewTracerProvider(), MeterProvider: metricnoop.NewMeterProvider(),
		Propagator: telemetry.Propagator(), Metrics: http.NotFoundHandler(), Health: health.NewRegistry(time.Second),
		Identity: st.svc, Keys: ring, MFA: second,
		// These tests call no job operation.
		Jobs: struct{ httpapi.JobInspector }{}, Mail: struct{ httpapi.BulkMailer }{},
	}
	if httpDeps.MFAFlows, err = mfa.NewFlows(second, st.svc); err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(ctx, httpapi.DefaultConfig(), httpDeps)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
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
