// Package jwtauth signs and verifies access tokens as JWTs (EdDSA over
// Ed25519, golang-jwt/v5) with the keys of an identity.KeyRing.
package jwtauth

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// Leeway is the clock skew tolerated on exp, iat and nbf.
const Leeway = 30 * time.Second

// Config names the issuer and audience of tokens.
type Config struct {
	Issuer   string // AUTH_JWT_ISSUER
	Audience string // AUTH_JWT_AUDIENCE
}

// Tokens implements identity.AccessTokens.
type Tokens struct {
	cfg    Config
	ring   *identity.KeyRing
	now    func() time.Time
	parser *jwt.Parser
}

var _ identity.AccessTokens = (*Tokens)(nil)

// New returns the signer/verifier; now defaults to time.Now.
func New(cfg Config, ring *identity.KeyRing, now func() time.Time) (*Tokens, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwt issuer and audience are required")
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{cfg: cfg, ring: ring, now: now}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
		jwt.WithStrictDecoding(),
	)
	return t, nil
}

type claims struct {
	jwt.RegisteredClaims
	SessionID string   `json:"sid"`
	Role      string   `json:"role"`
	AAL       int      `json:"aal"`
	AMR       []string `json:"amr"`
}

// Issue implements identity.AccessTokens.
func (t *Tokens) Issue(c identity.AccessClaims) (string, error) {
	key := t.ring.Signing()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.cfg.Issuer,
			Subject:   c.UserID.String(),
			Audience:  jwt.ClaimStrings{t.cfg.Audience},
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ExpiresAt: jwt.NewNumericDate(c.ExpiresAt),
		},
		SessionID: c.SessionID.String(),
		Role:      string(c.Role),
		AAL:       c.AAL,
		AMR:       c.AMR,
	})
	tok.Header["kid"] = key.ID
	s, err := tok.SignedString(key.Private)
	if err != nil {
		return "", fmt.Errorf("sign jwt: %w", err)
	}
	return s, nil
}

// MaxTokenLen bounds what Verify parses.
const MaxTokenLen = 4096

// Verify implements identity.AccessTokens.
func (t *Tokens) Verify(raw string) (identity.AccessClaims, error) {
	if len(raw) > MaxTokenLen {
		return identity.AccessClaims{}, invalid(errors.New("token too long"))
	}
	var c claims
	_, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		kid, ok := tok.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("missing kid")
		}
		return t.ring.Verifier(kid)
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return identity.AccessClaims{}, apperr.Wrap(err, apperr.Unauthenticated, identity.CodeTokenExpired, "The access token has expired.")
		}
		return identity.AccessClaims{}, invalid(err)
	}
	uid, err1 := uuid.Parse(c.Subject)
	sid, err2 := uuid.Parse(c.SessionID)
	role := identity.Role(c.Role)
	if err := errors.Join(err1, err2); err != nil || !role.Valid() || c.AAL < 1 || c.AAL > 3 || c.IssuedAt == nil {
		return identity.AccessClaims{}, invalid(fmt.Errorf("claims: %w", errors.Join(err, errors.New("bad sub, sid, role, aal or iat"))))
	}
	return identity.AccessClaims{UserID: uid, SessionID: sid, Role: role, AAL: c.AAL, AMR: c.AMR,
		IssuedAt: c.IssuedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC()}, nil
}

func invalid(cause error) error {
	return apperr.Wrap(cause, apperr.Unauthenticated, identity.CodeTokenMalformed, "The access token is invalid.")
}
