package httpapi

import (
	"context"
	"encoding/base64"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/identity"
)

// What the identity operations ask of the identity module, one interface
// per concern; *identity.Service is all of them (Identity).
type (
	// Signup registers accounts and verifies their email.
	Signup interface {
		Register(ctx context.Context, in identity.RegisterInput) (*identity.User, error)
		VerifyEmail(ctx context.Context, token string) (*identity.User, error)
		ResendVerification(ctx context.Context, email string) error
	}
	// Logins starts, renews and ends sessions.
	Logins interface {
		Login(ctx context.Context, email, password string) (identity.LoginResult, error)
		Refresh(ctx context.Context, refreshToken string) (*identity.TokenPair, error)
		Logout(ctx context.Context, p identity.Principal) error
	}
	// Profiles reads and changes the caller's own account.
	Profiles interface {
		Me(ctx context.Context, p identity.Principal) (*identity.User, error)
		// UpdateMe also reports whether an email change waits for the
		// new address to be confirmed.
		UpdateMe(ctx context.Context, p identity.Principal, in identity.ProfileUpdate) (*identity.User, bool, error)
	}
	// Passwords resets and changes passwords.
	Passwords interface {
		ForgotPassword(ctx context.Context, email string) error
		ResetPassword(ctx context.Context, token, newPassword string, f identity.ResetFactor) error
		ChangePassword(ctx context.Context, p identity.Principal, current, next string) error
	}
	// SessionManager lists and ends the caller's sessions and reads their
	// security events.
	SessionManager interface {
		Sessions(ctx context.Context, p identity.Principal) ([]identity.Session, error)
		RevokeSession(ctx context.Context, p identity.Principal, id uuid.UUID) error
		RevokeOtherSessions(ctx context.Context, p identity.Principal) (int, error)
		Events(ctx context.Context, p identity.Principal, before uuid.UUID, limit int) ([]identity.Event, error)
	}
	// UserAdmin is the admin's view of the accounts.
	UserAdmin interface {
		ListUsers(ctx context.Context, p identity.Principal, q identity.UserQuery) ([]identity.User, error)
		DisableUser(ctx context.Context, p identity.Principal, id uuid.UUID) (*identity.User, error)
		UserEvents(ctx context.Context, p identity.Principal, userID, before uuid.UUID, limit int) ([]identity.Event, error)
	}
	// Identity is the identity module as the API serves it.
	Identity interface {
		Authenticator
		Signup
		Logins
		Profiles
		Passwords
		SessionManager
		UserAdmin
	}
	// KeySet publishes the keys access tokens are verified with
	// (*identity.KeyRing).
	KeySet interface {
		PublicKeys() []identity.PublicKey
	}
)

// identityHandlers serve /api/v1/auth, /api/v1/admin/users and the JWKS:
// thin translations between the generated types and the identity module.
type identityHandlers struct {
	svc  Identity
	keys KeySet
}

func userBody(u *identity.User) gen.User {
	tz := u.Timezone
	if tz == "" {
		tz = "UTC"
	}
	out := gen.User{Id: u.ID, Email: u.Email, DisplayName: u.DisplayName, Timezone: tz, Role: gen.UserRole(u.Role),
		EmailVerified: u.EmailVerified(), MfaEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt.UTC()}
	if u.Disabled() {
		t := true
		out.Disabled = &t
	}
	pending := u.EmailChangePending(time.Now())
	out.EmailChangePending = &pending
	return out
}

func tokenBody(p *identity.TokenPair) gen.TokenResponse {
	return gen.TokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: gen.TokenResponseTokenTypeBearer,
		ExpiresIn: int(p.ExpiresIn / time.Second), User: userBody(p.User)}
}

// accepted is the body of the operations that answer 202 whether or not
// the address is known (no enumeration).
var accepted = gen.Accepted{Status: gen.AcceptedStatusAccepted}

func (h *identityHandlers) GetJWKS(context.Context, gen.GetJWKSRequestObject) (gen.GetJWKSResponseObject, error) {
	keys := h.keys.PublicKeys()
	out := gen.GetJWKS200JSONResponse{Keys: make([]gen.JWK, len(keys))}
	for i, k := range keys {
		out.Keys[i] = gen.JWK{Kty: gen.OKP, Crv: gen.Ed25519, X: base64.RawURLEncoding.EncodeToString(k.Key), Kid: k.ID, Alg: gen.EdDSA, Use: gen.Sig}
	}
	return out, nil
}

