package oauth_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth"
)

// landErr runs a sign-in flow with claims and returns what it landed on
// the app with.
func landErr(t *testing.T, e *env, c oauth.Claims) error {
	t.Helper()
	e.idp.claims = c
	st, state := e.start(t, oauth.StartRequest{})
	l, q := e.callback(t, state, st.BrowserSecret)
	if l.Err == nil {
		if q.Get("code") == "" {
			t.Fatalf("landed on %s without an error or a code", l.Location)
		}
		return nil
	}
	landingOn(t, l, appCB)
	return l.Err
}

func wantLanding(t *testing.T, what string, err error, code string) {
	t.Helper()
	if apperr.CodeOf(err) != code {
		t.Errorf("%s: landed with %v; want %s", what, err, code)
	}
}

// TestSignInRefusals: a provider account without an email cannot make an
// account; a disabled account cannot be entered through a provider, by
// its address or by an identity linked before; and an address that
// exists but that the provider did not verify is not linked to it.
func TestSignInRefusals(t *testing.T) {
	e := newEnv(t)
	noEmail := adaClaims(true)
	noEmail.Email, noEmail.Subject = "", "no-email"
	wantLanding(t, "no email", landErr(t, e, noEmail), oauth.CodeEmailMissing)
	if len(e.users.m) != 0 {
		t.Fatal("an account was made without an email")
	}

	u := e.addUser(t, "ada@example.com", true, "hash")
	wantLanding(t, "an existing address the provider did not verify", landErr(t, e, adaClaims(false)), oauth.CodeAccountExists)

	// Ada signs in once (which links the identity), then is disabled.
	if err := landErr(t, e, adaClaims(true)); err != nil {
		t.Fatalf("first sign-in: %v", err)
	}
	now := time.Now().UTC()
	if err := e.users.Update(context.Background(), u.ID, func(c *identity.User) (*identity.User, error) { c.DisabledAt = &now; return c, nil }); err != nil {
		t.Fatal(err)
	}
	wantLanding(t, "a disabled account by its linked identity", landErr(t, e, adaClaims(true)), identity.CodeAccountDisabled)
	other := adaClaims(true)
	other.Subject = "ada-2"
	wantLanding(t, "a disabled account by its address", landErr(t, e, other), identity.CodeAccountDisabled)
}

// linkLanding starts a link for p, lets the provider answer c, and
// returns the landing's error.
func linkLanding(t *testing.T, e *env, p identity.Principal, c oauth.Claims) (*oauth.Landing, error) {
	t.Helper()
	st, err := e.svc.StartLink(context.Background(), p, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}})
	if err != nil {
		t.Fatalf("StartLink: %v", err)
	}
	u, _ := url.Parse(st.AuthURL)
	return linkCallback(t, e, st, u.Query().Get("state"), c)
}

func linkCallback(t *testing.T, e *env, st *oauth.Started, state string, c oauth.Claims) (*oauth.Landing, error) {
	t.Helper()
	e.idp.claims = c
	l, _ := e.callback(t, state, st.BrowserSecret)
	return l, l.Err
}

