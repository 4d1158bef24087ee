package httpapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/reqctx"
)

// bearerScheme is the security scheme of openapi.yaml that means "needs an
// access token"; roleExtension names the role an operation also needs.
const (
	bearerScheme  = "bearerAuth"
	roleExtension = "x-required-role"
)

type routeAuth struct {
	role identity.Role // "" any authenticated user
}

// authenticator is the bearer-token middleware. What each route needs is
// read from the spec, the one place routes are declared: an operation with
// `security: [{bearerAuth: []}]` needs a valid access token, and one with
// `x-required-role: admin` also the admin role (403 otherwise). On success
// the principal (user, session, role, aal, amr) is in the request context
// (identity.PrincipalFrom, or Authenticated/RequireAdmin below) and the
// request's log lines carry user_id. Every request also gets the client
// facts (IP as Gin resolves it through HTTP_TRUSTED_PROXIES, user agent)
// that sessions and the audit log record.
//
// Other modules protect an operation by declaring the scheme (and the role)
// in openapi.yaml, and may call RequireAdmin in the handler as a second
// check.
func authenticator(doc *openapi3.T, svc *identity.Service, log *slog.Logger) (gin.HandlerFunc, error) {
	routes := map[string]routeAuth{}
	for path, item := range doc.Paths.Map() {
		ginPath := specParam.ReplaceAllString(path, ":$1")
		for method, op := range item.Operations() {
			if op.Security == nil || !requiresBearer(*op.Security) {
				if _, ok := op.Extensions[roleExtension]; ok {
					return nil, fmt.Errorf("openapi.yaml: %s %s has %s but no bearerAuth security", method, path, roleExtension)
				}
				continue
			}
			ra := routeAuth{}
			if v, ok := op.Extensions[roleExtension]; ok {
				r, _ := v.(string)
				if !identity.Role(r).Valid() {
					return nil, fmt.Errorf("openapi.yaml: %s %s: %s %v is not a role", method, path, roleExtension, v)
				}
				ra.role = identity.Role(r)
			}
			routes[method+" "+ginPath] = ra
		}
	}
	return func(c *gin.Context) {
		ctx := identity.WithClientMeta(c.Request.Context(), identity.ClientMeta{IP: c.ClientIP(), UserAgent: c.Request.UserAgent()})
		c.Request = c.Request.WithContext(ctx)
		ra, ok := routes[c.Request.Method+" "+c.FullPath()]
		if !ok {
			c.Next()
			return
		}
		if svc == nil {
			writeProblem(c, log, errIdentityUnavailable())
			return
		}
		p, err := svc.Authenticate(ctx, bearerToken(c.GetHeader("Authorization")))
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeProblem(c, log, err)
			return
		}
		if info := reqctx.From(ctx); info != nil {
			info.SetUserID(p.UserID.String())
		}
		if ra.role != "" && p.Role != ra.role {
			writeProblem(c, log, apperr.New(apperr.Forbidden, identity.CodeForbidden, "This needs the "+string(ra.role)+" role."))
			return
		}
		c.Request = c.Request.WithContext(identity.WithPrincipal(ctx, p))
		c.Next()
	}, nil
}

func requiresBearer(reqs openapi3.SecurityRequirements) bool {
	for _, r := range reqs {
		if _, ok := r[bearerScheme]; ok {
			return true
		}
	}
	return false
}

// bearerToken extracts the token of an "Authorization: Bearer <token>"
// header ("" when absent or of another scheme).
func bearerToken(h string) string {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

func errIdentityUnavailable() error {
	return apperr.New(apperr.Unavailable, "identity_unavailable", "Authentication is not available on this server.")
}

// Authenticated returns the caller of an operation the authenticator
// protected, or an Unauthenticated error.
func Authenticated(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.PrincipalFrom(ctx)
	if !ok {
		return identity.Principal{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenMissing, "Authentication is required.")
	}
	return p, nil
}

// RequireAdmin returns the caller if they have the admin role, and a
// Forbidden (or Unauthenticated) error otherwise. Handlers of admin
// operations call it in addition to declaring x-required-role.
func RequireAdmin(ctx context.Context) (identity.Principal, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return p, err
	}
	if !p.IsAdmin() {
		return p, apperr.New(apperr.Forbidden, identity.CodeForbidden, "This needs the admin role.")
	}
	return p, nil
}

// requestContext returns the request's own context when ctx is the Gin
// context the strict server passes. Work that outlives a middleware's
// bookkeeping (database/sql watches ctx.Done() from its own goroutines)
// must not hold *gin.Context: Gin recycles it for the next request once the
// chain returns, and middleware may replace c.Request meanwhile.
func requestContext(ctx context.Context) context.Context {
	if gc, ok := ctx.(*gin.Context); ok && gc.Request != nil {
		return gc.Request.Context()
	}
	return ctx
}

