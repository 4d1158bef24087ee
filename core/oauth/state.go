package oauth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// flowState is a started flow as the short-lived store keeps it, under
// flowKey(state).
type flowState struct {
	V          int       `json:"v"`
	Provider   string    `json:"p"`
	Intent     Intent    `json:"i"`
	UserID     uuid.UUID `json:"u,omitzero"`
	SessionID  uuid.UUID `json:"s,omitzero"`
	RedirectTo string    `json:"r"`
	Verifier   string    `json:"pv"`
	Nonce      string    `json:"n"`
	// Browser is the SHA-256 of the browser secret.
	Browser []byte `json:"b"`
	// AppChallenge is the app's own S256 code_challenge ("" for a flow
	// bound to the browser only).
	AppChallenge string    `json:"ac,omitempty"`
	ExpiresAt    time.Time `json:"e"`
}

// codeState is a one-time code as the store keeps it, under codeKey(code).
type codeState struct {
	V            int       `json:"v"`
	UserID       uuid.UUID `json:"u"`
	Provider     string    `json:"p"`
	Browser      []byte    `json:"b"`
	AppChallenge string    `json:"ac,omitempty"`
	ExpiresAt    time.Time `json:"e"`
}

const stateVersion = 1

var errStateEncoding = errors.New("oauth: malformed short-lived value")

func encodeState(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("oauth: encode state: %w", err)
	}
	return b, nil
}

func decodeFlow(b []byte) (*flowState, error) {
	var f flowState
	if err := json.Unmarshal(b, &f); err != nil || f.V != stateVersion || len(f.Browser) != sha256.Size {
		return nil, errStateEncoding
	}
	return &f, nil
}

func decodeCode(b []byte) (*codeState, error) {
	var c codeState
	if err := json.Unmarshal(b, &c); err != nil || c.V != stateVersion || c.UserID == uuid.Nil {
		return nil, errStateEncoding
	}
	return &c, nil
}

func flowKey(state string) string { return "oauth:flow:" + hashHex(state) }
func codeKey(code string) string  { return "oauth:code:" + hashHex(code) }

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func hashOf(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

// newToken returns 256 random bits, base64url (43 characters): states,
// nonces, PKCE verifiers, browser secrets and one-time codes.
func newToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("oauth: random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// wellFormed accepts what newToken produces and nothing else.
func wellFormed(tok string) bool {
	if len(tok) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	return err == nil && len(b) == 32
}

// sameHash compares the SHA-256 of secret with want in constant time; an
// empty secret never matches.
func sameHash(secret string, want []byte) bool {
	return secret != "" && subtle.ConstantTimeCompare(hashOf(secret), want) == 1
}

// s256 is the PKCE S256 transform (RFC 7636 4.2).
func s256(verifier string) string {
	h := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// validVerifier checks RFC 7636's code_verifier syntax: 43 to 128
// characters of [A-Za-z0-9-._~].
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := range len(v) {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// validChallenge checks an S256 code_challenge: base64url of 32 bytes.
func validChallenge(c string) bool { return wellFormed(c) }