// TestLinkRefusalsAtTheCallback: what changed between the start of a link
// and the provider's answer is checked again at the callback: the
// session ended, the account disabled, a provider account already linked
// to someone else, another account of the provider linked meanwhile. A
// provider account linked to the caller already is linked again (the
// owner vouches for it).
func TestLinkRefusalsAtTheCallback(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u := e.addUser(t, "ada@example.com", true, "hash")
	sid := uuid.New()
	e.sessions.m[sid] = identity.Session{ID: sid, UserID: u.ID, CreatedAt: time.Now().UTC()}
	p := identity.Principal{UserID: u.ID, SessionID: sid}

	// Bob's provider account cannot be linked to Ada.
	bob := e.addUser(t, "bob@example.com", true, "hash")
	if err := e.idents.Create(ctx, &oauth.Identity{UserID: bob.ID, Provider: "idp", Issuer: "https://idp.example", Subject: "bob-1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	bobClaims := oauth.Claims{Issuer: "https://idp.example", Subject: "bob-1", Email: "bob@example.com", EmailVerified: true}
	if _, err := linkLanding(t, e, p, bobClaims); apperr.CodeOf(err) != oauth.CodeIdentityInUse {
		t.Errorf("linking another user's provider account: %v; want %s", err, oauth.CodeIdentityInUse)
	}

	// Another account of the provider linked after the start.
	st, err := e.svc.StartLink(ctx, p, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}})
	if err != nil {
		t.Fatal(err)
	}
	au, _ := url.Parse(st.AuthURL)
	meanwhile := &oauth.Identity{UserID: u.ID, Provider: "idp", Issuer: "https://idp.example", Subject: "ada-other", CreatedAt: time.Now()}
	if err := e.idents.Create(ctx, meanwhile); err != nil {
		t.Fatal(err)
	}
	if _, err := linkCallback(t, e, st, au.Query().Get("state"), adaClaims(true)); apperr.CodeOf(err) != oauth.CodeAlreadyLinked {
		t.Errorf("a second account of the provider: %v; want %s", err, oauth.CodeAlreadyLinked)
	}
	if ok, err := e.idents.Delete(ctx, u.ID, meanwhile.ID); !ok || err != nil {
		t.Fatal(ok, err)
	}

	// Linked; and a provider account that became the caller's between the
	// start and the callback is confirmed, not refused.
	l, err := linkLanding(t, e, p, adaClaims(true))
	if err != nil || !strings.Contains(l.Location, "linked=idp") {
		t.Fatalf("link: %s %v", l.Location, err)
	}
	dora := e.addUser(t, "dora@example.com", true, "hash")
	dsid := uuid.New()
	e.sessions.m[dsid] = identity.Session{ID: dsid, UserID: dora.ID, CreatedAt: time.Now().UTC()}
	st, err = e.svc.StartLink(ctx, identity.Principal{UserID: dora.ID, SessionID: dsid}, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}})
	if err != nil {
		t.Fatal(err)
	}
	du, _ := url.Parse(st.AuthURL)
	if err := e.idents.Create(ctx, &oauth.Identity{UserID: dora.ID, Provider: "idp", Issuer: "https://idp.example", Subject: "dora-1", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	doraClaims := oauth.Claims{Issuer: "https://idp.example", Subject: "dora-1", Email: "dora@example.com", EmailVerified: true}
	if l, err := linkCallback(t, e, st, du.Query().Get("state"), doraClaims); err != nil || !strings.Contains(l.Location, "linked=idp") {
		t.Fatalf("link of an identity already the caller's: %s %v", l.Location, err)
	}
	if id, err := e.idents.GetBySubject(ctx, "https://idp.example", "dora-1"); err != nil || !id.Confirmed || id.UserID != dora.ID {
		t.Fatalf("the identity after linking it again: %+v %v", id, err)
	}

	// The account disabled, or the session ended, after the start.
	now := time.Now().UTC()
	check := func(what, code string) {
		t.Helper()
		carol := e.addUser(t, what+"@example.com", true, "hash")
		csid := uuid.New()
		e.sessions.m[csid] = identity.Session{ID: csid, UserID: carol.ID, CreatedAt: time.Now().UTC()}
		cp := identity.Principal{UserID: carol.ID, SessionID: csid}
		st, err := e.svc.StartLink(ctx, cp, oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: "idp", RedirectTo: appCB}})
		if err != nil {
			t.Fatal(err)
		}
		su, _ := url.Parse(st.AuthURL)
		switch what {
		case "disabled":
			if err := e.users.Update(ctx, carol.ID, func(c *identity.User) (*identity.User, error) { c.DisabledAt = &now; return c, nil }); err != nil {
				t.Fatal(err)
			}
		case "revoked":
			s := e.sessions.m[csid]
			s.RevokedAt = &now
			e.sessions.m[csid] = s
		}
		c := oauth.Claims{Issuer: "https://idp.example", Subject: what + "-1", Email: what + "@example.com", EmailVerified: true}
		if _, err := linkCallback(t, e, st, su.Query().Get("state"), c); apperr.CodeOf(err) != code {
			t.Errorf("link after the account was %s: %v; want %s", what, err, code)
		}
	}
	check("disabled", identity.CodeAccountDisabled)
	check("revoked", identity.CodeSessionRevoked)
}
