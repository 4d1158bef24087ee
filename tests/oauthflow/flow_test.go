package oauthflow_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
)

func TestWebFlowCreatesThenFindsTheAccount(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	pair := s.mustLogin(t, "acme")
	p, err := s.idsvc.Authenticate(ctx, pair.AccessToken)
	if err != nil || p.AAL != 1 || !slices.Equal(p.AMR, []string{oauth.AMR}) {
		t.Fatalf("Authenticate = %+v, %v; want aal 1 amr [oauth]", p, err)
	}
	u := s.userByEmail(t, "ada@example.com")
	if u.ID != p.UserID || !u.EmailVerified() || u.PasswordHash != "" || u.DisplayName != "Ada Lovelace" {
		t.Fatalf("account = %+v", u)
	}
	ids, _ := s.idents.ListByUser(ctx, u.ID)
	if len(ids) != 1 || ids[0].Issuer != s.op.Issuer() || ids[0].Subject != "ada-1" || ids[0].Provider != "acme" || !ids[0].Confirmed {
		t.Fatalf("identities = %+v", ids)
	}
	ev := s.eventTypes(t, u.ID)
	for _, typ := range []identity.EventType{identity.EventRegistered, oauth.EventIdentityLinked, oauth.EventLogin, identity.EventLoginSucceeded} {
		if _, ok := ev[typ]; !ok {
			t.Errorf("no %s event; have %v", typ, ev)
		}
	}
	if _, ok := s.mail.Await("ada@example.com", identity.TemplateWelcome, 2*time.Second); !ok {
		t.Error("no welcome mail")
	}
	// Again: the same account through (issuer, subject), even with another
	// email at the provider.
	s.op.Queue(oidcUser("ada-1", "ada.new@example.com", true))
	pair2 := s.mustLogin(t, "acme")
	if pair2.User.ID != u.ID || s.countUsers(t) != 1 {
		t.Fatalf("second login: user %s, %d accounts", pair2.User.ID, s.countUsers(t))
	}
	// The refresh token works like a password login's.
	if _, err := s.idsvc.Refresh(ctx, pair2.RefreshToken); err != nil {
		t.Fatalf("Refresh: %v", err)
	}
}

func TestMobileFlowWithTheAppsOwnPKCE(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	verifier := strings.Repeat("m", 43) + "-._~"
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		name, verifier string
		ok             bool
	}{{"other verifier", strings.Repeat("n", 47), false}, {"no verifier", "", false}, {"right verifier", verifier, true}} {
		s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
		b := &browser{}
		base, q := s.callback(t, b, "acme", s.flow(t, b, oauth.StartRequest{Provider: "acme", RedirectTo: mobileCB, CodeChallenge: challenge, CodeChallengeMethod: "S256"}))
		if base != mobileCB || q.Get("code") == "" {
			t.Fatalf("%s: landed on %s %v", tc.name, base, q)
		}
		// The app has no cookie; even the browser's would not do.
		res, err := s.svc.Exchange(ctx, oauth.ExchangeRequest{Code: q.Get("code"), CodeVerifier: tc.verifier, BrowserSecret: b.secret})
		if tc.ok != (err == nil && res.Tokens != nil) {
			t.Fatalf("%s: Exchange = %+v, %v", tc.name, res, err)
		}
		if !tc.ok && apperr.CodeOf(err) != oauth.CodeCodeInvalid {
			t.Fatalf("%s: %v", tc.name, err)
		}
	}
}

