package oidc_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/oidc"
	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

const testNonce = "n0nce-n0nce-n0nce-n0nce-n0nce-n0nce-n0nce-x"

// testConfig is the configuration wire would read for acme (the OP) and
// github (the fake).
func testConfig(op *oidctest.OP, gh *oidctest.GitHub) oidc.Config {
	cfg := oidc.DefaultConfig()
	cfg.RedirectAllowList = []string{"https://app.example/cb"}
	acme := oidc.ProviderDefaults("acme")
	acme.Issuer, acme.ClientID, acme.DisplayName = op.Issuer(), op.ClientID(), "Acme SSO"
	cfg.Providers = append(cfg.Providers, acme)
	if gh != nil {
		g := oidc.ProviderDefaults("github")
		g.ClientID, g.GitHubURL, g.GitHubAPIURL = gh.ClientID, gh.URL(), gh.APIURL()
		cfg.Providers = append(cfg.Providers, g)
	}
	return cfg
}

func registry(t *testing.T, op *oidctest.OP, gh *oidctest.GitHub) *oidc.Registry {
	t.Helper()
	cfg := testConfig(op, gh)
	if err := cfg.Validate(false); err != nil {
		t.Fatal(err)
	}
	secret := map[string]string{"OAUTH_ACME_CLIENT_SECRET": op.ClientSecret(), "OAUTH_GITHUB_CLIENT_SECRET": gh.ClientSecret}
	cfg.UseSecrets(func(_ context.Context, name string) (s secretValue, err error) { return newSecret(secret[name]), nil })
	r, err := oidc.New(context.Background(), cfg, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// login runs one flow through provider name: the authorization request,
// the browser's visit, and the exchange.
func login(t *testing.T, r *oidc.Registry, name string, tweak func(*oauth.Completion)) (oauth.Claims, error) {
	t.Helper()
	p, ok := r.Lookup(name)
	if !ok {
		t.Fatalf("no provider %s", name)
	}
	a := oauth.Authorization{State: "state-" + name, Nonce: testNonce, Verifier: strings.Repeat("v", 50)}
	u, err := p.AuthCodeURL(context.Background(), a)
	if err != nil {
		return oauth.Claims{}, err
	}
	cb, err := oauth.ParseCallback(oidctest.Authorize(t, u))
	if err != nil {
		t.Fatalf("callback: %v", err)
	}
	if cb.State != a.State {
		t.Fatalf("state came back as %q", cb.State)
	}
	c := oauth.Completion{Code: cb.Code, Issuer: cb.Issuer, IssuerGiven: cb.IssuerGiven, Verifier: a.Verifier, Nonce: a.Nonce}
	if tweak != nil {
		tweak(&c)
	}
	return p.Exchange(context.Background(), c)
}

func ada(verified any) *oidctest.User {
	info := map[string]any{"email": "ada@example.com", "name": "Ada Lovelace", "picture": "https://img.example/ada.png", "preferred_username": "ada"}
	if verified != nil {
		info["email_verified"] = verified
	}
	return &oidctest.User{Subject: "ada-1", Info: info}
}

func wantCode(t *testing.T, err error, kind apperr.Kind, code string) {
	t.Helper()
	if !apperr.Is(err, kind) || apperr.CodeOf(err) != code {
		t.Fatalf("err = %v (%s %q); want %s %q", err, apperr.KindOf(err), apperr.CodeOf(err), kind, code)
	}
}

func TestOpenIDLoginAndCaching(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	if got := r.List(); len(got) != 2 || got[0] != (oauth.ProviderInfo{Name: "acme", DisplayName: "Acme SSO"}) || got[1].DisplayName != "GitHub" {
		t.Fatalf("List = %+v", got)
	}
	for i := range 3 {
		op.Queue(ada(true))
		c, err := login(t, r, "acme", nil)
		if err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
		if c.Issuer != op.Issuer() || c.Subject != "ada-1" || c.Email != "ada@example.com" || !c.EmailVerified ||
			c.Name != "Ada Lovelace" || c.AvatarURL != "https://img.example/ada.png" || c.Extra["preferred_username"] != "ada" {
			t.Fatalf("claims = %+v", c)
		}
	}
	// Discovery and keys are fetched once; each login costs one token and
	// one userinfo request.
	if d, k, tk, ui := op.Requests("openid-configuration"), op.Requests("jwks.json"), op.Requests("token"), op.Requests("userinfo"); d != 1 || k != 1 || tk != 3 || ui != 3 {
		t.Fatalf("requests: discovery %d, jwks %d, token %d, userinfo %d; want 1, 1, 3, 3", d, k, tk, ui)
	}
}

func TestOpenIDRefusesWhatItCannotVerify(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	rewrite := func(fn func(map[string]any), signing string) func(*oidctest.Behaviour) {
		return func(b *oidctest.Behaviour) {
			b.RewriteIDToken = func(c map[string]any) (map[string]any, string) { fn(c); return c, signing }
		}
	}
	for _, tc := range []struct {
		name   string
		set    func(*oidctest.Behaviour)
		user   *oidctest.User
		tweak  func(*oauth.Completion)
		kind   apperr.Kind
		code   string
		reason string
	}{
		{name: "wrong nonce", tweak: func(c *oauth.Completion) { c.Nonce = strings.Repeat("x", 43) }, kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "nonce missing from token", set: rewrite(func(c map[string]any) { delete(c, "nonce") }, ""), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "other issuer", set: rewrite(func(c map[string]any) { c["iss"] = "https://evil.example/oidc" }, ""), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "other audience", set: rewrite(func(c map[string]any) { c["aud"] = "someone-else" }, ""), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "several audiences without azp", set: rewrite(func(c map[string]any) { c["aud"] = []any{op.ClientID(), "other"} }, ""), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "expired", set: rewrite(func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, ""), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "alg none", set: rewrite(func(map[string]any) {}, "none"), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "signed by a key the provider never published", set: rewrite(func(map[string]any) {}, "foreign"), kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "userinfo sub differs", user: &oidctest.User{Subject: "ada-1", UserinfoSubject: "eve-2", Info: map[string]any{"email": "ada@example.com", "email_verified": true}},
			kind: apperr.Unauthenticated, code: oauth.CodeTokenInvalid},
		{name: "wrong PKCE verifier", tweak: func(c *oauth.Completion) { c.Verifier = strings.Repeat("w", 50) }, kind: apperr.Unauthenticated, code: oauth.CodeExchangeFailed},
		{name: "code replayed", tweak: func(c *oauth.Completion) { c.Code = "not-a-code" }, kind: apperr.Unauthenticated, code: oauth.CodeExchangeFailed},
		{name: "callback iss of another provider", set: func(b *oidctest.Behaviour) { b.SendIss, b.IssValue = true, "https://evil.example" }, kind: apperr.Unauthenticated, code: oauth.CodeIssuerMismatch},
		{name: "iss announced but absent", set: func(b *oidctest.Behaviour) { b.AdvertiseIss = true }, kind: apperr.Unauthenticated, code: oauth.CodeIssuerMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.Set(func(b *oidctest.Behaviour) { *b = oidctest.Behaviour{} })
			if tc.set != nil {
				op.Set(tc.set)
			}
			if tc.name == "iss announced but absent" {
				// A fresh registry reads the announcement from discovery.
				r = registry(t, op, gh)
			}
			u := tc.user
			if u == nil {
				u = ada(true)
			}
			op.Queue(u)
			_, err := login(t, r, "acme", tc.tweak)
			wantCode(t, err, tc.kind, tc.code)
		})
	}
	// And the correct iss is accepted, announced or not.
	op.Set(func(b *oidctest.Behaviour) { *b = oidctest.Behaviour{SendIss: true, AdvertiseIss: true} })
	op.Queue(ada(true))
	if _, err := login(t, r, "acme", nil); err != nil {
		t.Fatalf("login with the right iss: %v", err)
	}
}

func TestOpenIDEmailVerifiedIsAJSONTrueOnly(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	for _, tc := range []struct {
		name     string
		verified any
		want     bool
	}{{"true", true, true}, {"false", false, false}, {"missing", nil, false}, {`the string "true"`, "true", false}} {
		t.Run(tc.name, func(t *testing.T) {
			op.Queue(ada(tc.verified))
			c, err := login(t, r, "acme", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.EmailVerified != tc.want || c.Email != "ada@example.com" {
				t.Fatalf("email %q verified %v; want verified %v", c.Email, c.EmailVerified, tc.want)
			}
		})
	}
	// A value that is not a boolean at all is refused (go-oidc will not
	// decode such a userinfo answer), never taken as verified.
	op.Queue(ada(1))
	_, err := login(t, r, "acme", nil)
	wantCode(t, err, apperr.Unauthenticated, oauth.CodeTokenInvalid)

	// The verification comes from the same source as the address: an ID
	// token without email, and userinfo with an email but no verification.
	op.Set(func(b *oidctest.Behaviour) {
		b.RewriteIDToken = func(c map[string]any) (map[string]any, string) {
			delete(c, "email")
			return c, ""
		}
	})
	op.Queue(&oidctest.User{Subject: "ada-1", Info: map[string]any{"email": "ada@example.com", "email_verified": true}})
	c, err := login(t, r, "acme", nil)
	if err != nil || c.Email != "ada@example.com" || !c.EmailVerified {
		t.Fatalf("email from userinfo: %+v, %v", c, err)
	}
}

func TestOpenIDKeyRotationBetweenLogins(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	op.Queue(ada(true))
	if _, err := login(t, r, "acme", nil); err != nil {
		t.Fatal(err)
	}
	op.Rotate(t)
	op.Queue(ada(true))
	if _, err := login(t, r, "acme", nil); err != nil {
		t.Fatalf("login after the provider rotated its key: %v", err)
	}
	if k := op.Requests("jwks.json"); k != 2 {
		t.Fatalf("jwks fetched %d times; want 2 (once per key)", k)
	}
}

func TestOpenIDProviderDown(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	op.Set(func(b *oidctest.Behaviour) { b.Down = true })
	p, _ := r.Lookup("acme")
	_, err := p.AuthCodeURL(context.Background(), oauth.Authorization{State: "s", Nonce: "n", Verifier: strings.Repeat("v", 43)})
	wantCode(t, err, apperr.Unavailable, oauth.CodeProviderUnavailable)

	// Discovered, then down before the exchange.
	op.Set(func(b *oidctest.Behaviour) { b.Down = false })
	op.Queue(ada(true))
	u, err := p.AuthCodeURL(context.Background(), oauth.Authorization{State: "s", Nonce: testNonce, Verifier: strings.Repeat("v", 43)})
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := oauth.ParseCallback(oidctest.Authorize(t, u))
	op.Set(func(b *oidctest.Behaviour) { b.Down = true })
	_, err = p.Exchange(context.Background(), oauth.Completion{Code: cb.Code, Verifier: strings.Repeat("v", 43), Nonce: testNonce})
	wantCode(t, err, apperr.Unavailable, oauth.CodeProviderUnavailable)
}

func TestGitHub(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	r := registry(t, op, gh)
	base := func(emails ...oidctest.GitHubEmail) *oidctest.GitHubUser {
		return &oidctest.GitHubUser{ID: 4242, Login: "ada", Name: "Ada", Email: "public@example.com", AvatarURL: "https://avatars.example/4242", Emails: emails}
	}
	for _, tc := range []struct {
		name     string
		user     *oidctest.GitHubUser
		email    string
		verified bool
	}{
		{"verified primary", base(oidctest.GitHubEmail{Email: "other@example.com", Primary: false, Verified: true}, oidctest.GitHubEmail{Email: "ada@example.com", Primary: true, Verified: true}), "ada@example.com", true},
		{"unverified primary", base(oidctest.GitHubEmail{Email: "ada@example.com", Primary: true, Verified: false}, oidctest.GitHubEmail{Email: "v@example.com", Primary: false, Verified: true}), "ada@example.com", false},
		{`verified as the string "true"`, base(oidctest.GitHubEmail{Email: "ada@example.com", Primary: true, Verified: "true"}), "ada@example.com", false},
		{"no user:email scope", func() *oidctest.GitHubUser { u := base(); u.NoEmailScope = true; return u }(), "public@example.com", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh.Queue(tc.user)
			c, err := login(t, r, "github", nil)
			if err != nil {
				t.Fatal(err)
			}
			if c.Issuer != gh.URL()+"/login/oauth" || c.Subject != "4242" || c.Email != tc.email || c.EmailVerified != tc.verified || c.Extra["login"] != "ada" {
				t.Fatalf("claims = %+v; want email %q verified %v", c, tc.email, tc.verified)
			}
		})
	}
	gh.SendIss(true)
	gh.Queue(base(oidctest.GitHubEmail{Email: "ada@example.com", Primary: true, Verified: true}))
	if _, err := login(t, r, "github", nil); err != nil {
		t.Fatalf("with GitHub's iss: %v", err)
	}
	gh.Queue(base())
	_, err := login(t, r, "github", func(c *oauth.Completion) { c.Issuer = "https://github.com.evil/login/oauth" })
	wantCode(t, err, apperr.Unauthenticated, oauth.CodeIssuerMismatch)
	gh.Queue(base())
	_, err = login(t, r, "github", func(c *oauth.Completion) { c.Verifier = strings.Repeat("w", 50) })
	wantCode(t, err, apperr.Unauthenticated, oauth.CodeExchangeFailed)

	gh.Queue(base())
	p, _ := r.Lookup("github")
	u, _ := p.AuthCodeURL(context.Background(), oauth.Authorization{State: "s", Verifier: strings.Repeat("v", 43)})
	cb, _ := oauth.ParseCallback(oidctest.Authorize(t, u))
	gh.Down(true)
	_, err = p.Exchange(context.Background(), oauth.Completion{Code: cb.Code, Verifier: strings.Repeat("v", 43)})
	wantCode(t, err, apperr.Unavailable, oauth.CodeProviderUnavailable)
}

func TestSecretsAreResolvedPerExchange(t *testing.T) {
	op, gh := oidctest.NewOP(t), oidctest.NewGitHub(t)
	cfg := testConfig(op, nil)
	current := op.ClientSecret()
	cfg.UseSecrets(func(context.Context, string) (secretValue, error) { return newSecret(current), nil })
	r, err := oidc.New(context.Background(), cfg, oidc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	op.Queue(ada(true))
	if _, err := login(t, r, "acme", nil); err != nil {
		t.Fatal(err)
	}
	current = "a-rotated-but-wrong-secret"
	op.Queue(ada(true))
	_, err = login(t, r, "acme", nil)
	wantCode(t, err, apperr.Unauthenticated, oauth.CodeExchangeFailed)
	if strings.Contains(err.Error(), current) || strings.Contains(err.Error(), op.ClientSecret()) {
		t.Fatalf("the error shows a secret: %v", err)
	}
	_ = gh

	// A missing secret stops the start, naming the variable.
	cfg.UseSecrets(func(context.Context, string) (secretValue, error) { return secretValue{}, nil })
	if _, err := oidc.New(context.Background(), cfg, oidc.Options{}); err == nil || !strings.Contains(err.Error(), "OAUTH_ACME_CLIENT_SECRET") {
		t.Fatalf("missing secret: %v", err)
	}
}

func TestDefaultsAndScopes(t *testing.T) {
	g, h, a := oidc.ProviderDefaults("google"), oidc.ProviderDefaults("github"), oidc.ProviderDefaults("acme-sso")
	if g.Kind != oidc.KindOIDC || g.Issuer != "https://accounts.google.com" || g.DisplayName != "Google" || strings.Join(g.Scopes, " ") != "openid email profile" ||
		h.Kind != oidc.KindGitHub || h.GitHubAPIURL != "https://api.github.com" || strings.Join(h.Scopes, " ") != "read:user user:email" ||
		a.Kind != oidc.KindOIDC || a.Issuer != "" || a.SecretVar != "OAUTH_ACME_SSO_CLIENT_SECRET" || a.DisplayName != "acme-sso" {
		t.Fatalf("defaults: %+v %+v %+v", g, h, a)
	}
	for _, tc := range []struct {
		kind oidc.Kind
		in   string
		want string
	}{{oidc.KindOIDC, "email,groups", "openid email groups"}, {oidc.KindOIDC, "openid  email", "openid email"}, {oidc.KindOIDC, "", "openid email profile"},
		{oidc.KindGitHub, "read:org", "read:org"}, {oidc.KindGitHub, " ", "read:user user:email"}} {
		if got := strings.Join(oidc.ParseScopes(tc.kind, tc.in), " "); got != tc.want {
			t.Errorf("ParseScopes(%s, %q) = %q; want %q", tc.kind, tc.in, got, tc.want)
		}
	}
	cfg := oidc.DefaultConfig()
	cfg.Providers = []oidc.ProviderConfig{g, h, a}
	if cfg.RedirectURL("google") != "http://localhost:8000/api/v1/auth/oauth/google/callback" {
		t.Fatalf("RedirectURL = %s", cfg.RedirectURL("google"))
	}
	if names := cfg.SecretNames(); strings.Join(names, ",") != "OAUTH_GOOGLE_CLIENT_SECRET,OAUTH_GITHUB_CLIENT_SECRET,OAUTH_ACME_SSO_CLIENT_SECRET" {
		t.Fatalf("SecretNames = %v", names)
	}
	if s, err := oidc.StaticSecret("x")(context.Background()); err != nil || s.Reveal() != "x" || s.String() != "[REDACTED]" {
		t.Fatalf("StaticSecret = %v, %v", s, err)
	}
}

func TestValidate(t *testing.T) {
	good := oidc.DefaultConfig()
	good.RedirectAllowList = []string{"https://app.example/auth/cb", "com.example.app:/oauth"}
	g := oidc.ProviderDefaults("google")
	g.ClientID = "g"
	good.Providers = []oidc.ProviderConfig{g}
	if err := good.Validate(false); err != nil {
		t.Fatal(err)
	}
	// Production without providers keeps the local API_PUBLIC_URL.
	if err := oidc.DefaultConfig().Validate(true); err != nil {
		t.Fatalf("no providers in production: %v", err)
	}
	if err := good.Validate(true); err == nil || !strings.Contains(err.Error(), "API_PUBLIC_URL") {
		t.Fatalf("http API_PUBLIC_URL with providers in production: %v", err)
	}

	bad := oidc.DefaultConfig()
	bad.PublicURL = "http://api.example"
	bad.RedirectAllowList = []string{"http://localhost:3000/cb", "javascript:alert(1)", "//evil.example/cb", "https://app.example/cb?x=1"}
	bad.ErrorRedirect = "https://elsewhere.example/"
	acme := oidc.ProviderDefaults("acme")
	acme.Issuer = "http://idp.acme.example"
	odd := oidc.ProviderDefaults("Bad_Name")
	odd.ClientID = "x"
	weird := oidc.ProviderDefaults("weird")
	weird.ClientID, weird.Kind = "w", "saml"
	bad.Providers = []oidc.ProviderConfig{acme, odd, weird, acme}
	err := bad.Validate(true)
	if err == nil {
		t.Fatal("bad production configuration accepted")
	}
	for _, want := range []string{"API_PUBLIC_URL", "OAUTH_PROVIDERS", "OAUTH_ACME_CLIENT_ID", "OAUTH_ACME_ISSUER", "OAUTH_ERROR_REDIRECT", "OAUTH_WEIRD_TYPE",
		`"http://localhost:3000/cb": production`, `"javascript:alert(1)"`, `"//evil.example/cb"`, `"https://app.example/cb?x=1"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	noList := good
	noList.RedirectAllowList = nil
	if err := noList.Validate(false); err == nil || !strings.Contains(err.Error(), "OAUTH_REDIRECT_ALLOWLIST") {
		t.Fatalf("providers without an allow-list: %v", err)
	}
}
