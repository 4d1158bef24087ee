package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/uow"
)

// Deps are the service's collaborators; all are required but Log and Now.
type Deps struct {
	Factors     Factors
	BackupCodes BackupCodes
	Users       identity.Users
	Events      identity.Events
	Tx          uow.Runner
	// Pending holds pending enrolments and login challenges (Redis in
	// production, shared by replicas).
	Pending   shortlived.Store
	Limiter   ratelimit.Limiter
	Keys      *KeyRing
	Passwords PasswordVerifier
	Mailer    identity.Mailer
	Log       *slog.Logger
	Now       func() time.Time
}

// Service is the MFA use cases (see the package comment for the security
// decisions).
type Service struct {
	cfg Config
	d   Deps
}

var _ identity.SecondFactor = (*Service)(nil)

// NewService returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Factors == nil || d.BackupCodes == nil || d.Users == nil || d.Events == nil || d.Tx == nil || d.Pending == nil ||
		d.Limiter == nil || d.Keys == nil || d.Passwords == nil || d.Mailer == nil {
		return nil, errors.New("mfa: a required dependency is missing")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Service{cfg: cfg, d: d}, nil
}

func (s *Service) now() time.Time { return s.d.Now().UTC().Truncate(time.Microsecond) }

// Answer is a second factor as typed: a TOTP code or a backup code (one
// of them).
type Answer struct {
	Code       string
	BackupCode string
}

// Status is a user's MFA state.
type Status struct {
	Enabled              bool
	EnabledAt            time.Time
	BackupCodesRemaining int
}

