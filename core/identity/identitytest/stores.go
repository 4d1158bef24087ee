package identitytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/uow"
)

// Stores are the identity repositories of one adapter over one empty
// database.
type Stores struct {
	Users         identity.Users
	Sessions      identity.Sessions
	RefreshTokens identity.RefreshTokens
	EmailTokens   identity.EmailTokens
	Events        identity.Events
	Tx            uow.Runner
}

// StoresFactory returns empty stores and registers their cleanup.
type StoresFactory func(t *testing.T) Stores

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func randHash() []byte {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return b
}

func newSession(t *testing.T, st Stores, userID uuid.UUID, created time.Time) *identity.Session {
	t.Helper()
	s := &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: userID, CreatedAt: created, LastUsedAt: created, ExpiresAt: created.Add(30 * 24 * time.Hour),
		IP: "203.0.113.9", UserAgent: "test/1.0", AAL: 1, AMR: []string{"pwd"}}
	if err := st.Sessions.Create(context.Background(), s); err != nil {
		t.Fatalf("create session: %v", err)
	}
	return s
}

// RunStores runs the contracts of Sessions, RefreshTokens, EmailTokens and
// Events.
func RunStores(t *testing.T, newStores StoresFactory) {
	ctx := context.Background()

	t.Run("SessionsRoundTrip", func(t *testing.T) {
		st := newStores(t)
		u := mustCreate(t, st.Users, "s@example.com")
		s := newSession(t, st, u.ID, t0)
		got, err := st.Sessions.Get(ctx, s.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != u.ID || !got.CreatedAt.Equal(t0) || got.IP != s.IP || got.UserAgent != s.UserAgent || got.AAL != 1 ||
			len(got.AMR) != 1 || got.AMR[0] != "pwd" || got.RevokedAt != nil || !got.ExpiresAt.Equal(s.ExpiresAt) {
			t.Fatalf("Get = %+v; want %+v", got, s)
		}
		if _, err := st.Sessions.Get(ctx, uuid.New()); !isKind(err, apperr.NotFound, identity.CodeSessionNotFound) {
			t.Fatalf("Get(unknown) = %v", err)
		}
		if err := st.Sessions.Touch(ctx, s.ID, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if got, _ = st.Sessions.Get(ctx, s.ID); !got.LastUsedAt.Equal(t0.Add(time.Hour)) {
			t.Fatalf("LastUsedAt after Touch = %s", got.LastUsedAt)
		}
	})

	t.Run("ListActiveAndRevokeAreScopedToTheUser", func(t *testing.T) {
		st := newStores(t)
		alice := mustCreate(t, st.Users, "alice@example.com")
		bob := mustCreate(t, st.Users, "bob@example.com")
		a1 := newSession(t, st, alice.ID, t0)
		a2 := newSession(t, st, alice.ID, t0.Add(time.Minute))
		a3 := newSession(t, st, alice.ID, t0.Add(2*time.Minute))
		b1 := newSession(t, st, bob.ID, t0)
		expired := &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: alice.ID, CreatedAt: t0.Add(-48 * time.Hour), LastUsedAt: t0.Add(-48 * time.Hour), ExpiresAt: t0.Add(-time.Hour), AAL: 1}
		if err := st.Sessions.Create(ctx, expired); err != nil {
			t.Fatal(err)
		}
		list, err := st.Sessions.ListActive(ctx, alice.ID, t0.Add(3*time.Minute))
		if err != nil || len(list) != 3 || list[0].ID != a3.ID || list[2].ID != a1.ID {
			t.Fatalf("ListActive = %v, %v; want a3, a2, a1", ids(list), err)
		}
		// Alice cannot end Bob's session.
		ended, err := st.Sessions.Revoke(ctx, alice.ID, []uuid.UUID{b1.ID}, uuid.Nil, t0, "x")
		if err != nil || len(ended) != 0 {
			t.Fatalf("Revoke of another user's session = %v, %v; want nothing ended", ended, err)
		}
		if got, _ := st.Sessions.Get(ctx, b1.ID); got.RevokedAt != nil {
			t.Fatal("Bob's session was revoked by Alice")
		}
		ended, err = st.Sessions.Revoke(ctx, alice.ID, []uuid.UUID{a1.ID}, uuid.Nil, t0.Add(time.Hour), "logout")
		if err != nil || len(ended) != 1 || ended[0] != a1.ID {
			t.Fatalf("Revoke(a1) = %v, %v", ended, err)
		}
		if got, _ := st.Sessions.Get(ctx, a1.ID); got.RevokedAt == nil || !got.RevokedAt.Equal(t0.Add(time.Hour)) || got.RevokedReason != "logout" {
			t.Fatalf("revoked session = %+v", got)
		}
		ended, err = st.Sessions.Revoke(ctx, alice.ID, []uuid.UUID{a1.ID}, uuid.Nil, t0, "again")
		if err != nil || len(ended) != 0 {
			t.Fatalf("second Revoke(a1) = %v, %v; want nothing (already ended)", ended, err)
		}
		ended, err = st.Sessions.Revoke(ctx, alice.ID, nil, a3.ID, t0, "others")
		if err != nil || len(ended) != 2 { // a2 and the expired one
			t.Fatalf("Revoke(all but a3) = %v, %v", ended, err)
		}
		list, _ = st.Sessions.ListActive(ctx, alice.ID, t0)
		if len(list) != 1 || list[0].ID != a3.ID {
			t.Fatalf("after revoking the others: %v", ids(list))
		}
		if list, _ = st.Sessions.ListActive(ctx, bob.ID, t0); len(list) != 1 {
			t.Fatalf("Bob's sessions changed: %v", ids(list))
		}
		_ = a2
	})

	t.Run("RefreshTokenRotatesOnce", func(t *testing.T) {
		st := newStores(t)
		u := mustCreate(t, st.Users, "r@example.com")
		s := newSession(t, st, u.ID, t0)
		h := randHash()
		if err := st.RefreshTokens.Create(ctx, &identity.RefreshToken{Hash: h, SessionID: s.ID, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		got, err := st.RefreshTokens.Get(ctx, h)
		if err != nil || got.SessionID != s.ID || got.RotatedAt != nil {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if _, err := st.RefreshTokens.Get(ctx, randHash()); !isKind(err, apperr.NotFound, identity.CodeRefreshTokenInvalid) {
			t.Fatalf("Get(unknown) = %v", err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				ok, err := st.RefreshTokens.Rotate(ctx, h, t0.Add(time.Second), []byte{byte(i)})
				if err != nil {
					t.Errorf("Rotate: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent rotations won; want exactly 1", wins.Load())
		}
		got, _ = st.RefreshTokens.Get(ctx, h)
		if got.RotatedAt == nil || !got.RotatedAt.Equal(t0.Add(time.Second)) || len(got.Successor) != 1 {
			t.Fatalf("after Rotate = %+v", got)
		}
	})

	t.Run("EmailTokensAreSingleUseAndSuperseded", func(t *testing.T) {
		st := newStores(t)
		u := mustCreate(t, st.Users, "e@example.com")
		issue := func(p identity.Purpose, ttl time.Duration) []byte {
			h := randHash()
			if err := st.EmailTokens.Issue(ctx, &identity.EmailToken{Hash: h, UserID: u.ID, Purpose: p, Email: u.Email, CreatedAt: t0, ExpiresAt: t0.Add(ttl)}); err != nil {
				t.Fatal(err)
			}
			return h
		}
		verify := []identity.Purpose{identity.PurposeVerifyEmail}
		old := issue(identity.PurposeVerifyEmail, time.Hour)
		reset := issue(identity.PurposePasswordReset, time.Hour)
		cur := issue(identity.PurposeVerifyEmail, time.Hour)
		if _, err := st.EmailTokens.Get(ctx, old, verify, t0); !isKind(err, apperr.NotFound, identity.CodeTokenInvalid) {
			t.Fatalf("superseded token = %v; want token_invalid", err)
		}
		if _, err := st.EmailTokens.Get(ctx, reset, []identity.Purpose{identity.PurposePasswordReset}, t0); err != nil {
			t.Fatalf("a token of another purpose was superseded: %v", err)
		}
		if _, err := st.EmailTokens.Get(ctx, cur, []identity.Purpose{identity.PurposePasswordReset}, t0); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("token accepted for the wrong purpose: %v", err)
		}
		if _, err := st.EmailTokens.Get(ctx, cur, verify, t0.Add(time.Hour)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("expired token accepted: %v", err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				tok, err := st.EmailTokens.Consume(ctx, cur, verify, t0.Add(time.Minute))
				switch {
				case err == nil:
					if tok.UserID != u.ID || tok.Email != u.Email || !bytes.Equal(tok.Hash, cur) {
						t.Errorf("Consume = %+v", tok)
					}
					wins.Add(1)
				case !apperr.Is(err, apperr.NotFound):
					t.Errorf("Consume: %v", err)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent consumes succeeded; want exactly 1", wins.Load())
		}
		if _, err := st.EmailTokens.Get(ctx, cur, verify, t0.Add(time.Minute)); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("used token still valid: %v", err)
		}

		// Revoke ends the unused tokens of the named purposes only.
		verifyAgain := issue(identity.PurposeVerifyEmail, time.Hour)
		if err := st.EmailTokens.Revoke(ctx, u.ID, []identity.Purpose{identity.PurposePasswordReset}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.EmailTokens.Get(ctx, reset, []identity.Purpose{identity.PurposePasswordReset}, t0); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("revoked reset token still valid: %v", err)
		}
		if _, err := st.EmailTokens.Get(ctx, verifyAgain, verify, t0); err != nil {
			t.Fatalf("a token of another purpose was revoked: %v", err)
		}
	})

	t.Run("PurgeEndedDeletesOnlyWhatEnded", func(t *testing.T) {
		st := newStores(t)
		u := mustCreate(t, st.Users, "p@example.com")
		cut := t0.Add(500 * time.Millisecond) // sub-second, to catch text comparisons
		mk := func(expires time.Time, revoked *time.Time) *identity.Session {
			s := &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, CreatedAt: t0.Add(-time.Hour), LastUsedAt: t0.Add(-time.Hour),
				ExpiresAt: expires, AAL: 1, RevokedAt: revoked}
			if err := st.Sessions.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
			if err := st.RefreshTokens.Create(ctx, &identity.RefreshToken{Hash: randHash(), SessionID: s.ID, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
			return s
		}
		early, late := cut.Add(-time.Millisecond), cut.Add(time.Millisecond)
		expired := mk(early, nil)
		live := mk(late, nil)
		revoked := mk(t0.Add(time.Hour), &early)
		revokedLater := mk(t0.Add(time.Hour), &late)
		expiredToken := randHash()
		var refreshOfExpired []byte
		{
			refreshOfExpired = randHash()
			if err := st.RefreshTokens.Create(ctx, &identity.RefreshToken{Hash: refreshOfExpired, SessionID: expired.ID, CreatedAt: t0}); err != nil {
				t.Fatal(err)
			}
		}
		issue := func(h []byte, p identity.Purpose, expires time.Time) {
			if err := st.EmailTokens.Issue(ctx, &identity.EmailToken{Hash: h, UserID: u.ID, Purpose: p, Email: u.Email, CreatedAt: t0.Add(-time.Hour), ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		issue(expiredToken, identity.PurposeVerifyEmail, early)
		usedToken, liveToken := randHash(), randHash()
		issue(usedToken, identity.PurposePasswordReset, t0.Add(time.Hour))
		if _, err := st.EmailTokens.Consume(ctx, usedToken, []identity.Purpose{identity.PurposePasswordReset}, early); err != nil {
			t.Fatal(err)
		}
		issue(liveToken, identity.PurposeEmailChange, late)

		res, err := identity.PurgeEnded(ctx, st.Sessions, st.EmailTokens, cut, 0)
		if err != nil {
			t.Fatal(err)
		}
		if res.Sessions != 2 || res.EmailTokens != 2 {
			t.Fatalf("PurgeEnded = %+v; want 2 sessions (expired, revoked) and 2 tokens (expired, used)", res)
		}
		for _, s := range []*identity.Session{expired, revoked} {
			if _, err := st.Sessions.Get(ctx, s.ID); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("ended session %s still there: %v", s.ID, err)
			}
		}
		for _, s := range []*identity.Session{live, revokedLater} {
			if _, err := st.Sessions.Get(ctx, s.ID); err != nil {
				t.Fatalf("session %s that ended after the cut was purged: %v", s.ID, err)
			}
		}
		if _, err := st.RefreshTokens.Get(ctx, refreshOfExpired); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("refresh token of a purged session still there: %v", err)
		}
		if _, err := st.EmailTokens.Get(ctx, liveToken, []identity.Purpose{identity.PurposeEmailChange}, cut); err != nil {
			t.Fatalf("unexpired email token purged: %v", err)
		}
		// keep moves the cut back: nothing more ends an hour earlier.
		if res, err := identity.PurgeEnded(ctx, st.Sessions, st.EmailTokens, late.Add(time.Hour), time.Hour); err != nil || res.Sessions != 0 || res.EmailTokens != 0 {
			t.Fatalf("second PurgeEnded = %+v, %v; want nothing", res, err)
		}
		if res, err := identity.PurgeEnded(ctx, st.Sessions, st.EmailTokens, late.Add(time.Millisecond), 0); err != nil || res.Sessions != 2 || res.EmailTokens != 1 {
			t.Fatalf("third PurgeEnded = %+v, %v; want the rest", res, err)
		}
	})

	t.Run("EventsNewestFirstPerUser", func(t *testing.T) {
		st := newStores(t)
		a := mustCreate(t, st.Users, "a@example.com")
		b := mustCreate(t, st.Users, "b@example.com")
		sid := uuid.Must(uuid.NewV7())
		var want []uuid.UUID
		for i, typ := range []identity.EventType{identity.EventLoginFailed, identity.EventLoginSucceeded, identity.EventLogout} {
			e := &identity.Event{UserID: a.ID, Type: typ, At: t0.Add(time.Duration(i) * time.Second), IP: "198.51.100.1", UserAgent: "ua", SessionID: sid,
				Details: map[string]string{"n": string(rune('0' + i))}}
			if err := st.Events.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
			want = append([]uuid.UUID{e.ID}, want...)
		}
		if err := st.Events.Record(ctx, &identity.Event{UserID: b.ID, Type: identity.EventLoginFailed, At: t0}); err != nil {
			t.Fatal(err)
		}
		got, err := st.Events.List(ctx, identity.EventQuery{UserID: a.ID, Limit: 2})
		if err != nil || len(got) != 2 || got[0].ID != want[0] || got[1].ID != want[1] {
			t.Fatalf("first page = %+v, %v", got, err)
		}
		if got[0].Type != identity.EventLogout || got[0].SessionID != sid || got[0].IP != "198.51.100.1" || got[0].Details["n"] != "2" || !got[0].At.Equal(t0.Add(2*time.Second)) {
			t.Fatalf("event = %+v", got[0])
		}
		rest, err := st.Events.List(ctx, identity.EventQuery{UserID: a.ID, Before: got[1].ID, Limit: 10})
		if err != nil || len(rest) != 1 || rest[0].ID != want[2] || rest[0].Type != identity.EventLoginFailed {
			t.Fatalf("second page = %+v, %v", rest, err)
		}
		if _, err := st.Events.List(ctx, identity.EventQuery{UserID: a.ID, Limit: 0}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("List(limit 0) = %v; want Invalid", err)
		}
	})

	t.Run("UserCredentialFieldsRoundTrip", func(t *testing.T) {
		st := newStores(t)
		verified := t0.Add(time.Minute)
		u := &identity.User{Email: "full@example.com", DisplayName: "Ada L.", Timezone: "Europe/Paris", PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA",
			Role: identity.RoleAdmin, EmailVerifiedAt: &verified, MFAEnabled: true}
		if err := st.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := st.Users.Get(ctx, u.ID)
		if err != nil || got.DisplayName != u.DisplayName || got.Timezone != u.Timezone || got.PasswordHash != u.PasswordHash ||
			got.Role != identity.RoleAdmin || got.EmailVerifiedAt == nil || !got.EmailVerifiedAt.Equal(verified) || !got.MFAEnabled || got.DisabledAt != nil {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		plain := mustCreate(t, st.Users, "plain@example.com")
		if plain.Role != identity.RoleUser {
			t.Fatalf("zero role stored as %q; want user", plain.Role)
		}
		disabled := t0.Add(time.Hour)
		if err := st.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) {
			c.DisabledAt, c.Role, c.MFAEnabled = &disabled, identity.RoleUser, false
			return c, nil
		}); err != nil {
			t.Fatal(err)
		}
		got, _ = st.Users.Get(ctx, u.ID)
		if got.DisabledAt == nil || !got.DisabledAt.Equal(disabled) || got.Role != identity.RoleUser || got.MFAEnabled {
			t.Fatalf("after Update = %+v", got)
		}
		if err := st.Users.Create(ctx, &identity.User{Email: "bad@example.com", Role: "root"}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("Create with an unknown role = %v; want Invalid", err)
		}
	})
}

func ids(ss []identity.Session) []uuid.UUID {
	out := make([]uuid.UUID, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}
