package mfa

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// Verification: every path that checks a second factor (login, reset,
// regeneration, disabling, and the first code of an enrolment) counts the
// attempt with guard and proves the factor with verify.

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
	s.audit.RecordQuiet(ctx, typ, u.ID, uuid.Nil, map[string]string{"purpose": purpose, "reason": reason})
	if r.JustBlocked {
		mins := int(s.cfg.Limits.Account.Block.Minutes())
		s.audit.RecordQuiet(ctx, EventLocked, u.ID, uuid.Nil, map[string]string{"minutes": fmt.Sprint(mins)})
		s.notify(ctx, u, TemplateLocked, "mfa-locked:"+u.ID.String()+":"+s.now().Format("200601021504"), map[string]any{"Minutes": mins})
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
	step, ok, err := s.cfg.TOTP.Match(secret, c, time.Now())
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
		s.audit.RecordQuiet(ctx, EventReplayRefused, u.ID, uuid.Nil, map[string]string{"purpose": purpose})
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
	s.audit.RecordQuiet(ctx, EventBackupCodeUsed, u.ID, uuid.Nil, map[string]string{"purpose": purpose, "remaining": fmt.Sprint(remaining)})
	s.notify(ctx, u, TemplateBackupCodeUsed, "mfa-backup:"+u.ID.String()+":"+hex.EncodeToString(hit[:8]), map[string]any{"Remaining": remaining})
	return Verified{Method: MethodBackupCode, BackupCodesRemaining: remaining}, nil
}

func errBackupInvalid() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: CodeCodeInvalid, Message: "The backup code is incorrect or was already used.",
		Fields: map[string]string{"backup_code": "is incorrect or used"}}
}
