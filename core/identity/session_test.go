package identity_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// TestRefreshRotationReuseAndGrace: a refresh rotates the token; a replay
// of a rotated token within RefreshGrace returns the family's current
// pair; later, it revokes the whole family.
func TestRefreshRotationReuseAndGrace(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "rot@example.com", goodPassword)
		r0 := e.Login(t, ctx, "rot@example.com", goodPassword).RefreshToken

		first, err := e.Svc.Refresh(ctx, r0)
		if err != nil {
			t.Fatal(err)
		}
		r1 := first.RefreshToken
		if r1 == r0 || len(r1) != 43 || first.AccessToken == "" || first.ExpiresIn != 15*time.Minute {
			t.Fatalf("refresh did not rotate the token: %+v", first)
		}
		// Within the grace window a replay of r0 returns the current pair.
		time.Sleep(5 * time.Second)
		replay, err := e.Svc.Refresh(ctx, r0)
		if err != nil || replay.RefreshToken != r1 {
			t.Fatalf("grace replay = %+v, %v; want the current token", replay, err)
		}
		second, err := e.Svc.Refresh(ctx, r1)
		if err != nil {
			t.Fatal(err)
		}
		r2 := second.RefreshToken
		// Two rotations later, a replay of r0 still walks to the newest.
		if again, err := e.Svc.Refresh(ctx, r0); err != nil || again.RefreshToken != r2 {
			t.Fatalf("replay of r0 after two rotations = %+v, %v; want r2", again, err)
		}
		// Outside the window, reuse revokes the whole family.
		time.Sleep(11 * time.Second)
		_, err = e.Svc.Refresh(ctx, r0)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeRefreshTokenReused)
		_, err = e.Svc.Refresh(ctx, r2)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.Authenticate(ctx, second.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)

		_, p := session(t, e, ctx, "rot@example.com", goodPassword)
		if types := e.EventTypes(t, p); !slices.Contains(types, identity.EventRefreshReuseDetected) {
			t.Fatalf("events lack refresh_reuse_detected: %v", types)
		}
		for _, bad := range []string{"not-a-token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
			_, err = e.Svc.Refresh(ctx, bad)
			wantErr(t, err, apperr.Unauthenticated, identity.CodeRefreshTokenInvalid)
		}
	})
}

func TestConcurrentRefreshOneRotationWins(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "race@example.com", goodPassword)
		r0 := e.Login(t, ctx, "race@example.com", goodPassword).RefreshToken
		const n = 8
		got := make([]string, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				pair, err := e.Svc.Refresh(ctx, r0)
				errs[i] = err
				if err == nil {
					got[i] = pair.RefreshToken
				}
			})
		}
		wg.Wait()
		tokens := map[string]bool{}
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("concurrent refresh %d: %v", i, errs[i])
			}
			tokens[got[i]] = true
		}
		if len(tokens) != 1 {
			t.Fatalf("%d distinct refresh tokens from %d concurrent refreshes; want exactly one rotation", len(tokens), n)
		}
		if _, err := e.Svc.Refresh(ctx, got[0]); err != nil {
			t.Fatalf("the winning token: %v", err)
		}
	})
}

func TestSessionIdleAndAbsoluteExpiry(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "idle@example.com", goodPassword)
		r0 := e.Login(t, ctx, "idle@example.com", goodPassword).RefreshToken
		time.Sleep(7*24*time.Hour + time.Minute)
		_, err := e.Svc.Refresh(ctx, r0)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionExpired)

		r := e.Login(t, ctx, "idle@example.com", goodPassword).RefreshToken
		for range 5 { // refreshed every 6 days: idle never trips, the 30-day cap does
			time.Sleep(6 * 24 * time.Hour)
			pair, err := e.Svc.Refresh(ctx, r)
			if err != nil {
				wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionExpired)
				return
			}
			r = pair.RefreshToken
		}
		t.Fatal("session outlived its absolute lifetime")
	})
}

func TestAccessTokenExpires(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "short@example.com", goodPassword)
		pair := e.Login(t, ctx, "short@example.com", goodPassword)
		c, _ := e.Tokens.Claims(pair.AccessToken)
		if c.ExpiresAt.Sub(c.IssuedAt) != e.Config.AccessTTL || c.Role != identity.RoleUser || c.AAL != 1 {
			t.Fatalf("claims = %+v", c)
		}
		time.Sleep(e.Config.AccessTTL)
		_, err := e.Svc.Authenticate(ctx, pair.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeTokenExpired)
		// The refresh token outlives it.
		if _, err := e.Svc.Refresh(ctx, pair.RefreshToken); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSessionsListRevokeAndIDOR: a user sees and ends only their own