// Status returns the user's MFA state.
func (s *Service) Status(ctx context.Context, userID uuid.UUID) (Status, error) {
	f, err := s.d.Factors.Get(ctx, userID)
	if apperr.Is(err, apperr.NotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	unused, err := s.d.BackupCodes.Unused(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	return Status{Enabled: true, EnabledAt: f.EnabledAt, BackupCodesRemaining: len(unused)}, nil
}

// ---- enrolment ----

func pendingKey(userID uuid.UUID) string { return "mfa:enrol:" + userID.String() }

// BeginEnrolment starts enrolment: a new secret, its otpauth:// URL and QR
// code. The pending setup (sealed) lives EnrolmentTTL in the short-lived
// store; a new call replaces it. Fails with apperr.Invalid
// "mfa_already_enabled" when MFA is on.
func (s *Service) BeginEnrolment(ctx context.Context, userID uuid.UUID) (*Enrolment, error) {
	u, err := s.d.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if err := s.refuseIfEnabled(ctx, u); err != nil {
		return nil, err
	}
	secret := make([]byte, SecretBytes)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("mfa: secret: %w", err)
	}
	url, qr, err := s.cfg.TOTP.newKey(s.cfg.Issuer, u.Email, secret, s.cfg.QRSize)
	if err != nil {
		return nil, err
	}
	sealed, err := s.d.Keys.Seal(userID, "pending", secret)
	if err != nil {
		return nil, err
	}
	exp := s.now().Add(s.cfg.EnrolmentTTL)
	if err := s.d.Pending.Put(ctx, pendingKey(userID), encodePending(exp, sealed), s.cfg.EnrolmentTTL); err != nil {
		return nil, fmt.Errorf("mfa: store pending enrolment: %w", err)
	}
	return &Enrolment{Secret: b32.EncodeToString(secret), OTPAuthURL: url, QRCodePNG: qr, ExpiresAt: exp}, nil
}

func (s *Service) refuseIfEnabled(ctx context.Context, u *identity.User) error {
	_, err := s.d.Factors.Get(ctx, u.ID)
	switch {
	case err == nil || u.MFAEnabled:
		return errAlreadyEnabled()
	case apperr.Is(err, apperr.NotFound):
		return nil
	}
	return err
}

func errAlreadyEnabled() error {
	return apperr.New(apperr.Invalid, CodeAlreadyEnabled, "Two-factor authentication is already on.")
}

func errSetupExpired() error {
	return apperr.New(apperr.Invalid, CodeSetupExpired, "There is no pending two-factor setup, or it expired: start again.")
}

// ConfirmEnrolment turns MFA on with a code from the app for the pending
// secret. The code's time step is burnt. It returns the backup codes,
// shown once. Fails with apperr.Invalid "mfa_setup_expired" (nothing
// pending), "mfa_code_invalid" (counted as a failure), "mfa_already_enabled",
// or apperr.RateLimited "mfa_locked".
func (s *Service) ConfirmEnrolment(ctx context.Context, userID uuid.UUID, code string) ([]string, error) {
	u, err := s.d.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	attempt, err := s.guard(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	raw, err := s.d.Pending.Get(ctx, pendingKey(userID))
	if apperr.Is(err, apperr.NotFound) {
		return nil, errSetupExpired()
	}
	if err != nil {
		return nil, err
	}
	exp, sealed, err := decodePending(raw)
	if err != nil || !s.now().Before(exp) {
		_ = s.d.Pending.Delete(ctx, pendingKey(userID))
		return nil, errSetupExpired()
	}
	secret, _, err := s.d.Keys.Open(userID, "pending", sealed)
	if err != nil {
		// Sealed under a key that is gone (rotation without previous):
		// the user starts again.
		_ = s.d.Pending.Delete(ctx, pendingKey(userID))
		return nil, errSetupExpired()
	}
	c, ok := ParseCode(code, s.cfg.TOTP.Digits)
	var step int64
	if ok {
		if step, ok, err = s.cfg.TOTP.Match(secret, c, s.d.Now()); err != nil {
			return nil, err
		}
	}
	if !ok {
		return nil, s.failed(ctx, u, attempt, EventEnrolmentFailed, "enrol", errCodeInvalid())
	}
	if _, err := s.d.Pending.Take(ctx, pendingKey(userID)); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, errSetupExpired() // a concurrent confirmation won
		}
		return nil, err
	}
	shown, hashes, err := s.newCodes(userID)
	if err != nil {
		return nil, err
	}
	factorSecret, err := s.d.Keys.Seal(userID, "factor", secret)
	if err != nil {
		return nil, err
	}
	now := s.now()
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Factors.Create(ctx, &Factor{UserID: userID, Secret: factorSecret, LastStep: step, EnabledAt: now, UpdatedAt: now}); err != nil {
			if apperr.Is(err, apperr.Conflict) {
				return errAlreadyEnabled()
			}
			return err
		}
		if err := s.d.BackupCodes.Replace(ctx, userID, hashes, now); err != nil {
			return err
		}
		if err := s.d.Users.Update(ctx, userID, func(cur *identity.User) (*identity.User, error) {
			cur.MFAEnabled = true
			return cur, nil
		}); err != nil {
			return err
		}
		return s.record(ctx, EventEnrolled, userID, nil)
	})
	if err != nil {
		return nil, err
	}
	s.resetFailures(ctx, userID)
	s.mail(ctx, u, TemplateEnabled, "mfa-enabled:"+userID.String()+":"+now.Format("20060102150405"), nil)
	return shown, nil
}

// newCodes returns fresh backup codes and their hashes under the current
// key.
func (s *Service) newCodes(userID uuid.UUID) ([]string, [][]byte, error) {
	shown, canon, err := newBackupCodes(s.cfg.BackupCodeCount)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(canon))
	for i, c := range canon {
		hashes[i] = s.d.Keys.backupHashes(userID, c)[0]
	}
	return shown, hashes, nil
}

// ---- verification ----

func errCodeInvalid() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: CodeCodeInvalid, Message: "The code is incorrect.", Fields: map[string]string{"code": "is incorrect"}}
}

func errCodeReused() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: CodeCodeReused, Message: "This code was already used: wait for the next one.",
		Fields: map[string]string{"code": "was already used"}}
}

