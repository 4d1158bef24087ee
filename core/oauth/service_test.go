package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth"
)

func adaClaims(verified bool) oauth.Claims {
	return oauth.Claims{Issuer: "https://idp.example", Subject: "ada-1", Email: "ada@example.com", EmailVerified: verified, Name: "Ada"}
}

func TestStartRefusesBeforeContactingTheProvider(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  oauth.StartRequest
		code string
	}{
		{"unknown provider", oauth.StartRequest{Provider: "nope", RedirectTo: appCB}, oauth.CodeProviderUnknown},
		{"prefix of an entry", oauth.StartRequest{Provider: "idp", RedirectTo: "https://app.example/auth"}, oauth.CodeRedirectInvalid},
		{"entry as a prefix", oauth.StartRequest{Provider: "idp", RedirectTo: appCB + "/../../evil"}, oauth.CodeRedirectInvalid},
		{"entry with a query", oauth.StartRequest{Provider: "idp", RedirectTo: appCB + "?next=https://evil.example"}, oauth.CodeRedirectInvalid},
		{"other port", oauth.StartRequest{Provider: "idp", RedirectTo: "https://app.example:8443/auth/callback"}, oauth.CodeRedirectInvalid},
		{"explicit default port", oauth.StartRequest{Provider: "idp", RedirectTo: "https://app.example:443/auth/callback"}, oauth.CodeRedirectInvalid},
		{"scheme-relative", oauth.StartRequest{Provider: "idp", RedirectTo: "//evil.example/auth/callback"}, oauth.CodeRedirectInvalid},
		{"javascript", oauth.StartRequest{Provider: "idp", RedirectTo: "javascript:alert(document.cookie)"}, oauth.CodeRedirectInvalid},
		{"credentials", oauth.StartRequest{Provider: "idp", RedirectTo: "https://app.example@evil.example/auth/callback"}, oauth.CodeRedirectInvalid},
		{"case", oauth.StartRequest{Provider: "idp", RedirectTo: "https://APP.example/auth/callback"}, oauth.CodeRedirectInvalid},
		{"empty", oauth.StartRequest{Provider: "idp"}, oauth.CodeRedirectInvalid},
		{"plain PKCE", oauth.StartRequest{Provider: "idp", RedirectTo: appCB, CodeChallenge: strings.Repeat("a", 43), CodeChallengeMethod: "plain"}, oauth.CodeChallengeInvalid},
		{"challenge without method", oauth.StartRequest{Provider: "idp", RedirectTo: appCB, CodeChallenge: strings.Repeat("a", 43)}, oauth.CodeChallengeInvalid},
		{"short challenge", oauth.StartRequest{Provider: "idp", RedirectTo: appCB, CodeChallenge: "abc", CodeChallengeMethod: "S256"}, oauth.CodeChallengeInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.svc.Start(ctx, tc.req)
			if apperr.CodeOf(err) != tc.code {
				t.Fatalf("Start = %v; want %s", err, tc.code)
			}
		})
	}
	if e.idp.authCalls != 0 {
		t.Fatalf("the provider was asked %d times for refused starts", e.idp.authCalls)
	}
	if _, _ = e.start(t, oauth.StartRequest{RedirectTo: mobileCB}); e.idp.authCalls != 1 {
		t.Fatal("an app scheme entry was refused")
	}
}

func TestFlowStateLivesTenMinutesAndOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.idp.claims = adaClaims(true)
		st, state := e.start(t, oauth.StartRequest{})
		if got := time.Until(st.ExpiresAt); got != 10*time.Minute {
			t.Fatalf("flow lives %s; want 10m", got)
		}
		time.Sleep(10*time.Minute - time.Second)
		l, q := e.callback(t, state, st.BrowserSecret)
		if l.Err != nil || q.Get("code") == "" || q.Get("provider") != "idp" {
			t.Fatalf("callback within 10 min landed on %s (%v)", l.Location, l.Err)
		}
		// Replayed state: spent, so nothing is known of it any more.
		l, q = e.callback(t, state, st.BrowserSecret)
		landingOn(t, l, errorCB)
		if q.Get("error") != oauth.CodeStateInvalid {
			t.Fatalf("replayed state landed on %s", l.Location)
		}

		// Expired: refused, and landed on the flow's own redirect_to while
		// the record is kept (another 10 min), on the error landing after.
		st, state = e.start(t, oauth.StartRequest{})
		time.Sleep(10 * time.Minute)
		l, q = e.callback(t, state, st.BrowserSecret)
		landingOn(t, l, appCB)
		if q.Get("error") != oauth.CodeStateInvalid || q.Get("code") != "" {
			t.Fatalf("expired state landed on %s", l.Location)
		}
		st, state = e.start(t, oauth.StartRequest{})
		time.Sleep(20 * time.Minute)
		l, q = e.callback(t, state, st.BrowserSecret)
		landingOn(t, l, errorCB)
		if q.Get("error") != oauth.CodeStateInvalid {
			t.Fatalf("long-expired state landed on %s", l.Location)
		}
		if st.MaxAge != 10*time.Minute {
			t.Fatalf("cookie max age %s; want 10m", st.MaxAge)
		}
	})
}

