package identity

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Purpose says what an email token proves.
type Purpose string

// The purposes.
const (
	PurposeVerifyEmail   Purpose = "verify_email"
	PurposePasswordReset Purpose = "password_reset"
	PurposeEmailChange   Purpose = "email_change"
)

// EmailToken is a single-use secret mailed to a user. Only its SHA-256 is
// stored.
type EmailToken struct {
	Hash    []byte
	UserID  uuid.UUID
	Purpose Purpose
	// Email is the address the token was sent to (the new address for an
	// email change).
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// EmailTokens stores email tokens. Implementations take part in the
// transaction carried by ctx; every method may also fail with
// apperr.Unavailable.
type EmailTokens interface {
	// Issue stores t and deletes the user's other unused tokens of the
	// same purpose: a newer token invalidates the older ones.
	Issue(ctx context.Context, t *EmailToken) error
	// Get returns the token with this hash if it has one of the purposes,
	// is unused and unexpired at now; apperr.NotFound "token_invalid"
	// otherwise.
	Get(ctx context.Context, hash []byte, purposes []Purpose, now time.Time) (*EmailToken, error)
	// Consume is Get that also marks the token used, atomically: of
	// concurrent calls for one token exactly one succeeds.
	Consume(ctx context.Context, hash []byte, purposes []Purpose, now time.Time) (*EmailToken, error)
	// Revoke deletes the user's unused tokens of the given purposes, so
	// that links already mailed stop working.
	Revoke(ctx context.Context, userID uuid.UUID, purposes []Purpose) error
	// PurgeEnded deletes the tokens that expired or were used before
	// before and returns how many it deleted.
	PurgeEnded(ctx context.Context, before time.Time) (int64, error)
}
