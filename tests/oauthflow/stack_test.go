// Package oauthflow_test drives OAuth sign-in through the real core
// services (identity, MFA, OAuth), the real adapters (SQLite, memory
// stores, JWT, adapters/oidc) and an in-process OpenID provider and
// GitHub fake, without HTTP: the browser's and the app's parts are played
// by the tests. The HTTP edge (cookies, redirects, problem responses) is
// tested over HTTP once it exists.
package oauthflow_test

import (
	"context"
	"encoding/base32"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/oidc"
	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/secrets"
)

const (
	webCB    = "https://app.tradesense.test/auth/callback"
	errorCB  = "https://app.tradesense.test/auth/error"
	mobileCB = "com.tradesense.app:/oauth"
)

type mailer struct {
	mu   sync.Mutex
	sent []identity.Email
}

func (m *mailer) SendEmail(_ context.Context, e identity.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return "job", nil
}

// find returns the newest mail of template to to, waiting a little for
// background sends.
func (m *mailer) find(to, template string) (identity.Email, bool) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		m.mu.Lock()
		for i := len(m.sent) - 1; i >= 0; i-- {
			if m.sent[i].To == to && m.sent[i].Template == template {
				e := m.sent[i]
				m.mu.Unlock()
				return e, true
			}
		}
		m.mu.Unlock()
		if time.Now().After(deadline) {
			return identity.Email{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type stack struct {
	db       *sqlstore.DB
	op       *oidctest.OP
	gh       *oidctest.GitHub
	reg      *oidc.Registry
	idsvc    *identity.Service
	mfa      *mfa.Service
	flows    *mfa.Flows
	svc      *oauth.Service
	users    identity.Users
	idents   *sqlstore.Identities
	events   *sqlstore.Events
	sessions *sqlstore.Sessions
	mail     *mailer
}

func newStack(t testing.TB) *stack {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	s := &stack{op: oidctest.NewOP(t), gh: oidctest.NewGitHub(t), mail: &mailer{}}

	dbCfg := sqlstore.DefaultConfig()
	dbCfg.URL = "sqlite://" + filepath.Join(t.TempDir(), "oauth.db")
	db, closeDB, err := sqlstore.Open(ctx, dbCfg, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeDB)
	if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	s.db = db
	ring, err := identity.NewKeyRing([]byte("oauth-test-signing-key-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := jwtauth.New(jwtauth.Config{Issuer: "tradesense-test", Audience: "tradesense-api"}, ring, nil)
	if err != nil {
		t.Fatal(err)
	}
	hasher, err := identity.NewPasswordHasher(identity.TestParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	revocations, closeCache, err := memory.NewCache(memory.CacheConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeCache)
	layer, err := cache.NewLayer(revocations, cache.Config{}, log, metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	pi := identity.NewProfileInvalidation(layer, log)
	limiter := memory.NewRateLimiter(nil)
	pending := memory.NewShortLived(nil)
	s.users = pi.Users(sqlstore.NewUsers(db))
	tx := pi.Tx(sqlstore.NewUnitOfWork(db))
	s.events, s.sessions, s.idents = sqlstore.NewEvents(db), sqlstore.NewSessions(db), sqlstore.NewIdentities(db)

	keys, err := mfa.NewKeyRing([]byte("oauth-test-mfa-encryption-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	s.mfa, err = mfa.NewService(mfa.DefaultConfig(1), mfa.Deps{
		Factors: sqlstore.NewMFAFactors(db), BackupCodes: sqlstore.NewMFABackupCodes(db), Users: s.users, Events: s.events, Tx: tx,
		Pending: pending, Limiter: limiter, Keys: keys, Passwords: hasher, Mailer: s.mail, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	icfg := identity.DefaultConfig()
	icfg.PublicURL = "https://app.tradesense.test"
	icfg.NotifyNewLogin = false
	s.idsvc, err = identity.NewService(icfg, identity.Deps{
		Users: s.users, Sessions: s.sessions, RefreshTokens: sqlstore.NewRefreshTokens(db), EmailTokens: sqlstore.NewEmailTokens(db),
		Events: s.events, Tx: tx, Tokens: tokens, Hasher: hasher, Policy: identity.NewPasswordPolicy(), Limiter: limiter,
		Revocations: layer, Mailer: s.mail, SecondFactor: s.mfa, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.idsvc.Close)
	if s.flows, err = mfa.NewFlows(s.mfa, s.idsvc); err != nil {
		t.Fatal(err)
	}

	// The providers as wire builds them: the variables, then the client
	// secrets through the secrets resolver's ResolveEnv (here over a map).
	env := map[string]string{
		"OAUTH_PROVIDERS": "acme,github", "OAUTH_REDIRECT_ALLOWLIST": webCB + "," + errorCB + "," + mobileCB, "OAUTH_ERROR_REDIRECT": errorCB,
		"OAUTH_ACME_ISSUER": s.op.Issuer(), "OAUTH_ACME_CLIENT_ID": s.op.ClientID(), "OAUTH_ACME_CLIENT_SECRET": s.op.ClientSecret(),
		"OAUTH_GITHUB_CLIENT_ID": s.gh.ClientID, "OAUTH_GITHUB_CLIENT_SECRET": s.gh.ClientSecret,
		"OAUTH_GITHUB_GITHUB_URL": s.gh.URL(), "OAUTH_GITHUB_GITHUB_API_URL": s.gh.APIURL(),
	}
	getenv := func(k string) string { return env[k] }
	ocfg, err := oidc.LoadConfig(getenv, false)
	if err != nil {
		t.Fatal(err)
	}
	resolver, closeResolver, err := secrets.NewResolver(secrets.ResolverConfig{}, secrets.Providers{}, secrets.SystemClock{}, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeResolver)
	ocfg.UseSecrets(func(ctx context.Context, name string) (secrets.Secret, error) {
		st, err := resolver.ResolveEnv(ctx, getenv, name)
		return st.Value, err
	})
	s.reg, err = oidc.New(ctx, ocfg, oidc.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth.DefaultConfig(1000)
	cfg.RedirectAllowList, cfg.ErrorRedirect, cfg.PublicURL = ocfg.RedirectAllowList, ocfg.ErrorRedirect, icfg.PublicURL
	s.svc, err = oauth.NewService(cfg, oauth.Deps{
		Providers: s.reg, Identities: s.idents, Users: s.users, Sessions: s.sessions, Accounts: s.idsvc, SecondFactor: s.mfa,
		Events: s.events, Tx: tx, Flows: pending, Limiter: limiter, Mailer: s.mail, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// browser is one browser's flow cookie.
type browser struct{ secret string }

// flow starts a login, plays the browser at the provider, and returns
// what the provider sends the browser back with.
func (s *stack) flow(t testing.TB, b *browser, req oauth.StartRequest) string {
	t.Helper()
	req.BrowserSecret = b.secret
	if req.RedirectTo == "" {
		req.RedirectTo = webCB
	}
	st, err := s.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	b.secret = st.BrowserSecret
	return oidctest.Authorize(t, st.AuthURL)
}

// callback finishes a flow and returns the landing's base URL and query.
func (s *stack) callback(t testing.TB, b *browser, provider, rawQuery string) (string, url.Values) {
	t.Helper()
	l, err := s.svc.Callback(context.Background(), oauth.CallbackRequest{Provider: provider, RawQuery: rawQuery, BrowserSecret: b.secret})
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	u, err := url.Parse(l.Location)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	u.RawQuery = ""
	return u.String(), q
}

// login runs a whole web login through provider and returns the login
// answer, or the landing's error code.
func (s *stack) login(t testing.TB, provider string) (identity.LoginResult, string) {
	t.Helper()
	b := &browser{}
	_, q := s.callback(t, b, provider, s.flow(t, b, oauth.StartRequest{Provider: provider}))
	if q.Get("error") != "" {
		return identity.LoginResult{}, q.Get("error")
	}
	res, err := s.svc.Exchange(context.Background(), oauth.ExchangeRequest{Code: q.Get("code"), BrowserSecret: b.secret})
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	return res, ""
}

func (s *stack) mustLogin(t testing.TB, provider string) *identity.TokenPair {
	t.Helper()
	res, code := s.login(t, provider)
	if code != "" || res.Tokens == nil {
		t.Fatalf("login through %s: error %q, result %+v", provider, code, res)
	}
	return res.Tokens
}

func (s *stack) userByEmail(t testing.TB, email string) *identity.User {
	t.Helper()
	u, err := s.users.GetByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("user %s: %v", email, err)
	}
	return u
}

func (s *stack) countUsers(t testing.TB) int {
	t.Helper()
	list, err := s.users.(interface {
		List(context.Context, identity.UserQuery) ([]identity.User, error)
	}).List(context.Background(), identity.UserQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return len(list)
}

func (s *stack) eventTypes(t testing.TB, userID uuid.UUID) map[identity.EventType]map[string]string {
	t.Helper()
	evs, err := s.events.List(context.Background(), identity.EventQuery{UserID: userID, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	out := map[identity.EventType]map[string]string{}
	for _, e := range evs {
		if _, seen := out[e.Type]; !seen {
			out[e.Type] = e.Details
		}
	}
	return out
}

func oidcUser(sub, email string, verified any) *oidctest.User {
	info := map[string]any{"email": email, "name": "Ada Lovelace"}
	if verified != nil {
		info["email_verified"] = verified
	}
	return &oidctest.User{Subject: sub, Info: info}
}

func ghUser(id int64, email string, verified bool) *oidctest.GitHubUser {
	return &oidctest.GitHubUser{ID: id, Login: "ada", Name: "Ada", Emails: []oidctest.GitHubEmail{{Email: email, Primary: true, Verified: verified}}}
}

// totpNow returns a current code for a base32 secret.
func totpNow(t testing.TB, secret string) string {
	t.Helper()
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatal(err)
	}
	p := mfa.DefaultTOTP()
	c, err := p.Code(raw, p.Step(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	return c
}
