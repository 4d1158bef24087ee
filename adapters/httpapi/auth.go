package httpapi

import (
	"context"
	"log/slog"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/reqctx"
)

// Authenticator checks an access token (*identity.Service): the principal,
// or apperr.Unauthenticated with the reason's code.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (identity.Principal, error)
}

// authenticator is the bearer-token middleware. What each route needs is
// read from the spec, the one place routes are declared: an operation with
// `security: [{bearerAuth: []}]` needs a valid access token, and one with
// `x-required-role: admin` also the admin role (403 otherwise). On success
// the principal (user, session, role, aal, amr) is in the request context
// (identity.PrincipalFrom, or Authenticated/RequireAdmin below) and the
// request's log lines carry user_id. The client facts (IP as Gin resolves
// it through HTTP_TRUSTED_PROXIES, user agent) that sessions and the audit
// log record are already in every request's context: observe puts them
// there with the request record.
//
// Other modules protect an operation by declaring the scheme (and the role)
// in openapi.yaml, and may call RequireAdmin in the handler as a second
// check.
func authenticator(routes routeTable, authn Authenticator, log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		// observe put the client facts (identity.ClientMeta) in ctx.
		ctx := c.Request.Context()
		r := routes.of(c)
		if r == nil || !r.bearer {
			c.Next()
			return
		}
		p, err := authn.Authenticate(ctx, bearerToken(c.GetHeader("Authorization")))
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeProblem(c, log, err)
			return
		}
		if info := reqctx.From(ctx); info != nil {
			info.SetUserID(p.UserID.String())
		}
		if r.role != "" && p.Role != r.role {
			writeProblem(c, log, apperr.New(apperr.Forbidden, identity.CodeForbidden, "This needs the "+string(r.role)+" role."))
			return
		}
		c.Request = c.Request.WithContext(identity.WithPrincipal(ctx, p))
		c.Next()
	}
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

// Authenticated returns the caller of an operation the authenticator
// protected, or an Unauthenticated error.
func Authenticated(ctx context.Context) (identity.Principal, error) {
	p, ok := identity.PrincipalFrom(ctx)
	if !ok {
		return identity.Principal{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenMissing, "Authentication is required.")
	}
	return p, nil
}

// asCaller runs op, an operation of svc on the caller's own records, as the
// authenticated caller; without one it answers Authenticated's error and
// does not run op. op is a method expression (Imports.Get), so svc is not
// touched before the caller is known.
func asCaller[S, T any](ctx context.Context, svc S, op func(svc S, ctx context.Context, userID uuid.UUID) (T, error)) (T, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return op(svc, ctx, p.UserID)
}

// callerByID runs op, an operation of svc on the caller's record id, as the
// authenticated caller (see asCaller).
func callerByID[S, T any](ctx context.Context, svc S, id uuid.UUID, op func(svc S, ctx context.Context, userID, id uuid.UUID) (T, error)) (T, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		var zero T
		return zero, err
	}
	return op(svc, ctx, p.UserID, id)
}

// callerDeleteByID runs op, a delete by svc of the caller's record id, as
// the authenticated caller (see asCaller).
func callerDeleteByID[S any](ctx context.Context, svc S, id uuid.UUID, op func(svc S, ctx context.Context, userID, id uuid.UUID) error) error {
	p, err := Authenticated(ctx)
	if err != nil {
		return err
	}
	return op(svc, ctx, p.UserID, id)
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