func TestCallbackFromAnotherBrowserIsRefused(t *testing.T) {
	e := newEnv(t)
	e.idp.claims = adaClaims(true)
	st, state := e.start(t, oauth.StartRequest{})
	other, _ := e.start(t, oauth.StartRequest{})
	for _, browser := range []string{"", other.BrowserSecret + "x", strings.Repeat("A", 43)} {
		if browser == st.BrowserSecret {
			t.Fatal("two browsers got one secret")
		}
		st2, state2 := e.start(t, oauth.StartRequest{})
		l, q := e.callback(t, state2, browser)
		landingOn(t, l, appCB)
		if q.Get("error") != oauth.CodeBrowserMismatch || q.Get("code") != "" {
			t.Fatalf("callback with browser %q landed on %s", browser, l.Location)
		}
		_ = st2
	}
	if l, q := e.callback(t, state, st.BrowserSecret); q.Get("code") == "" {
		t.Fatalf("the right browser was refused: %s", l.Location)
	}
	if len(e.users.m) != 1 {
		t.Fatalf("%d accounts after one accepted callback", len(e.users.m))
	}
}

func TestParallelFlowsInOneBrowserKeepTheirBinding(t *testing.T) {
	e := newEnv(t)
	e.idp.claims = adaClaims(true)
	first, s1 := e.start(t, oauth.StartRequest{})
	second, s2 := e.start(t, oauth.StartRequest{BrowserSecret: first.BrowserSecret})
	if second.BrowserSecret != first.BrowserSecret {
		t.Fatal("a second flow replaced the browser's secret")
	}
	if first.AuthURL == second.AuthURL {
		t.Fatal("two flows share a state or nonce")
	}
	// Finished in the opposite order, both succeed.
	for _, s := range []string{s2, s1} {
		if l, q := e.callback(t, s, first.BrowserSecret); q.Get("code") == "" {
			t.Fatalf("parallel flow failed: %s", l.Location)
		}
	}
}

func TestProviderSideFailuresLandOnRedirectTo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		query func(state string) url.Values
		err   error
		want  string
	}{
		{"consent denied", func(s string) url.Values { return url.Values{"state": {s}, "error": {"access_denied"}} }, nil, oauth.CodeAccessDenied},
		{"provider error", func(s string) url.Values { return url.Values{"state": {s}, "error": {"server_error"}} }, nil, oauth.CodeProviderError},
		{"provider down", nil, apperr.New(apperr.Unavailable, oauth.CodeProviderUnavailable, "down"), oauth.CodeProviderUnavailable},
		{"token refused", nil, apperr.New(apperr.Unauthenticated, oauth.CodeTokenInvalid, "bad"), oauth.CodeTokenInvalid},
		{"internal trouble is not spelled out", nil, apperr.New(apperr.Internal, "db_error", "x"), oauth.CodeServerError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.idp.err = tc.err
			st, state := e.start(t, oauth.StartRequest{})
			q := url.Values{"state": {state}, "code": {"c"}}
			if tc.query != nil {
				q = tc.query(state)
			}
			l, err := e.svc.Callback(ctx, oauth.CallbackRequest{Provider: "idp", RawQuery: q.Encode(), BrowserSecret: st.BrowserSecret})
			if err != nil {
				t.Fatal(err)
			}
			landingOn(t, l, appCB)
			u, _ := url.Parse(l.Location)
			if u.Query().Get("error") != tc.want || l.Err == nil {
				t.Fatalf("landed on %s; want error=%s", l.Location, tc.want)
			}
		})
	}
	if len(e.users.m) != 0 {
		t.Fatal("a failed flow created an account")
	}
	// A malformed callback has no flow to land on but the error page.
	l, err := e.svc.Callback(ctx, oauth.CallbackRequest{Provider: "idp", RawQuery: "state=a&state=b&code=c"})
	if err != nil {
		t.Fatal(err)
	}
	landingOn(t, l, errorCB)
}