func TestStateReplayAndAnotherBrowser(t *testing.T) {
	s := newStack(t)
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	b := &browser{}
	query := s.flow(t, b, oauth.StartRequest{Provider: "acme"})
	if _, q := s.callback(t, b, "acme", query); q.Get("code") == "" {
		t.Fatalf("first callback: %v", q)
	}
	tokenCalls := s.op.Requests("token")
	base, q := s.callback(t, b, "acme", query)
	if base != errorCB || q.Get("error") != oauth.CodeStateInvalid || s.op.Requests("token") != tokenCalls {
		t.Fatalf("replayed state landed on %s %v (token calls %d -> %d)", base, q, tokenCalls, s.op.Requests("token"))
	}

	// An attacker's own flow finished in the victim's browser (login CSRF):
	// the browser binding refuses it before the code is redeemed.
	s.op.Queue(oidcUser("mallory-1", "mallory@example.com", true))
	attacker := &browser{}
	query = s.flow(t, attacker, oauth.StartRequest{Provider: "acme"})
	victim := &browser{}
	base, q = s.callback(t, victim, "acme", query)
	if base != webCB || q.Get("error") != oauth.CodeBrowserMismatch || q.Get("code") != "" || s.op.Requests("token") != tokenCalls {
		t.Fatalf("callback in another browser landed on %s %v", base, q)
	}
	if _, err := s.users.GetByEmail(context.Background(), "mallory@example.com"); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("the refused flow created an account: %v", err)
	}
	// Denied consent lands on redirect_to with its code.
	b = &browser{}
	st, err := s.svc.Start(context.Background(), oauth.StartRequest{Provider: "acme", RedirectTo: webCB})
	if err != nil {
		t.Fatal(err)
	}
	b.secret = st.BrowserSecret
	au, _ := url.Parse(st.AuthURL)
	base, q = s.callback(t, b, "acme", url.Values{"state": {au.Query().Get("state")}, "error": {"access_denied"}}.Encode())
	if base != webCB || q.Get("error") != oauth.CodeAccessDenied {
		t.Fatalf("denied consent landed on %s %v", base, q)
	}
}

func TestTokensThatDoNotVerifyCreateNothing(t *testing.T) {
	s := newStack(t)
	op := s.op
	rewrite := func(fn func(map[string]any), signing string) {
		op.Set(func(b *oidctest.Behaviour) {
			b.RewriteIDToken = func(c map[string]any) (map[string]any, string) { fn(c); return c, signing }
		})
	}
	for _, tc := range []struct {
		name string
		set  func()
		user *oidctest.User
	}{
		{"wrong nonce", func() { rewrite(func(c map[string]any) { c["nonce"] = "someone-elses-nonce" }, "") }, nil},
		{"other issuer", func() { rewrite(func(c map[string]any) { c["iss"] = "https://evil.example" }, "") }, nil},
		{"other audience", func() { rewrite(func(c map[string]any) { c["aud"] = "another-client" }, "") }, nil},
		{"expired", func() { rewrite(func(c map[string]any) { c["exp"] = time.Now().Add(-2 * time.Minute).Unix() }, "") }, nil},
		{"alg none", func() { rewrite(func(map[string]any) {}, "none") }, nil},
		{"userinfo sub mismatch", nil, &oidctest.User{Subject: "ada-1", UserinfoSubject: "eve-1", Info: map[string]any{"email": "ada@example.com", "email_verified": true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op.Set(func(b *oidctest.Behaviour) { *b = oidctest.Behaviour{} })
			if tc.set != nil {
				tc.set()
			}
			u := tc.user
			if u == nil {
				u = oidcUser("ada-1", "ada@example.com", true)
			}
			op.Queue(u)
			if _, code := s.login(t, "acme"); code != oauth.CodeTokenInvalid {
				t.Fatalf("landing error %q; want %s", code, oauth.CodeTokenInvalid)
			}
			if n := s.countUsers(t); n != 0 {
				t.Fatalf("%d accounts after a refused token", n)
			}
		})
	}
}

func TestLinkingNeedsAProviderVerifiedEmail(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	owner, err := s.idsvc.CreateUser(ctx, "ada@example.com", "ada's own passphrase", identity.RoleUser) // verified
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		verified any
	}{{"false", false}, {"missing", nil}, {`the string "true"`, "true"}} {
		t.Run(tc.name, func(t *testing.T) {
			s.op.Queue(oidcUser("eve-"+tc.name, "ada@example.com", tc.verified))
			if _, code := s.login(t, "acme"); code != oauth.CodeAccountExists {
				t.Fatalf("landing error %q; want %s", code, oauth.CodeAccountExists)
			}
			if ids, _ := s.idents.ListByUser(ctx, owner.ID); len(ids) != 0 {
				t.Fatalf("linked: %+v", ids)
			}
			if d := s.eventTypes(t, owner.ID)[oauth.EventLinkRefused]; d["provider"] != "acme" {
				t.Fatalf("no oauth_link_refused event: %v", d)
			}
		})
	}
	// GitHub with the address as an unverified primary: refused too.
	s.gh.Queue(ghUser(7, "ada@example.com", false))
	if _, code := s.login(t, "github"); code != oauth.CodeAccountExists {
		t.Fatalf("GitHub unverified primary: %q", code)
	}
	// A verified one links automatically, and the owner is told.
	s.gh.Queue(ghUser(7, "ada@example.com", true))
	pair := s.mustLogin(t, "github")
	if pair.User.ID != owner.ID || s.countUsers(t) != 1 {
		t.Fatalf("verified GitHub address signed in %s; want the owner %s", pair.User.ID, owner.ID)
	}
	if m, ok := s.mail.Await("ada@example.com", oauth.TemplateIdentityLinked, 2*time.Second); !ok || m.Data["Provider"] != "GitHub" {
		t.Fatalf("no identity-linked mail: %+v", m)
	}
	// The owner's password still works: a verified account keeps it.
	if res, err := s.idsvc.Login(ctx, "ada@example.com", "ada's own passphrase"); err != nil || res.Tokens == nil {
		t.Fatalf("password login after auto-link: %v", err)
	}
	// An unverified address nobody has makes an unverified account.
	s.op.Queue(oidcUser("bob-1", "bob@example.com", false))
	pair = s.mustLogin(t, "acme")
	if u := s.userByEmail(t, "bob@example.com"); u.EmailVerified() || u.ID != pair.User.ID {
		t.Fatalf("account from an unverified address: %+v", u)
	}
}