// authHandlers holds what the identity operations need.
type authHandlers struct {
	svc  *identity.Service
	keys *identity.KeyRing
}

func (h *handlers) identity() (*identity.Service, error) {
	if h.auth == nil || h.auth.svc == nil {
		return nil, errIdentityUnavailable()
	}
	return h.auth.svc, nil
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
	return out
}

func tokenBody(p *identity.TokenPair) gen.TokenResponse {
	return gen.TokenResponse{AccessToken: p.AccessToken, RefreshToken: p.RefreshToken, TokenType: gen.TokenResponseTokenTypeBearer,
		ExpiresIn: int(p.ExpiresIn / time.Second), User: userBody(p.User)}
}

func (h *handlers) GetJWKS(context.Context, gen.GetJWKSRequestObject) (gen.GetJWKSResponseObject, error) {
	if h.auth == nil || h.auth.keys == nil {
		return nil, errIdentityUnavailable()
	}
	keys := h.auth.keys.PublicKeys()
	out := gen.GetJWKS200JSONResponse{Keys: make([]gen.JWK, len(keys))}
	for i, k := range keys {
		out.Keys[i] = gen.JWK{Kty: gen.OKP, Crv: gen.Ed25519, X: base64.RawURLEncoding.EncodeToString(k.Key), Kid: k.ID, Alg: gen.EdDSA, Use: gen.Sig}
	}
	return out, nil
}

func (h *handlers) Register(ctx context.Context, r gen.RegisterRequestObject) (gen.RegisterResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	in := identity.RegisterInput{Email: r.Body.Email, Password: r.Body.Password}
	if r.Body.DisplayName != nil {
		in.DisplayName = *r.Body.DisplayName
	}
	u, err := svc.Register(ctx, in)
	if err != nil {
		return nil, err
	}
	return gen.Register201JSONResponse(userBody(u)), nil
}

func (h *handlers) VerifyEmail(ctx context.Context, r gen.VerifyEmailRequestObject) (gen.VerifyEmailResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	u, err := svc.VerifyEmail(ctx, r.Body.Token)
	if err != nil {
		return nil, err
	}
	return gen.VerifyEmail200JSONResponse(userBody(u)), nil
}

func (h *handlers) ResendVerification(ctx context.Context, r gen.ResendVerificationRequestObject) (gen.ResendVerificationResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	if err := svc.ResendVerification(ctx, r.Body.Email); err != nil {
		return nil, err
	}
	return gen.ResendVerification202JSONResponse{Status: gen.AcceptedStatusAccepted}, nil
}

func (h *handlers) Login(ctx context.Context, r gen.LoginRequestObject) (gen.LoginResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	res, err := svc.Login(ctx, r.Body.Email, r.Body.Password)
	if err != nil {
		return nil, err
	}
	if res.MFA != nil {
		yes := true
		methods := res.MFA.Methods
		return gen.Login200JSONResponse{MfaRequired: &yes, MfaToken: &res.MFA.Token, Methods: &methods}, nil
	}
	t := tokenBody(res.Tokens)
	no := false
	bearer := gen.LoginResponseTokenTypeBearer
	return gen.Login200JSONResponse{AccessToken: &t.AccessToken, RefreshToken: &t.RefreshToken, TokenType: &bearer,
		ExpiresIn: &t.ExpiresIn, User: &t.User, MfaRequired: &no}, nil
}

func (h *handlers) RefreshTokens(ctx context.Context, r gen.RefreshTokensRequestObject) (gen.RefreshTokensResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	p, err := svc.Refresh(ctx, r.Body.RefreshToken)
	if err != nil {
		return nil, err
	}
	return gen.RefreshTokens200JSONResponse(tokenBody(p)), nil
}

func (h *handlers) Logout(ctx context.Context, _ gen.LogoutRequestObject) (gen.LogoutResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := svc.Logout(ctx, p); err != nil {
		return nil, err
	}
	return gen.Logout204Response{}, nil
}

func (h *handlers) caller(ctx context.Context) (*identity.Service, identity.Principal, error) {
	svc, err := h.identity()
	if err != nil {
		return nil, identity.Principal{}, err
	}
	p, err := Authenticated(ctx)
	return svc, p, err
}

func (h *handlers) GetMe(ctx context.Context, _ gen.GetMeRequestObject) (gen.GetMeResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	u, err := svc.Me(ctx, p)
	if err != nil {
		return nil, err
	}
	return gen.GetMe200JSONResponse(userBody(u)), nil
}

