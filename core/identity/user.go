// Package identity holds accounts, credentials, sessions and tokens: the
// domain types, the ports that store them, and the Service behind
// /api/v1/auth. See service.go for the security decisions.
package identity

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Role is what a user may do beyond their own account.
type Role string

// The roles.
const (
	RoleUser  Role = "user"
	RoleAdmin Role = "admin"
)

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r == RoleUser || r == RoleAdmin }

// User is an account holder.
type User struct {
	ID uuid.UUID
	// Email is stored as given; it is unique ignoring case (see EmailKey).
	Email       string
	DisplayName string
	// Timezone is an IANA zone name ("Europe/Paris"); "" means UTC.
	Timezone string
	// PasswordHash is the encoded argon2id hash (see PasswordHasher); ""
	// for an account that cannot log in with a password.
	PasswordHash string
	// Role is RoleUser or RoleAdmin; a zero Role is stored as RoleUser.
	Role            Role
	EmailVerifiedAt *time.Time
	// DisabledAt is set when an admin disabled the account: it can no
	// longer log in and its sessions are ended.
	DisabledAt *time.Time
	// EmailChangeUntil is when the email change the user last asked for
	// stops being pending (its link expires); nil when none is.
	EmailChangeUntil *time.Time
	// MFAEnabled is set by the MFA module; login then asks for a second
	// factor (see SecondFactor).
	MFAEnabled bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Disabled reports whether an admin disabled the account.
func (u *User) Disabled() bool { return u.DisabledAt != nil }

// EmailChangePending reports whether an email change the user asked for
// waits, at now, for its link to be followed.
func (u *User) EmailChangePending(now time.Time) bool {
	return u.EmailChangeUntil != nil && now.Before(*u.EmailChangeUntil)
}

// EmailVerified reports whether the current address was proven.
func (u *User) EmailVerified() bool { return u.EmailVerifiedAt != nil }

// UserQuery selects users for the admin listing: those whose email
// contains EmailContains (ignoring case), with an ID above After, in ID
// order (UUIDv7: creation order), at most Limit (1-200).
type UserQuery struct {
	EmailContains string
	After         uuid.UUID
	Limit         int
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
	// List returns the users q selects (see UserQuery).
	List(ctx context.Context, q UserQuery) ([]User, error)
}