func TestPreAccountHijackIsUndone(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	// The attacker registers the victim's address with a password of
	// theirs, never verifies it, and keeps a session open.
	if _, err := s.idsvc.Register(ctx, identity.RegisterInput{Email: "victim@example.com", Password: "attacker's passphrase"}); err != nil {
		t.Fatal(err)
	}
	res, err := s.idsvc.Login(ctx, "victim@example.com", "attacker's passphrase")
	if err != nil || res.Tokens == nil {
		t.Fatalf("attacker login: %v", err)
	}
	attacker := res.Tokens
	// The victim signs in with a provider that verified the address.
	s.op.Queue(oidcUser("victim-1", "victim@example.com", true))
	pair := s.mustLogin(t, "acme")
	if pair.User.ID != attacker.User.ID {
		t.Fatal("the victim got another account")
	}
	u := s.userByEmail(t, "victim@example.com")
	if u.PasswordHash != "" || !u.EmailVerified() {
		t.Fatalf("after the link: password kept %v, verified %v", u.PasswordHash != "", u.EmailVerified())
	}
	if _, err := s.idsvc.Login(ctx, "victim@example.com", "attacker's passphrase"); !apperr.Is(err, apperr.Unauthenticated) {
		t.Fatalf("the attacker's password still works: %v", err)
	}
	if _, err := s.idsvc.Authenticate(ctx, attacker.AccessToken); apperr.CodeOf(err) != identity.CodeSessionRevoked {
		t.Fatalf("the attacker's access token: %v", err)
	}
	if _, err := s.idsvc.Refresh(ctx, attacker.RefreshToken); err == nil {
		t.Fatal("the attacker's refresh token still works")
	}
	if _, err := s.idsvc.Authenticate(ctx, pair.AccessToken); err != nil {
		t.Fatalf("the victim's own session: %v", err)
	}
	if _, ok := s.mail.Await("victim@example.com", oauth.TemplatePasswordRemoved, 2*time.Second); !ok {
		t.Fatal("the owner was not told")
	}
	if d := s.eventTypes(t, u.ID)[oauth.EventIdentityLinked]; d["password_removed"] != "true" {
		t.Fatalf("identity_linked event: %v", d)
	}
}

func TestProvidersUnverifiedAccountLosesItsIdentityOnceTheAddressIsProven(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	// Someone signs up through GitHub with an address GitHub did not verify.
	s.gh.Queue(ghUser(99, "carol@example.com", false))
	s.mustLogin(t, "github")
	// The address's owner takes the account over by a reset link.
	if err := s.idsvc.ForgotPassword(ctx, "carol@example.com"); err != nil {
		t.Fatal(err)
	}
	m, ok := s.mail.Await("carol@example.com", identity.TemplatePasswordReset, 2*time.Second)
	if !ok {
		t.Fatal("no reset mail")
	}
	link, _ := url.Parse(m.Data["Link"].(string))
	if err := s.idsvc.ResetPassword(ctx, link.Query().Get("token"), "carol's real passphrase", identity.ResetFactor{}); err != nil {
		t.Fatal(err)
	}
	// The GitHub identity no longer signs in.
	s.gh.Queue(ghUser(99, "carol@example.com", false))
	if _, code := s.login(t, "github"); code != oauth.CodeIdentityStale {
		t.Fatalf("GitHub login after the address was proven: %q; want %s", code, oauth.CodeIdentityStale)
	}
}

