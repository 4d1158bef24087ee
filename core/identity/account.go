package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
)

// Me returns the caller's account: the profile Authenticate found in the
// cache, or the database's (then cached for ProfileTTL). Either way the
// returned User has no PasswordHash. A disabled account is refused like a
// revoked session.
func (s *Service) Me(ctx context.Context, p Principal) (*User, error) {
	if p.profile != nil && p.profile.ID == p.UserID {
		u := *p.profile
		return &u, nil
	}
	u, err := s.d.Users.Get(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	s.cacheProfile(ctx, u)
	if u.Disabled() {
		return nil, errSessionRevoked()
	}
	u.PasswordHash = ""
	return u, nil
}

// ProfileUpdate is a partial update of the caller's profile; nil fields
// are left alone. Changing Email needs CurrentPassword and takes effect
// when the link mailed to the new address is followed.
type ProfileUpdate struct {
	DisplayName     *string
	Timezone        *string
	Email           *string
	CurrentPassword *string
}

// UpdateMe applies a profile update and reports whether an email change
// is now pending verification (asked for by this update or an earlier
// one whose link is still good: User.EmailChangePending).
func (s *Service) UpdateMe(ctx context.Context, p Principal, in ProfileUpdate) (*User, bool, error) {
	var name string
	var err error
	if in.DisplayName != nil {
		if name, err = cleanDisplayName(*in.DisplayName); err != nil {
			return nil, false, err
		}
	}
	if in.Timezone != nil {
		if err := checkTimezone(*in.Timezone); err != nil {
			return nil, false, err
		}
	}
	var newEmail string
	if in.Email != nil {
		if newEmail, err = NormalizeEmail("email", *in.Email); err != nil {
			return nil, false, err
		}
		if in.CurrentPassword == nil {
			return nil, false, &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed", Message: "Changing the email address needs your current password.",
				Fields: map[string]string{"current_password": "is required to change the email address"}}
		}
	}
	u, err := s.d.Users.Get(ctx, p.UserID)
	if err != nil {
		return nil, false, err
	}
	pending := false
	if newEmail != "" && EmailKey(newEmail) != EmailKey(u.Email) {
		if err := s.checkCurrentPassword(ctx, u, *in.CurrentPassword); err != nil {
			return nil, false, err
		}
		// The link goes to the new address; whether it is taken shows only
		// when the link is followed, never here: the change is pending
		// either way (User.EmailChangeUntil), with no link for a taken
		// address.
		if _, err := s.d.Users.GetByEmail(ctx, newEmail); apperr.Is(err, apperr.NotFound) {
			if err := s.sendVerification(ctx, u, PurposeEmailChange, newEmail); err != nil {
				return nil, false, err
			}
		}
		until := s.now().Add(s.cfg.VerifyTTL)
		if u, err = s.setEmailChange(ctx, p.UserID, &until); err != nil {
			return nil, false, err
		}
		pending = true
	}
	if newEmail != "" && EmailKey(newEmail) == EmailKey(u.Email) && u.EmailChangeUntil != nil {
		// The current address again: the pending change is called off
		// (its link voided), as if never asked for.
		if err := s.d.EmailTokens.Revoke(ctx, u.ID, []Purpose{PurposeEmailChange}); err != nil {
			return nil, false, err
		}
		if u, err = s.setEmailChange(ctx, p.UserID, nil); err != nil {
			return nil, false, err
		}
	}
	pending = pending || u.EmailChangePending(s.now())
	if in.DisplayName == nil && in.Timezone == nil {
		return u, pending, nil
	}
	var out *User
	update := func(ctx context.Context) error {
		zoneChanged := false
		err := s.d.Users.Update(ctx, p.UserID, func(cur *User) (*User, error) {
			if in.DisplayName != nil {
				cur.DisplayName = name
			}
			if in.Timezone != nil {
				zoneChanged = cur.Timezone != *in.Timezone
				cur.Timezone = *in.Timezone
			}
			out = cur
			return cur, nil
		})
		if err != nil || !zoneChanged || s.d.Zones == nil {
			return err
		}
		return s.d.Zones.UserZoneChanged(ctx, p.UserID)
	}
	if in.Timezone == nil || s.d.Zones == nil {
		err = update(ctx)
		return out, pending, err
	}
	// The trades derived in the user's zone change with it, atomically.
	err = s.d.Tx.Do(ctx, update)
	return out, pending, err
}

