package memory

import (
	"context"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/ratelimit"
)

// RateLimiter is the in-process ratelimit.Limiter of the local profile:
// one mutex-guarded map, swept of expired keys as it grows. It is exact
// within one process and knows nothing of other replicas.
type RateLimiter struct {
	mu        sync.Mutex
	keys      map[string]ratelimit.State
	nextSweep time.Time
}

var _ ratelimit.Limiter = (*RateLimiter)(nil)

// NewRateLimiter returns an empty limiter.
func NewRateLimiter() *RateLimiter {
	return &RateLimiter{keys: map[string]ratelimit.State{}}
}

// Hit implements ratelimit.Limiter.
func (m *RateLimiter) Hit(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	return m.apply(key, l, true)
}

// Peek implements ratelimit.Limiter.
func (m *RateLimiter) Peek(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	return m.apply(key, l, false)
}

// Reset implements ratelimit.Limiter.
func (m *RateLimiter) Reset(_ context.Context, key string) error {
	if err := ratelimit.ValidateKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.keys, key)
	m.mu.Unlock()
	return nil
}

func (m *RateLimiter) apply(key string, l ratelimit.Limit, count bool) (ratelimit.Result, error) {
	if err := ratelimit.ValidateKey(key); err != nil {
		return ratelimit.Result{}, err
	}
	if err := l.Validate(); err != nil {
		return ratelimit.Result{}, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	r, st := ratelimit.Apply(m.keys[key], l, now, count)
	if count || st.Count > 0 {
		m.keys[key] = st
	}
	return r, nil
}

// sweep drops expired keys at most once a minute, so memory stays bounded
// by the keys active in the longest window.
func (m *RateLimiter) sweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(time.Minute)
	for k, st := range m.keys {
		if !now.Before(st.Expiry()) {
			delete(m.keys, k)
		}
	}
}

// Len is the number of keys held, for tests of the sweep.
func (m *RateLimiter) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.keys)
}
