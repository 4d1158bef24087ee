package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

func profileOf(c Claims) Profile {
	return Profile{Email: c.Email, EmailVerified: c.EmailVerified, DisplayName: c.Name, AvatarURL: c.AvatarURL, Claims: c.Extra}
}

// vouches reports whether the provider verified the very address of u.
func vouches(c Claims, u *identity.User) bool {
	return c.EmailVerified && c.Email != "" && identity.EmailKey(c.Email) == identity.EmailKey(u.Email)
}

// signIn finds or makes the account behind verified claims (see the
// package comment for the rules). A first login racing another one of
// the same identity or address is resolved by looking again once.
func (s *Service) signIn(ctx context.Context, provider string, c Claims) (*identity.User, error) {
	u, err := s.signInOnce(ctx, provider, c)
	if e, ok := apperr.As(err); ok && e.Kind == apperr.Conflict && (e.Code == CodeIdentityTaken || e.Code == identity.CodeEmailTaken) {
		u, err = s.signInOnce(ctx, provider, c)
	}
	return u, err
}

func (s *Service) signInOnce(ctx context.Context, provider string, c Claims) (*identity.User, error) {
	now := s.now()
	ident, err := s.d.Identities.GetBySubject(ctx, c.Issuer, c.Subject)
	switch {
	case err == nil:
		return s.signInKnown(ctx, ident, c, now)
	case !apperr.Is(err, apperr.NotFound):
		return nil, err
	}
	if c.Email == "" {
		return nil, apperr.New(apperr.Invalid, CodeEmailMissing, "The provider did not share an email address. Allow it to, or sign in another way.")
	}
	email, err := identity.NormalizeEmail("email", c.Email)
	if err != nil {
		return nil, err
	}
	c.Email = email
	existing, err := s.d.Users.GetByEmail(ctx, email)
	switch {
	case apperr.Is(err, apperr.NotFound):
		return s.createAccount(ctx, provider, c, now)
	case err != nil:
		return nil, err
	case existing.Disabled():
		return nil, errDisabled()
	case !c.EmailVerified:
		s.recordQuiet(ctx, EventLinkRefused, existing.ID, map[string]string{detailProvider: provider, detailReason: linkRefusedUnverified})
		return nil, apperr.New(apperr.Conflict, CodeAccountExists,
			"An account with this email already exists. Sign in as you did before, then link this provider from your account settings.")
	}
	return s.linkByEmail(ctx, provider, c, existing, now)
}

// signInKnown signs in through an identity linked before.
func (s *Service) signInKnown(ctx context.Context, ident *Identity, c Claims, now time.Time) (*identity.User, error) {
	u, err := s.d.Users.Get(ctx, ident.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, errDisabled()
	}
	if !ident.Confirmed && u.EmailVerified() && u.EmailVerifiedAt.After(ident.CreatedAt) && !vouches(c, u) {
		// The account was made from an address the provider did not
		// verify, and someone proved the address since: only the owner,
		// signed in, may vouch for this identity again.
		s.recordQuiet(ctx, EventLinkRefused, u.ID, map[string]string{detailProvider: ident.Provider, detailReason: linkRefusedUnconfirmed})
		return nil, apperr.New(apperr.Forbidden, CodeIdentityStale,
			"Sign in with your email and password, then link this provider again from your account settings.")
	}
	ident.Profile = profileOf(c)
	ident.LastLoginAt = now
	if !ident.Confirmed && u.EmailVerified() && vouches(c, u) {
		ident.Confirmed = true
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Identities.Update(ctx, ident); err != nil {
			return err
		}
		return s.record(ctx, EventLogin, u.ID, map[string]string{detailProvider: ident.Provider, detailHow: howExisting})
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// createAccount makes a new account for an address nobody has, with the
// address verified only when the provider verified it. The user and the
// identity are written in one transaction: a failure leaves neither.
func (s *Service) createAccount(ctx context.Context, provider string, c Claims, now time.Time) (*identity.User, error) {
	u := &identity.User{Email: c.Email, DisplayName: c.Name, Role: identity.RoleUser, CreatedAt: now, UpdatedAt: now}
	if c.EmailVerified {
		u.EmailVerifiedAt = &now
	}
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		ident := &Identity{UserID: u.ID, Provider: provider, Issuer: c.Issuer, Subject: c.Subject, Profile: profileOf(c),
			Confirmed: c.EmailVerified, CreatedAt: now, LastLoginAt: now}
		if err := s.d.Identities.Create(ctx, ident); err != nil {
			return err
		}
		if err := s.record(ctx, identity.EventRegistered, u.ID, map[string]string{"via": "oauth", detailProvider: provider}); err != nil {
			return err
		}
		if err := s.record(ctx, EventIdentityLinked, u.ID, map[string]string{detailProvider: provider, detailHow: howNewAccount}); err != nil {
			return err
		}
		return s.record(ctx, EventLogin, u.ID, map[string]string{detailProvider: provider, detailHow: howNewAccount})
	})
	if err != nil {
		return nil, err
	}
	if c.EmailVerified {
		s.mail(ctx, u, identity.TemplateWelcome, "welcome:"+u.ID.String(), map[string]any{})
	}
	return u, nil
}

