package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/wire"
)

// The identity stack of these tests is the api program as wire assembles
// it (InitializeStack: the real services, repositories on SQLite, JWT
// adapter and HTTP server), in-process with a fake mailer and served over
// an in-memory network (pipeNetwork), so that a test can run it inside a
// synctest bubble: time.Sleep then drives expiry, grace windows and
// lockouts. tests/identity_program_test.go runs the program itself through
// cli.Run.

// linkToken is the token of the link an email carries.
func linkToken(t testing.TB, e identity.Email) string {
	t.Helper()
	return identitytest.LinkToken(t, e)
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
	bubble bool // built inside a synctest bubble (inStack)
	url    string
	client *http.Client
	mail   *identitytest.Mailer
	svc    *identity.Service
	ring   *identity.KeyRing
	tokens *jwtauth.Tokens
	db     *sqlstore.DB
	cache  *cache.Layer // the service's Revocations (and profile cache)
	hasher *identity.PasswordHasher
	logs   *syncBuffer
	bodies *syncBuffer // every response body, for the secrets scan
	// app is the whole program as wire assembled it (the trading and
	// journal services, the handler) for the tests that seed data
	// behind the API or serve it otherwise.
	app *wire.Stack
}

var (
	testSigningKey = []byte("identity-test-signing-key-0123456789abcdef")
	testMFAKey     = "mfa-test-encryption-key-0123456789abcdef"
	testJWTConfig  = jwtauth.Config{Issuer: "tradesense-test", Audience: "tradesense-api"}
)

type stackOption func(*identity.Config)

// inStack runs f in a synctest bubble on a stack built inside it.
func inStack(t *testing.T, spec stackSpec, f func(t *testing.T, st *stack)) {
	t.Helper()
	if spec.hashing == (identity.Argon2Params{}) {
		spec.hashing = identity.TestParams
	}
	synctest.Test(t, func(t *testing.T) {
		st := buildStack(t, spec)
		st.bubble = true
		f(t, st)
	})
}

// newStack builds a stack outside a bubble (for fuzz targets): it runs on
// real time.
func newStack(t testing.TB, opts ...stackOption) *stack {
	t.Helper()
	return buildStack(t, stackSpec{hashing: identity.TestParams, opts: opts})
}

// stackSpec says what buildStack assembles.
type stackSpec struct {
	hashing identity.Argon2Params
	limit   identity.HashLimit // zero: the configured default
	opts    []stackOption
	// env adds to (or overrides) the environment of the program.
	env map[string]string
}

// buildStack assembles the api program with wire's InitializeStack, the
// production wiring of the local profile (SQLite under a temporary
// DATA_DIR, memory adapters) with the fake mailer, and serves it on an
// in-memory network.
func buildStack(t testing.TB, spec stackSpec) *stack {
	t.Helper()
	st := &stack{t: t, mail: &identitytest.Mailer{}, logs: &syncBuffer{}, bodies: &syncBuffer{}}
	env := map[string]string{
		"APP_ENV": "test", "DATA_DIR": t.TempDir(), "LOG_FORMAT": "json", "LOG_LEVEL": "debug",
		"PUBLIC_URL":      "https://app.tradesense.test",
		"JWT_SIGNING_KEY": string(testSigningKey), "MFA_ENCRYPTION_KEY": testMFAKey,
		"AUTH_JWT_ISSUER": testJWTConfig.Issuer, "AUTH_JWT_AUDIENCE": testJWTConfig.Audience,
	}
	maps.Copy(env, spec.env)
	cfg, err := wire.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Argon2 = spec.hashing
	if spec.limit != (identity.HashLimit{}) {
		cfg.Identity.Hashing = spec.limit
	}
	for _, o := range spec.opts {
		o(&cfg.Identity.Service)
	}
	app, cleanup, err := wire.InitializeStack(context.Background(), cfg, wire.LogOutput{Writer: st.logs}, st.mail, wire.ProviderClient{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	st.svc, st.ring, st.tokens, st.db, st.cache, st.hasher = app.Identity, app.Keys, app.Tokens, app.DB, app.Cache, app.Hasher
	st.app = app
	st.url, st.client = serve(t, app.Server.Handler())
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
	res, err := st.client.Do(req)
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

// waitMail returns the newest email to `to` with template, waiting for
// background sends: inside a bubble until every goroutine of the stack is
// idle, outside for at most 30 s (a deadline for a mail never sent, not a
// budget: the send runs in the background on a host that may be slow).
func (st *stack) waitMail(to, template string) identity.Email {
	st.t.Helper()
	if st.bubble {
		synctest.Wait()
	} else {
		for deadline := time.Now().Add(30 * time.Second); len(st.mail.To(to, template)) == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
	}
	return st.mail.Last(st.t, to, template)
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
	tok := linkToken(st.t, st.waitMail(email, identity.TemplateVerifyEmail))
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