func TestRedirectToIsCheckedBeforeTheProvider(t *testing.T) {
	s := newStack(t)
	for _, to := range []string{"https://app.tradesense.test/auth", webCB + "x", "https://app.tradesense.test:444/auth/callback",
		"//evil.example/auth/callback", "javascript:alert(1)//", "https://evil.example/auth/callback", webCB + "?next=//evil.example"} {
		_, err := s.svc.Start(context.Background(), oauth.StartRequest{Provider: "acme", RedirectTo: to})
		if apperr.CodeOf(err) != oauth.CodeRedirectInvalid {
			t.Errorf("redirect_to %q: %v", to, err)
		}
	}
	if n := s.op.Requests("openid-configuration") + s.op.Requests("authorize"); n != 0 {
		t.Fatalf("the provider was contacted %d times", n)
	}
}

func TestKeyRotationBetweenTwoLogins(t *testing.T) {
	s := newStack(t)
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	first := s.mustLogin(t, "acme")
	s.op.Rotate(t)
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	second := s.mustLogin(t, "acme")
	if first.User.ID != second.User.ID || s.op.Requests("jwks.json") != 2 {
		t.Fatalf("users %s %s, jwks fetched %d times", first.User.ID, second.User.ID, s.op.Requests("jwks.json"))
	}
}

func TestProviderDownLeavesNothingHalfMade(t *testing.T) {
	s := newStack(t)
	s.op.Set(func(b *oidctest.Behaviour) { b.Down = true })
	_, err := s.svc.Start(context.Background(), oauth.StartRequest{Provider: "acme", RedirectTo: webCB})
	if !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != oauth.CodeProviderUnavailable {
		t.Fatalf("Start with the provider down: %v", err)
	}
	// Down between the authorization and the token request.
	s.op.Set(func(b *oidctest.Behaviour) { b.Down = false })
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	b := &browser{}
	query := s.flow(t, b, oauth.StartRequest{Provider: "acme"})
	s.op.Set(func(b *oidctest.Behaviour) { b.Down = true })
	base, q := s.callback(t, b, "acme", query)
	if base != webCB || q.Get("error") != oauth.CodeProviderUnavailable || s.countUsers(t) != 0 {
		t.Fatalf("landed on %s %v with %d accounts", base, q, s.countUsers(t))
	}
	// GitHub down at the API calls after the token.
	s.gh.Queue(ghUser(5, "dan@example.com", true))
	b = &browser{}
	query = s.flow(t, b, oauth.StartRequest{Provider: "github"})
	s.gh.Down(true)
	if _, q := s.callback(t, b, "github", query); q.Get("error") != oauth.CodeProviderUnavailable || s.countUsers(t) != 0 {
		t.Fatalf("GitHub down: %v with %d accounts", q, s.countUsers(t))
	}
}

