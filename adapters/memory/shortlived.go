package memory

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/shortlived"
)

// ShortLived is the in-process shortlived.Store of the local profile: a
// mutex-guarded map swept of expired entries as it grows. Exact within one
// process; replicas need the Redis adapter.
type ShortLived struct {
	mu        sync.Mutex
	entries   map[string]shortLivedEntry
	nextSweep time.Time
}

type shortLivedEntry struct {
	value     []byte
	expiresAt time.Time
}

var _ shortlived.Store = (*ShortLived)(nil)

// NewShortLived returns an empty store.
func NewShortLived() *ShortLived {
	return &ShortLived{entries: map[string]shortLivedEntry{}}
}

// Put implements shortlived.Store.
func (m *ShortLived) Put(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := shortlived.Validate(key, value, ttl, true); err != nil {
		return err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep(now)
	m.entries[key] = shortLivedEntry{value: bytes.Clone(value), expiresAt: now.Add(ttl)}
	return nil
}

// Get implements shortlived.Store.
func (m *ShortLived) Get(_ context.Context, key string) ([]byte, error) {
	return m.read(key, false)
}

// Take implements shortlived.Store.
func (m *ShortLived) Take(_ context.Context, key string) ([]byte, error) {
	return m.read(key, true)
}

// Delete implements shortlived.Store.
func (m *ShortLived) Delete(_ context.Context, key string) error {
	if err := shortlived.Validate(key, nil, 0, false); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.entries, key)
	m.mu.Unlock()
	return nil
}

func (m *ShortLived) read(key string, take bool) ([]byte, error) {
	if err := shortlived.Validate(key, nil, 0, false); err != nil {
		return nil, err
	}
	now := time.Now()
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[key]
	if !ok || !now.Before(e.expiresAt) {
		delete(m.entries, key)
		return nil, shortlived.NotFound()
	}
	if take {
		delete(m.entries, key)
	}
	return bytes.Clone(e.value), nil
}

// sweep drops expired entries at most once a minute; m.mu is held.
func (m *ShortLived) sweep(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(time.Minute)
	for k, e := range m.entries {
		if !now.Before(e.expiresAt) {
			delete(m.entries, k)
		}
	}
}
