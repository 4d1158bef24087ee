package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
	"github.com/tradesense/tradesense/wire"
)

// The OAuth sign-in over HTTP: the api program as wire assembles it
// (InitializeStack), served on a loopback port that is also its
// API_PUBLIC_URL, against the in-process OpenID provider (acme) and the
// GitHub fake. A browser is played by oaBrowser: it follows nothing by
// itself, keeps the API's cookies as a browser would, and visits the
// provider as a user would; the app's part (the code exchange, the token
// calls) is plain HTTP.

const (
	oaWebCB    = "https://app.tradesense.test/auth/callback"
	oaErrorCB  = "https://app.tradesense.test/auth/error"
	oaMobileCB = "com.tradesense.app:/oauth"
)

// awaited reports whether a mail of template reached to within 2 s.
func awaited(m *identitytest.Mailer, to, template string) bool {
	_, ok := m.Await(to, template, 2*time.Second)
	return ok
}

type oaStack struct {
	t    testing.TB
	api  string
	op   *oidctest.OP
	gh   *oidctest.GitHub
	mail *identitytest.Mailer
	http *http.Client // the browsers' client: it follows no redirect
}

// inOAuth runs f in a synctest bubble, where time.Sleep moves the stack's
// clock (flow and one-time-code expiry, the reauthentication window).
func inOAuth(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	synctest.Test(t, f)
}

