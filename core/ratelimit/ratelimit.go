// Package ratelimit declares the rate-limit port that abuse controls and
// account lockouts share, and the error a refused request carries.
//
// A Limit counts hits on a key in fixed windows and, optionally, blocks the
// key for a while once the count reaches Max: that one shape serves both
// "20 logins per minute per IP" (Block zero: refused until the window ends)
// and "after 5 failed passwords in 15 minutes, lock for 15 minutes"
// (Block 15m, hits recorded only on failure, Peek before each attempt).
package ratelimit

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// Limit is a budget of Max hits per Window. Block, when positive, refuses
// every hit for Block from the moment the Max-th hit of a window lands,
// whatever the window does meanwhile.
type Limit struct {
	Max    int
	Window time.Duration
	Block  time.Duration
}

// Validate reports a limit no adapter can enforce.
func (l Limit) Validate() error {
	if l.Max < 1 || l.Window <= 0 || l.Block < 0 {
		return apperr.New(apperr.Invalid, "ratelimit_invalid", fmt.Sprintf("rate limit %d per %s (block %s) is invalid", l.Max, l.Window, l.Block))
	}
	return nil
}

// Result is a limiter's answer for one key.
type Result struct {
	// Allowed is false when the hit was refused (Hit) or would be (Peek).
	Allowed bool
	// Count is the number of hits counted in the current window, the
	// refused ones excluded.
	Count int
	// Remaining is how many more hits the window allows (0 when blocked).
	Remaining int
	// RetryAfter is how long until a hit would be allowed again; zero when
	// Allowed.
	RetryAfter time.Duration
	// Blocked is true while a Block is in force.
	Blocked bool
	// JustBlocked is true on the one Hit that started a Block.
	JustBlocked bool
}

// Limiter counts hits per key. Keys are opaque strings of at most 512
// bytes chosen by the caller ("login:ip:203.0.113.7"); adapters namespace
// them. Implementations are safe for concurrent use and atomic per key
// across every process that shares the backend: n concurrent hits on a key
// with Max n-1 let exactly n-1 through.
//
// Every method fails with apperr.Invalid ("ratelimit_invalid") for a bad
// limit or key and apperr.Unavailable ("ratelimit_unavailable") when the
// backend cannot answer; callers fail closed.
type Limiter interface {
	// Hit counts one hit on key under l, unless the key is refused (window
	// full or blocked), in which case nothing is counted.
	Hit(ctx context.Context, key string, l Limit) (Result, error)
	// Peek reports what Hit would answer without counting anything.
	Peek(ctx context.Context, key string, l Limit) (Result, error)
	// Reset forgets key: its count and any block.
	Reset(ctx context.Context, key string) error
}

// Error codes of this package.
const (
	CodeInvalid     = "ratelimit_invalid"
	CodeUnavailable = "ratelimit_unavailable"
	CodeLimited     = "rate_limited"
)

// MaxKeyLen bounds a key's length in bytes.
const MaxKeyLen = 512

// ValidateKey rejects keys that no adapter accepts.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return apperr.New(apperr.Invalid, CodeInvalid, "rate limit key is empty or too long")
	}
	return nil
}

// ExceededError is the cause of a RateLimited apperr: it tells the HTTP
// layer what to put in Retry-After.
type ExceededError struct {
	After time.Duration
}

func (e *ExceededError) Error() string {
	return fmt.Sprintf("rate limit exceeded; retry after %s", e.After)
}

// RetryAfter is how long the caller should wait.
func (e *ExceededError) RetryAfter() time.Duration { return e.After }

// Exceeded returns the RateLimited error for a refused Result, with code
// and message for the caller and Retry-After from r.
func Exceeded(r Result, code, message string) error {
	if code == "" {
		code = CodeLimited
	}
	return apperr.Wrap(&ExceededError{After: r.RetryAfter}, apperr.RateLimited, code, message)
}

// RetryAfterSeconds rounds d up to whole seconds, at least 1, as the
// Retry-After header wants.
func RetryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		return 1
	}
	return s
}

// State is a key's stored state, for adapters that keep it themselves (the
// memory adapter, and the reference the Redis script is tested against).
type State struct {
	Count        int
	WindowEnd    time.Time
	BlockedUntil time.Time
}

// Apply is the algorithm every adapter implements: given the stored state
// of a key at now, it returns the answer and the state to store. count
// tells Hit (true) from Peek (false).
func Apply(st State, l Limit, now time.Time, count bool) (Result, State) {
	if now.Before(st.BlockedUntil) {
		return Result{Count: st.Count, RetryAfter: st.BlockedUntil.Sub(now), Blocked: true}, st
	}
	if !now.Before(st.WindowEnd) {
		st = State{WindowEnd: now.Add(l.Window)}
	}
	if st.Count >= l.Max {
		return Result{Count: st.Count, RetryAfter: st.WindowEnd.Sub(now)}, st
	}
	if !count {
		return Result{Allowed: true, Count: st.Count, Remaining: l.Max - st.Count}, st
	}
	st.Count++
	r := Result{Allowed: true, Count: st.Count, Remaining: l.Max - st.Count}
	if st.Count >= l.Max && l.Block > 0 {
		st.BlockedUntil = now.Add(l.Block)
		r.Blocked, r.JustBlocked = true, true
	}
	return r, st
}

// Expiry is when a stored state may be forgotten.
func (st State) Expiry() time.Time {
	if st.BlockedUntil.After(st.WindowEnd) {
		return st.BlockedUntil
	}
	return st.WindowEnd
}
