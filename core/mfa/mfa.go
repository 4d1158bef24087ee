// Package mfa is the second factor: TOTP (RFC 6238) enrolled with a QR
// code, one-time backup codes, the login challenge that follows a correct
// password, and the checks a password reset or disabling MFA needs. It
// fills identity.SecondFactor.
//
// Decisions a security review will look for:
//   - A TOTP code is accepted once: the last accepted time step is stored
//     per user and advanced with a conditional update (Factors.AdvanceStep),
//     so a code, or any older one, is refused afterwards, also when two
//     requests race or run on different replicas. The enrolment code is
//     burnt the same way.
//   - The TOTP secret is stored sealed with AES-256-GCM, the user ID as
//     associated data and the key ID beside the ciphertext; a secret sealed
//     under a previous key is re-sealed under the current one when used.
//     The pending enrolment in the short-lived store is sealed too.
//   - Backup codes carry 80 random bits, are stored only as HMAC-SHA256
//     (key derived from MFA_ENCRYPTION_KEY, user ID bound in), compared in
//     constant time against every unused hash, and consumed with a
//     conditional update (one winner).
//   - One failure budget per account covers TOTP and backup codes on every
//     path (login, reset, regenerate, disable, enrolment): 5 failures in
//     15 minutes lock the second step for 15 minutes. It is keyed by user
//     ID, so a fresh login (new mfa_token) does not reset it. A per-IP
//     budget limits guessing across accounts.
//   - The login challenge token carries 256 bits, is stored only as its
//     SHA-256 in the short-lived store, is bound to the user and to the
//     login attempt's user agent, lives 5 minutes and is spent by the
//     successful answer.
package mfa

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// Error codes (stable: clients switch on them).
const (
	CodeAlreadyEnabled = "mfa_already_enabled"
	CodeNotEnabled     = "mfa_not_enabled"
	CodeSetupExpired   = "mfa_setup_expired"
	CodeCodeInvalid    = "mfa_code_invalid"
	CodeCodeReused     = "mfa_code_reused"
	CodeLocked         = "mfa_locked"
	CodeTokenInvalid   = "mfa_token_invalid"
	CodeTooMany        = "too_many_requests"
	CodeCodeRequired   = "mfa_code_required"
	// CodeCorrupt is an Internal error: a stored secret failed to open
	// (wrong key ring or tampered row).
	CodeCorrupt = "mfa_secret_unreadable"
)

// The audit events of this module.
const (
	EventEnrolled               identity.EventType = "mfa_enrolled"
	EventEnrolmentFailed        identity.EventType = "mfa_enrolment_failed"
	EventDisabled               identity.EventType = "mfa_disabled"
	EventChallengePassed        identity.EventType = "mfa_challenge_passed"
	EventChallengeFailed        identity.EventType = "mfa_challenge_failed"
	EventBackupCodeUsed         identity.EventType = "mfa_backup_code_used"
	EventBackupCodesRegenerated identity.EventType = "mfa_backup_codes_regenerated"
	EventReplayRefused          identity.EventType = "mfa_replay_refused"
	EventLocked                 identity.EventType = "mfa_locked"
)

// The email templates of this module, in core/notifications/templates.
const (
	TemplateEnabled        = "mfa_enabled"
	TemplateDisabled       = "mfa_disabled"
	TemplateBackupCodeUsed = "mfa_backup_code_used"
	TemplateLocked         = "mfa_locked"
)

// The methods a challenge can be answered with (also the amr values).
const (
	MethodTOTP       = "totp"
	MethodBackupCode = "backup_code"
)

// Sealed is a secret encrypted by a KeyRing: the ID of the key and
// nonce||ciphertext||tag.
type Sealed struct {
	KeyID      string
	Ciphertext []byte
}

// Factor is a user's enrolled TOTP authenticator.
type Factor struct {
	UserID uuid.UUID
	Secret Sealed
	// LastStep is the last accepted RFC 6238 time step (Unix time / 30 s):
	// codes of this step or older are refused.
	LastStep  int64
	EnabledAt time.Time
	UpdatedAt time.Time
}