func TestMFAStillApplies(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	pair := s.mustLogin(t, "acme")
	en, err := s.mfa.BeginEnrolment(ctx, pair.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	backup, err := s.mfa.ConfirmEnrolment(ctx, pair.User.ID, totpNow(t, en.Secret))
	if err != nil {
		t.Fatal(err)
	}
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	res, code := s.login(t, "acme")
	if code != "" || res.Tokens != nil || res.MFA == nil || res.MFA.Token == "" {
		t.Fatalf("login of a user with MFA: %+v %q; want the challenge", res, code)
	}
	done, _, err := s.flows.CompleteLogin(ctx, res.MFA.Token, mfa.Answer{BackupCode: backup[0]})
	if err != nil {
		t.Fatal(err)
	}
	p, err := s.idsvc.Authenticate(ctx, done.AccessToken)
	if err != nil || p.AAL != 2 || !slices.Equal(p.AMR, []string{oauth.AMR, mfa.MethodBackupCode}) {
		t.Fatalf("after the second factor: %+v, %v; want aal 2 amr [oauth backup_code]", p, err)
	}
}

func TestLinkFromSettingsAndTheLastMethod(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	pair := s.mustLogin(t, "acme")
	p, err := s.idsvc.Authenticate(ctx, pair.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := s.svc.Identities(ctx, p)
	if err := s.svc.Unlink(ctx, p, ids[0].ID, ""); apperr.CodeOf(err) != oauth.CodeLastSignInMethod {
		t.Fatalf("unlink of the only way in: %v", err)
	}
	// Link GitHub while signed in (the session is minutes old).
	s.gh.Queue(ghUser(11, "ada.gh@example.com", false))
	b := &browser{}
	st, err := s.svc.StartLink(ctx, p, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "github", RedirectTo: webCB}})
	if err != nil {
		t.Fatal(err)
	}
	b.secret = st.BrowserSecret
	base, q := s.callback(t, b, "github", oidctest.Authorize(t, st.AuthURL))
	if base != webCB || q.Get("linked") != "github" || q.Get("code") != "" {
		t.Fatalf("link landed on %s %v", base, q)
	}
	if ids, _ = s.svc.Identities(ctx, p); len(ids) != 2 {
		t.Fatalf("identities after link: %+v", ids)
	}
	// The same GitHub account cannot be linked to another user.
	s.op.Queue(oidcUser("bob-1", "bob@example.com", true))
	bob := s.mustLogin(t, "acme")
	bp, _ := s.idsvc.Authenticate(ctx, bob.AccessToken)
	s.gh.Queue(ghUser(11, "ada.gh@example.com", false))
	st, err = s.svc.StartLink(ctx, bp, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "github", RedirectTo: webCB}})
	if err != nil {
		t.Fatal(err)
	}
	b = &browser{secret: st.BrowserSecret}
	if _, q := s.callback(t, b, "github", oidctest.Authorize(t, st.AuthURL)); q.Get("error") != oauth.CodeIdentityInUse {
		t.Fatalf("linking another user's GitHub: %v", q)
	}
	// With two ways in, one can go; then the other is the last.
	if err := s.svc.Unlink(ctx, p, ids[0].ID, ""); err != nil {
		t.Fatal(err)
	}
	if err := s.svc.Unlink(ctx, p, ids[1].ID, ""); apperr.CodeOf(err) != oauth.CodeLastSignInMethod {
		t.Fatalf("unlink of the last identity: %v", err)
	}
	if _, ok := s.mail.Await("ada@example.com", oauth.TemplateIdentityUnlinked, 2*time.Second); !ok {
		t.Fatal("no unlink mail")
	}
	if d := s.eventTypes(t, p.UserID)[oauth.EventIdentityUnlinked]; d["provider"] == "" {
		t.Fatal("no identity_unlinked event")
	}
}

func TestDisabledUsersAndEndedSessions(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	pair := s.mustLogin(t, "acme")
	p, _ := s.idsvc.Authenticate(ctx, pair.AccessToken)
	// A link flow whose session ends before the callback is refused.
	s.gh.Queue(ghUser(12, "x@example.com", true))
	st, err := s.svc.StartLink(ctx, p, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "github", RedirectTo: webCB}})
	if err != nil {
		t.Fatal(err)
	}
	query := oidctest.Authorize(t, st.AuthURL)
	if err := s.idsvc.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, q := s.callback(t, &browser{secret: st.BrowserSecret}, "github", query); q.Get("error") != identity.CodeSessionRevoked {
		t.Fatalf("link after logout: %v", q)
	}
	// A disabled user cannot sign in through a provider, nor redeem a code
	// issued just before.
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	b := &browser{}
	_, q := s.callback(t, b, "acme", s.flow(t, b, oauth.StartRequest{Provider: "acme"}))
	now := time.Now()
	if err := s.users.Update(ctx, pair.User.ID, func(u *identity.User) (*identity.User, error) { u.DisabledAt = &now; return u, nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Exchange(ctx, oauth.ExchangeRequest{Code: q.Get("code"), BrowserSecret: b.secret}); apperr.CodeOf(err) != identity.CodeAccountDisabled {
		t.Fatalf("code of a disabled user: %v", err)
	}
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	if _, code := s.login(t, "acme"); code != identity.CodeAccountDisabled {
		t.Fatalf("login of a disabled user: %q", code)
	}
}