func (h *identityHandlers) Register(ctx context.Context, r gen.RegisterRequestObject) (gen.RegisterResponseObject, error) {
	in := identity.RegisterInput{Email: r.Body.Email, Password: r.Body.Password}
	if r.Body.DisplayName != nil {
		in.DisplayName = *r.Body.DisplayName
	}
	u, err := h.svc.Register(ctx, in)
	if err != nil {
		return nil, err
	}
	return gen.Register201JSONResponse(userBody(u)), nil
}

func (h *identityHandlers) VerifyEmail(ctx context.Context, r gen.VerifyEmailRequestObject) (gen.VerifyEmailResponseObject, error) {
	u, err := h.svc.VerifyEmail(ctx, r.Body.Token)
	if err != nil {
		return nil, err
	}
	return gen.VerifyEmail200JSONResponse(userBody(u)), nil
}

func (h *identityHandlers) ResendVerification(ctx context.Context, r gen.ResendVerificationRequestObject) (gen.ResendVerificationResponseObject, error) {
	return gen.ResendVerification202JSONResponse(accepted), h.svc.ResendVerification(ctx, r.Body.Email)
}

func (h *identityHandlers) Login(ctx context.Context, r gen.LoginRequestObject) (gen.LoginResponseObject, error) {
	res, err := h.svc.Login(ctx, r.Body.Email, r.Body.Password)
	if err != nil {
		return nil, err
	}
	return gen.Login200JSONResponse(loginBody(res)), nil
}

func (h *identityHandlers) RefreshTokens(ctx context.Context, r gen.RefreshTokensRequestObject) (gen.RefreshTokensResponseObject, error) {
	p, err := h.svc.Refresh(ctx, r.Body.RefreshToken)
	if err != nil {
		return nil, err
	}
	return gen.RefreshTokens200JSONResponse(tokenBody(p)), nil
}

func (h *identityHandlers) Logout(ctx context.Context, _ gen.LogoutRequestObject) (gen.LogoutResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	return gen.Logout204Response{}, h.svc.Logout(ctx, p)
}

func (h *identityHandlers) GetMe(ctx context.Context, _ gen.GetMeRequestObject) (gen.GetMeResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.svc.Me(ctx, p)
	if err != nil {
		return nil, err
	}
	return gen.GetMe200JSONResponse(userBody(u)), nil
}

func (h *identityHandlers) UpdateMe(ctx context.Context, r gen.UpdateMeRequestObject) (gen.UpdateMeResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	u, pending, err := h.svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: r.Body.DisplayName, Timezone: r.Body.Timezone,
		Email: r.Body.Email, CurrentPassword: r.Body.CurrentPassword})
	if err != nil {
		return nil, err
	}
	out := userBody(u)
	out.EmailChangePending = &pending
	return gen.UpdateMe200JSONResponse(out), nil
}

func (h *identityHandlers) ForgotPassword(ctx context.Context, r gen.ForgotPasswordRequestObject) (gen.ForgotPasswordResponseObject, error) {
	return gen.ForgotPassword202JSONResponse(accepted), h.svc.ForgotPassword(ctx, r.Body.Email)
}

func (h *identityHandlers) ResetPassword(ctx context.Context, r gen.ResetPasswordRequestObject) (gen.ResetPasswordResponseObject, error) {
	var f identity.ResetFactor
	if r.Body.Code != nil {
		f.Code = *r.Body.Code
	}
	if r.Body.BackupCode != nil {
		f.BackupCode = *r.Body.BackupCode
	}
	return gen.ResetPassword204Response{}, h.svc.ResetPassword(ctx, r.Body.Token, r.Body.NewPassword, f)
}

func (h *identityHandlers) ChangePassword(ctx context.Context, r gen.ChangePasswordRequestObject) (gen.ChangePasswordResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	return gen.ChangePassword204Response{}, h.svc.ChangePassword(ctx, p, r.Body.CurrentPassword, r.Body.NewPassword)
}

