// Package cache holds the cache port and the cache-aside policy that every
// caller wants: a per-call deadline, metrics by key prefix, singleflight,
// TTL jitter, opt-in negative caching and fail-open behaviour.
//
// Adapters (memory, Redis) implement Cache with raw bytes. Services use a
// *Layer, usually through GetOrLoad, which stores values as JSON.
package cache

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tradesense/tradesense/core/apperr"
)

// Cache is a byte-valued key/value store whose entries expire.
//
// Keys are UTF-8 strings of at most MaxKeyLen bytes without control
// characters; by convention they read "<prefix>:<rest>" (for example
// "user:0190…"), and the prefix names the metrics. Implementations must be
// safe for concurrent use, must not retain the slices passed to Set, and
// must return slices that the caller owns.
//
// Every method fails with apperr.Invalid (code "cache_key_invalid" or
// "cache_ttl_invalid") on a bad argument and with apperr.Unavailable (code
// "cache_unavailable") when the backend cannot answer, including when ctx
// expires first. No other kinds are returned.
type Cache interface {
	// Get returns the value stored under key. A missing or expired key is
	// not an error: found is false and err nil.
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	// Set stores value under key for ttl, replacing any previous value.
	// ttl must be positive: nothing is cached forever.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes the keys. Absent keys are not an error.
	Delete(ctx context.Context, keys ...string) error
	// Exists reports whether key holds an unexpired value.
	Exists(ctx context.Context, key string) (bool, error)
	// DeletePrefix removes every key that starts with prefix and reports how
	// many it removed. It is meant for invalidating a family of keys
	// ("report:<user>:"); its cost grows with the size of the cache, so it
	// does not belong on a hot path. The empty prefix clears the cache.
	DeletePrefix(ctx context.Context, prefix string) (int, error)
}

// MaxKeyLen bounds the length of a key in bytes.
const MaxKeyLen = 1024

// Error codes carried by the errors of this package and its adapters.
const (
	CodeKeyInvalid  = "cache_key_invalid"
	CodeTTLInvalid  = "cache_ttl_invalid"
	CodeUnavailable = "cache_unavailable"
)

// ValidateKey returns an apperr.Invalid error when key is not a valid cache
// key (see Cache). Adapters call it so that every backend accepts the same
// keys.
func ValidateKey(key string) error {
	if key == "" {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, "cache key is empty")
	}
	if len(key) > MaxKeyLen {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, "cache key is too long")
	}
	if !utf8.ValidString(key) {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, "cache key is not valid UTF-8")
	}
	if strings.ContainsFunc(key, isControl) {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, "cache key contains a control character")
	}
	return nil
}

// ValidatePrefix is ValidateKey for DeletePrefix: the empty prefix is allowed.
func ValidatePrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return ValidateKey(prefix)
}

// ValidateTTL returns an apperr.Invalid error unless ttl is positive.
func ValidateTTL(ttl time.Duration) error {
	if ttl <= 0 {
		return apperr.New(apperr.Invalid, CodeTTLInvalid, "cache TTL must be positive")
	}
	return nil
}

// Unavailable wraps a backend failure into the error every adapter returns
// when it cannot answer. The cause is kept for the logs.
func Unavailable(cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeUnavailable, "cache unavailable")
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// Prefix returns the metric prefix of key: the text before its first ':', or
// "other" when there is none. Keys are chosen by code, so the set of prefixes
// is small; the Layer still caps it (see maxPrefixes).
func Prefix(key string) string {
	if i := strings.IndexByte(key, ':'); i > 0 {
		return key[:i]
	}
	return "other"
}