// Factors stores enrolled factors. Implementations take part in the
// transaction carried by ctx (uow.Runner) and may fail with
// apperr.Unavailable beyond the errors listed.
type Factors interface {
	// Create stores f; apperr.Conflict "mfa_already_enabled" when the user
	// has one.
	Create(ctx context.Context, f *Factor) error
	// Get returns the user's factor or apperr.NotFound "mfa_not_enabled".
	Get(ctx context.Context, userID uuid.UUID) (*Factor, error)
	// AdvanceStep sets LastStep to step if, and only if, the stored value
	// is lower, atomically (one conditional UPDATE): of concurrent calls
	// with one step exactly one reports true. False (no error) when the
	// step was not newer or there is no factor.
	AdvanceStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error)
	// Reseal replaces the secret if it is still from (compare-and-swap on
	// key ID and ciphertext); false when it changed meanwhile.
	Reseal(ctx context.Context, userID uuid.UUID, from, to Sealed) (bool, error)
	// Delete removes the user's factor and reports whether there was one.
	Delete(ctx context.Context, userID uuid.UUID) (bool, error)
}

// BackupCodes stores the keyed hashes of a user's backup codes. Same
// transaction and error rules as Factors.
type BackupCodes interface {
	// Replace deletes every code of the user and stores hashes as unused.
	Replace(ctx context.Context, userID uuid.UUID, hashes [][]byte, at time.Time) error
	// Unused returns the hashes of the user's unused codes (any order).
	Unused(ctx context.Context, userID uuid.UUID) ([][]byte, error)
	// Consume marks the unused code with this hash used at at, atomically
	// (of concurrent calls exactly one reports true), and returns how many
	// unused codes remain.
	Consume(ctx context.Context, userID uuid.UUID, hash []byte, at time.Time) (ok bool, remaining int, err error)
	// DeleteAll removes every code of the user.
	DeleteAll(ctx context.Context, userID uuid.UUID) error
}

// PasswordVerifier checks a re-entered password (identity.PasswordHasher).
type PasswordVerifier interface {
	Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error)
}

// Config holds the module's policies.
type Config struct {
	// Issuer names the service in authenticator apps ("TradeSense").
	Issuer string
	// EnrolmentTTL bounds a pending enrolment (5 min).
	EnrolmentTTL time.Duration
	// ChallengeTTL bounds a login challenge's mfa_token (5 min).
	ChallengeTTL time.Duration
	// QRSize is the QR code PNG's width and height in pixels.
	QRSize int
	// TOTP are the code parameters (see DefaultTOTP).
	TOTP TOTP
	// BackupCodeCount is how many backup codes a user gets (10).
	BackupCodeCount int
	Limits          Limits
}

// Limits are the second step's budgets.
type Limits struct {
	// Account counts failed codes per user on every path: 5 in 15 min
	// lock 15 min.
	Account ratelimit.Limit
	// IP counts every second-factor attempt per client IP.
	IP ratelimit.Limit
	// Password counts wrong passwords when disabling MFA, per user; it
	// shares identity's key ("password-check:user:<id>") so that the
	// budget is one across password-confirmed actions.
	Password ratelimit.Limit
}

// DefaultConfig returns the defaults of the issue; ipScale multiplies the
// per-IP budget (AUTH_IP_RATE_MULTIPLIER).
func DefaultConfig(ipScale float64) Config {
	if ipScale <= 0 {
		ipScale = 1
	}
	return Config{
		Issuer:          "TradeSense",
		EnrolmentTTL:    5 * time.Minute,
		ChallengeTTL:    5 * time.Minute,
		QRSize:          256,
		TOTP:            DefaultTOTP(),
		BackupCodeCount: 10,
		Limits: Limits{
			Account:  ratelimit.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute},
			IP:       ratelimit.Limit{Max: max(1, int(60*ipScale)), Window: time.Minute},
			Password: ratelimit.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute},
		},
	}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	bad := func(msg string) error { return apperr.New(apperr.Invalid, "mfa_config_invalid", "mfa: "+msg) }
	switch {
	case c.Issuer == "":
		return bad("issuer is required")
	case c.EnrolmentTTL < time.Minute || c.ChallengeTTL < time.Minute:
		return bad("enrolment and challenge TTLs must be at least 1m")
	case c.QRSize < 64 || c.QRSize > 1024:
		return bad("QR size must be from 64 to 1024 pixels")
	case c.BackupCodeCount < 1 || c.BackupCodeCount > 50:
		return bad("backup code count must be from 1 to 50")
	}
	if err := c.TOTP.validate(); err != nil {
		return err
	}
	for _, l := range []ratelimit.Limit{c.Limits.Account, c.Limits.IP, c.Limits.Password} {
		if err := l.Validate(); err != nil {
			return err
		}
	}
	return nil
}
