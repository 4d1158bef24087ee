package identity

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"sync/atomic"
)

// MinSigningSecretLen is the least length of a JWT signing secret.
const MinSigningSecretLen = 32

// hkdfInfo separates the JWT key from anything else derived from the same
// secret.
const hkdfInfo = "tradesense jwt ed25519"

// SigningKey is one Ed25519 key pair derived from a secret.
type SigningKey struct {
	ID      string
	Private ed25519.PrivateKey
	Public  ed25519.PublicKey
}

// DeriveSigningKey derives the Ed25519 key of secret deterministically
// (HKDF-SHA256, info "tradesense jwt ed25519"), so every replica given the
// same secret signs with the same key, and names it by its public key:
// base64url of the first 8 bytes of SHA-256(public key).
func DeriveSigningKey(secret []byte) (SigningKey, error) {
	if len(secret) < MinSigningSecretLen {
		return SigningKey{}, fmt.Errorf("signing secret is %d bytes; at least %d are required", len(secret), MinSigningSecretLen)
	}
	seed, err := hkdf.Key(sha256.New, secret, nil, hkdfInfo, ed25519.SeedSize)
	if err != nil {
		return SigningKey{}, fmt.Errorf("derive signing key: %w", err)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	return SigningKey{ID: base64.RawURLEncoding.EncodeToString(sum[:8]), Private: priv, Public: pub}, nil
}

type keySet struct {
	current SigningKey
	verify  map[string]ed25519.PublicKey
	order   []string
}

// KeyRing holds the signing key and the keys tokens are verified with:
// the current one and the previous ones, so that a rotation needs no
// downtime (tokens signed before it stay valid until they expire; publish
// the new key in the previous list of every replica first if replicas
// roll one at a time). Set swaps the whole ring atomically; readers never
// lock.
type KeyRing struct {
	set       atomic.Pointer[keySet]
	onUnknown atomic.Pointer[func(kid string) bool]
}

// NewKeyRing derives a ring from the current secret and the previous ones.
func NewKeyRing(current []byte, previous ...[]byte) (*KeyRing, error) {
	r := &KeyRing{}
	if err := r.Set(current, previous...); err != nil {
		return nil, err
	}
	return r, nil
}

// Set replaces the ring's keys.
func (r *KeyRing) Set(current []byte, previous ...[]byte) error {
	cur, err := DeriveSigningKey(current)
	if err != nil {
		return err
	}
	ks := &keySet{current: cur, verify: map[string]ed25519.PublicKey{cur.ID: cur.Public}, order: []string{cur.ID}}
	for i, p := range previous {
		k, err := DeriveSigningKey(p)
		if err != nil {
			return fmt.Errorf("previous key %d: %w", i+1, err)
		}
		if _, dup := ks.verify[k.ID]; !dup {
			ks.verify[k.ID] = k.Public
			ks.order = append(ks.order, k.ID)
		}
	}
	r.set.Store(ks)
	return nil
}

// Signing returns the key new tokens are signed with.
func (r *KeyRing) Signing() SigningKey { return r.set.Load().current }

// ErrUnknownKey is returned by Verifier for a kid the ring does not hold.
var ErrUnknownKey = errors.New("unknown signing key id")

// Verifier returns the public key named kid. When the ring does not hold
// it and an OnUnknownKey function is set, that function may load new keys
// and Verifier looks once more.
func (r *KeyRing) Verifier(kid string) (ed25519.PublicKey, error) {
	k, ok := r.set.Load().verify[kid]
	if !ok {
		if fn := r.onUnknown.Load(); fn != nil && (*fn)(kid) {
			k, ok = r.set.Load().verify[kid]
		}
	}
	if !ok {
		return nil, ErrUnknownKey
	}
	return k, nil
}

// OnUnknownKey sets fn to be called by Verifier with a kid the ring does
// not hold — a token signed by a replica that picked up a rotated key
// first. fn may Set new keys and reports whether it did. It runs on the
// verifying request, so it must bound its own duration and rate (an
// attacker chooses the kid). nil removes it.
func (r *KeyRing) OnUnknownKey(fn func(kid string) bool) {
	if fn == nil {
		r.onUnknown.Store(nil)
		return
	}
	r.onUnknown.Store(&fn)
}

// PublicKey is a verification key as published in the JWKS.
type PublicKey struct {
	ID  string
	Key ed25519.PublicKey
}

// PublicKeys lists the verification keys, the signing key first.
func (r *KeyRing) PublicKeys() []PublicKey {
	ks := r.set.Load()
	out := make([]PublicKey, 0, len(ks.order))
	for _, id := range ks.order {
		out = append(out, PublicKey{ID: id, Key: ks.verify[id]})
	}
	return out
}
