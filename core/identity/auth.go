package identity

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// TokenPair is what a login or a refresh returns.
type TokenPair struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
	User         *User
	SessionID    uuid.UUID
}

// LoginResult is either tokens or, when the user has MFA on, a challenge.
type LoginResult struct {
	Tokens *TokenPair
	MFA    *MFAChallenge
}

// RegisterInput is the body of a registration.
type RegisterInput struct {
	Email       string
	Password    string
	DisplayName string
}

// Register creates an unverified account and mails a verification link.
// For an address already registered it mails that address a "someone
// tried to register" notice instead and answers exactly as for a new one:
// the same work (one argon2id hash, one write attempt, one mail) and a
// user of the same shape with a random ID.
func (s *Service) Register(ctx context.Context, in RegisterInput) (*User, error) {
	meta := ClientMetaFrom(ctx)
	if err := s.limit(ctx, ipKey("register", meta), s.cfg.Limits.RegisterIP); err != nil {
		return nil, err
	}
	email, err := NormalizeEmail("email", in.Email)
	if err != nil {
		return nil, err
	}
	name, err := cleanDisplayName(in.DisplayName)
	if err != nil {
		return nil, err
	}
	pw, err := s.d.Policy.Check("password", in.Password, email)
	if err != nil {
		return nil, err
	}
	hash, err := s.d.Hasher.Hash(ctx, pw)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	now := s.now()
	u := &User{ID: id, Email: email, DisplayName: name, PasswordHash: hash, Role: RoleUser, CreatedAt: now, UpdatedAt: now}
	tok, tokHash, err := newSecret()
	if err != nil {
		return nil, err
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.Users.Create(ctx, u); err != nil {
			return err
		}
		if err := s.d.EmailTokens.Issue(ctx, &EmailToken{Hash: tokHash, UserID: u.ID, Purpose: PurposeVerifyEmail, Email: email, CreatedAt: now, ExpiresAt: now.Add(s.cfg.VerifyTTL)}); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventRegistered, u.ID, uuid.Nil, nil)
	})
	public := &User{ID: u.ID, Email: email, DisplayName: name, Role: RoleUser, CreatedAt: now, UpdatedAt: now}
	switch {
	case err == nil:
		s.audit.Mail(ctx, email, TemplateVerifyEmail, idemKey("verify", hashID(tokHash)), map[string]any{
			"DisplayName": name, "Link": s.link("/verify-email", tok), "ExpiresInHours": int(s.cfg.VerifyTTL.Hours()), "EmailChange": false,
		})
		return public, nil
	case apperr.Is(err, apperr.Conflict):
		if existing, gerr := s.d.Users.GetByEmail(ctx, email); gerr == nil && s.quietLimit(ctx, emailKey("mail-register", email), s.cfg.Limits.EmailPerAddr) {
			s.audit.Mail(ctx, existing.Email, TemplateRegisterAttempt, idemKey("register-attempt", existing.ID.String(), now.Format("2006010215")), map[string]any{
				"DisplayName": existing.DisplayName, "ResetLink": s.cfg.PublicURL + "/forgot-password", "IP": meta.IP,
			})
		}
		return public, nil
	default:
		return nil, err
	}
}

func (s *Service) link(path, tok string) string { return s.cfg.PublicURL + path + "?token=" + tok }

