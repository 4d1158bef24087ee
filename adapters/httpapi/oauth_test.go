package httpapi

import (
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

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth"
)

// fakeOAuth records what the handlers hand the OAuth module.
type fakeOAuth struct {
	OAuth
	mu       sync.Mutex
	start    oauth.StartRequest
	link     oauth.LinkRequest
	callback oauth.CallbackRequest
	exchange oauth.ExchangeRequest
	unlinked uuid.UUID
	password string
	err      error
}

var testStarted = &oauth.Started{AuthURL: "https://idp.example/authorize?state=s", BrowserSecret: strings.Repeat("B", 43),
	ExpiresAt: time.Date(2025, 6, 2, 9, 10, 0, 0, time.UTC), MaxAge: 10 * time.Minute}

func (f *fakeOAuth) Start(_ context.Context, req oauth.StartRequest) (*oauth.Started, error) {
	f.start = req
	if f.err != nil {
		return nil, f.err
	}
	return testStarted, nil
}

func (f *fakeOAuth) StartLink(_ context.Context, _ identity.Principal, req oauth.LinkRequest) (*oauth.Started, error) {
	f.link = req
	return testStarted, f.err
}

// Callback lands as the service does: on the parsed query's state, or
// nowhere when the query is malformed.
func (f *fakeOAuth) Callback(_ context.Context, req oauth.CallbackRequest) (*oauth.Landing, error) {
	f.mu.Lock()
	f.callback = req
	f.mu.Unlock()
	p, err := oauth.ParseCallback(req.RawQuery)
	if err != nil {
		return nil, apperr.New(apperr.Invalid, oauth.CodeStateInvalid, "This sign-in link is invalid or has expired.")
	}
	return &oauth.Landing{Location: "https://app.example/cb?" + url.Values{"code": {p.State}}.Encode()}, nil
}

func (f *fakeOAuth) Exchange(_ context.Context, req oauth.ExchangeRequest) (identity.LoginResult, error) {
	f.exchange = req
	return identity.LoginResult{MFA: &identity.MFAChallenge{Token: "mfa-token", Methods: []string{"totp"}}}, f.err
}

func (f *fakeOAuth) Unlink(_ context.Context, _ identity.Principal, id uuid.UUID, password string) error {
	f.unlinked, f.password = id, password
	return f.err
}

// signedIn authenticates every bearer token as one user.
type signedIn struct{ stubIdentity }

func (signedIn) Authenticate(context.Context, string) (identity.Principal, error) {
	return identity.Principal{UserID: uuid.MustParse("0b5c5d6e-0000-4000-8000-000000000002"), SessionID: uuid.New(), Role: identity.RoleUser, AAL: 1}, nil
}

func oauthServer(t testing.TB, f *fakeOAuth) *Server {
	t.Helper()
	d := testDeps(t, io.Discard, nil)
	d.OAuth, d.Identity = f, signedIn{}
	return newTestServer(t, DefaultConfig(), d)
}