// setEmailChange records until when the user's email change is pending
// (nil: none is) and returns the user as stored.
func (s *Service) setEmailChange(ctx context.Context, userID uuid.UUID, until *time.Time) (*User, error) {
	var out *User
	err := s.d.Users.Update(ctx, userID, func(cur *User) (*User, error) {
		cur.EmailChangeUntil = until
		out = cur
		return cur, nil
	})
	return out, err
}

// checkCurrentPassword verifies a re-entered password, with its own
// failure budget per user so that a stolen access token cannot be used to
// guess the password.
func (s *Service) checkCurrentPassword(ctx context.Context, u *User, pw string) error {
	key := "password-check:user:" + u.ID.String()
	r, err := s.d.Limiter.Peek(ctx, key, s.cfg.Limits.PasswordCheck)
	if err != nil {
		return err
	}
	if !r.Allowed {
		return lockedErr(r)
	}
	ok, _, err := s.d.Hasher.Verify(ctx, NormalizePassword(pw), u.PasswordHash)
	if err != nil {
		return err
	}
	if !ok {
		if _, err := s.d.Limiter.Hit(ctx, key, s.cfg.Limits.PasswordCheck); err != nil {
			return err
		}
		s.audit.RecordQuiet(ctx, EventLoginFailed, u.ID, uuid.Nil, map[string]string{"reason": "current_password"})
		return &apperr.Error{Kind: apperr.Invalid, Code: CodeCurrentPasswordBad, Message: "The current password is incorrect.",
			Fields: map[string]string{"current_password": "is incorrect"}}
	}
	return s.d.Limiter.Reset(ctx, key)
}

// ForgotPassword mails a reset link when the address belongs to an active
// account. It always succeeds (no enumeration): the lookup and the mail
// happen after the answer.
func (s *Service) ForgotPassword(ctx context.Context, email string) error {
	if err := s.limit(ctx, ipKey("forgot", ClientMetaFrom(ctx)), s.cfg.Limits.ForgotIP); err != nil {
		return err
	}
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	s.background(ctx, "forgot-password", func(ctx context.Context) {
		u, err := s.d.Users.GetByEmail(ctx, email)
		if err != nil || u.Disabled() || !s.quietLimit(ctx, emailKey("mail-reset", email), s.cfg.Limits.EmailPerAddr) {
			return
		}
		tok, h, err := newSecret()
		if err != nil {
			return
		}
		now := s.now()
		if err := s.d.EmailTokens.Issue(ctx, &EmailToken{Hash: h, UserID: u.ID, Purpose: PurposePasswordReset, Email: u.Email, CreatedAt: now, ExpiresAt: now.Add(s.cfg.ResetTTL)}); err != nil {
			s.d.Log.ErrorContext(ctx, "identity: reset token not stored", "error", err)
			return
		}
		s.audit.RecordQuiet(ctx, EventPasswordResetRequest, u.ID, uuid.Nil, nil)
		s.audit.Mail(ctx, u.Email, TemplatePasswordReset, idemKey("reset", hashID(h)), map[string]any{
			"DisplayName": u.DisplayName, "Link": s.link("/reset-password", tok), "ExpiresInMinutes": int(s.cfg.ResetTTL.Minutes()),
			"MFARequired": u.MFAEnabled,
		})
	})
	return nil
}