// VerifyEmail consumes a verification (or email-change) token.
func (s *Service) VerifyEmail(ctx context.Context, token string) (*User, error) {
	if err := s.limit(ctx, ipKey("verify", ClientMetaFrom(ctx)), s.cfg.Limits.VerifyIP); err != nil {
		return nil, err
	}
	tok, ok := ParseOpaqueToken(token)
	if !ok {
		return nil, errTokenInvalid()
	}
	now := s.now()
	var out *User
	var welcome bool
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		t, err := s.d.EmailTokens.Consume(ctx, hashSecret(tok), []Purpose{PurposeVerifyEmail, PurposeEmailChange}, now)
		if apperr.Is(err, apperr.NotFound) {
			return errTokenInvalid()
		}
		if err != nil {
			return err
		}
		err = s.d.Users.Update(ctx, t.UserID, func(u *User) (*User, error) {
			switch t.Purpose {
			case PurposeEmailChange:
				u.Email, u.EmailChangeUntil = t.Email, nil
			default:
				if EmailKey(u.Email) != EmailKey(t.Email) {
					return nil, errTokenInvalid() // the address changed since
				}
				welcome = u.EmailVerifiedAt == nil
			}
			if u.EmailVerifiedAt == nil || t.Purpose == PurposeEmailChange {
				u.EmailVerifiedAt = &now
			}
			out = u
			return u, nil
		})
		if apperr.Is(err, apperr.Conflict) {
			return apperr.Wrap(err, apperr.Conflict, CodeEmailChangeConflict, "The email address could not be changed.")
		}
		if err != nil {
			return err
		}
		typ := EventEmailVerified
		if t.Purpose == PurposeEmailChange {
			typ = EventEmailChanged
			// Links mailed to the old address (a reset, a pending
			// verification) must not outlive the change: the old mailbox
			// may be why the user moved.
			if err := s.d.EmailTokens.Revoke(ctx, t.UserID, []Purpose{PurposePasswordReset, PurposeVerifyEmail, PurposeEmailChange}); err != nil {
				return err
			}
		}
		return s.audit.Record(ctx, typ, t.UserID, uuid.Nil, nil)
	})
	if err != nil {
		return nil, err
	}
	if welcome {
		s.audit.Mail(ctx, out.Email, TemplateWelcome, idemKey("welcome", out.ID.String()), map[string]any{"DisplayName": out.DisplayName})
	}
	return out, nil
}

func errTokenInvalid() error {
	return apperr.New(apperr.Invalid, CodeTokenInvalid, "The link is invalid or has expired. Ask for a new one.")
}

// ResendVerification mails a new verification link when the address
// belongs to an unverified account. It always succeeds (no enumeration):
// the lookup and the mail happen after the answer.
func (s *Service) ResendVerification(ctx context.Context, email string) error {
	if err := s.limit(ctx, ipKey("resend", ClientMetaFrom(ctx)), s.cfg.Limits.ResendIP); err != nil {
		return err
	}
	email, err := NormalizeEmail("email", email)
	if err != nil {
		return err
	}
	s.background(ctx, "resend-verification", func(ctx context.Context) {
		u, err := s.d.Users.GetByEmail(ctx, email)
		if err != nil || u.EmailVerified() || u.Disabled() || !s.quietLimit(ctx, emailKey("mail-verify", email), s.cfg.Limits.EmailPerAddr) {
			return
		}
		if err := s.sendVerification(ctx, u, PurposeVerifyEmail, u.Email); err != nil {
			s.d.Log.ErrorContext(ctx, "identity: resend verification failed", "error", err)
		}
	})
	return nil
}

func (s *Service) sendVerification(ctx context.Context, u *User, purpose Purpose, to string) error {
	tok, h, err := newSecret()
	if err != nil {
		return err
	}
	now := s.now()
	if err := s.d.EmailTokens.Issue(ctx, &EmailToken{Hash: h, UserID: u.ID, Purpose: purpose, Email: to, CreatedAt: now, ExpiresAt: now.Add(s.cfg.VerifyTTL)}); err != nil {
		return err
	}
	s.audit.Mail(ctx, to, TemplateVerifyEmail, idemKey("verify", hashID(h)), map[string]any{
		"DisplayName": u.DisplayName, "Link": s.link("/verify-email", tok), "ExpiresInHours": int(s.cfg.VerifyTTL.Hours()),
		"EmailChange": purpose == PurposeEmailChange,
	})
	return nil
}