// newOAuthStack starts the stack inside the test's synctest bubble: the
// OP (op.test), the GitHub fake (github.test) and the API (api.test, also
// its API_PUBLIC_URL) served on an in-memory network, the API reaching the
// providers through it. Without errorRedirect a flow nobody knows any more
// is answered with a problem.
func newOAuthStack(t testing.TB, errorRedirect bool) *oaStack {
	t.Helper()
	mn := newMemNet(t)
	s := &oaStack{t: t, api: "http://api.test", op: oidctest.NewOPOn(t, mn.listen("op.test")), gh: oidctest.NewGitHubOn(t, mn.listen("github.test")),
		mail: &identitytest.Mailer{}, http: mn.client(true)}
	env := oauthEnv(s.op, s.gh, s.api)
	env["APP_ENV"], env["DATA_DIR"], env["LOG_FORMAT"], env["LOG_LEVEL"] = "test", t.TempDir(), "json", "warn"
	env["JWT_SIGNING_KEY"], env["MFA_ENCRYPTION_KEY"] = "oauth-http-signing-key-0123456789abcdef", "oauth-http-mfa-encryption-key-0123456789"
	if !errorRedirect {
		delete(env, "OAUTH_ERROR_REDIRECT")
	}
	cfg, err := wire.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Argon2 = identity.TestParams
	app, cleanup, err := wire.InitializeStack(context.Background(), cfg, wire.LogOutput{Writer: io.Discard}, s.mail, wire.ProviderClient{Client: mn.client(false)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if got := mn.serveOn(t, "api.test:80", app.Server.Handler()); got != s.api+":80" {
		t.Fatalf("served on %s", got)
	}
	return s
}

// oauthEnv configures acme (the OP) and github (the fake) with api as
// API_PUBLIC_URL.
func oauthEnv(op *oidctest.OP, gh *oidctest.GitHub, api string) map[string]string {
	return map[string]string{
		"PUBLIC_URL": "https://app.tradesense.test", "AUTH_NOTIFY_NEW_LOGIN": "false", "AUTH_IP_RATE_MULTIPLIER": "1000", "API_PUBLIC_URL": api,
		"OAUTH_PROVIDERS": "acme,github", "OAUTH_REDIRECT_ALLOWLIST": oaWebCB + "," + oaErrorCB + "," + oaMobileCB, "OAUTH_ERROR_REDIRECT": oaErrorCB,
		"OAUTH_ACME_ISSUER": op.Issuer(), "OAUTH_ACME_CLIENT_ID": op.ClientID(), "OAUTH_ACME_CLIENT_SECRET": op.ClientSecret(), "OAUTH_ACME_DISPLAY_NAME": "Acme SSO",
		"OAUTH_GITHUB_CLIENT_ID": gh.ClientID, "OAUTH_GITHUB_CLIENT_SECRET": gh.ClientSecret,
		"OAUTH_GITHUB_GITHUB_URL": gh.URL(), "OAUTH_GITHUB_GITHUB_API_URL": gh.APIURL(),
	}
}

// oaBrowser is one browser. It keeps the cookies the API sets (by name,
// for the API's origin only, dropped at Max-Age <= 0) and sends them back
// to the API, never to the provider.
type oaBrowser struct {
	t       testing.TB
	api     string
	client  *http.Client
	cookies map[string]string
}

func (s *oaStack) browser() *oaBrowser {
	return &oaBrowser{t: s.t, api: s.api, client: s.http, cookies: map[string]string{}}
}

var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

type oaResp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (r oaResp) str(k string) string { s, _ := r.body[k].(string); return s }

// do sends a request as this browser (or as an app: token and body are
// optional) and records the API's cookies.
func (b *oaBrowser) do(method, target, token string, body any, header ...string) oaResp {
	b.t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, target, rd)
	if err != nil {
		b.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	toAPI := strings.HasPrefix(target, b.api+"/")
	if toAPI {
		for name, v := range b.cookies {
			req.AddCookie(&http.Cookie{Name: name, Value: v})
		}
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if toAPI {
		for _, c := range res.Cookies() {
			if c.MaxAge < 0 {
				delete(b.cookies, c.Name)
			} else {
				b.cookies[c.Name] = c.Value
			}
		}
	}
	out := oaResp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func (b *oaBrowser) get(target string) oaResp { b.t.Helper(); return b.do("GET", target, "", nil) }

func oaExpect(t testing.TB, r oaResp, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.str("code") != code) {
		t.Fatalf("got %d %s; want %d %s\n%v\n%s", r.status, r.str("code"), status, code, r.header, r.raw)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d answered as %q", status, r.header.Get("Content-Type"))
	}
}

// redirect checks a 302 of the API (no body, not cached) and returns its
// Location.
func redirect(t testing.TB, r oaResp) string {
	t.Helper()
	loc := r.header.Get("Location")
	if r.status != http.StatusFound || loc == "" || r.raw != "" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("want a 302 with Location and no-store, got %d %v %q", r.status, r.header, r.raw)
	}
	return loc
}

// landing splits where a callback sent the browser.
func landing(t testing.TB, loc string) (string, url.Values) {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	u.RawQuery = ""
	return u.String(), q
}

func startURL(api, provider, redirectTo string, extra ...string) string {
	q := url.Values{"redirect_to": {redirectTo}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return api + "/api/v1/auth/oauth/" + provider + "/start?" + q.Encode()
}

// toProvider starts a flow in b and plays the user at the provider: it
// returns the callback URL the provider sends the browser to.
func (s *oaStack) toProvider(b *oaBrowser, provider, redirectTo string, extra ...string) string {
	s.t.Helper()
	authURL := redirect(s.t, b.get(startURL(s.api, provider, redirectTo, extra...)))
	return s.atProvider(b, authURL)
}

func (s *oaStack) atProvider(b *oaBrowser, authURL string) string {
	s.t.Helper()
	r := b.get(authURL)
	cb := r.header.Get("Location")
	if r.status != http.StatusFound || !strings.HasPrefix(cb, s.api+"/api/v1/auth/oauth/") {
		s.t.Fatalf("the provider answered %d, to %q", r.status, cb)
	}
	return cb
}

// callback brings the browser back from the provider and returns the
// landing.
func (s *oaStack) callback(b *oaBrowser, cbURL string) (string, url.Values) {
	s.t.Helper()
	r := b.get(cbURL)
	loc := redirect(s.t, r)
	if r.header.Get("Referrer-Policy") != "no-referrer" || len(r.header.Values("Set-Cookie")) != 0 {
		s.t.Fatalf("callback headers %v", r.header)
	}
	return landing(s.t, loc)
}

// webLogin runs a whole web sign-in in b and returns the token answer.
func (s *oaStack) webLogin(b *oaBrowser, provider string) oaResp {
	s.t.Helper()
	base, q := s.callback(b, s.toProvider(b, provider, oaWebCB))
	if base != oaWebCB || q.Get("code") == "" || q.Get("provider") != provider {
		s.t.Fatalf("landed on %s %v", base, q)
	}
	r := b.do("POST", s.api+"/api/v1/auth/oauth/token", "", map[string]any{"code": q.Get("code")})
	oaExpect(s.t, r, 200, "")
	return r
}

func oaUser(sub, email string) *oidctest.User {
	return &oidctest.User{Subject: sub, Info: map[string]any{"email": email, "email_verified": true, "name": "Ada Lovelace"}}
}

func TestOAuthWebFlowOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		b := s.browser()
		r := b.get(s.api + "/api/v1/auth/providers")
		oaExpect(t, r, 200, "")
		if ps, _ := r.body["providers"].([]any); len(ps) != 2 || ps[0].(map[string]any)["display_name"] != "Acme SSO" || ps[1].(map[string]any)["name"] != "github" {
			t.Fatalf("providers %s", r.raw)
		}

		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		r = b.get(startURL(s.api, "acme", oaWebCB))
		authURL := redirect(t, r)
		if !strings.HasPrefix(authURL, s.op.Issuer()) {
			t.Fatalf("start sent the browser to %s", authURL)
		}
		au, _ := url.Parse(authURL)
		if q := au.Query(); q.Get("state") == "" || q.Get("nonce") == "" || q.Get("code_challenge_method") != "S256" ||
			q.Get("redirect_uri") != s.api+"/api/v1/auth/oauth/acme/callback" {
			t.Fatalf("authorization request %v", q)
		}
		set := r.header.Get("Set-Cookie")
		for _, attr := range []string{"__Host-ts_oauth=", "Path=/", "Max-Age=600", "HttpOnly", "Secure", "SameSite=Lax"} {
			if !strings.Contains(set, attr) {
				t.Fatalf("flow cookie %q lacks %s", set, attr)
			}
		}
		secret := b.cookies["__Host-ts_oauth"]
		// A second start in the same browser keeps its binding.
		redirect(t, b.get(startURL(s.api, "acme", oaWebCB)))
		if b.cookies["__Host-ts_oauth"] != secret {
			t.Fatal("a second flow replaced the browser's secret")
		}
		base, q := s.callback(b, s.atProvider(b, authURL))
		if base != oaWebCB || q.Get("code") == "" || q.Get("provider") != "acme" || q.Get("access_token") != "" {
			t.Fatalf("landed on %s %v", base, q)
		}
		// The code needs the browser that started: another one spends it.
		r = s.browser().do("POST", s.api+"/api/v1/auth/oauth/token", "", map[string]any{"code": q.Get("code")})
		oaExpect(t, r, 401, oauth.CodeCodeInvalid)
		r = b.do("POST", s.api+"/api/v1/auth/oauth/token", "", map[string]any{"code": q.Get("code")})
		oaExpect(t, r, 401, oauth.CodeCodeInvalid)

		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		r = s.webLogin(b, "acme")
		if r.body["mfa_required"] != false || r.str("token_type") != "Bearer" {
			t.Fatalf("token answer %s", r.raw)
		}
		access := r.str("access_token")
		me := b.do("GET", s.api+"/api/v1/auth/me", access, nil)
		oaExpect(t, me, 200, "")
		if me.str("email") != "ada@example.com" || me.body["email_verified"] != true {
			t.Fatalf("me %s", me.raw)
		}
		ids := b.do("GET", s.api+"/api/v1/auth/identities", access, nil)
		oaExpect(t, ids, 200, "")
		if list, _ := ids.body["identities"].([]any); len(list) != 1 || list[0].(map[string]any)["provider"] != "acme" || list[0].(map[string]any)["email_verified"] != true {
			t.Fatalf("identities %s", ids.raw)
		}
		// The same provider account signs in to the same account again; the
		// refresh token is a normal one.
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		again := s.webLogin(b, "acme")
		if again.body["user"].(map[string]any)["id"] != me.str("id") {
			t.Fatalf("second sign-in got another account: %s", again.raw)
		}
		oaExpect(t, b.do("POST", s.api+"/api/v1/auth/refresh", "", map[string]any{"refresh_token": again.str("refresh_token")}), 200, "")
	})
}

func TestOAuthMobilePKCEOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		verifier := strings.Repeat("m", 43) + "-._~"
		sum := sha256.Sum256([]byte(verifier))
		challenge := base64.RawURLEncoding.EncodeToString(sum[:])
		for _, tc := range []struct {
			name, verifier string
			status         int
		}{{"other verifier", strings.Repeat("n", 47), 401}, {"no verifier", "", 401}, {"right verifier", verifier, 200}} {
			s.op.Queue(oaUser("ada-1", "ada@example.com"))
			web := s.browser() // the system browser the app opens
			base, q := s.callback(web, s.toProvider(web, "acme", oaMobileCB, "code_challenge", challenge, "code_challenge_method", "S256"))
			if base != oaMobileCB || q.Get("code") == "" {
				t.Fatalf("%s: landed on %s %v", tc.name, base, q)
			}
			// The app itself exchanges, without the browser's cookie.
			body := map[string]any{"code": q.Get("code")}
			if tc.verifier != "" {
				body["code_verifier"] = tc.verifier
			}
			r := s.browser().do("POST", s.api+"/api/v1/auth/oauth/token", "", body)
			if tc.status == 200 {
				oaExpect(t, r, 200, "")
				if r.str("access_token") == "" {
					t.Fatalf("%s: %s", tc.name, r.raw)
				}
			} else {
				oaExpect(t, r, tc.status, oauth.CodeCodeInvalid)
			}
		}
		// A challenge of another method is refused at the door.
		r := s.browser().get(startURL(s.api, "acme", oaMobileCB, "code_challenge", challenge, "code_challenge_method", "plain"))
		oaExpect(t, r, 400, "")
	})
}