// ResetPassword sets a new password with a reset token, ends every
// session and notifies the user. With MFA on it also needs a second
// factor, checked before the token is spent.
func (s *Service) ResetPassword(ctx context.Context, token, newPassword string, f ResetFactor) error {
	if err := s.limit(ctx, ipKey("reset", ClientMetaFrom(ctx)), s.cfg.Limits.ResetIP); err != nil {
		return err
	}
	tok, ok := ParseOpaqueToken(token)
	if !ok {
		return errTokenInvalid()
	}
	h := hashSecret(tok)
	now := s.now()
	t, err := s.d.EmailTokens.Get(ctx, h, []Purpose{PurposePasswordReset}, now)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return errTokenInvalid()
		}
		return err
	}
	u, err := s.d.Users.Get(ctx, t.UserID)
	if err != nil {
		return err
	}
	if u.Disabled() {
		return errTokenInvalid()
	}
	pw, err := s.d.Policy.Check("new_password", newPassword, u.Email)
	if err != nil {
		return err
	}
	if u.MFAEnabled {
		if s.d.SecondFactor == nil {
			return apperr.New(apperr.Unavailable, CodeMFAUnavailable, "Second-factor verification is unavailable; try again later.")
		}
		if f.Empty() {
			return &apperr.Error{Kind: apperr.Invalid, Code: CodeMFARequired, Message: "This account has two-factor authentication: include a code from your app or a backup code.",
				Fields: map[string]string{"code": "is required"}}
		}
		if err := s.d.SecondFactor.VerifyForReset(ctx, u, f); err != nil {
			return err
		}
	}
	hash, err := s.d.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	var revoked []uuid.UUID
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if _, err := s.d.EmailTokens.Consume(ctx, h, []Purpose{PurposePasswordReset}, now); err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return errTokenInvalid()
			}
			return err
		}
		if err := s.d.Users.Update(ctx, u.ID, func(cur *User) (*User, error) {
			cur.PasswordHash = hash
			if cur.EmailVerifiedAt == nil && EmailKey(cur.Email) == EmailKey(t.Email) {
				cur.EmailVerifiedAt = &now // following the mailed link proves the address
			}
			return cur, nil
		}); err != nil {
			return err
		}
		var err error
		if revoked, err = s.d.Sessions.Revoke(ctx, u.ID, nil, uuid.Nil, now, "password_reset"); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventPasswordReset, u.ID, uuid.Nil, nil)
	})
	if err != nil {
		return err
	}
	s.sessionsEnded(ctx, u.ID, "password_reset", revoked)
	_ = s.d.Limiter.Reset(ctx, emailKey("login", u.Email))
	s.audit.Mail(ctx, u.Email, TemplatePasswordChanged, idemKey("pw-changed", u.ID.String(), now.Format("20060102150405")), map[string]any{
		"DisplayName": u.DisplayName, "Reset": true, "IP": ClientMetaFrom(ctx).IP, "ForgotLink": s.cfg.PublicURL + "/forgot-password",
	})
	return nil
}

// ChangePassword replaces the caller's password, ends their other
// sessions and notifies them.
func (s *Service) ChangePassword(ctx context.Context, p Principal, current, next string) error {
	u, err := s.d.Users.Get(ctx, p.UserID)
	if err != nil {
		return err
	}
	if err := s.checkCurrentPassword(ctx, u, current); err != nil {
		return err
	}
	pw, err := s.d.Policy.Check("new_password", next, u.Email)
	if err != nil {
		return err
	}
	hash, err := s.d.Hasher.Hash(ctx, pw)
	if err != nil {
		return err
	}
	now := s.now()
	var revoked []uuid.UUID
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Update(ctx, u.ID, func(cur *User) (*User, error) {
			cur.PasswordHash = hash
			return cur, nil
		}); err != nil {
			return err
		}
		var err error
		if revoked, err = s.d.Sessions.Revoke(ctx, u.ID, nil, p.SessionID, now, "password_changed"); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventPasswordChanged, u.ID, p.SessionID, nil)
	})
	if err != nil {
		return err
	}
	s.sessionsEnded(ctx, u.ID, "password_changed", revoked)
	s.audit.Mail(ctx, u.Email, TemplatePasswordChanged, idemKey("pw-changed", u.ID.String(), now.Format("20060102150405")), map[string]any{
		"DisplayName": u.DisplayName, "Reset": false, "IP": ClientMetaFrom(ctx).IP, "ForgotLink": s.cfg.PublicURL + "/forgot-password",
	})
	return nil
}

// Sessions lists the caller's active sessions.
func (s *Service) Sessions(ctx context.Context, p Principal) ([]Session, error) {
	return s.d.Sessions.ListActive(ctx, p.UserID, s.now())
}

// RevokeSession ends one of the caller's sessions. Another user's session
// is reported as not found, exactly like one that does not exist.
func (s *Service) RevokeSession(ctx context.Context, p Principal, id uuid.UUID) error {
	ids, err := s.d.Sessions.Revoke(ctx, p.UserID, []uuid.UUID{id}, uuid.Nil, s.now(), "revoked_by_user")
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return apperr.New(apperr.NotFound, CodeSessionNotFound, "No such session.")
	}
	s.sessionsEnded(ctx, p.UserID, "revoked_by_user", ids)
	s.audit.RecordQuiet(ctx, EventSessionRevoked, p.UserID, id, nil)
	return nil
}

// RevokeOtherSessions ends every session of the caller but the current
// one and returns how many.
func (s *Service) RevokeOtherSessions(ctx context.Context, p Principal) (int, error) {
	ids, err := s.d.Sessions.Revoke(ctx, p.UserID, nil, p.SessionID, s.now(), "revoked_by_user")
	if err != nil {
		return 0, err
	}
	s.sessionsEnded(ctx, p.UserID, "revoked_by_user", ids)
	for _, id := range ids {
		s.audit.RecordQuiet(ctx, EventSessionRevoked, p.UserID, id, nil)
	}
	return len(ids), nil
}

