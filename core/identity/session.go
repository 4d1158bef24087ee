package identity

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Session is one login on one device: a refresh-token family. Every
// access token names its session (claim sid), so ending the session ends
// the access tokens too (see Service.Authenticate).
type Session struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	CreatedAt  time.Time
	LastUsedAt time.Time
	// ExpiresAt is the absolute end (IDENTITY_SESSION_TTL after login).
	ExpiresAt time.Time
	IP        string
	UserAgent string
	// AAL is the assurance level the login reached: 1 password, 2 with a
	// second factor. AMR lists the methods ("pwd", "otp", ...).
	AAL           int
	AMR           []string
	RevokedAt     *time.Time
	RevokedReason string
}

// Active reports whether s can still be used at now, given the idle timeout.
func (s *Session) Active(now time.Time, idle time.Duration) bool {
	return s.RevokedAt == nil && now.Before(s.ExpiresAt) && (idle <= 0 || now.Before(s.LastUsedAt.Add(idle)))
}

// Error codes of the session ports.
const (
	CodeSessionNotFound     = "session_not_found"
	CodeRefreshTokenInvalid = "refresh_token_invalid"
	CodeTokenInvalid        = "token_invalid"
)

// Sessions stores sessions. Implementations take part in the transaction
// carried by ctx; every method may also fail with apperr.Unavailable.
type Sessions interface {
	// Create stores s (ID and timestamps must be set by the caller).
	Create(ctx context.Context, s *Session) error
	// Get returns the session, or apperr.NotFound "session_not_found".
	Get(ctx context.Context, id uuid.UUID) (*Session, error)
	// ListActive returns userID's sessions that are not revoked and not
	// past ExpiresAt at now, most recently used first.
	ListActive(ctx context.Context, userID uuid.UUID, now time.Time) ([]Session, error)
	// Touch sets LastUsedAt.
	Touch(ctx context.Context, id uuid.UUID, at time.Time) error
	// Revoke ends the sessions of userID whose IDs are listed (all of them
	// when ids is empty), except the session except (uuid.Nil: none), and
	// returns the IDs it ended now. Sessions already revoked, or of another
	// user, are left alone: a user can never end someone else's session.
	Revoke(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, except uuid.UUID, at time.Time, reason string) ([]uuid.UUID, error)
	// PurgeEnded deletes the sessions that expired or were revoked before
	// before, with their refresh tokens, and returns how many sessions it
	// deleted. A purged session is indistinguishable from an unknown one,
	// which every caller already rejects.
	PurgeEnded(ctx context.Context, before time.Time) (int64, error)
}

// RefreshToken is one link of a session's refresh-token chain. Only the
// SHA-256 of the token is stored.
type RefreshToken struct {
	Hash      []byte
	SessionID uuid.UUID
	CreatedAt time.Time
	// RotatedAt is set when the token was exchanged for its successor.
	RotatedAt *time.Time
	// Successor is the successor token sealed with a key derived from this
	// token (AES-256-GCM), so that a client that lost the refresh response
	// can get the same pair back within the grace window, and nobody
	// without this token can read it.
	Successor []byte
}

// RefreshTokens stores refresh tokens. Implementations take part in the
// transaction carried by ctx; every method may also fail with
// apperr.Unavailable.
type RefreshTokens interface {
	// Create stores t.
	Create(ctx context.Context, t *RefreshToken) error
	// Get returns the token with this hash, or apperr.NotFound
	// "refresh_token_invalid".
	Get(ctx context.Context, hash []byte) (*RefreshToken, error)
	// Rotate marks the token rotated at at with its sealed successor, if
	// and only if it was not rotated yet, atomically: of concurrent calls
	// for one hash exactly one returns true.
	Rotate(ctx context.Context, hash []byte, at time.Time, successor []byte) (bool, error)
}