// Login checks a password and opens a session, or, for a user with MFA on,
// returns the second-factor challenge.
func (s *Service) Login(ctx context.Context, email, password string) (LoginResult, error) {
	meta := ClientMetaFrom(ctx)
	if err := s.limit(ctx, ipKey("login", meta), s.cfg.Limits.LoginIP); err != nil {
		return LoginResult{}, err
	}
	// The attempt is counted before the password is checked, and the
	// counter reset on success: counting only failures would let a burst of
	// parallel guesses all pass the check before the first failure lands.
	acct := emailKey("login", email)
	attempt, err := s.d.Limiter.Hit(ctx, acct, s.cfg.Limits.LoginAccount)
	if err != nil {
		return LoginResult{}, err
	}
	if !attempt.Allowed {
		return LoginResult{}, lockedErr(attempt)
	}
	pw := NormalizePassword(password)
	u, err := s.d.Users.GetByEmail(ctx, email)
	switch {
	case apperr.Is(err, apperr.NotFound):
		if err := s.d.Hasher.SpendDummy(ctx, pw); err != nil {
			return LoginResult{}, err // busy, as a registered email would be
		}
		return LoginResult{}, s.loginFailed(ctx, attempt, nil)
	case err != nil:
		return LoginResult{}, err
	}
	ok, rehash, err := s.d.Hasher.Verify(ctx, pw, u.PasswordHash)
	if err != nil {
		return LoginResult{}, fmt.Errorf("verify password of %s: %w", u.ID, err)
	}
	if !ok {
		return LoginResult{}, s.loginFailed(ctx, attempt, u)
	}
	if err := s.d.Limiter.Reset(ctx, acct); err != nil {
		s.d.Log.WarnContext(ctx, "identity: lockout counter not reset", "error", err)
	}
	if u.Disabled() {
		return LoginResult{}, apperr.New(apperr.Forbidden, CodeAccountDisabled, "This account is disabled.")
	}
	if rehash {
		s.rehash(ctx, u, pw)
	}
	if u.MFAEnabled {
		if s.d.SecondFactor == nil {
			return LoginResult{}, apperr.New(apperr.Unavailable, CodeMFAUnavailable, "Second-factor sign-in is unavailable; try again later.")
		}
		ch, err := s.d.SecondFactor.BeginLogin(ctx, u, meta)
		if err != nil {
			return LoginResult{}, err
		}
		return LoginResult{MFA: &ch}, nil
	}
	pair, err := s.IssueSession(ctx, u, 1, []string{"pwd"})
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Tokens: pair}, nil
}

func lockedErr(r ratelimit.Result) error {
	return ratelimit.Exceeded(r, CodeAccountLocked, "Too many failed attempts; sign-in is paused for this account. Try again later or reset your password.")
}

// loginFailed records a failed password (the attempt was already counted)
// and, when this attempt started the lock, records and mails it.
func (s *Service) loginFailed(ctx context.Context, attempt ratelimit.Result, u *User) error {
	if u != nil {
		s.audit.RecordQuiet(ctx, EventLoginFailed, u.ID, uuid.Nil, map[string]string{"reason": "password"})
		if attempt.JustBlocked {
			s.audit.RecordQuiet(ctx, EventAccountLocked, u.ID, uuid.Nil, map[string]string{"minutes": fmt.Sprint(int(s.cfg.Limits.LoginAccount.Block.Minutes()))})
			s.audit.Mail(ctx, u.Email, TemplateAccountLocked, idemKey("locked", u.ID.String(), s.now().Format("200601021504")), map[string]any{
				"DisplayName": u.DisplayName, "Minutes": int(s.cfg.Limits.LoginAccount.Block.Minutes()),
				"ResetLink": s.cfg.PublicURL + "/forgot-password", "IP": ClientMetaFrom(ctx).IP,
			})
		}
	}
	// The failure that starts the lock still answers "incorrect": the lock
	// shows from the next attempt on, for registered and unknown emails
	// alike.
	return errInvalidCredentials()
}

func (s *Service) rehash(ctx context.Context, u *User, pw string) {
	h, err := s.d.Hasher.Hash(ctx, pw)
	if err == nil {
		err = s.d.Users.Update(ctx, u.ID, func(cur *User) (*User, error) {
			if cur.PasswordHash == u.PasswordHash {
				cur.PasswordHash = h
			}
			return cur, nil
		})
	}
	if err != nil {
		s.d.Log.WarnContext(ctx, "identity: password rehash failed", "error", err)
	}
}

// IssueSession opens a session for u at assurance level aal with the
// methods amr and returns its first token pair. Login calls it at aal 1;
// the MFA module calls it at aal 2 after the second factor.
func (s *Service) IssueSession(ctx context.Context, u *User, aal int, amr []string) (*TokenPair, error) {
	meta := ClientMetaFrom(ctx)
	now := s.now()
	id, err := uuid.NewV7()
	if err != nil {
		return nil, err
	}
	sess := &Session{ID: id, UserID: u.ID, CreatedAt: now, LastUsedAt: now, ExpiresAt: now.Add(s.cfg.SessionTTL),
		IP: meta.IP, UserAgent: truncate(meta.UserAgent, 512), AAL: aal, AMR: slices.Clone(amr)}
	tok, h, err := newSecret()
	if err != nil {
		return nil, err
	}
	var known bool
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if s.cfg.NotifyNewLogin {
			active, err := s.d.Sessions.ListActive(ctx, u.ID, now)
			if err != nil {
				return err
			}
			known = slices.ContainsFunc(active, func(a Session) bool { return a.IP == sess.IP && a.UserAgent == sess.UserAgent })
		}
		if err := s.d.Sessions.Create(ctx, sess); err != nil {
			return err
		}
		if err := s.d.RefreshTokens.Create(ctx, &RefreshToken{Hash: h, SessionID: sess.ID, CreatedAt: now}); err != nil {
			return err
		}
		return s.audit.Record(ctx, EventLoginSucceeded, u.ID, sess.ID, map[string]string{"aal": fmt.Sprint(aal)})
	})
	if err != nil {
		return nil, err
	}
	if s.cfg.NotifyNewLogin && !known {
		s.audit.Mail(ctx, u.Email, TemplateNewLogin, idemKey("new-login", sess.ID.String()), map[string]any{
			"DisplayName": u.DisplayName, "IP": meta.IP, "UserAgent": sess.UserAgent, "Time": now.Format(time.RFC1123),
		})
	}
	return s.pair(u, sess, tok)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