func errNotEnabled() error {
	return apperr.New(apperr.Invalid, CodeNotEnabled, "Two-factor authentication is not on.")
}

func accountKey(userID uuid.UUID) string { return "mfa:acct:" + userID.String() }

// guard applies the per-IP budget and counts the attempt against the
// account before any code is compared, refusing when the second step is
// locked: counting only failures would let a burst of parallel guesses all
// pass before the first failure lands. Success resets the account counter
// (resetFailures); failed uses the returned result for the lock event.
func (s *Service) guard(ctx context.Context, userID uuid.UUID) (ratelimit.Result, error) {
	ip := identity.ClientMetaFrom(ctx).IP
	if ip == "" {
		ip = "unknown"
	}
	r, err := s.d.Limiter.Hit(ctx, "mfa:ip:"+identity.ClientNetwork(ip), s.cfg.Limits.IP)
	if err != nil {
		return r, err
	}
	if !r.Allowed {
		return r, ratelimit.Exceeded(r, CodeTooMany, "Too many requests; try again later.")
	}
	if r, err = s.d.Limiter.Hit(ctx, accountKey(userID), s.cfg.Limits.Account); err != nil {
		return r, err
	}
	if !r.Allowed {
		return r, lockedErr(r)
	}
	return r, nil
}

func lockedErr(r ratelimit.Result) error {
	return ratelimit.Exceeded(r, CodeLocked, "Too many incorrect codes: two-factor sign-in is paused for this account. Try again later.")
}

// failed records a failure (the attempt was counted by guard), records
// and mails the lock when this attempt started it, and returns answer (the
// lock shows from the next attempt on, like the password lockout).
func (s *Service) failed(ctx context.Context, u *identity.User, attempt ratelimit.Result, typ identity.EventType, purpose string, answer error) error {
	r := attempt
	reason := "code_invalid"
	if e, ok := apperr.As(answer); ok {
		reason = e.Code
	}
	s.recordQuiet(ctx, typ, u.ID, map[string]string{"purpose": purpose, "reason": reason})
	if r.JustBlocked {
		mins := int(s.cfg.Limits.Account.Block.Minutes())
		s.recordQuiet(ctx, EventLocked, u.ID, map[string]string{"minutes": fmt.Sprint(mins)})
		s.mail(ctx, u, TemplateLocked, "mfa-locked:"+u.ID.String()+":"+s.now().Format("200601021504"), map[string]any{"Minutes": mins})
	}
	return answer
}

func (s *Service) resetFailures(ctx context.Context, userID uuid.UUID) {
	if err := s.d.Limiter.Reset(ctx, accountKey(userID)); err != nil {
		s.d.Log.WarnContext(ctx, "mfa: failure counter not reset", "error", err)
	}
}

// Verified says how a second factor was proven.
type Verified struct {
	Method string // MethodTOTP or MethodBackupCode
	// BackupCodesRemaining is set when a backup code was used.
	BackupCodesRemaining int
}

// verify checks a second factor of u for purpose ("login", "reset",
// "regenerate", "disable"): TOTP codes advance the stored step (replays
// are refused and counted), backup codes are consumed. totpOnly refuses
// backup codes.
func (s *Service) verify(ctx context.Context, u *identity.User, a Answer, purpose string, totpOnly bool) (Verified, error) {
	switch {
	case a.Code == "" && a.BackupCode == "":
		return Verified{}, &apperr.Error{Kind: apperr.Invalid, Code: CodeCodeRequired, Message: "Enter a code from your authenticator app or a backup code.",
			Fields: map[string]string{"code": "is required"}}
	case a.Code != "" && a.BackupCode != "":
		return Verified{}, apperr.Validation("Give either a code or a backup code, not both.", map[string]string{"backup_code": "must be empty when code is given"})
	case totpOnly && a.Code == "":
		return Verified{}, apperr.Validation("A code from your authenticator app is required.", map[string]string{"code": "is required"})
	}
	attempt, err := s.guard(ctx, u.ID)
	if err != nil {
		return Verified{}, err
	}
	f, err := s.d.Factors.Get(ctx, u.ID)
	if apperr.Is(err, apperr.NotFound) {
		return Verified{}, errNotEnabled()
	}
	if err != nil {
		return Verified{}, err
	}
	if a.Code != "" {
		return s.verifyTOTP(ctx, u, attempt, f, a.Code, purpose)
	}
	return s.verifyBackupCode(ctx, u, attempt, a.BackupCode, purpose)
}