func (h *handlers) UpdateMe(ctx context.Context, r gen.UpdateMeRequestObject) (gen.UpdateMeResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	u, pending, err := svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: r.Body.DisplayName, Timezone: r.Body.Timezone,
		Email: r.Body.Email, CurrentPassword: r.Body.CurrentPassword})
	if err != nil {
		return nil, err
	}
	out := userBody(u)
	out.EmailChangePending = &pending
	return gen.UpdateMe200JSONResponse(out), nil
}

func (h *handlers) ForgotPassword(ctx context.Context, r gen.ForgotPasswordRequestObject) (gen.ForgotPasswordResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	if err := svc.ForgotPassword(ctx, r.Body.Email); err != nil {
		return nil, err
	}
	return gen.ForgotPassword202JSONResponse{Status: gen.AcceptedStatusAccepted}, nil
}

func (h *handlers) ResetPassword(ctx context.Context, r gen.ResetPasswordRequestObject) (gen.ResetPasswordResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	var f identity.ResetFactor
	if r.Body.Code != nil {
		f.Code = *r.Body.Code
	}
	if r.Body.BackupCode != nil {
		f.BackupCode = *r.Body.BackupCode
	}
	if err := svc.ResetPassword(ctx, r.Body.Token, r.Body.NewPassword, f); err != nil {
		return nil, err
	}
	return gen.ResetPassword204Response{}, nil
}

func (h *handlers) ChangePassword(ctx context.Context, r gen.ChangePasswordRequestObject) (gen.ChangePasswordResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := svc.ChangePassword(ctx, p, r.Body.CurrentPassword, r.Body.NewPassword); err != nil {
		return nil, err
	}
	return gen.ChangePassword204Response{}, nil
}

func (h *handlers) ListSessions(ctx context.Context, _ gen.ListSessionsRequestObject) (gen.ListSessionsResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	ss, err := svc.Sessions(ctx, p)
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

func (h *handlers) RevokeOtherSessions(ctx context.Context, _ gen.RevokeOtherSessionsRequestObject) (gen.RevokeOtherSessionsResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	n, err := svc.RevokeOtherSessions(ctx, p)
	if err != nil {
		return nil, err
	}
	return gen.RevokeOtherSessions200JSONResponse{Revoked: n}, nil
}

func (h *handlers) RevokeSession(ctx context.Context, r gen.RevokeSessionRequestObject) (gen.RevokeSessionResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	if err := svc.RevokeSession(ctx, p, r.Id); err != nil {
		return nil, err
	}
	return gen.RevokeSession204Response{}, nil
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

func (h *handlers) ListMyEvents(ctx context.Context, r gen.ListMyEventsRequestObject) (gen.ListMyEventsResponseObject, error) {
	ctx = requestContext(ctx)
	svc, p, err := h.caller(ctx)
	if err != nil {
		return nil, err
	}
	before, limit := pageArgs(r.Params.Before, r.Params.Limit)
	evs, err := svc.Events(ctx, p, before, limit)
	if err != nil {
		return nil, err
	}
	return gen.ListMyEvents200JSONResponse(eventPage(evs, limit)), nil
}

func (h *handlers) AdminListUsers(ctx context.Context, r gen.AdminListUsersRequestObject) (gen.AdminListUsersResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	after, limit := pageArgs(r.Params.After, r.Params.Limit)
	q := identity.UserQuery{After: after, Limit: limit}
	if r.Params.Email != nil {
		q.EmailContains = *r.Params.Email
	}
	us, err := svc.ListUsers(ctx, p, q)
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

func (h *handlers) AdminDisableUser(ctx context.Context, r gen.AdminDisableUserRequestObject) (gen.AdminDisableUserResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	u, err := svc.DisableUser(ctx, p, r.Id)
	if err != nil {
		return nil, err
	}
	return gen.AdminDisableUser200JSONResponse(userBody(u)), nil
}

func (h *handlers) AdminListUserEvents(ctx context.Context, r gen.AdminListUserEventsRequestObject) (gen.AdminListUserEventsResponseObject, error) {
	ctx = requestContext(ctx)
	svc, err := h.identity()
	if err != nil {
		return nil, err
	}
	p, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	before, limit := pageArgs(r.Params.Before, r.Params.Limit)
	evs, err := svc.UserEvents(ctx, p, r.Id, before, limit)
	if err != nil {
		return nil, err
	}
	return gen.AdminListUserEvents200JSONResponse(eventPage(evs, limit)), nil
}