// maxPage bounds page sizes.
const maxPage = 200

func pageSize(n int) int {
	switch {
	case n <= 0:
		return 50
	case n > maxPage:
		return maxPage
	}
	return n
}

// Events returns the caller's security events, newest first.
func (s *Service) Events(ctx context.Context, p Principal, before uuid.UUID, limit int) ([]Event, error) {
	return s.d.Events.List(ctx, EventQuery{UserID: p.UserID, Before: before, Limit: pageSize(limit)})
}

// ---- administration ----

func requireAdmin(p Principal) error {
	if !p.IsAdmin() {
		return apperr.New(apperr.Forbidden, CodeForbidden, "This needs the admin role.")
	}
	return nil
}

// ListUsers is the admin listing.
func (s *Service) ListUsers(ctx context.Context, p Principal, q UserQuery) ([]User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	q.Limit = pageSize(q.Limit)
	q.EmailContains = strings.TrimSpace(q.EmailContains)
	return s.d.Users.List(ctx, q)
}

// UserEvents is the admin view of one user's audit log. An unknown user
// is apperr.NotFound (code user_not_found), as on the other admin routes,
// not an empty list.
func (s *Service) UserEvents(ctx context.Context, p Principal, userID, before uuid.UUID, limit int) ([]Event, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if _, err := s.d.Users.Get(ctx, userID); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, apperr.Wrap(err, apperr.NotFound, CodeUserNotFound, "No such user.")
		}
		return nil, fmt.Errorf("user events of %s: %w", userID, err)
	}
	return s.d.Events.List(ctx, EventQuery{UserID: userID, Before: before, Limit: pageSize(limit)})
}

// DisableUser disables an account and ends all its sessions.
func (s *Service) DisableUser(ctx context.Context, p Principal, id uuid.UUID) (*User, error) {
	if err := requireAdmin(p); err != nil {
		return nil, err
	}
	if id == p.UserID {
		return nil, apperr.New(apperr.Invalid, CodeCannotDisableSelf, "Admins cannot disable their own account.")
	}
	now := s.now()
	var out *User
	var revoked []uuid.UUID
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		err := s.d.Users.Update(ctx, id, func(u *User) (*User, error) {
			if u.DisabledAt == nil {
				u.DisabledAt = &now
			}
			out = u
			return u, nil
		})
		if err != nil {
			return err
		}
		if revoked, err = s.d.Sessions.Revoke(ctx, id, nil, uuid.Nil, now, "user_disabled"); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventUserDisabled, id, uuid.Nil, map[string]string{"by": p.UserID.String()})
	})
	if err != nil {
		return nil, err
	}
	s.sessionsEnded(ctx, id, "user_disabled", revoked)
	return out, nil
}

// CreateUser is the operator's bootstrap (CLI): a verified account with
// the given role.
func (s *Service) CreateUser(ctx context.Context, email, password string, role Role) (*User, error) {
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return nil, err
	}
	if !role.Valid() {
		return nil, apperr.New(apperr.Invalid, "role_invalid", "The role must be user or admin.")
	}
	pw, err := s.d.Policy.Check("password", password, email)
	if err != nil {
		return nil, err
	}
	hash, err := s.d.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{Email: email, PasswordHash: hash, Role: role, EmailVerifiedAt: &now, CreatedAt: now, UpdatedAt: now}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventRegistered, u.ID, uuid.Nil, map[string]string{"via": "cli", "role": string(role)})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SetRole changes a user's role (CLI) and ends their sessions, so that
// tokens carrying the old role stop working.
func (s *Service) SetRole(ctx context.Context, email string, role Role) (*User, error) {
	if !role.Valid() {
		return nil, apperr.New(apperr.Invalid, "role_invalid", "The role must be user or admin.")
	}
	u, err := s.d.Users.GetByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out *User
	var revoked []uuid.UUID
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Update(ctx, u.ID, func(cur *User) (*User, error) {
			cur.Role = role
			out = cur
			return cur, nil
		}); err != nil {
			return err
		}
		var err error
		if u.Role != role {
			if revoked, err = s.d.Sessions.Revoke(ctx, u.ID, nil, uuid.Nil, now, "role_changed"); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, EventRoleChanged, u.ID, uuid.Nil, map[string]string{"role": string(role), "via": "cli"})
	})
	if err != nil {
		return nil, err
	}
	s.sessionsEnded(ctx, u.ID, "role_changed", revoked)
	return out, nil
}