func TestOneTimeCodeSixtySecondsOnceAndBound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		e.idp.claims = adaClaims(true)
		ctx := context.Background()
		code := func(req oauth.StartRequest) (string, string) {
			st, state := e.start(t, req)
			_, q := e.callback(t, state, st.BrowserSecret)
			return q.Get("code"), st.BrowserSecret
		}
		c, browser := code(oauth.StartRequest{})
		time.Sleep(61 * time.Second)
		if _, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c, BrowserSecret: browser}); apperr.CodeOf(err) != oauth.CodeCodeInvalid {
			t.Fatalf("code after 61 s: %v", err)
		}
		c, _ = code(oauth.StartRequest{})
		if _, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c}); apperr.CodeOf(err) != oauth.CodeCodeInvalid {
			t.Fatalf("browser-bound code without the browser: %v", err)
		}
		c, browser = code(oauth.StartRequest{})
		time.Sleep(59 * time.Second)
		res, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c, BrowserSecret: browser})
		if err != nil || res.Tokens == nil {
			t.Fatalf("Exchange = %+v, %v", res, err)
		}
		if got := e.accounts.issued[len(e.accounts.issued)-1]; got.aal != 1 || len(got.amr) != 1 || got.amr[0] != oauth.AMR {
			t.Fatalf("session opened at aal %d amr %v; want 1 [oauth]", got.aal, got.amr)
		}
		if _, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c, BrowserSecret: browser}); apperr.CodeOf(err) != oauth.CodeCodeInvalid {
			t.Fatalf("replayed code: %v", err)
		}

		// The app's own PKCE: only the verifier redeems the code.
		verifier := strings.Repeat("k", 64)
		sum := sha256.Sum256([]byte(verifier))
		challenge := base64.RawURLEncoding.EncodeToString(sum[:])
		c, browser = code(oauth.StartRequest{RedirectTo: mobileCB, CodeChallenge: challenge, CodeChallengeMethod: "S256"})
		if _, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c, CodeVerifier: strings.Repeat("j", 64), BrowserSecret: browser}); apperr.CodeOf(err) != oauth.CodeCodeInvalid {
			t.Fatalf("wrong verifier (with the browser's cookie): %v", err)
		}
		c, _ = code(oauth.StartRequest{RedirectTo: mobileCB, CodeChallenge: challenge, CodeChallengeMethod: "S256"})
		if res, err := e.svc.Exchange(ctx, oauth.ExchangeRequest{Code: c, CodeVerifier: verifier}); err != nil || res.Tokens == nil {
			t.Fatalf("app exchange: %+v, %v", res, err)
		}
	})
}

func TestConcurrentExchangesOfOneCodeOpenOneSession(t *testing.T) {
	e := newEnv(t)
	e.idp.claims = adaClaims(true)
	st, state := e.start(t, oauth.StartRequest{})
	_, q := e.callback(t, state, st.BrowserSecret)
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for range 8 {
		wg.Go(func() {
			if _, err := e.svc.Exchange(context.Background(), oauth.ExchangeRequest{Code: q.Get("code"), BrowserSecret: st.BrowserSecret}); err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if ok != 1 || len(e.accounts.issued) != 1 {
		t.Fatalf("%d exchanges succeeded, %d sessions; want 1", ok, len(e.accounts.issued))
	}
}

func TestMFAAfterOAuth(t *testing.T) {
	e := newEnv(t)
	u := e.addUser(t, "ada@example.com", true, "hash")
	_ = e.users.Update(context.Background(), u.ID, func(c *identity.User) (*identity.User, error) { c.MFAEnabled = true; return c, nil })
	e.idp.claims = adaClaims(true)
	st, state := e.start(t, oauth.StartRequest{})
	_, q := e.callback(t, state, st.BrowserSecret)
	res, err := e.svc.Exchange(context.Background(), oauth.ExchangeRequest{Code: q.Get("code"), BrowserSecret: st.BrowserSecret})
	if err != nil || res.MFA == nil || res.Tokens != nil || res.MFA.Token != "mfa-token" {
		t.Fatalf("Exchange = %+v, %v; want the MFA challenge", res, err)
	}
	if e.mfa.first != oauth.AMR || len(e.accounts.issued) != 0 {
		t.Fatalf("first factor %q, sessions %d", e.mfa.first, len(e.accounts.issued))
	}
}

func TestRecentLoginOrPasswordToLink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newEnv(t)
		ctx := context.Background()
		u := e.addUser(t, "ada@example.com", true, "hash")
		sid := uuid.New()
		e.sessions.m[sid] = identity.Session{ID: sid, UserID: u.ID, CreatedAt: time.Now().UTC()}
		p := identity.Principal{UserID: u.ID, SessionID: sid}
		req := oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}}
		time.Sleep(15 * time.Minute)
		if _, err := e.svc.StartLink(ctx, p, req); err != nil {
			t.Fatalf("link within 15 min: %v", err)
		}
		time.Sleep(time.Second)
		if _, err := e.svc.StartLink(ctx, p, req); apperr.CodeOf(err) != oauth.CodeReauthRequired {
			t.Fatalf("link after 15 min without password: %v", err)
		}
		req.Password = "wrong"
		if _, err := e.svc.StartLink(ctx, p, req); apperr.CodeOf(err) != identity.CodeCurrentPasswordBad {
			t.Fatalf("link with a wrong password: %v", err)
		}
		req.Password = "the password"
		if _, err := e.svc.StartLink(ctx, p, req); err != nil {
			t.Fatalf("link with the password: %v", err)
		}
		// A revoked session cannot start a link, whatever its age.
		now := time.Now().UTC()
		s := e.sessions.m[sid]
		s.RevokedAt = &now
		e.sessions.m[sid] = s
		if _, err := e.svc.StartLink(ctx, p, req); apperr.CodeOf(err) != identity.CodeSessionRevoked {
			t.Fatalf("link from a revoked session: %v", err)
		}
	})
}