func (s *Service) pair(u *User, sess *Session, refresh string) (*TokenPair, error) {
	now := s.now()
	at, err := s.d.Tokens.Issue(AccessClaims{UserID: u.ID, SessionID: sess.ID, Role: u.Role, AAL: sess.AAL, AMR: sess.AMR,
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.AccessTTL)})
	if err != nil {
		return nil, fmt.Errorf("sign access token: %w", err)
	}
	return &TokenPair{AccessToken: at, RefreshToken: refresh, ExpiresIn: s.cfg.AccessTTL, User: u, SessionID: sess.ID}, nil
}

func errRefreshInvalid() error {
	return apperr.New(apperr.Unauthenticated, CodeRefreshTokenInvalid, "The refresh token is invalid. Sign in again.")
}

// Refresh exchanges a refresh token for a new pair (see Service for the
// rotation rules).
func (s *Service) Refresh(ctx context.Context, token string) (*TokenPair, error) {
	if err := s.limit(ctx, ipKey("refresh", ClientMetaFrom(ctx)), s.cfg.Limits.RefreshIP); err != nil {
		return nil, err
	}
	tok, ok := ParseOpaqueToken(token)
	if !ok {
		return nil, errRefreshInvalid()
	}
	h := hashSecret(tok)
	rt, err := s.d.RefreshTokens.Get(ctx, h)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, errRefreshInvalid()
		}
		return nil, err
	}
	now := s.now()
	sess, u, err := s.liveSession(ctx, rt.SessionID, now)
	if err != nil {
		return nil, err
	}
	if rt.RotatedAt != nil {
		return s.replay(ctx, tok, rt, sess, u, now)
	}
	next, nextHash, err := newSecret()
	if err != nil {
		return nil, err
	}
	sealed, err := sealSuccessor(tok, h, next)
	if err != nil {
		return nil, err
	}
	lost := false
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		won, err := s.d.RefreshTokens.Rotate(ctx, h, now, sealed)
		if err != nil {
			return err
		}
		if !won {
			lost = true
			return nil
		}
		if err := s.d.RefreshTokens.Create(ctx, &RefreshToken{Hash: nextHash, SessionID: sess.ID, CreatedAt: now}); err != nil {
			return err
		}
		return s.d.Sessions.Touch(ctx, sess.ID, now)
	})
	if err != nil {
		return nil, err
	}
	if lost { // a concurrent refresh of the same token won: answer as a replay
		if rt, err = s.d.RefreshTokens.Get(ctx, h); err != nil {
			return nil, err
		}
		return s.replay(ctx, tok, rt, sess, u, now)
	}
	return s.pair(u, sess, next)
}

// liveSession loads a session and its user and refuses ended ones.
func (s *Service) liveSession(ctx context.Context, id uuid.UUID, now time.Time) (*Session, *User, error) {
	sess, err := s.d.Sessions.Get(ctx, id)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, nil, errRefreshInvalid()
		}
		return nil, nil, err
	}
	if sess.RevokedAt != nil {
		return nil, nil, apperr.New(apperr.Unauthenticated, CodeSessionRevoked, "This session has ended. Sign in again.")
	}
	if !sess.Active(now, s.cfg.SessionIdle) {
		return nil, nil, apperr.New(apperr.Unauthenticated, CodeSessionExpired, "This session has expired. Sign in again.")
	}
	u, err := s.d.Users.Get(ctx, sess.UserID)
	if err != nil {
		return nil, nil, err
	}
	if u.Disabled() {
		return nil, nil, apperr.New(apperr.Unauthenticated, CodeSessionRevoked, "This session has ended. Sign in again.")
	}
	return sess, u, nil
}