func (s *Service) verifyTOTP(ctx context.Context, u *identity.User, attempt ratelimit.Result, f *Factor, code, purpose string) (Verified, error) {
	c, ok := ParseCode(code, s.cfg.TOTP.Digits)
	if !ok {
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errCodeInvalid())
	}
	secret, stale, err := s.d.Keys.Open(u.ID, "factor", f.Secret)
	if err != nil {
		return Verified{}, apperr.Wrap(err, apperr.Internal, CodeCorrupt, "Two-factor verification failed.")
	}
	if stale {
		s.reseal(ctx, u.ID, f.Secret, secret)
	}
	step, ok, err := s.cfg.TOTP.Match(secret, c, s.d.Now())
	if err != nil {
		return Verified{}, err
	}
	if !ok {
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errCodeInvalid())
	}
	advanced, err := s.d.Factors.AdvanceStep(ctx, u.ID, step)
	if err != nil {
		return Verified{}, err
	}
	if !advanced {
		s.recordQuiet(ctx, EventReplayRefused, u.ID, map[string]string{"purpose": purpose})
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errCodeReused())
	}
	s.resetFailures(ctx, u.ID)
	return Verified{Method: MethodTOTP}, nil
}

// reseal re-encrypts a secret found under a previous key; a failure is
// logged (the next use tries again).
func (s *Service) reseal(ctx context.Context, userID uuid.UUID, from Sealed, secret []byte) {
	to, err := s.d.Keys.Seal(userID, "factor", secret)
	if err == nil {
		_, err = s.d.Factors.Reseal(ctx, userID, from, to)
	}
	if err != nil {
		s.d.Log.WarnContext(ctx, "mfa: secret not re-sealed under the current key", "error", err)
	}
}

func (s *Service) verifyBackupCode(ctx context.Context, u *identity.User, attempt ratelimit.Result, code, purpose string) (Verified, error) {
	canon, ok := ParseBackupCode(code)
	if !ok {
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errBackupInvalid())
	}
	unused, err := s.d.BackupCodes.Unused(ctx, u.ID)
	if err != nil {
		return Verified{}, err
	}
	hit := findHash(unused, s.d.Keys.backupHashes(u.ID, canon))
	if hit == nil {
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errBackupInvalid())
	}
	ok, remaining, err := s.d.BackupCodes.Consume(ctx, u.ID, hit, s.now())
	if err != nil {
		return Verified{}, err
	}
	if !ok { // a concurrent request used it first
		return Verified{}, s.failed(ctx, u, attempt, EventChallengeFailed, purpose, errBackupInvalid())
	}
	s.resetFailures(ctx, u.ID)
	s.recordQuiet(ctx, EventBackupCodeUsed, u.ID, map[string]string{"purpose": purpose, "remaining": fmt.Sprint(remaining)})
	s.mail(ctx, u, TemplateBackupCodeUsed, "mfa-backup:"+u.ID.String()+":"+hex.EncodeToString(hit[:8]), map[string]any{"Remaining": remaining})
	return Verified{Method: MethodBackupCode, BackupCodesRemaining: remaining}, nil
}

func errBackupInvalid() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: CodeCodeInvalid, Message: "The backup code is incorrect or was already used.",
		Fields: map[string]string{"backup_code": "is incorrect or used"}}
}

