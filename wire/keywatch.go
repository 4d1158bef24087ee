package wire

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/secrets"
)

// jwtGrace is how long a replaced JWT signing key must stay accepted: a
// replica may sign with it until its next refresh (SECRETS_CACHE_TTL),
// and the last token it signs lives AUTH_ACCESS_TOKEN_TTL, give or take the
// verification leeway.
func jwtGrace(rc secrets.ResolverConfig, ic identity.Config) time.Duration {
	ttl := rc.TTL
	if ttl == 0 {
		ttl = secrets.DefaultTTL
	}
	return ttl + ic.AccessTTL + jwtauth.Leeway
}

// unknownKeyTimeout bounds the reload a request waits for when it meets a
// key id its ring does not hold.
const unknownKeyTimeout = 3 * time.Second

// reloadOnUnknown is the OnUnknownKey function of a key ring watched by w.
func reloadOnUnknown(w *secrets.KeyWatch) func(string) bool {
	return func(string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), unknownKeyTimeout)
		defer cancel()
		return w.Reload(ctx)
	}
}

// resolvePrevious resolves a *_PREVIOUS list of references or literals.
func resolvePrevious(ctx context.Context, r *secrets.Resolver, name string, values []string) ([]secrets.Secret, error) {
	out := make([]secrets.Secret, 0, len(values))
	for i, v := range values {
		s, err := r.Resolve(ctx, v)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", name, i, err)
		}
		out = append(out, s)
	}
	return out, nil
}

// watchJWTKeys builds the JWT key ring and keeps it current: the signing
// key from JWT_SIGNING_KEY, and for verification the keys it replaced
// (its history, JWT_PREVIOUS_SIGNING_KEYS, keys this process saw replaced)
// until their grace period ends, so a rotation needs no restart and logs
// nobody out.
func watchJWTKeys(ctx context.Context, key KeySetting, previous []string, grace time.Duration, r *secrets.Resolver, log *slog.Logger) (*identity.KeyRing, func(), error) {
	configured, err := resolvePrevious(ctx, r, "JWT_PREVIOUS_SIGNING_KEYS", previous)
	if err != nil {
		return nil, nil, err
	}
	var ring *identity.KeyRing
	w, stop, err := secrets.WatchKey(ctx, r, secrets.KeyWatchConfig{
		Setting: "JWT_SIGNING_KEY", Current: key.Value, Ref: key.Ref,
		Configured: configured, Grace: grace, Log: log,
		Apply: func(current []byte, previous [][]byte) error {
			if ring == nil {
				var err error
				ring, err = identity.NewKeyRing(current, previous...)
				return err
			}
			before := ring.Signing().ID
			if err := ring.Set(current, previous...); err != nil {
				return err
			}
			if kid := ring.Signing().ID; kid != before {
				log.Info("JWT signing key rotated", "kid", kid, "previous_kid", before, "verification_keys", len(ring.PublicKeys()))
			} else {
				log.Info("JWT verification keys changed", "kid", kid, "verification_keys", len(ring.PublicKeys()))
			}
			return nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("JWT_SIGNING_KEY: %w", err)
	}
	ring.OnUnknownKey(reloadOnUnknown(w))
	log.InfoContext(ctx, "JWT signing key loaded", "kid", ring.Signing().ID, "verification_keys", len(ring.PublicKeys()))
	return ring, func() { ring.OnUnknownKey(nil); stop() }, nil
}

// watchMFAKeys builds the MFA key ring and keeps it current: new secrets
// are sealed under MFA_ENCRYPTION_KEY; secrets and backup codes sealed or
// hashed under the keys it replaced (its history,
// MFA_ENCRYPTION_KEY_PREVIOUS, keys this process saw replaced) still open
// and are re-sealed on use. Replaced MFA keys have no grace period: what
// they sealed may sit in the database for years.
func watchMFAKeys(ctx context.Context, key KeySetting, previous []string, r *secrets.Resolver, log *slog.Logger) (*mfa.KeyRing, func(), error) {
	configured, err := resolvePrevious(ctx, r, "MFA_ENCRYPTION_KEY_PREVIOUS", previous)
	if err != nil {
		return nil, nil, err
	}
	var ring *mfa.KeyRing
	w, stop, err := secrets.WatchKey(ctx, r, secrets.KeyWatchConfig{
		Setting: "MFA_ENCRYPTION_KEY", Current: key.Value, Ref: key.Ref,
		Configured: configured, Log: log,
		Apply: func(current []byte, previous [][]byte) error {
			if ring == nil {
				var err error
				ring, err = mfa.NewKeyRing(current, previous...)
				return err
			}
			before := ring.CurrentID()
			if err := ring.Set(current, previous...); err != nil {
				return err
			}
			if id := ring.CurrentID(); id != before {
				log.Info("MFA encryption key rotated", "key_id", id, "previous_key_id", before, "keys", len(previous)+1)
			}
			return nil
		},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("MFA_ENCRYPTION_KEY: %w", err)
	}
	ring.OnUnknownKey(reloadOnUnknown(w))
	return ring, func() { ring.OnUnknownKey(nil); stop() }, nil
}
