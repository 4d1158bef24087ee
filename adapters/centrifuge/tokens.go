package centrifuge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/realtime"
)

// TokenLeeway is the clock skew between replicas tolerated on a connection
// token's iat and exp. It is short: a client with an expired token is told
// so (centrifuge error 109) and fetches a new one.
const TokenLeeway = 5 * time.Second

// MaxTokenLen bounds what Verify parses.
const MaxTokenLen = 2048

// Error codes of connection tokens (logged, and in the problem of the
// token endpoint when issuing fails).
const (
	CodeTokenInvalid = "realtime_token_invalid"
	CodeTokenExpired = "realtime_token_expired"
)

// Tokens issues and verifies connection tokens: EdDSA JWTs signed with the
// identity key ring (the access tokens' keys, so rotation works the same),
// with their own audience, naming the user (sub) and the session (sid).
type Tokens struct {
	issuer, audience string
	ttl              time.Duration
	ring             *identity.KeyRing
	now              func() time.Time
	parser           *jwt.Parser
}

var _ realtime.TokenIssuer = (*Tokens)(nil)

// Claims are what a verified connection token says.
type Claims struct {
	UserID    uuid.UUID
	SessionID uuid.UUID
	ExpiresAt time.Time
}

// NewTokens returns the issuer and verifier of cfg's connection tokens;
// now defaults to time.Now.
func NewTokens(cfg Config, ring *identity.KeyRing, now func() time.Time) (*Tokens, error) {
	cfg = cfg.withDefaults()
	if ring == nil {
		return nil, errors.New("realtime tokens: a key ring is required")
	}
	if now == nil {
		now = time.Now
	}
	t := &Tokens{issuer: cfg.TokenIssuer, audience: cfg.TokenAudience, ttl: cfg.TokenTTL, ring: ring, now: now}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.TokenIssuer),
		jwt.WithAudience(cfg.TokenAudience),
		jwt.WithLeeway(TokenLeeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(func() time.Time { return t.now() }),
		jwt.WithStrictDecoding(),
	)
	return t, nil
}

type tokenClaims struct {
	jwt.RegisteredClaims
	SessionID string `json:"sid"`
}

// IssueConnectionToken implements realtime.TokenIssuer.
func (t *Tokens) IssueConnectionToken(_ context.Context, userID, sessionID uuid.UUID) (realtime.ConnectionToken, error) {
	if userID == uuid.Nil || sessionID == uuid.Nil {
		return realtime.ConnectionToken{}, errors.New("realtime token: user and session are required")
	}
	now := t.now().UTC().Truncate(time.Second)
	exp := now.Add(t.ttl)
	key := t.ring.Signing()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    t.issuer,
			Subject:   userID.String(),
			Audience:  jwt.ClaimStrings{t.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		SessionID: sessionID.String(),
	})
	tok.Header["kid"] = key.ID
	s, err := tok.SignedString(key.Private)
	if err != nil {
		return realtime.ConnectionToken{}, fmt.Errorf("sign realtime token: %w", err)
	}
	return realtime.ConnectionToken{Token: s, ExpiresAt: exp}, nil
}

// Verify checks raw's signature, algorithm, key ID, issuer, audience and
// lifetime (at most the configured TTL between iat and exp; no "crit"). It fails with apperr.Unauthenticated "realtime_token_expired"
// for an expired token and "realtime_token_invalid" for anything else (an
// access token included: its audience differs).
func (t *Tokens) Verify(raw string) (Claims, error) {
	if raw == "" || len(raw) > MaxTokenLen {
		return Claims{}, tokenInvalid(errors.New("missing or oversized token"))
	}
	var c tokenClaims
	_, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: refuse a "crit" header naming extensions this
		// verifier does not understand (it understands none), as the
		// access tokens' verifier does.
		if _, ok := tok.Header["crit"]; ok {
			return nil, errors.New("crit header")
		}
		kid, ok := tok.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("missing kid")
		}
		return t.ring.Verifier(kid)
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, apperr.Wrap(err, apperr.Unauthenticated, CodeTokenExpired, "The realtime connection token has expired.")
		}
		return Claims{}, tokenInvalid(err)
	}
	uid, err1 := uuid.Parse(c.Subject)
	sid, err2 := uuid.Parse(c.SessionID)
	if err := errors.Join(err1, err2); err != nil || uid == uuid.Nil || sid == uuid.Nil {
		return Claims{}, tokenInvalid(fmt.Errorf("claims sub/sid: %w", errors.Join(err, errors.New("nil or unparsable"))))
	}
	// A token claiming a longer life than this issuer gives (signed with a
	// leaked key, or by a misconfigured issuer) is refused.
	if c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > t.ttl+time.Second {
		return Claims{}, tokenInvalid(errors.New("lifetime longer than REALTIME_TOKEN_TTL"))
	}
	return Claims{UserID: uid, SessionID: sid, ExpiresAt: c.ExpiresAt.UTC()}, nil
}

func tokenInvalid(cause error) error {
	return apperr.Wrap(cause, apperr.Unauthenticated, CodeTokenInvalid, "The realtime connection token is invalid.")
}