// maxChain bounds the walk from a replayed token to the family's current
// one (rotations within one grace window).
const maxChain = 32

func (s *Service) replay(ctx context.Context, tok string, rt *RefreshToken, sess *Session, u *User, now time.Time) (*TokenPair, error) {
	if now.Sub(*rt.RotatedAt) > s.cfg.RefreshGrace {
		ids, err := s.d.Sessions.Revoke(ctx, u.ID, []uuid.UUID{sess.ID}, uuid.Nil, now, "refresh_token_reused")
		if err != nil {
			return nil, err
		}
		s.sessionsEnded(ctx, u.ID, "refresh_token_reused", ids)
		s.audit.RecordQuiet(ctx, EventRefreshReuseDetected, u.ID, sess.ID, nil)
		s.d.Log.WarnContext(ctx, "identity: refresh token reuse detected; session revoked", "session_id", sess.ID.String())
		return nil, apperr.New(apperr.Unauthenticated, CodeRefreshTokenReused, "This refresh token was already used; the session has been ended for safety. Sign in again.")
	}
	cur, node := tok, rt
	for range maxChain {
		if node.RotatedAt == nil {
			return s.pair(u, sess, cur)
		}
		next, err := openSuccessor(cur, node.Hash, node.Successor)
		if err != nil {
			return nil, fmt.Errorf("refresh grace: %w", err)
		}
		if node, err = s.d.RefreshTokens.Get(ctx, hashSecret(next)); err != nil {
			return nil, err
		}
		cur = next
	}
	return nil, errRefreshInvalid()
}

// Logout ends the caller's session.
func (s *Service) Logout(ctx context.Context, p Principal) error {
	ids, err := s.d.Sessions.Revoke(ctx, p.UserID, []uuid.UUID{p.SessionID}, uuid.Nil, s.now(), "logout")
	if err != nil {
		return err
	}
	s.sessionsEnded(ctx, p.UserID, "logout", ids)
	s.audit.RecordQuiet(ctx, EventLogout, p.UserID, p.SessionID, nil)
	return nil
}

// Authenticate verifies an access token and refuses it when its session
// ended, its user was disabled or deleted, or it claims a lifetime longer
// than AccessTTL. Whether the session is live is read per request (see
// sessioncheck.go): in one cache round trip in the common case, from the
// database when the cache does not know (a miss, a flushed or restarted
// cache) or cannot answer; never assumed.
func (s *Service) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, apperr.New(apperr.Unauthenticated, CodeTokenMissing, "Authentication is required.")
	}
	c, err := s.d.Tokens.Verify(token)
	if err != nil {
		return Principal{}, err
	}
	if err := s.checkLifetime(c); err != nil {
		return Principal{}, err
	}
	p := Principal{UserID: c.UserID, SessionID: c.SessionID, Role: c.Role, AAL: c.AAL, AMR: c.AMR, IssuedAt: c.IssuedAt}
	profile, err := s.checkSession(ctx, c)
	if err != nil {
		return Principal{}, err
	}
	p.profile = profile
	return p, nil
}

func errSessionRevoked() error {
	return apperr.New(apperr.Unauthenticated, CodeSessionRevoked, "This session has ended. Sign in again.")
}

func revocationKey(sid uuid.UUID) string { return "authrev:" + sid.String() }

// revocationTTL covers every access token of a revoked session: one
// lifetime plus verification leeway, with margin for cache TTL jitter.
func (s *Service) revocationTTL() time.Duration { return s.cfg.AccessTTL*5/4 + time.Minute }

// markRevoked writes the revocation entries. A failure is logged: the
// database already says revoked, so refresh fails, and Authenticate
// refuses the access tokens once their session-check entry (at most
// SessionCheckTTL old) expired.
func (s *Service) markRevoked(ctx context.Context, ids ...uuid.UUID) {
	// The sessions are revoked in the database: the entries must be
	// written even when the request that revoked them is going away.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	for _, id := range ids {
		if err := s.d.Revocations.Set(ctx, revocationKey(id), []byte{1}, s.revocationTTL()); err != nil {
			s.d.Log.ErrorContext(ctx, "identity: revocation entry not written; the access token stays valid until it expires", "session_id", id.String(), "error", err)
		}
	}
}
