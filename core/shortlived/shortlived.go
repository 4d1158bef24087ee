// Package shortlived declares the port for small values that must outlive
// a request but not an hour: pending enrolments, single-use challenge
// tokens. Unlike core/cache, a store may not drop a value before its TTL
// ends while it is up (security state lives here, not hints), and Take is
// atomic: of several concurrent Takes of one key, exactly one gets the
// value.
package shortlived

import (
	"context"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// Error codes of this port.
const (
	CodeNotFound    = "shortlived_not_found"
	CodeInvalid     = "shortlived_invalid"
	CodeUnavailable = "shortlived_unavailable"
)

// MaxKeyLen and MaxValueLen bound what a caller may store.
const (
	MaxKeyLen   = 512
	MaxValueLen = 64 << 10
)

// Store keeps values for a while. Keys are opaque strings chosen by the
// caller ("mfa:enrol:<user id>"); adapters namespace them. Values are
// copied in and out. Every method fails with apperr.Invalid
// ("shortlived_invalid") for an empty or oversize key or value or a
// non-positive TTL, and apperr.Unavailable ("shortlived_unavailable") when
// the backend cannot answer; callers fail closed.
type Store interface {
	// Put stores value under key for ttl, replacing any previous value.
	Put(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Get returns the value under key, or apperr.NotFound
	// ("shortlived_not_found") when there is none or it expired.
	Get(ctx context.Context, key string) ([]byte, error)
	// Take returns the value under key and deletes it, atomically: of
	// concurrent Takes of one key (in any process sharing the backend)
	// exactly one succeeds; the others get apperr.NotFound.
	Take(ctx context.Context, key string) ([]byte, error)
	// Delete forgets key; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// Validate rejects a key, value or TTL that no adapter accepts. Adapters
// call it first; a nil value stands for "no value to check".
func Validate(key string, value []byte, ttl time.Duration, checkTTL bool) error {
	switch {
	case key == "" || len(key) > MaxKeyLen:
		return apperr.New(apperr.Invalid, CodeInvalid, "short-lived key is empty or too long")
	case len(value) > MaxValueLen:
		return apperr.New(apperr.Invalid, CodeInvalid, "short-lived value is too large")
	case checkTTL && ttl <= 0:
		return apperr.New(apperr.Invalid, CodeInvalid, "short-lived TTL must be positive")
	}
	return nil
}

// NotFound is the error of a missing or expired key.
func NotFound() error {
	return apperr.New(apperr.NotFound, CodeNotFound, "no such short-lived value")
}
