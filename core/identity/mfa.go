package identity

import (
	"context"
	"time"
)

// SecondFactor is the seam the MFA module fills. The identity service
// calls it when a user with MFAEnabled logs in or resets a password; with
// no SecondFactor configured such a user cannot complete either (fail
// closed, apperr.Unavailable "mfa_unavailable").
//
// The MFA module keeps its own failure counter (keyed by user, separate
// from the password counter "login:acct:<email>"), its own rate limits and
// its own mfa_* events.
type SecondFactor interface {
	// BeginLogin is called after a correct password: it returns a
	// single-use mfa_token bound to the user and this login attempt, and
	// the methods the user can answer with ("totp", "backup_code"). The
	// MFA module completes the login with Service.IssueSession at aal 2.
	BeginLogin(ctx context.Context, u *User, meta ClientMeta) (MFAChallenge, error)
	// VerifyForReset checks a TOTP or backup code for a password reset of
	// u. It fails with apperr.Invalid "mfa_code_invalid" (counted as an
	// MFA failure) or apperr.RateLimited.
	VerifyForReset(ctx context.Context, u *User, f ResetFactor) error
}

// MFAChallenge is login's answer when a second factor is needed.
type MFAChallenge struct {
	Token     string
	Methods   []string
	ExpiresAt time.Time
}

// ResetFactor is the second factor a password reset carries when MFA is on.
type ResetFactor struct {
	Code       string
	BackupCode string
}

// Empty reports whether no factor was given.
func (f ResetFactor) Empty() bool { return f.Code == "" && f.BackupCode == "" }