func TestOAuthStateReplayAndAnotherBrowserOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		b := s.browser()
		cb := s.toProvider(b, "acme", oaWebCB)
		if _, q := s.callback(b, cb); q.Get("code") == "" {
			t.Fatalf("first callback: %v", q)
		}
		tokenCalls := s.op.Requests("token")
		base, q := s.callback(b, cb)
		if base != oaErrorCB || q.Get("error") != oauth.CodeStateInvalid || s.op.Requests("token") != tokenCalls {
			t.Fatalf("replayed state landed on %s %v (token calls %d -> %d)", base, q, tokenCalls, s.op.Requests("token"))
		}

		// Login CSRF: the attacker's own flow, finished in the victim's
		// browser, is refused before the code is redeemed.
		s.op.Queue(oaUser("mallory-1", "mallory@example.com"))
		attacker := s.browser()
		cb = s.toProvider(attacker, "acme", oaWebCB)
		victim := s.browser()
		base, q = s.callback(victim, cb)
		if base != oaWebCB || q.Get("error") != oauth.CodeBrowserMismatch || q.Get("code") != "" || s.op.Requests("token") != tokenCalls {
			t.Fatalf("callback in another browser landed on %s %v", base, q)
		}
		// Nor does a victim who already has a cookie of their own fare better.
		redirect(t, victim.get(startURL(s.api, "acme", oaWebCB)))
		s.op.Queue(oaUser("mallory-1", "mallory@example.com"))
		cb = s.toProvider(attacker, "acme", oaWebCB)
		if _, q = s.callback(victim, cb); q.Get("error") != oauth.CodeBrowserMismatch {
			t.Fatalf("callback in a browser with its own flow: %v", q)
		}
		// The state was spent by the refused attempt: the attacker cannot
		// finish it either.
		if base, q = s.callback(attacker, cb); base != oaErrorCB || q.Get("error") != oauth.CodeStateInvalid {
			t.Fatalf("the refused state was still good: %s %v", base, q)
		}
		// A provider that adds its own parameters is fine; a tampered state is not.
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		b = s.browser()
		cb = s.toProvider(b, "acme", oaWebCB)
		if _, q = s.callback(b, cb+"&authuser=0&scope=openid+email&prompt=consent"); q.Get("code") == "" {
			t.Fatalf("extra provider parameters: %v", q)
		}
		if base, q = s.callback(b, s.api+"/api/v1/auth/oauth/acme/callback?state=forged&code=x"); base != oaErrorCB || q.Get("error") != oauth.CodeStateInvalid {
			t.Fatalf("forged state: %s %v", base, q)
		}
	})
}