// ---- login challenge (identity.SecondFactor) ----

// BeginLogin implements identity.SecondFactor: a 256-bit mfa_token, stored
// as its SHA-256 with the user, a login attempt ID and the user agent's
// hash, for ChallengeTTL.
func (s *Service) BeginLogin(ctx context.Context, u *identity.User, meta identity.ClientMeta) (identity.MFAChallenge, error) {
	if _, err := s.d.Factors.Get(ctx, u.ID); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			// users.mfa_enabled without a factor: refuse rather than let
			// the password alone in.
			return identity.MFAChallenge{}, apperr.Wrap(errors.New("user flagged MFA without a factor"), apperr.Internal, CodeCorrupt, "Two-factor sign-in failed.")
		}
		return identity.MFAChallenge{}, err
	}
	methods := []string{MethodTOTP}
	if unused, err := s.d.BackupCodes.Unused(ctx, u.ID); err != nil {
		return identity.MFAChallenge{}, err
	} else if len(unused) > 0 {
		methods = append(methods, MethodBackupCode)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return identity.MFAChallenge{}, fmt.Errorf("mfa: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	attempt, err := uuid.NewV7()
	if err != nil {
		return identity.MFAChallenge{}, err
	}
	exp := s.now().Add(s.cfg.ChallengeTTL)
	ch := challenge{UserID: u.ID, Attempt: attempt, ExpiresAt: exp, UA: sha256.Sum256([]byte(meta.UserAgent))}
	if err := s.d.Pending.Put(ctx, challengeKey(tok), ch.encode(), s.cfg.ChallengeTTL); err != nil {
		return identity.MFAChallenge{}, fmt.Errorf("mfa: store challenge: %w", err)
	}
	return identity.MFAChallenge{Token: tok, Methods: methods, ExpiresAt: exp}, nil
}

func challengeKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return "mfa:login:" + hex.EncodeToString(h[:])
}

func errTokenInvalid() error {
	return &apperr.Error{Kind: apperr.Unauthenticated, Code: CodeTokenInvalid, Message: "The sign-in challenge is invalid or expired: sign in again.",
		Fields: map[string]string{"mfa_token": "is invalid or expired"}}
}

// LoginOutcome is a passed login challenge: the session to open.
type LoginOutcome struct {
	User     *identity.User
	AMR      []string // "pwd" and the method
	Verified Verified
	// Attempt identifies the login attempt the token was bound to.
	Attempt uuid.UUID
}

// CompleteLogin answers a login challenge. On success the mfa_token is
// spent and the caller opens the session at aal 2 with the outcome's AMR
// (identity.Service.IssueSession). A wrong code leaves the token usable
// until it expires (the failure budget bounds retries). Fails with
// apperr.Unauthenticated "mfa_token_invalid", the verification errors,
// or apperr.RateLimited.
func (s *Service) CompleteLogin(ctx context.Context, token string, a Answer) (*LoginOutcome, error) {
	tok, ok := identity.ParseOpaqueToken(token)
	if !ok {
		return nil, errTokenInvalid()
	}
	key := challengeKey(tok)
	raw, err := s.d.Pending.Get(ctx, key)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errTokenInvalid()
	}
	if err != nil {
		return nil, err
	}
	ch, err := decodeChallenge(raw)
	if err != nil || !s.now().Before(ch.ExpiresAt) || ch.UA != sha256.Sum256([]byte(identity.ClientMetaFrom(ctx).UserAgent)) {
		return nil, errTokenInvalid()
	}
	u, err := s.d.Users.Get(ctx, ch.UserID)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errTokenInvalid()
	}
	if err != nil {
		return nil, err
	}
	if u.Disabled() || !u.MFAEnabled {
		_ = s.d.Pending.Delete(ctx, key)
		return nil, errTokenInvalid()
	}
	v, err := s.verify(ctx, u, a, "login", false)
	if err != nil {
		if apperr.Is(err, apperr.Invalid) && apperrCode(err) == CodeNotEnabled {
			return nil, errTokenInvalid()
		}
		return nil, err
	}
	if _, err := s.d.Pending.Take(ctx, key); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, errTokenInvalid() // a concurrent answer spent it
		}
		return nil, err
	}
	s.recordQuiet(ctx, EventChallengePassed, u.ID, map[string]string{"method": v.Method})
	return &LoginOutcome{User: u, AMR: []string{"pwd", v.Method}, Verified: v, Attempt: ch.Attempt}, nil
}

