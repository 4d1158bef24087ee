package identity

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/reqctx"
)

// AccessClaims are the facts an access token carries (JWT claims sub,
// sid, role, aal, amr, iat, exp; iss and aud are the issuer's).
type AccessClaims struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	Role      Role
	AAL       int
	AMR       []string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Error codes of access-token verification.
const (
	CodeTokenMissing   = "token_missing"
	CodeTokenMalformed = "token_invalid"
	CodeTokenExpired   = "token_expired"
	CodeSessionRevoked = "session_revoked"
)

// AccessTokens signs and verifies access tokens.
type AccessTokens interface {
	// Issue signs c with the current key.
	Issue(c AccessClaims) (string, error)
	// Verify checks token's signature, algorithm, key ID, issuer,
	// audience and lifetime, and returns its claims. It fails with
	// apperr.Unauthenticated "token_expired" for an expired token and
	// "token_invalid" for anything else; the cause says which check failed
	// (for logs only).
	Verify(token string) (AccessClaims, error)
}

// Principal is the authenticated caller of a request.
type Principal struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	Role      Role
	AAL       int
	AMR       []string
	// IssuedAt is when the access token was issued (for step-up rules:
	// "aal 2 within the last 15 minutes").
	IssuedAt time.Time

	// profile is the caller's cached profile when Authenticate found it
	// (see Service.Me); nil otherwise.
	profile *User
}

// IsAdmin reports whether the principal has the admin role.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if any.
func PrincipalFrom(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// ClientMeta describes where a request came from, for sessions and the
// audit log.
type ClientMeta struct {
	IP        string
	UserAgent string
}

type metaKey struct{}

// WithClientMeta returns ctx carrying m.
func WithClientMeta(ctx context.Context, m ClientMeta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// ClientMetaFrom returns the client facts in ctx: those of WithClientMeta,
// else those of the request record (reqctx.WithClient, as the HTTP layer
// installs it), zero outside a request.
func ClientMetaFrom(ctx context.Context) ClientMeta {
	if m, ok := ctx.Value(metaKey{}).(ClientMeta); ok {
		return m
	}
	if info := reqctx.From(ctx); info != nil {
		return ClientMeta{IP: info.ClientIP, UserAgent: info.UserAgent}
	}
	return ClientMeta{}
}
