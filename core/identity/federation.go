package identity

import (
	"context"

	"github.com/google/uuid"
)

// The methods below serve sign-in modules outside this package (OAuth,
// core/oauth) that need identity's session and password rules without
// its internals.

// RevokeAccess ends every session of userID with reason and voids every
// link mailed to the account (password reset, verification, email
// change): it removes whatever foothold someone other than the owner may
// have. It records a session_revoked event per session and writes the
// revocation entries, so that the sessions' access tokens are refused at
// once. Called inside a unit of work it takes part in it, and the
// revocation entries are written once that unit commits (uow.AfterCommit):
// a rollback leaves every session as it was, access tokens included.
func (s *Service) RevokeAccess(ctx context.Context, userID uuid.UUID, reason string) (int, error) {
	if err := s.d.EmailTokens.Revoke(ctx, userID, []Purpose{PurposePasswordReset, PurposeVerifyEmail, PurposeEmailChange}); err != nil {
		return 0, err
	}
	// The email change's link is void: the change no longer waits.
	if u, err := s.d.Users.Get(ctx, userID); err != nil {
		return 0, err
	} else if u.EmailChangeUntil != nil {
		if _, err := s.setEmailChange(ctx, userID, nil); err != nil {
			return 0, err
		}
	}
	ids, err := s.d.Sessions.Revoke(ctx, userID, nil, uuid.Nil, s.now(), reason)
	if err != nil {
		return 0, err
	}
	s.sessionsEnded(ctx, userID, reason, ids)
	for _, id := range ids {
		s.audit.RecordQuiet(ctx, EventSessionRevoked, userID, id, map[string]string{"reason": reason})
	}
	return len(ids), nil
}

// ConfirmPassword checks a password the caller re-entered (step-up before
// a sensitive change) under the same per-user failure budget as the
// password and email changes. It fails with apperr.Invalid
// "current_password_invalid" (field current_password), apperr.RateLimited
// "account_locked", or, for an account without a password, the same
// Invalid error.
func (s *Service) ConfirmPassword(ctx context.Context, p Principal, password string) error {
	u, err := s.d.Users.Get(ctx, p.UserID)
	if err != nil {
		return err
	}
	return s.checkCurrentPassword(ctx, u, password)
}
