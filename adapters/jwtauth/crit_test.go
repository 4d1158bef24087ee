package jwtauth_test

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// A token with a "crit" header is refused (RFC 7515 §4.1.11: the verifier
// understands no extension), even when its signature, key and claims are
// all good; the same token without it is accepted.
func TestRejectsCritHeader(t *testing.T) {
	ring := mustRing(t, secretA)
	tk := setup(t, ring)
	good, err := tk.Issue(claimsAt(time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	body := decodeSeg(t, good, 1)
	sign := func(header map[string]any) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, jwt.MapClaims(body))
		tok.Header["kid"] = ring.Signing().ID
		for k, v := range header {
			tok.Header[k] = v
		}
		s, err := tok.SignedString(ring.Signing().Private)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	if _, err := tk.Verify(sign(nil)); err != nil {
		t.Fatalf("control token without crit refused: %v", err)
	}
	for name, h := range map[string]map[string]any{
		"unknown extension":     {"crit": []string{"exp-v2"}, "exp-v2": 1},
		"extension not present": {"crit": []string{"b64"}},
		"empty list":            {"crit": []string{}},
		"not a list":            {"crit": "b64", "b64": false},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := tk.Verify(sign(h))
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Unauthenticated || e.Code != identity.CodeTokenMalformed {
				t.Fatalf("Verify = %v; want Unauthenticated %s", err, identity.CodeTokenMalformed)
			}
		})
	}
}
