package identity

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// EventType names a security event (snake_case, stable: clients and
// alerting rules match on it).
type EventType string

// The security events. The MFA module adds its mfa_* types.
const (
	EventRegistered           EventType = "user_registered"
	EventLoginSucceeded       EventType = "login_succeeded"
	EventLoginFailed          EventType = "login_failed"
	EventLogout               EventType = "logout"
	EventRefreshReuseDetected EventType = "refresh_reuse_detected"
	EventPasswordChanged      EventType = "password_changed"
	EventPasswordReset        EventType = "password_reset"
	EventPasswordResetRequest EventType = "password_reset_requested"
	EventEmailVerified        EventType = "email_verified"
	EventEmailChanged         EventType = "email_changed"
	EventSessionRevoked       EventType = "session_revoked"
	EventAccountLocked        EventType = "account_locked"
	EventUserDisabled         EventType = "user_disabled"
	EventRoleChanged          EventType = "role_changed"
)

// Event is one entry of the audit log.
type Event struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	Type      EventType
	At        time.Time
	IP        string
	UserAgent string
	SessionID uuid.UUID // uuid.Nil when no session is involved
	// Details are small, non-secret facts ("reason": "password").
	Details map[string]string
}

// EventQuery selects one user's events, newest first: those with an ID
// below Before (uuid.Nil: from the newest), at most Limit (1-200).
type EventQuery struct {
	UserID uuid.UUID
	Before uuid.UUID
	Limit  int
}

// Events is the audit log. Record takes part in the transaction carried
// by ctx; both methods may fail with apperr.Unavailable.
type Events interface {
	// Record appends e; a zero ID is replaced by a new UUIDv7.
	Record(ctx context.Context, e *Event) error
	// List returns the events q selects.
	List(ctx context.Context, q EventQuery) ([]Event, error)
}