func TestStartRedirectsAndSetsTheFlowCookie(t *testing.T) {
	f := &fakeOAuth{}
	s := oauthServer(t, f)
	challenge := strings.Repeat("c", 43)
	req := httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/start?redirect_to="+url.QueryEscape("com.example.app:/cb")+
		"&code_challenge="+challenge+"&code_challenge_method=S256", nil)
	req.AddCookie(&http.Cookie{Name: FlowCookie, Value: "the-browser-secret"})
	rec := serve(s, req)
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != testStarted.AuthURL || rec.Header().Get("Cache-Control") != "no-store" || rec.Body.Len() != 0 {
		t.Fatalf("start answered %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	want := oauth.StartRequest{Provider: "acme", RedirectTo: "com.example.app:/cb", CodeChallenge: challenge, CodeChallengeMethod: "S256", BrowserSecret: "the-browser-secret"}
	if f.start != want {
		t.Fatalf("service got %+v", f.start)
	}
	set := rec.Header().Values("Set-Cookie")
	if len(set) != 1 {
		t.Fatalf("Set-Cookie %q", set)
	}
	for _, attr := range []string{FlowCookie + "=" + testStarted.BrowserSecret, "Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"} {
		if !strings.Contains(set[0], attr) {
			t.Errorf("cookie %q lacks %s", set[0], attr)
		}
	}
	if strings.Contains(strings.ToLower(set[0]), "domain=") {
		t.Errorf("a __Host- cookie with a Domain: %q", set[0])
	}

	// The service's refusal is a problem; a method other than S256 never
	// reaches it.
	f.err = &apperr.Error{Kind: apperr.Invalid, Code: oauth.CodeRedirectInvalid, Message: "redirect_to is not an allowed address."}
	rec = serve(s, httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/start?redirect_to=//evil.example", nil))
	wantProblem(t, rec, 400, oauth.CodeRedirectInvalid)
	if rec.Header().Get("Set-Cookie") != "" || rec.Header().Get("Location") != "" {
		t.Fatalf("a refused start set %v", rec.Header())
	}
	f.start = oauth.StartRequest{}
	rec = serve(s, httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/start?redirect_to=x&code_challenge="+challenge+"&code_challenge_method=plain", nil))
	wantProblem(t, rec, 400, "validation_failed")
	if rec = serve(s, httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/start", nil)); rec.Code != 400 || f.start.Provider != "" {
		t.Fatalf("start without redirect_to: %d, service called with %+v", rec.Code, f.start)
	}
}

func TestCallbackHandsTheQueryOverAsItCame(t *testing.T) {
	f := &fakeOAuth{}
	s := oauthServer(t, f)
	raw := "state=s%2B1&code=c1&scope=openid+email&authuser=0&prompt=none&session_state=x.y"
	req := httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/callback?"+raw, nil)
	req.AddCookie(&http.Cookie{Name: FlowCookie, Value: "the-browser-secret"})
	rec := serve(s, req)
	if f.callback != (oauth.CallbackRequest{Provider: "acme", RawQuery: raw, BrowserSecret: "the-browser-secret"}) {
		t.Fatalf("service got %+v", f.callback)
	}
	if rec.Code != http.StatusFound || rec.Header().Get("Location") != "https://app.example/cb?code=s%2B1" || rec.Body.Len() != 0 ||
		rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("callback answered %d %v %q", rec.Code, rec.Header(), rec.Body)
	}
	if rec.Header().Get("Set-Cookie") != "" {
		t.Fatalf("the callback touched the cookie: %q", rec.Header().Get("Set-Cookie"))
	}
	// A repeated state reaches the parser too, which refuses it: with
	// nowhere to land, a problem (never a binding error of ours).
	rec = serve(s, httptest.NewRequest("GET", "/api/v1/auth/oauth/acme/callback?state=a&state=b&code=c", nil))
	if f.callback.RawQuery != "state=a&state=b&code=c" {
		t.Fatalf("service got %q", f.callback.RawQuery)
	}
	wantProblem(t, rec, 400, oauth.CodeStateInvalid)
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Fatalf("problem headers %v", rec.Header())
	}
}

func TestExchangeAnswersAsLoginDoes(t *testing.T) {
	f := &fakeOAuth{}
	s := oauthServer(t, f)
	req := httptest.NewRequest("POST", "/api/v1/auth/oauth/token", strings.NewReader(`{"code":"c1","code_verifier":"v1"}`))
	req.Header.Set("Content-Type", "application/json")
	req.AddCookie(&http.Cookie{Name: FlowCookie, Value: "the-browser-secret"})
	rec := serve(s, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if body["mfa_required"] != true || body["mfa_token"] != "mfa-token" || f.exchange != (oauth.ExchangeRequest{Code: "c1", CodeVerifier: "v1", BrowserSecret: "the-browser-secret"}) {
		t.Fatalf("body %v; service got %+v", body, f.exchange)
	}
	req = httptest.NewRequest("POST", "/api/v1/auth/oauth/token", strings.NewReader(`{"code":"c1","extra":1}`))
	req.Header.Set("Content-Type", "application/json")
	wantProblem(t, serve(s, req), 400, "validation_failed")
}

func TestLinkAndUnlink(t *testing.T) {
	f := &fakeOAuth{}
	s := oauthServer(t, f)
	req := httptest.NewRequest("POST", "/api/v1/auth/identities/github", strings.NewReader(`{"redirect_to":"https://app.example/cb","password":"pw"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer t")
	rec := serve(s, req)
	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 200 || body["authorization_url"] != testStarted.AuthURL ||
		body["expires_at"] != "2025-06-02T09:10:00Z" || !strings.HasPrefix(rec.Header().Get("Set-Cookie"), FlowCookie+"=") {
		t.Fatalf("%d %v %s", rec.Code, rec.Header(), rec.Body)
	}
	if f.link.Provider != "github" || f.link.RedirectTo != "https://app.example/cb" || f.link.Password != "pw" {
		t.Fatalf("service got %+v", f.link)
	}

	id := uuid.New()
	req = httptest.NewRequest("DELETE", "/api/v1/auth/identities/"+id.String(), nil)
	req.Header.Set("Authorization", "Bearer t")
	req.Header.Set("X-Current-Password", "pw2")
	if rec := serve(s, req); rec.Code != 204 || f.unlinked != id || f.password != "pw2" {
		t.Fatalf("unlink %d; service got %s %q", rec.Code, f.unlinked, f.password)
	}
	f.err = apperr.New(apperr.NotFound, oauth.CodeIdentityNotFound, "No such linked account.")
	req = httptest.NewRequest("DELETE", "/api/v1/auth/identities/"+uuid.NewString(), nil)
	req.Header.Set("Authorization", "Bearer t")
	wantProblem(t, serve(s, req), 404, oauth.CodeIdentityNotFound)
	req = httptest.NewRequest("DELETE", "/api/v1/auth/identities/github", nil)
	req.Header.Set("Authorization", "Bearer t")
	if errs, _ := wantProblem(t, serve(s, req), 400, "validation_failed")["errors"].(map[string]any); errs["identity"] == nil {
		t.Fatal("the problem does not name the identity parameter")
	}
}

// FuzzCallbackEdge sends any query and cookie to the callback through the
// whole middleware chain (routing, validation, the raw handler): the answer
// is a redirect without a body or a 4xx problem, never a 5xx, and the
// query reaches the service byte for byte.
func FuzzCallbackEdge(f *testing.F) {
	for _, seed := range [][2]string{{"state=s&code=c", "x"}, {"state=s&state=t&code=c", ""}, {"%zz", "a;b"}, {"state=%C3%A9&error=access_denied", "\x00"}, {"code=c&iss=https%3A%2F%2Fa", "é"}} {
		f.Add(seed[0], seed[1])
	}
	fake := &fakeOAuth{}
	s := oauthServer(f, fake)
	f.Fuzz(func(t *testing.T, rawQuery, cookie string) {
		u := &url.URL{Path: "/api/v1/auth/oauth/acme/callback", RawQuery: rawQuery}
		req, err := http.NewRequest("GET", u.String(), nil)
		if err != nil || req.URL.RawQuery != rawQuery {
			return // not a request line a client can send
		}
		req.Header.Set("Cookie", FlowCookie+"="+cookie)
		rec := serve(s, req)
		switch {
		case rec.Code == http.StatusFound:
			if rec.Header().Get("Location") == "" || rec.Body.Len() != 0 {
				t.Fatalf("redirect %v with body %q", rec.Header(), rec.Body)
			}
			fake.mu.Lock()
			got := fake.callback.RawQuery
			fake.mu.Unlock()
			if got != rawQuery {
				t.Fatalf("service got %q; sent %q", got, rawQuery)
			}
		case rec.Code >= 400 && rec.Code < 500:
			if rec.Header().Get("Content-Type") != ProblemContentType {
				t.Fatalf("%d with %q", rec.Code, rec.Header().Get("Content-Type"))
			}
		default:
			t.Fatalf("status %d for %q: %s", rec.Code, rawQuery, rec.Body)
		}
		if rec.Header().Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("no Referrer-Policy for %q", rawQuery)
		}
	})
}
