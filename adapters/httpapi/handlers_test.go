package httpapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/reqctx"
)

// The services of testDeps. An embedded nil interface makes a fake of any
// size: a test overrides the methods its handler calls, and any other call
// panics (a 500 the test sees).

// stubIdentity refuses every access token.
type stubIdentity struct{ Identity }

func (stubIdentity) Authenticate(context.Context, string) (identity.Principal, error) {
	return identity.Principal{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenMissing, "Authentication is required.")
}

type stubKeys struct{}

func (stubKeys) PublicKeys() []identity.PublicKey { return nil }

// fakeSignup is the handler test's fake: Register alone.
type fakeSignup struct {
	stubIdentity
	got identity.RegisterInput
	err error
}

func (f *fakeSignup) Register(_ context.Context, in identity.RegisterInput) (*identity.User, error) {
	f.got = in
	if f.err != nil {
		return nil, f.err
	}
	return &identity.User{ID: uuid.MustParse("0b5c5d6e-0000-4000-8000-000000000001"), Email: in.Email, DisplayName: in.DisplayName,
		Role: identity.RoleUser, CreatedAt: time.Date(2025, 6, 2, 9, 0, 0, 0, time.UTC)}, nil
}

// TestRegisterHandlerOnAFake drives POST /api/v1/auth/register through the
// whole server with a fake identity module: the handler hands the decoded
// body to the service and renders its user, or its error as a problem.
func TestRegisterHandlerOnAFake(t *testing.T) {
	fake := &fakeSignup{}
	d := testDeps(t, io.Discard, nil)
	d.Identity = fake
	s := newTestServer(t, DefaultConfig(), d)

	req := httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader(`{"email":"ann@example.com","password":"correct horse battery staple","display_name":"Ann"}`))
	req.Header.Set("Content-Type", "application/json")
	rec := serve(s, req)
	if rec.Code != 201 {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if fake.got != (identity.RegisterInput{Email: "ann@example.com", Password: "correct horse battery staple", DisplayName: "Ann"}) {
		t.Fatalf("service got %+v", fake.got)
	}
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body["id"] != "0b5c5d6e-0000-4000-8000-000000000001" || body["email"] != "ann@example.com" || body["timezone"] != "UTC" ||
		body["email_verified"] != false || body["created_at"] != "2025-06-02T09:00:00Z" {
		t.Fatalf("body %v", body)
	}
	if _, ok := body["password"]; ok {
		t.Fatal("the password came back")
	}

	fake.err = apperr.New(apperr.Conflict, "email_taken", "taken")
	req = httptest.NewRequest("POST", "/api/v1/auth/register", strings.NewReader(`{"email":"ann@example.com","password":"correct horse battery staple"}`))
	req.Header.Set("Content-Type", "application/json")
	wantProblem(t, serve(s, req), 409, "email_taken")
}

// fakeProfiles authenticates every token as one user and records the
// context each Me call got.
type fakeProfiles struct {
	stubIdentity
	caller identity.Principal
	mu     sync.Mutex
	seen   []context.Context
}

func (f *fakeProfiles) Authenticate(context.Context, string) (identity.Principal, error) {
	return f.caller, nil
}

func (f *fakeProfiles) Me(ctx context.Context, p identity.Principal) (*identity.User, error) {
	f.mu.Lock()
	f.seen = append(f.seen, ctx)
	f.mu.Unlock()
	return &identity.User{ID: p.UserID, Email: "ann@example.com", Role: p.Role}, nil
}

// TestHandlersKeepTheirRequestsContext: a context a handler keeps (as
// background work does) still belongs to its own request after Gin has
// served the next ones with its recycled context.
func TestHandlersKeepTheirRequestsContext(t *testing.T) {
	fake := &fakeProfiles{caller: identity.Principal{UserID: uuid.New(), SessionID: uuid.New(), Role: identity.RoleUser, AAL: 1}}
	d := testDeps(t, io.Discard, nil)
	d.Identity = fake
	s := newTestServer(t, DefaultConfig(), d)
	const n = 20
	for i := range n {
		req := httptest.NewRequest("GET", "/api/v1/auth/me", nil)
		req.Header.Set("Authorization", "Bearer t")
		req.Header.Set(RequestIDHeader, "req-"+string(rune('a'+i)))
		if rec := serve(s, req); rec.Code != 200 {
			t.Fatalf("GET /me: %d %s", rec.Code, rec.Body)
		}
	}
	if len(fake.seen) != n {
		t.Fatalf("Me called %d times", len(fake.seen))
	}
	for i, ctx := range fake.seen {
		if got, want := reqctx.RequestID(ctx), "req-"+string(rune('a'+i)); got != want {
			t.Fatalf("request %d: the kept context now says request %q", i, got)
		}
		if p, ok := identity.PrincipalFrom(ctx); !ok || p.UserID != fake.caller.UserID {
			t.Fatalf("request %d: principal %v %v", i, p, ok)
		}
	}
}

func TestNewRefusesAMissingService(t *testing.T) {
	for name, clear := range map[string]func(*Deps){
		"Identity": func(d *Deps) { d.Identity = nil },
		"Keys":     func(d *Deps) { d.Keys = (*identity.KeyRing)(nil) },
		"MFA":      func(d *Deps) { d.MFA = nil },
		"MFAFlows": func(d *Deps) { d.MFAFlows = nil },
		"Jobs":     func(d *Deps) { d.Jobs = nil },
		"Mail":     func(d *Deps) { d.Mail = nil },
		"Health":   func(d *Deps) { d.Health = nil },
	} {
		d := testDeps(t, io.Discard, nil)
		clear(&d)
		if _, err := New(context.Background(), DefaultConfig(), d); err == nil || !strings.Contains(err.Error(), "Deps."+name+" is nil") {
			t.Errorf("%s nil: err %v", name, err)
		}
	}
	d := testDeps(t, io.Discard, nil)
	d.Identity = nil
	if _, err := NewOps(DefaultConfig(), d); err != nil {
		t.Fatalf("the ops server serves no identity, yet: %v", err)
	}
}
