package oauth_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/oauth/oauthtest"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/shortlived"
)

// The fakes of this file stand in for identity and the provider adapter,
// so that the service's rules can be driven with synctest's clock. The
// same rules against the real identity service, SQLite and an in-process
// OpenID provider are in tests/oauthflow.

type fakeProvider struct {
	mu        sync.Mutex
	claims    oauth.Claims
	err       error
	authCalls int
	last      oauth.Completion
}

func (p *fakeProvider) AuthCodeURL(_ context.Context, a oauth.Authorization) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.authCalls++
	return "https://idp.example/authorize?" + url.Values{"state": {a.State}, "nonce": {a.Nonce}}.Encode(), nil
}

func (p *fakeProvider) Exchange(_ context.Context, c oauth.Completion) (oauth.Claims, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = c
	return p.claims, p.err
}

type fakeProviders map[string]*fakeProvider

func (f fakeProviders) Lookup(name string) (oauth.Provider, bool) {
	p, ok := f[name]
	return p, ok
}

func (f fakeProviders) List() []oauth.ProviderInfo {
	return []oauth.ProviderInfo{{Name: "idp", DisplayName: "IdP"}}
}

type fakeUsers struct {
	mu sync.Mutex
	m  map[uuid.UUID]identity.User
}

func (u *fakeUsers) Create(_ context.Context, usr *identity.User) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.m {
		if identity.EmailKey(o.Email) == identity.EmailKey(usr.Email) {
			return apperr.New(apperr.Conflict, identity.CodeEmailTaken, "taken")
		}
	}
	if usr.ID == uuid.Nil {
		usr.ID = uuid.Must(uuid.NewV7())
	}
	u.m[usr.ID] = *usr
	return nil
}

func (u *fakeUsers) Get(_ context.Context, id uuid.UUID) (*identity.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	o, ok := u.m[id]
	if !ok {
		return nil, apperr.New(apperr.NotFound, identity.CodeUserNotFound, "no user")
	}
	return &o, nil
}

func (u *fakeUsers) GetByEmail(_ context.Context, email string) (*identity.User, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, o := range u.m {
		if identity.EmailKey(o.Email) == identity.EmailKey(email) {
			return &o, nil
		}
	}
	return nil, apperr.New(apperr.NotFound, identity.CodeUserNotFound, "no user")
}

// Update holds the lock while fn runs, like a row lock.
func (u *fakeUsers) Update(_ context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	o, ok := u.m[id]
	if !ok {
		return apperr.New(apperr.NotFound, identity.CodeUserNotFound, "no user")
	}
	next, err := fn(&o)
	if err != nil {
		return err
	}
	u.m[id] = *next
	return nil
}

type fakeSessions struct {
	mu sync.Mutex
	m  map[uuid.UUID]identity.Session
}

func (s *fakeSessions) Get(_ context.Context, id uuid.UUID) (*identity.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.m[id]
	if !ok {
		return nil, apperr.New(apperr.NotFound, identity.CodeSessionNotFound, "no session")
	}
	return &o, nil
}

type issued struct {
	user uuid.UUID
	aal  int
	amr  []string
}

type fakeAccounts struct {
	mu      sync.Mutex
	issued  []issued
	revoked []uuid.UUID
}

func (a *fakeAccounts) IssueSession(_ context.Context, u *identity.User, aal int, amr []string) (*identity.TokenPair, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.issued = append(a.issued, issued{u.ID, aal, amr})
	return &identity.TokenPair{AccessToken: "at", RefreshToken: "rt", User: u, SessionID: uuid.New()}, nil
}

func (a *fakeAccounts) RevokeAccess(_ context.Context, userID uuid.UUID, _ string) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.revoked = append(a.revoked, userID)
	return 1, nil
}

func (a *fakeAccounts) ConfirmPassword(_ context.Context, _ identity.Principal, pw string) error {
	if pw != "the password" {
		return apperr.New(apperr.Invalid, identity.CodeCurrentPasswordBad, "wrong")
	}
	return nil
}

type fakeSecondFactor struct{ first string }

func (f *fakeSecondFactor) BeginLoginAfter(_ context.Context, _ *identity.User, _ identity.ClientMeta, first string) (identity.MFAChallenge, error) {
	f.first = first
	return identity.MFAChallenge{Token: "mfa-token", Methods: []string{"totp"}}, nil
}

type fakeEvents struct {
	mu  sync.Mutex
	all []identity.Event
}

func (e *fakeEvents) Record(_ context.Context, ev *identity.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, *ev)
	return nil
}

type noTx struct{}

func (noTx) Do(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }

// memFlows is a shortlived.Store on the (synctest) clock.
type memFlows struct {
	mu sync.Mutex
	m  map[string]struct {
		v   []byte
		exp time.Time
	}
}

func (f *memFlows) Put(_ context.Context, k string, v []byte, ttl time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[k] = struct {
		v   []byte
		exp time.Time
	}{bytes.Clone(v), time.Now().Add(ttl)}
	return nil
}

func (f *memFlows) read(k string, take bool) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	e, ok := f.m[k]
	if !ok || !time.Now().Before(e.exp) {
		return nil, shortlived.NotFound()
	}
	if take {
		delete(f.m, k)
	}
	return bytes.Clone(e.v), nil
}

func (f *memFlows) Get(_ context.Context, k string) ([]byte, error)  { return f.read(k, false) }
func (f *memFlows) Take(_ context.Context, k string) ([]byte, error) { return f.read(k, true) }
func (f *memFlows) Delete(_ context.Context, k string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.m, k)
	return nil
}

type allow struct{}

func (allow) Hit(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{Allowed: true}, nil
}
func (allow) Peek(context.Context, string, ratelimit.Limit) (ratelimit.Result, error) {
	return ratelimit.Result{Allowed: true}, nil
}
func (allow) Reset(context.Context, string) error { return nil }

type fakeMailer struct {
	mu   sync.Mutex
	sent []identity.Email
}

func (m *fakeMailer) SendEmail(_ context.Context, e identity.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sent = append(m.sent, e)
	return "job", nil
}

type env struct {
	svc      *oauth.Service
	idp      *fakeProvider
	users    *fakeUsers
	idents   *oauthtest.Identities
	sessions *fakeSessions
	accounts *fakeAccounts
	mfa      *fakeSecondFactor
	events   *fakeEvents
	mail     *fakeMailer
}

const (
	appCB    = "https://app.example/auth/callback"
	errorCB  = "https://app.example/auth/error"
	mobileCB = "com.example.app:/oauth"
)

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{idp: &fakeProvider{}, users: &fakeUsers{m: map[uuid.UUID]identity.User{}}, idents: oauthtest.NewIdentities(),
		sessions: &fakeSessions{m: map[uuid.UUID]identity.Session{}}, accounts: &fakeAccounts{}, mfa: &fakeSecondFactor{},
		events: &fakeEvents{}, mail: &fakeMailer{}}
	cfg := oauth.DefaultConfig(1)
	cfg.RedirectAllowList = []string{appCB, errorCB, mobileCB}
	cfg.ErrorRedirect = errorCB
	svc, err := oauth.NewService(cfg, oauth.Deps{Providers: fakeProviders{"idp": e.idp}, Identities: e.idents, Users: e.users, Sessions: e.sessions,
		Accounts: e.accounts, SecondFactor: e.mfa, Events: e.events, Tx: noTx{}, Flows: &memFlows{m: map[string]struct {
			v   []byte
			exp time.Time
		}{}}, Limiter: allow{}, Mailer: e.mail})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// start begins a flow and returns it with the state the provider got.
func (e *env) start(t *testing.T, req oauth.StartRequest) (*oauth.Started, string) {
	t.Helper()
	if req.Provider == "" {
		req.Provider = "idp"
	}
	if req.RedirectTo == "" {
		req.RedirectTo = appCB
	}
	st, err := e.svc.Start(context.Background(), req)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	u, _ := url.Parse(st.AuthURL)
	return st, u.Query().Get("state")
}

func (e *env) callback(t *testing.T, state, browser string) (*oauth.Landing, url.Values) {
	t.Helper()
	l, err := e.svc.Callback(context.Background(), oauth.CallbackRequest{Provider: "idp", RawQuery: url.Values{"state": {state}, "code": {"provider-code"}}.Encode(), BrowserSecret: browser})
	if err != nil {
		t.Fatalf("Callback: %v", err)
	}
	u, err := url.Parse(l.Location)
	if err != nil {
		t.Fatal(err)
	}
	return l, u.Query()
}

func (e *env) addUser(t *testing.T, email string, verified bool, password string) *identity.User {
	t.Helper()
	u := &identity.User{Email: email, PasswordHash: password, Role: identity.RoleUser}
	if verified {
		now := time.Now().UTC()
		u.EmailVerifiedAt = &now
	}
	if err := e.users.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func landingOn(t *testing.T, l *oauth.Landing, base string) {
	t.Helper()
	if !strings.HasPrefix(l.Location, base+"?") {
		t.Fatalf("landed on %s; want %s", l.Location, base)
	}
}