func apperrCode(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}

// VerifyForReset implements identity.SecondFactor.
func (s *Service) VerifyForReset(ctx context.Context, u *identity.User, f identity.ResetFactor) error {
	_, err := s.verify(ctx, u, Answer{Code: f.Code, BackupCode: f.BackupCode}, "reset", false)
	return err
}

// ---- management ----

// RegenerateBackupCodes replaces the user's backup codes after a current
// TOTP code; the old ones stop working. The new codes are shown once.
func (s *Service) RegenerateBackupCodes(ctx context.Context, userID uuid.UUID, code string) ([]string, error) {
	u, err := s.d.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if _, err := s.verify(ctx, u, Answer{Code: code}, "regenerate", true); err != nil {
		return nil, err
	}
	shown, hashes, err := s.newCodes(userID)
	if err != nil {
		return nil, err
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.BackupCodes.Replace(ctx, userID, hashes, s.now()); err != nil {
			return err
		}
		return s.record(ctx, EventBackupCodesRegenerated, userID, map[string]string{"count": fmt.Sprint(len(shown))})
	})
	if err != nil {
		return nil, err
	}
	return shown, nil
}

// Disable turns MFA off after the password and a second factor. Fails
// with apperr.Invalid "current_password_invalid" (field "password"),
// "mfa_not_enabled", the verification errors, or apperr.RateLimited.
func (s *Service) Disable(ctx context.Context, userID uuid.UUID, password string, a Answer) error {
	u, err := s.d.Users.Get(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := s.d.Factors.Get(ctx, userID); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return errNotEnabled()
		}
		return err
	}
	if err := s.checkPassword(ctx, u, password); err != nil {
		return err
	}
	if _, err := s.verify(ctx, u, a, "disable", false); err != nil {
		return err
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if _, err := s.d.Factors.Delete(ctx, userID); err != nil {
			return err
		}
		if err := s.d.BackupCodes.DeleteAll(ctx, userID); err != nil {
			return err
		}
		if err := s.d.Users.Update(ctx, userID, func(cur *identity.User) (*identity.User, error) {
			cur.MFAEnabled = false
			return cur, nil
		}); err != nil {
			return err
		}
		return s.record(ctx, EventDisabled, userID, nil)
	})
	if err != nil {
		return err
	}
	s.mail(ctx, u, TemplateDisabled, "mfa-disabled:"+userID.String()+":"+s.now().Format("20060102150405"), nil)
	return nil
}

// checkPassword shares identity's per-user budget for re-entered
// passwords.
func (s *Service) checkPassword(ctx context.Context, u *identity.User, pw string) error {
	key := "password-check:user:" + u.ID.String()
	r, err := s.d.Limiter.Peek(ctx, key, s.cfg.Limits.Password)
	if err != nil {
		return err
	}
	if !r.Allowed {
		return ratelimit.Exceeded(r, identity.CodeAccountLocked, "Too many failed attempts; try again later.")
	}
	ok, _, err := s.d.Passwords.Verify(ctx, identity.NormalizePassword(pw), u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := s.d.Limiter.Hit(ctx, key, s.cfg.Limits.Password); err != nil {
			return err
		}
		s.recordQuiet(ctx, identity.EventLoginFailed, u.ID, map[string]string{"reason": "password", "purpose": "mfa_disable"})
		return &apperr.Error{Kind: apperr.Invalid, Code: identity.CodeCurrentPasswordBad, Message: "The password is incorrect.",
			Fields: map[string]string{"password": "is incorrect"}}
	}
	return s.d.Limiter.Reset(ctx, key)
}