func TestOAuthRedirectToIsRefusedBeforeTheProviderOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		for _, to := range []string{
			"https://app.tradesense.test/auth", oaWebCB + "x", oaWebCB + "/", "https://app.tradesense.test:444/auth/callback", "http://app.tradesense.test/auth/callback",
			"//evil.example/auth/callback", "javascript:alert(1)//", "JAVASCRIPT:alert(1)", "https://evil.example/auth/callback",
			oaWebCB + "?next=//evil.example", oaWebCB + "#x", "https://app.tradesense.test.evil.example/auth/callback", " " + oaWebCB, "",
		} {
			b := s.browser()
			r := b.get(startURL(s.api, "acme", to))
			oaExpect(t, r, 400, "")
			if r.str("code") != oauth.CodeRedirectInvalid && r.str("code") != "validation_failed" {
				t.Errorf("redirect_to %q: %s", to, r.raw)
			}
			if r.header.Get("Location") != "" || len(b.cookies) != 0 {
				t.Errorf("redirect_to %q: refused, but %v", to, r.header)
			}
		}
		// The link flow checks it too.
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		access := s.webLogin(s.browser(), "acme").str("access_token")
		before := s.gh.Requests("/login/oauth/authorize")
		r := s.browser().do("POST", s.api+"/api/v1/auth/identities/github", access, map[string]any{"redirect_to": "https://evil.example/auth/callback"})
		oaExpect(t, r, 400, oauth.CodeRedirectInvalid)
		if n := s.op.Requests("authorize"); n != 1 || s.gh.Requests("/login/oauth/authorize") != before {
			t.Fatalf("the providers were contacted for refused flows: %d authorizations", n)
		}
	})
}

func TestOAuthExpiredStateLandsWithAnErrorCodeOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		b := s.browser()
		cb := s.toProvider(b, "acme", oaWebCB)
		time.Sleep(11 * time.Minute)
		base, q := s.callback(b, cb)
		if base != oaWebCB || q.Get("error") != oauth.CodeStateInvalid || q.Get("provider") != "acme" || q.Get("code") != "" {
			t.Fatalf("expired state landed on %s %v", base, q)
		}
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		cb = s.toProvider(b, "acme", oaWebCB)
		time.Sleep(21 * time.Minute)
		if base, q = s.callback(b, cb); base != oaErrorCB || q.Get("error") != oauth.CodeStateInvalid {
			t.Fatalf("long-expired state landed on %s %v", base, q)
		}
		// Denied consent lands on redirect_to with its code.
		authURL := redirect(t, b.get(startURL(s.api, "acme", oaWebCB)))
		au, _ := url.Parse(authURL)
		if base, q = s.callback(b, s.api+"/api/v1/auth/oauth/acme/callback?"+url.Values{"state": {au.Query().Get("state")}, "error": {"access_denied"}}.Encode()); base != oaWebCB || q.Get("error") != oauth.CodeAccessDenied {
			t.Fatalf("denied consent landed on %s %v", base, q)
		}

		// Without OAUTH_ERROR_REDIRECT a flow nobody knows is a problem
		// document, never a 500.
		s = newOAuthStack(t, false)
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		b = s.browser()
		cb = s.toProvider(b, "acme", oaWebCB)
		time.Sleep(21 * time.Minute)
		r := b.get(cb)
		oaExpect(t, r, 400, oauth.CodeStateInvalid)
		if r.header.Get("Cache-Control") != "no-store" || r.header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("problem headers %v", r.header)
		}
		oaExpect(t, b.get(s.api+"/api/v1/auth/oauth/acme/callback?state=s&state=t&code=c"), 400, oauth.CodeStateInvalid)
	})
}

func TestOAuthMFAAfterOAuthOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		b := s.browser()
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		access := s.webLogin(b, "acme").str("access_token")
		en := b.do("POST", s.api+"/api/v1/mfa/enable", access, nil)
		oaExpect(t, en, 200, "")
		code, err := totp.GenerateCode(en.str("secret"), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		v := b.do("POST", s.api+"/api/v1/mfa/verify", access, map[string]any{"code": code})
		oaExpect(t, v, 200, "")
		backup := v.body["backup_codes"].([]any)[0].(string)

		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		r := s.webLogin(b, "acme")
		if r.body["mfa_required"] != true || r.str("mfa_token") == "" || r.str("access_token") != "" {
			t.Fatalf("sign-in of a user with MFA: %s", r.raw)
		}
		done := b.do("POST", s.api+"/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": r.str("mfa_token"), "backup_code": backup})
		oaExpect(t, done, 200, "")
		amr, _ := done.body["amr"].([]any)
		if done.body["aal"] != float64(2) || len(amr) != 2 || amr[0] != oauth.AMR || amr[1] != "backup_code" {
			t.Fatalf("after the second factor: %s", done.raw)
		}
	})
}

func TestOAuthLinkUnlinkAndTheLastMethodOverHTTP(t *testing.T) {
	inOAuth(t, func(t *testing.T) {
		s := newOAuthStack(t, true)
		ada := s.browser()
		s.op.Queue(oaUser("ada-1", "ada@example.com"))
		login := s.webLogin(ada, "acme")
		access := login.str("access_token")
		list := func(b *oaBrowser, token string) []map[string]any {
			t.Helper()
			r := b.do("GET", s.api+"/api/v1/auth/identities", token, nil)
			oaExpect(t, r, 200, "")
			var out []map[string]any
			for _, i := range r.body["identities"].([]any) {
				out = append(out, i.(map[string]any))
			}
			return out
		}
		unlink := func(b *oaBrowser, token, id string, header ...string) oaResp {
			return b.do("DELETE", s.api+"/api/v1/auth/identities/"+id, token, nil, header...)
		}
		ids := list(ada, access)
		oaExpect(t, unlink(ada, access, ids[0]["id"].(string)), 409, oauth.CodeLastSignInMethod)

		// Bob's identity is not Ada's to remove, nor to see.
		bob := s.browser()
		s.gh.Queue(&oidctest.GitHubUser{ID: 7, Login: "bob", Emails: []oidctest.GitHubEmail{{Email: "bob@example.com", Primary: true, Verified: true}}})
		bobAccess := s.webLogin(bob, "github").str("access_token")
		bobIDs := list(bob, bobAccess)
		if len(bobIDs) != 1 || bobIDs[0]["provider"] != "github" {
			t.Fatalf("bob's identities %v", bobIDs)
		}
		oaExpect(t, unlink(ada, access, bobIDs[0]["id"].(string)), 404, oauth.CodeIdentityNotFound)
		oaExpect(t, unlink(ada, access, "0196f1e2-0000-7000-8000-000000000000"), 404, oauth.CodeIdentityNotFound)
		if len(list(bob, bobAccess)) != 1 || len(list(ada, access)) != 1 {
			t.Fatal("an identity went missing")
		}
		oaExpect(t, unlink(ada, "", ids[0]["id"].(string)), 401, "")

		// Ada links GitHub from the settings (her sign-in is minutes old).
		s.gh.Queue(&oidctest.GitHubUser{ID: 11, Login: "ada", Emails: []oidctest.GitHubEmail{{Email: "ada@example.com", Primary: true, Verified: true}}})
		r := ada.do("POST", s.api+"/api/v1/auth/identities/github", access, map[string]any{"redirect_to": oaWebCB})
		oaExpect(t, r, 200, "")
		if r.header.Get("Cache-Control") != "no-store" || !strings.Contains(r.header.Get("Set-Cookie"), "__Host-ts_oauth=") {
			t.Fatalf("link headers %v", r.header)
		}
		base, q := s.callback(ada, s.atProvider(ada, r.str("authorization_url")))
		if base != oaWebCB || q.Get("linked") != "github" || q.Get("code") != "" {
			t.Fatalf("link landed on %s %v", base, q)
		}
		if !awaited(s.mail, "ada@example.com", oauth.TemplateIdentityLinked) {
			t.Fatal("no identity-linked mail")
		}
		ids = list(ada, access)
		if len(ids) != 2 {
			t.Fatalf("identities after the link: %v", ids)
		}
		oaExpect(t, ada.do("POST", s.api+"/api/v1/auth/identities/github", access, map[string]any{"redirect_to": oaWebCB}), 409, oauth.CodeAlreadyLinked)

		// With two ways in, one can go; then the other is the last. Past 15
		// minutes the password is needed, and she has none.
		time.Sleep(16 * time.Minute)
		refreshed := ada.do("POST", s.api+"/api/v1/auth/refresh", "", map[string]any{"refresh_token": login.str("refresh_token")})
		oaExpect(t, refreshed, 200, "")
		access = refreshed.str("access_token")
		oaExpect(t, unlink(ada, access, ids[0]["id"].(string)), 403, oauth.CodeReauthRequired)
		oaExpect(t, unlink(ada, access, ids[0]["id"].(string), "X-Current-Password", "not her password"), 400, "")
		if len(list(ada, access)) != 2 {
			t.Fatal("a refused unlink removed an identity")
		}
		// A fresh sign-in may.
		s.gh.Queue(&oidctest.GitHubUser{ID: 11, Login: "ada", Emails: []oidctest.GitHubEmail{{Email: "ada@example.com", Primary: true, Verified: true}}})
		access = s.webLogin(ada, "github").str("access_token")
		r = unlink(ada, access, ids[0]["id"].(string))
		if r.status != 204 || r.raw != "" {
			t.Fatalf("unlink: %d %s", r.status, r.raw)
		}
		oaExpect(t, unlink(ada, access, ids[1]["id"].(string)), 409, oauth.CodeLastSignInMethod)
		if left := list(ada, access); len(left) != 1 || left[0]["provider"] != "github" {
			t.Fatalf("identities after unlink: %v", left)
		}
		if !awaited(s.mail, "ada@example.com", oauth.TemplateIdentityUnlinked) {
			t.Fatal("no identity-unlinked mail")
		}
	})
}

