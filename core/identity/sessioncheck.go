package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

// The per-request session check of Authenticate.
//
// The database's session row is the truth: a session is live while it is
// not revoked, not past its absolute end, and its user exists and is not
// disabled. The cache (Deps.Revocations) only remembers answers, under two
// keys per session:
//
//   - "authrev:<session id>": the session ended. Written when a session is
//     revoked (markRevoked) and when a database read finds it ended, for
//     revocationTTL (longer than any access token of it can live).
//   - "authsess:<session id>:<user id>": the session, owned by that user,
//     was live at the last database read, less than SessionCheckTTL ago.
//     The user id is part of the key because a token names both: a token
//     pairing one user's id with another user's cached session id must
//     miss, and go to the database, which refuses it (the session's owner
//     differs). Keyed by session alone, that token was accepted on a hit.
//
// Authenticate reads both, with the user's cached profile, in one round
// trip: "authrev" wins; "authsess" alone accepts; neither (a new session, a
// cache that was flushed or restarted, an expired entry) or a cache that
// fails sends it to the database, whose answer is then cached. An empty
// cache therefore costs database reads, never a revoked session coming
// back. A database read racing a revocation can write "authsess" after the
// revocation wrote "authrev"; "authrev" still wins. A revocation whose
// cache write failed is seen once "authsess" expires: SessionCheckTTL (plus
// the cache's TTL jitter, 10 % by default) is the bound on that, and on a
// user deleted behind the service's back.

// SessionCheckTTL is how long a database answer "this session is live" is
// trusted without asking again.
const SessionCheckTTL = time.Minute

func sessionCheckKey(sid, uid uuid.UUID) string {
	return "authsess:" + sid.String() + ":" + uid.String()
}

// lifetimeLeeway absorbs the rounding of exp and iat to whole seconds.
const lifetimeLeeway = time.Second

// checkLifetime refuses a token that claims to live longer than the
// service issues them for: a token signed with a leaked key, or by a
// misconfigured issuer, must not outlive AccessTTL.
func (s *Service) checkLifetime(c AccessClaims) error {
	if c.ExpiresAt.Sub(c.IssuedAt) > s.cfg.AccessTTL+lifetimeLeeway {
		return apperr.New(apperr.Unauthenticated, CodeTokenMalformed, "The access token is invalid.")
	}
	return nil
}

// checkSession returns nil when c's session is live, with the user's
// profile when it was read on the way (nil otherwise), and
// apperr.Unauthenticated "session_revoked" when it is not. It fails with
// apperr.Unavailable when neither the cache nor the database can answer,
// and with the context's error when ctx ended: a cancelled check decides
// nothing.
func (s *Service) checkSession(ctx context.Context, c AccessClaims) (*User, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("session check: %w", err)
	}
	revKey, okKey, profKey := revocationKey(c.SessionID), sessionCheckKey(c.SessionID, c.UserID), profileKey(c.UserID)
	vals, err := s.cachedSessionState(ctx, revKey, okKey, profKey)
	if err == nil {
		var profile *User
		if vals[2] != nil {
			profile = decodeProfile(vals[2], c.UserID)
		}
		switch {
		case vals[0] != nil, profile != nil && profile.Disabled():
			return nil, errSessionRevoked()
		case vals[1] != nil:
			return profile, nil
		}
	} else if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("session check: %w", cerr)
	} else {
		s.warnCacheDown(ctx, err)
	}
	return s.loadSessionState(ctx, c, err == nil)
}

// cachedSessionState reads the three keys in one round trip when the
// cache can (cache.MultiGetter; the cache.Layer always can).
func (s *Service) cachedSessionState(ctx context.Context, keys ...string) ([][]byte, error) {
	if mg, ok := s.d.Revocations.(cache.MultiGetter); ok {
		return mg.GetMany(ctx, keys...)
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		v, found, err := s.d.Revocations.Get(ctx, k)
		if err != nil {
			return nil, err
		}
		if found && v == nil {
			v = []byte{}
		}
		out[i] = v
	}
	return out, nil
}

// loadSessionState asks the database and, when cacheUp, remembers the
// answer.
func (s *Service) loadSessionState(ctx context.Context, c AccessClaims, cacheUp bool) (*User, error) {
	sess, err := s.d.Sessions.Get(ctx, c.SessionID)
	if err == nil && sess.UserID != c.UserID {
		err = apperr.New(apperr.NotFound, CodeSessionNotFound, "session of another user")
	}
	var u *User
	if err == nil {
		u, err = s.d.Users.Get(ctx, c.UserID)
	}
	switch {
	case apperr.Is(err, apperr.NotFound):
		// Purged, or the user was deleted (sessions go with their user).
		return nil, errSessionRevoked()
	case err != nil:
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("session check: %w", cerr)
		}
		return nil, fmt.Errorf("session check of %s: %w", c.SessionID, err)
	}
	ended := sess.RevokedAt != nil || !s.now().Before(sess.ExpiresAt) || u.Disabled()
	if cacheUp {
		// Remembering is an optimisation: a failure costs a later read.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if ended {
			err = s.d.Revocations.Set(wctx, revocationKey(c.SessionID), []byte{1}, s.revocationTTL())
		} else {
			err = s.d.Revocations.Set(wctx, sessionCheckKey(c.SessionID, c.UserID), []byte{1}, SessionCheckTTL)
			s.cacheProfile(wctx, u)
		}
		if err != nil {
			s.d.Log.DebugContext(ctx, "identity: session check not cached", "session_id", c.SessionID.String(), "error", err)
		}
	}
	if ended {
		return nil, errSessionRevoked()
	}
	u.PasswordHash = ""
	return u, nil
}

// warnCacheDown logs, at most every 10 s, that session checks read the
// database because the cache fails.
func (s *Service) warnCacheDown(ctx context.Context, err error) {
	if now := time.Now().UnixNano(); now > s.nextRevWarn.Load() {
		s.nextRevWarn.Store(now + int64(10*time.Second))
		s.d.Log.WarnContext(ctx, "identity: session check cache failed; reading sessions from the database (logged at most every 10s)", "error", err)
	}
}

// CheckSession implements realtime.Sessions: the realtime engine asks it
// on every connect and token refresh. It is the per-request check of
// Authenticate (cache first, then the database): nil when sessionID of
// userID is live, apperr.Unauthenticated "session_revoked" when it ended
// or the user is disabled, apperr.Unavailable when neither the cache nor
// the database can answer.
func (s *Service) CheckSession(ctx context.Context, userID, sessionID uuid.UUID) error {
	_, err := s.checkSession(ctx, AccessClaims{UserID: userID, SessionID: sessionID})
	if err == nil || apperr.Is(err, apperr.Unauthenticated) {
		return err
	}
	if apperr.Is(err, apperr.Unavailable) {
		return err
	}
	return apperr.Wrap(err, apperr.Unavailable, "session_check_unavailable", "The session could not be checked.")
}
