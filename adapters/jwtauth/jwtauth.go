// Package jwtauth signs and verifies access tokens as JWTs (EdDSA over
// Ed25519, golang-jwt/v5) with the keys of an identity.KeyRing.
package jwtauth

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
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
	parser *jwt.Parser

	// verified remembers tokens whose signature and claims checked out,
	// keyed by the whole token, so that a client presenting the same
	// token again costs a map lookup instead of an Ed25519 verification
	// (~50 µs). See Verify for what a hit still checks.
	mu          sync.RWMutex
	verified    map[string]verifiedToken
	maxVerified int
}

type verifiedToken struct {
	claims identity.AccessClaims
	kid    string
	key    ed25519.PublicKey
}

// VerifiedCacheSize bounds the number of remembered tokens (about 1 KiB
// each).
const VerifiedCacheSize = 8192

var _ identity.AccessTokens = (*Tokens)(nil)

// New returns the signer/verifier. Lifetimes are checked against
// time.Now (in tests, a synctest bubble's clock).
func New(cfg Config, ring *identity.KeyRing) (*Tokens, error) {
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, errors.New("jwt issuer and audience are required")
	}
	t := &Tokens{cfg: cfg, ring: ring, verified: make(map[string]verifiedToken), maxVerified: VerifiedCacheSize}
	t.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(cfg.Issuer),
		jwt.WithAudience(cfg.Audience),
		jwt.WithLeeway(Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
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
//
// A token already verified is served from memory when it is byte for byte
// the same, has not expired (with Leeway), and the key that signed it is
// still in the key ring (a key removed by rotation invalidates its tokens
// at once). Only tokens that passed every check are remembered.
func (t *Tokens) Verify(raw string) (identity.AccessClaims, error) {
	if len(raw) > MaxTokenLen {
		return identity.AccessClaims{}, invalid(errors.New("token too long"))
	}
	if c, ok := t.remembered(raw); ok {
		return c, nil
	}
	var c claims
	var kid string
	var key ed25519.PublicKey
	_, err := t.parser.ParseWithClaims(raw, &c, func(tok *jwt.Token) (any, error) {
		// RFC 7515 §4.1.11: a recipient must refuse a token whose "crit"
		// header names an extension it does not understand. This verifier
		// understands none, so any "crit" (even an empty one, which the
		// RFC forbids) is refused.
		if _, ok := tok.Header["crit"]; ok {
			return nil, errors.New("crit header names extensions this verifier does not implement")
		}
		var ok bool
		kid, ok = tok.Header["kid"].(string)
		if !ok || kid == "" {
			return nil, errors.New("missing kid")
		}
		k, err := t.ring.Verifier(kid)
		key = k
		return k, err
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
	out := identity.AccessClaims{UserID: uid, SessionID: sid, Role: role, AAL: c.AAL, AMR: c.AMR,
		IssuedAt: c.IssuedAt.UTC(), ExpiresAt: c.ExpiresAt.UTC()}
	t.remember(raw, verifiedToken{claims: out, kid: kid, key: key})
	out.AMR = slices.Clone(out.AMR)
	return out, nil
}

// remembered returns the claims of raw if it was verified before and is
// still valid: not expired, issued in the past (both with Leeway), and
// signed by a key the ring still holds.
func (t *Tokens) remembered(raw string) (identity.AccessClaims, bool) {
	t.mu.RLock()
	v, ok := t.verified[raw]
	t.mu.RUnlock()
	if !ok {
		return identity.AccessClaims{}, false
	}
	now := time.Now()
	if !now.Before(v.claims.ExpiresAt.Add(Leeway)) || now.Add(Leeway).Before(v.claims.IssuedAt) {
		t.mu.Lock()
		delete(t.verified, raw)
		t.mu.Unlock()
		return identity.AccessClaims{}, false
	}
	if k, err := t.ring.Verifier(v.kid); err != nil || !bytes.Equal(k, v.key) {
		return identity.AccessClaims{}, false
	}
	c := v.claims
	c.AMR = slices.Clone(c.AMR)
	return c, true
}

func (t *Tokens) remember(raw string, v verifiedToken) {
	now := time.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.verified) >= t.maxVerified {
		// Drop expired entries among a few, else one arbitrary entry.
		n := 0
		for k, e := range t.verified {
			if !now.Before(e.claims.ExpiresAt.Add(Leeway)) || n == 0 {
				delete(t.verified, k)
			}
			if n++; n == 16 {
				break
			}
		}
	}
	t.verified[strings.Clone(raw)] = v
}

func invalid(cause error) error {
	return apperr.Wrap(cause, apperr.Unauthenticated, identity.CodeTokenMalformed, "The access token is invalid.")
}