// linkByEmail links a provider account whose verified address is an
// existing account's. An account whose address was never verified gets
// the pre-hijack defence in the same transaction.
func (s *Service) linkByEmail(ctx context.Context, provider string, c Claims, existing *identity.User, now time.Time) (*identity.User, error) {
	preHijack := !existing.EmailVerified()
	how := howAuto
	if preHijack {
		how = howVerifiedByProvider
	}
	out := existing
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		ident := &Identity{UserID: existing.ID, Provider: provider, Issuer: c.Issuer, Subject: c.Subject, Profile: profileOf(c),
			Confirmed: true, CreatedAt: now, LastLoginAt: now}
		if err := s.d.Identities.Create(ctx, ident); err != nil {
			if apperr.CodeOf(err) == CodeProviderAlreadyLinked {
				return errAlreadyLinked()
			}
			return err
		}
		details := map[string]string{detailProvider: provider, detailHow: how}
		if preHijack {
			err := s.d.Users.Update(ctx, existing.ID, func(cur *identity.User) (*identity.User, error) {
				cur.PasswordHash = ""
				if cur.EmailVerifiedAt == nil && identity.EmailKey(cur.Email) == identity.EmailKey(c.Email) {
					cur.EmailVerifiedAt = &now
				}
				out = cur
				return cur, nil
			})
			if err != nil {
				return err
			}
			if _, err := s.d.Accounts.RevokeAccess(ctx, existing.ID, reasonPreHijack); err != nil {
				return err
			}
			details["password_removed"] = "true"
		}
		if err := s.record(ctx, EventIdentityLinked, existing.ID, details); err != nil {
			return err
		}
		return s.record(ctx, EventLogin, existing.ID, map[string]string{detailProvider: provider, detailHow: how})
	})
	if err != nil {
		return nil, err
	}
	name := s.displayName(provider)
	if preHijack {
		s.mail(ctx, out, TemplatePasswordRemoved, "oauth-prehijack:"+existing.ID.String()+":"+provider, map[string]any{
			"Provider": name, "ForgotLink": s.cfg.PublicURL + "/forgot-password"})
	} else {
		s.mail(ctx, out, TemplateIdentityLinked, "oauth-linked:"+existing.ID.String()+":"+provider+":"+now.Format("20060102150405"), map[string]any{"Provider": name})
	}
	return out, nil
}

func errAlreadyLinked() error {
	return apperr.New(apperr.Conflict, CodeAlreadyLinked, "Another account of this provider is linked already; unlink it first.")
}

// ---- linking from the settings ----

// LinkRequest starts a link flow: the start parameters and, when the
// session is older than RecentLogin, the password re-entered.
type LinkRequest struct {
	StartRequest
	Password string
}

