package tests

import (
	"context"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// An access token claiming a lifetime (exp − iat) longer than the
// configured AUTH_ACCESS_TOKEN_TTL is refused even though it is signed by
// the service's key; one of exactly the TTL is accepted.
func TestTokenLongerThanTheAccessTTLIsRefused(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, _ := st.registerVerified("lifetime@example.com")
		c, err := st.tokens.Verify(access)
		if err != nil {
			t.Fatal(err)
		}
		ttl := st.svc.Config().AccessTTL
		forge := func(life time.Duration) string {
			cl := c
			cl.ExpiresAt = cl.IssuedAt.Add(life)
			tok, err := st.tokens.Issue(cl)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		st.expect(st.do("GET", "/api/v1/auth/me", forge(ttl), nil), 200, "")
		st.expect(st.do("GET", "/api/v1/auth/me", forge(ttl+time.Minute), nil), 401, identity.CodeTokenMalformed)
		st.expect(st.do("GET", "/api/v1/auth/me", forge(24*time.Hour), nil), 401, identity.CodeTokenMalformed)
	})
}

// The cache remembers "this session is live" for SessionCheckTTL only: a
// session revoked in the database without its cache entry (the write
// failed, or another process revoked it against another cache) is refused
// once that answer expired, not when the token does.
func TestSessionRevokedBehindTheCacheIsRefusedWithinSessionCheckTTL(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, _ := st.registerVerified("behind@example.com")
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 200, "")
		c, _ := st.tokens.Verify(access)
		if _, err := sqlstore.NewSessions(st.db).Revoke(context.Background(), c.UserID, nil, [16]byte{}, time.Now(), "test"); err != nil {
			t.Fatal(err)
		}
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 200, "") // the cached answer
		time.Sleep(identity.SessionCheckTTL*11/10 + time.Second)         // the TTL, with the cache's 10 % jitter
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 401, identity.CodeSessionRevoked)
		// Now remembered as revoked: refused without the database too.
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 401, identity.CodeSessionRevoked)
	})
}

// A session check whose request was cancelled decides nothing: it fails
// with the cancellation, on a cache hit or a miss alike, and never accepts
// the token (issue 11 item 7).
func TestCancelledSessionCheckAcceptsNothing(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, _ := st.registerVerified("cancel@example.com")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, when := range []string{"cache miss", "cache hit"} {
			if when == "cache hit" {
				st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 200, "")
			} else if _, err := st.cache.DeletePrefix(context.Background(), ""); err != nil {
				t.Fatal(err)
			}
			p, err := st.svc.Authenticate(ctx, access)
			if err == nil || p.UserID != ([16]byte{}) {
				t.Fatalf("%s: a cancelled check accepted the token: %+v", when, p)
			}
			if _, ok := apperr.As(err); ok && !apperr.Is(err, apperr.Unavailable) {
				t.Fatalf("%s: a cancelled check answered %v", when, err)
			}
			if ctx.Err() == nil {
				t.Fatal("unreachable")
			}
		}
	})
}