func (h *identityHandlers) ListSessions(ctx context.Context, _ gen.ListSessionsRequestObject) (gen.ListSessionsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := h.svc.Sessions(ctx, p)
	if err != nil {
		return nil, err
	}
	out := gen.ListSessions200JSONResponse{Sessions: make([]gen.Session, len(ss))}
	for i, s := range ss {
		out.Sessions[i] = gen.Session{Id: s.ID, CreatedAt: s.CreatedAt, LastUsedAt: s.LastUsedAt, ExpiresAt: s.ExpiresAt,
			Ip: s.IP, UserAgent: s.UserAgent, Aal: s.AAL, Current: s.ID == p.SessionID}
	}
	return out, nil
}

func (h *identityHandlers) RevokeOtherSessions(ctx context.Context, _ gen.RevokeOtherSessionsRequestObject) (gen.RevokeOtherSessionsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	n, err := h.svc.RevokeOtherSessions(ctx, p)
	if err != nil {
		return nil, err
	}
	return gen.RevokeOtherSessions200JSONResponse{Revoked: n}, nil
}

func (h *identityHandlers) RevokeSession(ctx context.Context, r gen.RevokeSessionRequestObject) (gen.RevokeSessionResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	return gen.RevokeSession204Response{}, h.svc.RevokeSession(ctx, p, r.Id)
}

func eventPage(evs []identity.Event, limit int) gen.EventPage {
	out := gen.EventPage{Events: make([]gen.SecurityEvent, len(evs))}
	for i, e := range evs {
		se := gen.SecurityEvent{Id: e.ID, Type: string(e.Type), At: e.At, Ip: e.IP, UserAgent: e.UserAgent}
		if e.SessionID != uuid.Nil {
			sid := e.SessionID
			se.SessionId = &sid
		}
		if len(e.Details) > 0 {
			d := e.Details
			se.Details = &d
		}
		out.Events[i] = se
	}
	if len(evs) > 0 && len(evs) == limit {
		last := evs[len(evs)-1].ID
		out.NextBefore = &last
	}
	return out
}

func pageArgs(before *uuid.UUID, limit *gen.PageLimit) (uuid.UUID, int) {
	b, l := uuid.Nil, 50
	if before != nil {
		b = *before
	}
	if limit != nil {
		l = *limit
	}
	return b, l
}

func (h *identityHandlers) ListMyEvents(ctx context.Context, r gen.ListMyEventsRequestObject) (gen.ListMyEventsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	before, limit := pageArgs(r.Params.Before, r.Params.Limit)
	evs, err := h.svc.Events(ctx, p, before, limit)
	if err != nil {
		return nil, err
	}
	return gen.ListMyEvents200JSONResponse(eventPage(evs, limit)), nil
}

func (h *identityHandlers) AdminListUsers(ctx context.Context, r gen.AdminListUsersRequestObject) (gen.AdminListUsersResponseObject, error) {
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	after, limit := pageArgs(r.Params.After, r.Params.Limit)
	q := identity.UserQuery{After: after, Limit: limit}
	if r.Params.Email != nil {
		q.EmailContains = *r.Params.Email
	}
	us, err := h.svc.ListUsers(ctx, p, q)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListUsers200JSONResponse{Users: make([]gen.User, len(us))}
	for i := range us {
		out.Users[i] = userBody(&us[i])
	}
	if len(us) > 0 && len(us) == limit {
		last := us[len(us)-1].ID
		out.NextAfter = &last
	}
	return out, nil
}

func (h *identityHandlers) AdminDisableUser(ctx context.Context, r gen.AdminDisableUserRequestObject) (gen.AdminDisableUserResponseObject, error) {
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := h.svc.DisableUser(ctx, p, r.Id)
	if err != nil {
		return nil, err
	}
	return gen.AdminDisableUser200JSONResponse(userBody(u)), nil
}

func (h *identityHandlers) AdminListUserEvents(ctx context.Context, r gen.AdminListUserEventsRequestObject) (gen.AdminListUserEventsResponseObject, error) {
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	before, limit := pageArgs(r.Params.Before, r.Params.Limit)
	evs, err := h.svc.UserEvents(ctx, p, r.Id, before, limit)
	if err != nil {
		return nil, err
	}
	return gen.AdminListUserEvents200JSONResponse(eventPage(evs, limit)), nil
}
