package identity_test

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// TestSessionCheckWithoutTheCache: a cache that fails sends every check to
// the database, which still refuses an ended session (nothing fails
// open); the fallback is logged at most every 10 s.
func TestSessionCheckWithoutTheCache(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "down@example.com", goodPassword)
		live, _ := session(t, e, ctx, "down@example.com", goodPassword)
		ended, p := session(t, e, ctx, "down@example.com", goodPassword)
		if _, err := e.Stores.Sessions.Revoke(ctx, p.UserID, []uuid.UUID{p.SessionID}, uuid.Nil, time.Now(), "test"); err != nil {
			t.Fatal(err)
		}
		e.Cache.Fail(errors.New("connection refused"))
		for range 3 {
			e.Principal(t, live.AccessToken)
			_, err := e.Svc.Authenticate(ctx, ended.AccessToken)
			wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		}
		const warning = "session check cache failed; reading sessions from the database"
		if n := strings.Count(e.Logs.String(), warning); n != 1 {
			t.Fatalf("%d warnings within 10 s; want 1", n)
		}
		time.Sleep(11 * time.Second)
		e.Principal(t, live.AccessToken)
		if n := strings.Count(e.Logs.String(), warning); n != 2 {
			t.Fatalf("%d warnings after 10 s; want 2", n)
		}
		// Back up (and past the cache layer's cooldown): the database's
		// answers are cached again.
		e.Cache.Fail(nil)
		if _, err := e.Cache.DeletePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		e.Principal(t, live.AccessToken)
		if ok, err := e.Cache.Exists(ctx, "authsess:"+live.SessionID.String()+":"+p.UserID.String()); err != nil || !ok {
			t.Fatalf("live session not remembered: %v, %v", ok, err)
		}
		_, err := e.Svc.Authenticate(ctx, ended.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		if ok, _ := e.Cache.Exists(ctx, "authrev:"+ended.SessionID.String()); !ok {
			t.Fatal("ended session not remembered as revoked")
		}
	})
}

// TestSessionRevokedBehindTheCache: a revocation the cache did not hear
// of is seen once the "live" answer expires (SessionCheckTTL), not when
// the token does.
func TestSessionRevokedBehindTheCache(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "behind@example.com", goodPassword)
		pair, p := session(t, e, ctx, "behind@example.com", goodPassword)
		if _, err := e.Stores.Sessions.Revoke(ctx, p.UserID, nil, uuid.Nil, time.Now(), "test"); err != nil {
			t.Fatal(err)
		}
		e.Principal(t, pair.AccessToken) // the cached answer
		time.Sleep(identity.SessionCheckTTL*11/10 + time.Second)
		_, err := e.Svc.Authenticate(ctx, pair.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		// A session purged from the database is refused like an ended one.
		other, po := session(t, e, ctx, "behind@example.com", goodPassword)
		if _, err := e.Stores.Sessions.Revoke(ctx, po.UserID, nil, uuid.Nil, time.Now().Add(-time.Hour), "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Cache.DeletePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := identity.PurgeEnded(ctx, e.Stores.Sessions, e.Stores.EmailTokens, time.Now(), 0); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.Authenticate(ctx, other.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
	})
}

// TestTokensTheServiceDidNotIssueAreRefused: a token signed by the
// service's key but claiming a longer lifetime than AccessTTL, or naming
// another user's session, is refused: before the victim's session is
// cached as live (the database read) and after it (the cache's "live"
// answer is bound to the session's user, not to the session id alone).
func TestTokensTheServiceDidNotIssueAreRefused(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "forge@example.com", goodPassword)
		e.Verified(t, "victim@example.com", goodPassword)
		pair, _ := session(t, e, ctx, "forge@example.com", goodPassword)
		victim := e.Login(t, ctx, "victim@example.com", goodPassword)
		c, _ := e.Tokens.Claims(pair.AccessToken)
		forge := func(edit func(*identity.AccessClaims)) string {
			cl := c
			edit(&cl)
			tok, err := e.Tokens.Issue(cl)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		e.Principal(t, forge(func(cl *identity.AccessClaims) { cl.ExpiresAt = cl.IssuedAt.Add(e.Config.AccessTTL) }))
		_, err := e.Svc.Authenticate(ctx, forge(func(cl *identity.AccessClaims) { cl.ExpiresAt = cl.IssuedAt.Add(24 * time.Hour) }))
		wantErr(t, err, apperr.Unauthenticated, identity.CodeTokenMalformed)
		foreign := forge(func(cl *identity.AccessClaims) { cl.SessionID = victim.SessionID })
		_, err = e.Svc.Authenticate(ctx, foreign)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		// The victim's session is now cached as live: the forged token,
		// naming the victim's session id with the forger's user id, is
		// still refused (it was accepted on that cache hit before).
		e.Principal(t, victim.AccessToken)
		for range 2 {
			p, err := e.Svc.Authenticate(ctx, foreign)
			wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
			if p.UserID != uuid.Nil {
				t.Fatalf("forged token accepted as %v", p.UserID)
			}
		}
		e.Principal(t, victim.AccessToken)
	})
}

// TestRevokeAccessAndConfirmPassword: the two rules identity lends to
// other sign-in modules (core/oauth).
func TestRevokeAccessAndConfirmPassword(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "taken@example.com", goodPassword)
		a, p := session(t, e, ctx, "taken@example.com", goodPassword)
		b, _ := session(t, e, ctx, "taken@example.com", goodPassword)
		if err := e.Svc.ForgotPassword(ctx, "taken@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		reset := e.Mailer.LinkToken(t, "taken@example.com", identity.TemplatePasswordReset)

		err := e.Svc.ConfirmPassword(ctx, p, "not the password")
		wantErr(t, err, apperr.Invalid, identity.CodeCurrentPasswordBad)
		if err := e.Svc.ConfirmPassword(ctx, p, goodPassword); err != nil {
			t.Fatalf("ConfirmPassword: %v", err)
		}

		n, err := e.Svc.RevokeAccess(ctx, p.UserID, "identity_linked")
		if err != nil || n != 2 {
			t.Fatalf("RevokeAccess = %d, %v; want 2 sessions", n, err)
		}
		for _, pair := range []*identity.TokenPair{a, b} {
			_, err := e.Svc.Authenticate(ctx, pair.AccessToken)
			wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		}
		err = e.Svc.ResetPassword(ctx, reset, "a brand new passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		_, p2 := session(t, e, ctx, "taken@example.com", goodPassword)
		if n := countOf(e.EventTypes(t, p2), identity.EventSessionRevoked); n != 2 {
			t.Fatalf("%d session_revoked events; want 2", n)
		}
	})
}
