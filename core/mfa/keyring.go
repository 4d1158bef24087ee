package mfa

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/google/uuid"
)

// MinKeyMaterial is the shortest MFA_ENCRYPTION_KEY accepted (256 bits).
const MinKeyMaterial = 32

// HKDF labels: each derived key has one purpose.
const (
	infoAEAD   = "tradesense mfa totp secret aes-256-gcm v1"
	infoBackup = "tradesense mfa backup code hmac-sha256 v1"
	infoKeyID  = "tradesense mfa key id v1"
	adLabel    = "tradesense mfa totp secret v1\x00"
)

// KeyRing seals TOTP secrets and hashes backup codes with keys derived
// (HKDF-SHA256) from the MFA_ENCRYPTION_KEY secret: the current key for
// everything new, previous keys to open (and re-seal) what they sealed and
// to recognise backup codes they hashed. Key IDs are derived too (a
// fingerprint, not the key), so rotating is: put the new material first,
// keep the old one as previous until every secret was re-sealed.
//
// Set swaps the keys atomically while the service runs (a rotation picked
// up by the secrets resolver); readers never lock.
type KeyRing struct {
	keys      atomic.Pointer[[]ringKey] // keys[0] is current
	onUnknown atomic.Pointer[func(keyID string) bool]
}

type ringKey struct {
	id     string
	aead   cipher.AEAD
	macKey []byte
}

// NewKeyRing derives the ring from the current key material and any
// previous ones. Material must hold at least 32 bytes of entropy (a random
// value from `openssl rand -base64 48`, say).
func NewKeyRing(current []byte, previous ...[]byte) (*KeyRing, error) {
	r := &KeyRing{}
	if err := r.Set(current, previous...); err != nil {
		return nil, err
	}
	return r, nil
}

// Set replaces the ring's keys: current seals everything new, previous
// ones still open and recognise what they sealed and hashed. On error the
// ring is unchanged.
func (r *KeyRing) Set(current []byte, previous ...[]byte) error {
	keys, err := deriveKeys(current, previous)
	if err != nil {
		return err
	}
	r.keys.Store(&keys)
	return nil
}

// OnUnknownKey sets fn to be called by Open with a key ID the ring does
// not hold — a secret sealed by a replica that picked up a rotated key
// first. fn may Set new keys and reports whether it did; Open then tries
// once more. It runs on the request, so it must bound its own duration
// and rate. nil removes it.
func (r *KeyRing) OnUnknownKey(fn func(keyID string) bool) {
	if fn == nil {
		r.onUnknown.Store(nil)
		return
	}
	r.onUnknown.Store(&fn)
}

func (r *KeyRing) load() []ringKey { return *r.keys.Load() }

func deriveKeys(current []byte, previous [][]byte) ([]ringKey, error) {
	var keys []ringKey
	seen := map[string]bool{}
	for i, m := range append([][]byte{current}, previous...) {
		if len(m) < MinKeyMaterial {
			if i == 0 {
				return nil, fmt.Errorf("MFA_ENCRYPTION_KEY: must be at least %d bytes", MinKeyMaterial)
			}
			return nil, fmt.Errorf("MFA_ENCRYPTION_KEY_PREVIOUS: each key must be at least %d bytes", MinKeyMaterial)
		}
		k, err := deriveKey(m)
		if err != nil {
			return nil, err
		}
		if seen[k.id] {
			continue
		}
		seen[k.id] = true
		keys = append(keys, k)
	}
	return keys, nil
}

func deriveKey(material []byte) (ringKey, error) {
	aesKey, err := hkdf.Key(sha256.New, material, nil, infoAEAD, 32)
	if err != nil {
		return ringKey{}, err
	}
	macKey, err := hkdf.Key(sha256.New, material, nil, infoBackup, 32)
	if err != nil {
		return ringKey{}, err
	}
	idBytes, err := hkdf.Key(sha256.New, material, nil, infoKeyID, 6)
	if err != nil {
		return ringKey{}, err
	}
	block, err := aes.NewCipher(aesKey)
	if err != nil {
		return ringKey{}, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return ringKey{}, err
	}
	return ringKey{id: "k" + hex.EncodeToString(idBytes), aead: aead, macKey: macKey}, nil
}

// CurrentID is the ID of the key new secrets are sealed with.
func (r *KeyRing) CurrentID() string { return r.load()[0].id }

func associated(userID uuid.UUID, purpose string) []byte {
	ad := make([]byte, 0, len(adLabel)+len(purpose)+1+16)
	ad = append(ad, adLabel...)
	ad = append(ad, purpose...)
	ad = append(ad, 0)
	return append(ad, userID[:]...)
}

// Seal encrypts secret for userID under the current key. purpose separates
// ciphertexts that must not be swapped ("factor", "pending").
func (r *KeyRing) Seal(userID uuid.UUID, purpose string, secret []byte) (Sealed, error) {
	k := r.load()[0]
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(secret)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return Sealed{}, fmt.Errorf("mfa: nonce: %w", err)
	}
	return Sealed{KeyID: k.id, Ciphertext: k.aead.Seal(nonce, nonce, secret, associated(userID, purpose))}, nil
}

var errUnreadable = errors.New("mfa: sealed secret cannot be opened")

// Open decrypts s for userID; stale reports that s was sealed with a
// previous key (re-seal it). A secret of another user, another purpose, an
// unknown key or a tampered ciphertext fails.
func (r *KeyRing) Open(userID uuid.UUID, purpose string, s Sealed) (secret []byte, stale bool, err error) {
	secret, stale, err = r.open(r.load(), userID, purpose, s)
	if errors.Is(err, errUnknownKey) {
		if fn := r.onUnknown.Load(); fn != nil && (*fn)(s.KeyID) {
			secret, stale, err = r.open(r.load(), userID, purpose, s)
		}
	}
	return secret, stale, err
}

// errUnknownKey marks an Open that failed only because the key ID is not
// in the ring.
var errUnknownKey = errors.New("unknown key")

func (r *KeyRing) open(keys []ringKey, userID uuid.UUID, purpose string, s Sealed) ([]byte, bool, error) {
	for i, k := range keys {
		if k.id != s.KeyID {
			continue
		}
		n := k.aead.NonceSize()
		if len(s.Ciphertext) < n+k.aead.Overhead() {
			return nil, false, errUnreadable
		}
		pt, err := k.aead.Open(nil, s.Ciphertext[:n], s.Ciphertext[n:], associated(userID, purpose))
		if err != nil {
			return nil, false, errUnreadable
		}
		return pt, i > 0, nil
	}
	return nil, false, fmt.Errorf("%w: %w %q", errUnreadable, errUnknownKey, s.KeyID)
}

// backupHashes returns the keyed hash of a canonical backup code under the
// current key first, then under each previous key.
func (r *KeyRing) backupHashes(userID uuid.UUID, canonical []byte) [][]byte {
	keys := r.load()
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = backupHash(k.macKey, userID, canonical)
	}
	return out
}

func backupHash(key []byte, userID uuid.UUID, canonical []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(userID[:])
	m.Write(canonical)
	return m.Sum(nil)
}
