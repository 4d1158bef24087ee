package mfa

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// Enrolment: MFA turned on (a pending secret confirmed by a first code)
// and off.

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
	return s.confirmEnrolment(ctx, userID, code, nil)
}

// withChange is work a flow adds to the transaction of an MFA change,
// ahead of the change's own writes: Flows end the caller's other sessions
// there. The change and the sessions' end then commit together or not at
// all, and what identity registers after their commit (their devices
// disconnected, then security.session_revoked) runs before
// security.mfa_changed and before the notice mail is queued, so those
// devices receive neither (docs/realtime.md: "disconnected first"). An
// error rolls the change back.
type withChange func(ctx context.Context) error

func (w withChange) run(ctx context.Context) error {
	if w == nil {
		return nil
	}
	return w(ctx)
}

func (s *Service) confirmEnrolment(ctx context.Context, userID uuid.UUID, code string, with withChange) ([]string, error) {
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
		if step, ok, err = s.cfg.TOTP.Match(secret, c, time.Now()); err != nil {
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
		if err := with.run(ctx); err != nil {
			return err
		}
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
		s.changed(ctx, userID, "enabled")
		return s.audit.Record(ctx, EventEnrolled, userID, uuid.Nil, nil)
	})
	if err != nil {
		return nil, err
	}
	s.resetFailures(ctx, userID)
	s.notify(ctx, u, TemplateEnabled, "mfa-enabled:"+userID.String()+":"+now.Format("20060102150405"), nil)
	return shown, nil
}

// Disable turns MFA off after the password and a second factor. Fails
// with apperr.Invalid "current_password_invalid" (field "password"),
// "mfa_not_enabled", the verification errors, or apperr.RateLimited.
func (s *Service) Disable(ctx context.Context, userID uuid.UUID, password string, a Answer) error {
	return s.disable(ctx, userID, password, a, nil)
}

func (s *Service) disable(ctx context.Context, userID uuid.UUID, password string, a Answer, with withChange) error {
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
		if err := with.run(ctx); err != nil {
			return err
		}
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
		s.changed(ctx, userID, "disabled")
		return s.audit.Record(ctx, EventDisabled, userID, uuid.Nil, nil)
	})
	if err != nil {
		return err
	}
	s.notify(ctx, u, TemplateDisabled, "mfa-disabled:"+userID.String()+":"+s.now().Format("20060102150405"), nil)
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
		s.audit.RecordQuiet(ctx, identity.EventLoginFailed, u.ID, uuid.Nil, map[string]string{"reason": "password", "purpose": "mfa_disable"})
		return &apperr.Error{Kind: apperr.Invalid, Code: identity.CodeCurrentPasswordBad, Message: "The password is incorrect.",
			Fields: map[string]string{"password": "is incorrect"}}
	}
	return s.d.Limiter.Reset(ctx, key)
}

// encVersion is the first byte of the short-lived values (the pending
// enrolment here, the login challenge in login.go).
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