// TestOAuthProgramOnPostgresAndRedis runs the real program in the services
// profile, where flows and one-time codes live in Redis: a web sign-in
// and a replayed state.
func TestOAuthProgramOnPostgresAndRedis(t *testing.T) {
	dbURL := testenv.PostgresDB(t)
	redisURL := testenv.URL(t, "TEST_REDIS_URL")
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close() // the program listens here; API_PUBLIC_URL must be known first
	env := harness.Env(t)
	for k, v := range oauthEnv(op, gh, "http://"+addr) {
		env[k] = v
	}
	env["HTTP_ADDR"], env["DATABASE_URL"], env["REDIS_URL"] = addr, dbURL, redisURL
	env["REDIS_KEY_PREFIX"] = "test:" + t.Name() + ":"
	env["AUTH_ARGON2_MEMORY_KIB"], env["AUTH_ARGON2_TIME"] = "64", "1"
	app := harness.Start(t, env)
	s := &oaStack{t: t, api: app.URL, op: op, gh: gh, mail: &identitytest.Mailer{}, http: noRedirects}
	if s.api != "http://"+addr {
		t.Fatalf("the program listens on %s, not %s", s.api, addr)
	}
	b := s.browser()
	op.Queue(oaUser("ada-1", "ada@example.com"))
	cb := s.toProvider(b, "acme", oaWebCB)
	base, q := s.callback(b, cb)
	if base != oaWebCB || q.Get("code") == "" {
		t.Fatalf("landed on %s %v", base, q)
	}
	r := b.do("POST", s.api+"/api/v1/auth/oauth/token", "", map[string]any{"code": q.Get("code")})
	oaExpect(t, r, 200, "")
	oaExpect(t, b.do("GET", s.api+"/api/v1/auth/me", r.str("access_token"), nil), 200, "")
	if base, q = s.callback(b, cb); base != oaErrorCB || q.Get("error") != oauth.CodeStateInvalid {
		t.Fatalf("replayed state on Redis: %s %v", base, q)
	}
}
