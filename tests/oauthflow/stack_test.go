// Package oauthflow_test drives OAuth sign-in through the services as
// wire assembles them for the api program (identity, MFA, OAuth over
// SQLite, the memory stores, JWT and adapters/oidc) against an in-process
// OpenID provider and GitHub fake, without HTTP: the browser's and the
// app's parts are played by the tests. The HTTP edge (cookies, redirects,
// problem responses) is tested over HTTP in tests/oauth_test.go.
package oauthflow_test

import (
	"context"
	"encoding/base32"
	"io"
	"log/slog"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/oidc"
	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/wire"
)

const (
	webCB    = "https://app.tradesense.test/auth/callback"
	errorCB  = "https://app.tradesense.test/auth/error"
	mobileCB = "com.tradesense.app:/oauth"
)

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
	mail     *identitytest.Mailer
}

// newStack assembles the api program as wire builds it for production
// (InitializeStack: the local profile's SQLite and memory adapters, and
// every service over them, OAuth included) with this package's mailer,
// and OAuth configured through the variables, client secrets included,
// for the in-process OP (acme) and the GitHub fake.
func newStack(t testing.TB) *stack {
	t.Helper()
	s := &stack{op: oidctest.NewOP(t), gh: oidctest.NewGitHub(t), mail: &identitytest.Mailer{}}
	env := map[string]string{
		"APP_ENV": "test", "DATA_DIR": t.TempDir(), "LOG_FORMAT": "json", "LOG_LEVEL": "warn",
		"PUBLIC_URL": "https://app.tradesense.test", "AUTH_NOTIFY_NEW_LOGIN": "false", "AUTH_IP_RATE_MULTIPLIER": "1000",
		"JWT_SIGNING_KEY": "oauth-test-signing-key-0123456789abcdef", "MFA_ENCRYPTION_KEY": "oauth-test-mfa-encryption-key-0123456789",
		"OAUTH_PROVIDERS": "acme,github", "OAUTH_REDIRECT_ALLOWLIST": webCB + "," + errorCB + "," + mobileCB, "OAUTH_ERROR_REDIRECT": errorCB,
		"OAUTH_ACME_ISSUER": s.op.Issuer(), "OAUTH_ACME_CLIENT_ID": s.op.ClientID(), "OAUTH_ACME_CLIENT_SECRET": s.op.ClientSecret(),
		"OAUTH_GITHUB_CLIENT_ID": s.gh.ClientID, "OAUTH_GITHUB_CLIENT_SECRET": s.gh.ClientSecret,
		"OAUTH_GITHUB_GITHUB_URL": s.gh.URL(), "OAUTH_GITHUB_GITHUB_API_URL": s.gh.APIURL(),
	}
	cfg, err := wire.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Argon2 = identity.TestParams
	app, cleanup, err := wire.InitializeStack(context.Background(), cfg, wire.LogOutput{Writer: io.Discard}, s.mail, wire.ProviderClient{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	s.db, s.reg, s.idsvc, s.mfa, s.flows, s.svc = app.DB, app.OAuthProviders, app.Identity, app.MFA, app.MFAFlows, app.OAuth
	s.users = identity.NewProfileInvalidation(app.Cache, slog.New(slog.DiscardHandler)).Users(sqlstore.NewUsers(app.DB))
	s.events, s.sessions, s.idents = sqlstore.NewEvents(app.DB), sqlstore.NewSessions(app.DB), sqlstore.NewIdentities(app.DB)
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