// StartLink begins a flow that links a provider account to the caller's
// (POST /auth/identities/{provider}). Beyond Start's errors it fails with
// apperr.Forbidden "reauthentication_required" (session older than
// RecentLogin and no password), the password check's errors,
// apperr.Forbidden "email_unverified", or apperr.Conflict
// "oauth_provider_already_linked".
func (s *Service) StartLink(ctx context.Context, p identity.Principal, req LinkRequest) (*Started, error) {
	u, err := s.fresh(ctx, p, req.Password)
	if err != nil {
		return nil, err
	}
	if !u.EmailVerified() {
		return nil, errUnverified()
	}
	if _, ok := s.d.Providers.Lookup(req.Provider); ok {
		list, err := s.d.Identities.ListByUser(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, i := range list {
			if i.Provider == req.Provider {
				return nil, errAlreadyLinked()
			}
		}
	}
	return s.start(ctx, req.StartRequest, IntentLink, u.ID, p.SessionID)
}

func errUnverified() error {
	return apperr.New(apperr.Forbidden, CodeEmailUnverified, "Verify your email address first.")
}

// fresh returns the caller's account when their session is younger than
// RecentLogin or password is theirs.
func (s *Service) fresh(ctx context.Context, p identity.Principal, password string) (*identity.User, error) {
	sess, err := s.d.Sessions.Get(ctx, p.SessionID)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errSessionRevoked()
	}
	if err != nil {
		return nil, err
	}
	if sess.UserID != p.UserID || sess.RevokedAt != nil {
		return nil, errSessionRevoked()
	}
	u, err := s.d.Users.Get(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	if u.Disabled() {
		return nil, errSessionRevoked()
	}
	if s.now().Sub(sess.CreatedAt) <= s.cfg.RecentLogin {
		return u, nil
	}
	if password == "" {
		return nil, &apperr.Error{Kind: apperr.Forbidden, Code: CodeReauthRequired,
			Message: fmt.Sprintf("This needs a sign-in from the last %d minutes, or your password.", int(s.cfg.RecentLogin.Minutes())),
			Fields:  map[string]string{"password": "is required"}}
	}
	if err := s.d.Accounts.ConfirmPassword(ctx, p, password); err != nil {
		return nil, err
	}
	return u, nil
}

func errSessionRevoked() error {
	return apperr.New(apperr.Unauthenticated, identity.CodeSessionRevoked, "This session has ended. Sign in again.")
}

// completeLink finishes a link flow at the callback.
func (s *Service) completeLink(ctx context.Context, st *flowState, c Claims) error {
	sess, err := s.d.Sessions.Get(ctx, st.SessionID)
	if err != nil && !apperr.Is(err, apperr.NotFound) {
		return err
	}
	if err != nil || sess.RevokedAt != nil || sess.UserID != st.UserID {
		return errSessionRevoked()
	}
	u, err := s.d.Users.Get(ctx, st.UserID)
	if err != nil {
		return err
	}
	switch {
	case u.Disabled():
		return errDisabled()
	case !u.EmailVerified():
		return errUnverified()
	}
	now := s.now()
	ident, err := s.d.Identities.GetBySubject(ctx, c.Issuer, c.Subject)
	switch {
	case err == nil && ident.UserID != u.ID:
		s.recordQuiet(ctx, EventLinkRefused, u.ID, map[string]string{detailProvider: st.Provider, detailReason: linkRefusedTaken})
		return apperr.New(apperr.Conflict, CodeIdentityInUse, "This provider account is linked to another account.")
	case err == nil: // linked already: the owner vouches for it again
		ident.Profile, ident.LastLoginAt, ident.Confirmed = profileOf(c), now, true
		return s.d.Tx.Do(ctx, func(ctx context.Context) error {
			if err := s.d.Identities.Update(ctx, ident); err != nil {
				return err
			}
			return s.record(ctx, EventIdentityLinked, u.ID, map[string]string{detailProvider: st.Provider, detailHow: howSettings, "again": "true"})
		})
	case !apperr.Is(err, apperr.NotFound):
		return err
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		ident := &Identity{UserID: u.ID, Provider: st.Provider, Issuer: c.Issuer, Subject: c.Subject, Profile: profileOf(c),
			Confirmed: true, CreatedAt: now, LastLoginAt: now}
		if err := s.d.Identities.Create(ctx, ident); err != nil {
			switch apperr.CodeOf(err) {
			case CodeProviderAlreadyLinked:
				return errAlreadyLinked()
			case CodeIdentityTaken:
				return apperr.New(apperr.Conflict, CodeIdentityInUse, "This provider account is linked to another account.")
			}
			return err
		}
		return s.record(ctx, EventIdentityLinked, u.ID, map[string]string{detailProvider: st.Provider, detailHow: howSettings})
	})
	if err != nil {
		return err
	}
	s.mail(ctx, u, TemplateIdentityLinked, "oauth-linked:"+u.ID.String()+":"+st.Provider+":"+now.Format("20060102150405"),
		map[string]any{"Provider": s.displayName(st.Provider)})
	return nil
}

// Identities lists the caller's identities (GET /auth/identities).
func (s *Service) Identities(ctx context.Context, p identity.Principal) ([]Identity, error) {
	return s.d.Identities.ListByUser(ctx, p.UserID)
}

// Unlink removes one of the caller's identities (DELETE
// /auth/identities/{id}). Another user's identity answers apperr.NotFound
// "identity_not_found", like a missing one. Beyond fresh's errors it
// fails with apperr.Conflict "last_sign_in_method" when the identity is
// the account's only way to sign in (no password, no other identity),
// decided under the user's row lock.
func (s *Service) Unlink(ctx context.Context, p identity.Principal, id uuid.UUID, password string) error {
	if _, err := s.fresh(ctx, p, password); err != nil {
		return err
	}
	var removed Identity
	var u *identity.User
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		return s.d.Users.Update(ctx, p.UserID, func(cur *identity.User) (*identity.User, error) {
			list, err := s.d.Identities.ListByUser(ctx, p.UserID)
			if err != nil {
				return nil, err
			}
			found := false
			for _, i := range list {
				if i.ID == id {
					removed, found = i, true
				}
			}
			if !found {
				return nil, apperr.New(apperr.NotFound, CodeIdentityNotFound, "No such linked account.")
			}
			if len(list) == 1 && cur.PasswordHash == "" {
				return nil, apperr.New(apperr.Conflict, CodeLastSignInMethod,
					"This is the only way to sign in to your account. Set a password (through password reset) or link another provider first.")
			}
			ok, err := s.d.Identities.Delete(ctx, p.UserID, id)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, apperr.New(apperr.NotFound, CodeIdentityNotFound, "No such linked account.")
			}
			if err := s.record(ctx, EventIdentityUnlinked, p.UserID, map[string]string{detailProvider: removed.Provider}); err != nil {
				return nil, err
			}
			u = cur
			return cur, nil
		})
	})
	if err != nil {
		return err
	}
	s.mail(ctx, u, TemplateIdentityUnlinked, "oauth-unlinked:"+removed.ID.String(), map[string]any{"Provider": s.displayName(removed.Provider)})
	return nil
}