func TestConcurrentUnlinksKeepOneWayToSignIn(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, "ada@example.com", true, "") // no password
	sid := uuid.New()
	e.sessions.m[sid] = identity.Session{ID: sid, UserID: u.ID, CreatedAt: time.Now().UTC()}
	var ids []uuid.UUID
	for i, prov := range []string{"idp", "other"} {
		id := &oauth.Identity{UserID: u.ID, Provider: prov, Issuer: "https://idp.example", Subject: "s" + string(rune('0'+i)), CreatedAt: time.Now()}
		if err := e.idents.Create(ctx, id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id.ID)
	}
	p := identity.Principal{UserID: u.ID, SessionID: sid}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range ids {
		wg.Go(func() { errs[i] = e.svc.Unlink(ctx, p, ids[i], "") })
	}
	wg.Wait()
	left, _ := e.idents.ListByUser(ctx, u.ID)
	if len(left) != 1 || (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("after two concurrent unlinks: %d left, errors %v", len(left), errs)
	}
	for _, err := range errs {
		if err != nil && apperr.CodeOf(err) != oauth.CodeLastSignInMethod {
			t.Fatalf("refusal: %v", err)
		}
	}
	// Another user's identity is not found, exactly like a missing one.
	bob := e.addUser(t, "bob@example.com", true, "hash")
	bsid := uuid.New()
	e.sessions.m[bsid] = identity.Session{ID: bsid, UserID: bob.ID, CreatedAt: time.Now().UTC()}
	if err := e.svc.Unlink(ctx, identity.Principal{UserID: bob.ID, SessionID: bsid}, left[0].ID, ""); apperr.CodeOf(err) != oauth.CodeIdentityNotFound {
		t.Fatalf("unlink of another user's identity: %v", err)
	}
}

func TestStartLinkRefusals(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if got := e.svc.Providers(); len(got) != 1 || got[0].Name != "idp" {
		t.Fatalf("Providers = %+v", got)
	}
	unverified := e.addUser(t, "u@example.com", false, "hash")
	sid := uuid.New()
	e.sessions.m[sid] = identity.Session{ID: sid, UserID: unverified.ID, CreatedAt: time.Now().UTC()}
	req := oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}}
	if _, err := e.svc.StartLink(ctx, identity.Principal{UserID: unverified.ID, SessionID: sid}, req); apperr.CodeOf(err) != oauth.CodeEmailUnverified {
		t.Fatalf("link from an unverified account: %v", err)
	}
	u := e.addUser(t, "v@example.com", true, "hash")
	sid = uuid.New()
	e.sessions.m[sid] = identity.Session{ID: sid, UserID: u.ID, CreatedAt: time.Now().UTC()}
	if err := e.idents.Create(ctx, &oauth.Identity{UserID: u.ID, Provider: "idp", Issuer: "https://idp.example", Subject: "v"}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.StartLink(ctx, identity.Principal{UserID: u.ID, SessionID: sid}, req); apperr.CodeOf(err) != oauth.CodeAlreadyLinked {
		t.Fatalf("second identity of a provider: %v", err)
	}
	// Someone else's session does not count as the caller's.
	if _, err := e.svc.StartLink(ctx, identity.Principal{UserID: unverified.ID, SessionID: sid}, req); apperr.CodeOf(err) != identity.CodeSessionRevoked {
		t.Fatalf("link with another user's session: %v", err)
	}
}