// sessions; an ended session's access token stops at once.
func TestSessionsListRevokeAndIDOR(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "alice@example.com", goodPassword)
		e.Verified(t, "bob@example.com", goodPassword)
		a1, pa1 := session(t, e, identitytest.Ctx("203.0.113.1", "laptop/1"), "alice@example.com", goodPassword)
		a2, pa2 := session(t, e, identitytest.Ctx("203.0.113.2", "phone/2.0"), "alice@example.com", goodPassword)
		_, pb := session(t, e, ctx, "bob@example.com", goodPassword)

		list, err := e.Svc.Sessions(ctx, pa1)
		if err != nil || len(list) != 2 {
			t.Fatalf("alice's sessions = %+v, %v", list, err)
		}
		for _, s := range list {
			if s.IP == "" || s.UserAgent == "" || s.UserID != pa1.UserID {
				t.Fatalf("session = %+v", s)
			}
		}
		if bl, _ := e.Svc.Sessions(ctx, pb); len(bl) != 1 || bl[0].ID == a1.SessionID || bl[0].ID == a2.SessionID {
			t.Fatalf("Bob sees %+v", bl)
		}
		// Bob can neither see nor end Alice's sessions.
		err = e.Svc.RevokeSession(ctx, pb, a2.SessionID)
		wantErr(t, err, apperr.NotFound, identity.CodeSessionNotFound)
		e.Principal(t, a2.AccessToken)
		// Alice ends her phone session: its access token stops at once.
		if err := e.Svc.RevokeSession(ctx, pa1, pa2.SessionID); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.Authenticate(ctx, a2.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.Refresh(ctx, a2.RefreshToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		err = e.Svc.RevokeSession(ctx, pa1, uuid.New())
		wantErr(t, err, apperr.NotFound, identity.CodeSessionNotFound)
		err = e.Svc.RevokeSession(ctx, pa1, pa2.SessionID) // already ended
		wantErr(t, err, apperr.NotFound, identity.CodeSessionNotFound)

		// End all others.
		a3, _ := session(t, e, identitytest.Ctx("203.0.113.3", "tablet/1"), "alice@example.com", goodPassword)
		n, err := e.Svc.RevokeOtherSessions(ctx, pa1)
		if err != nil || n != 1 {
			t.Fatalf("RevokeOtherSessions = %d, %v; want 1", n, err)
		}
		_, err = e.Svc.Authenticate(ctx, a3.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		e.Principal(t, a1.AccessToken)
		// Logout ends the current one.
		if err := e.Svc.Logout(ctx, pa1); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.Authenticate(ctx, a1.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		if list, _ := e.Svc.Sessions(ctx, pa1); len(list) != 0 {
			t.Fatalf("sessions after logout = %+v", list)
		}
		_, pa4 := session(t, e, ctx, "alice@example.com", goodPassword)
		types := e.EventTypes(t, pa4)
		if countOf(types, identity.EventSessionRevoked) != 2 || countOf(types, identity.EventLogout) != 1 {
			t.Fatalf("events = %v", types)
		}
		e.Mailer.Last(t, "alice@example.com", identity.TemplateNewLogin)
	})
}

// TestRevocationOutlivesTheAccessToken: the revocation entry of an ended
// session lives at least one access-token lifetime, so a token issued just
// before the end stays refused until it expires.
func TestRevocationOutlivesTheAccessToken(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "late@example.com", goodPassword)
		pair, p := session(t, e, ctx, "late@example.com", goodPassword)
		time.Sleep(e.Config.AccessTTL - time.Second)
		fresh, err := e.Svc.Refresh(ctx, pair.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.Logout(ctx, p); err != nil {
			t.Fatal(err)
		}
		for range 4 {
			time.Sleep(e.Config.AccessTTL/4 - time.Second)
			if _, err := e.Svc.Authenticate(ctx, fresh.AccessToken); !apperr.Is(err, apperr.Unauthenticated) {
				t.Fatalf("a token of an ended session was accepted: %v", err)
			}
		}
	})
}