// ---- events and mail ----

func (s *Service) record(ctx context.Context, typ identity.EventType, userID uuid.UUID, details map[string]string) error {
	meta := identity.ClientMetaFrom(ctx)
	e := &identity.Event{UserID: userID, Type: typ, At: s.now(), IP: meta.IP, UserAgent: meta.UserAgent, Details: details}
	if err := s.d.Events.Record(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", typ, err)
	}
	return nil
}

func (s *Service) recordQuiet(ctx context.Context, typ identity.EventType, userID uuid.UUID, details map[string]string) {
	if err := s.record(ctx, typ, userID, details); err != nil {
		s.d.Log.ErrorContext(ctx, "mfa: audit event not recorded", "event", string(typ), "error", err)
	}
}

// mail enqueues a notification; data never holds a secret.
func (s *Service) mail(ctx context.Context, u *identity.User, template, idem string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	meta := identity.ClientMetaFrom(ctx)
	data["DisplayName"] = u.DisplayName
	data["IP"] = meta.IP
	data["UserAgent"] = meta.UserAgent
	data["Time"] = s.now().Format(time.RFC1123)
	if _, err := s.d.Mailer.SendEmail(ctx, identity.Email{To: u.Email, Template: template, Data: data, IdempotencyKey: idem}); err != nil {
		s.d.Log.ErrorContext(ctx, "mfa: email not enqueued", "template", template, "error", err)
	}
}

// ---- short-lived encodings ----

const encVersion = 1

func encodePending(exp time.Time, s Sealed) []byte {
	b := make([]byte, 0, 1+8+1+len(s.KeyID)+len(s.Ciphertext))
	b = append(b, encVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(exp.UnixMicro())) // #nosec G115 -- a time after 1970, stored bit for bit
	b = append(b, byte(len(s.KeyID)))                             // #nosec G115 -- key IDs are short fingerprints
	b = append(b, s.KeyID...)
	return append(b, s.Ciphertext...)
}

var errEncoding = errors.New("mfa: malformed short-lived value")

func decodePending(b []byte) (time.Time, Sealed, error) {
	if len(b) < 10 || b[0] != encVersion {
		return time.Time{}, Sealed{}, errEncoding
	}
	exp := time.UnixMicro(int64(binary.BigEndian.Uint64(b[1:9]))).UTC() // #nosec G115 -- the bits encodePending stored
	n := int(b[9])
	if len(b) < 10+n {
		return time.Time{}, Sealed{}, errEncoding
	}
	return exp, Sealed{KeyID: string(b[10 : 10+n]), Ciphertext: append([]byte(nil), b[10+n:]...)}, nil
}

type challenge struct {
	UserID    uuid.UUID
	Attempt   uuid.UUID
	ExpiresAt time.Time
	UA        [32]byte
}

const challengeLen = 1 + 16 + 16 + 8 + 32

func (c challenge) encode() []byte {
	b := make([]byte, 0, challengeLen)
	b = append(b, encVersion)
	b = append(b, c.UserID[:]...)
	b = append(b, c.Attempt[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.ExpiresAt.UnixMicro()))
	return append(b, c.UA[:]...)
}

func decodeChallenge(b []byte) (challenge, error) {
	if len(b) != challengeLen || b[0] != encVersion {
		return challenge{}, errEncoding
	}
	var c challenge
	copy(c.UserID[:], b[1:17])
	copy(c.Attempt[:], b[17:33])
	c.ExpiresAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[33:41]))).UTC() // #nosec G115 -- the bits the encoder stored
	copy(c.UA[:], b[41:])
	return c, nil
}
