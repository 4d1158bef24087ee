// Package identity holds users and the ports that store them. This is the
// first slice, enough to prove the persistence path end to end; credentials,
// sessions, tokens and MFA come with the identity issues.
package identity

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// User is an account holder.
type User struct {
	ID uuid.UUID
	// Email is stored as given; it is unique ignoring case (see EmailKey).
	Email     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// EmailKey is the case-insensitive identity of an email address: two users
// may not share it. It lower-cases with Unicode rules in Go, so every
// database enforces the same uniqueness (SQLite's lower() knows only ASCII).
func EmailKey(email string) string {
	return strings.ToLower(email)
}

// Error codes of the Users port.
const (
	CodeUserNotFound = "user_not_found"
	CodeEmailTaken   = "email_taken"
	CodeUserExists   = "user_exists"
)

// Users stores users. Implementations take part in the transaction carried
// by ctx (see uow.Runner). Beyond the errors listed, every method may fail
// with apperr.Unavailable when the store cannot answer.
type Users interface {
	// Create stores u. A zero ID is replaced by a new UUIDv7 and zero
	// timestamps by the current time (UTC, microsecond precision); the
	// values stored are written back into u. Fails with apperr.Conflict
	// "email_taken" when another user has the same EmailKey, or
	// "user_exists" when the ID is taken.
	Create(ctx context.Context, u *User) error
	// Get returns the user with this ID, or apperr.NotFound
	// "user_not_found".
	Get(ctx context.Context, id uuid.UUID) (*User, error)
	// GetByEmail returns the user whose email matches ignoring case, or
	// apperr.NotFound "user_not_found".
	GetByEmail(ctx context.Context, email string) (*User, error)
	// Update reads the user, passes a copy to fn and stores what fn returns,
	// atomically: concurrent updates of one user are applied one after the
	// other, never lost. UpdatedAt is set to the current time. If fn returns
	// an error nothing is written and Update returns that error unchanged.
	// Fails with apperr.NotFound "user_not_found", apperr.Conflict
	// "email_taken", or apperr.Invalid when fn changes the ID.
	Update(ctx context.Context, id uuid.UUID, fn func(*User) (*User, error)) error
}
