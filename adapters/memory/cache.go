// Package memory holds in-process adapters: the local profile runs on them
// and tests use them. They are production quality, bounded and safe for
// concurrent use, but hold state for one process only: with several replicas
// use the Redis adapters.
package memory

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/tradesense/tradesense/core/cache"
)

// CacheConfig bounds the memory cache.
type CacheConfig struct {
	// MaxBytes bounds the approximate memory the entries use (keys, values
	// and a fixed per-entry overhead). Env CACHE_MEMORY_MAX_BYTES, default
	// 64 MiB. When full, the cache evicts the entries least likely to be used
	// again (W-TinyLFU: recency and frequency).
	MaxBytes uint64
}

// DefaultCacheConfig returns the defaults documented on CacheConfig.
func DefaultCacheConfig() CacheConfig {
	return CacheConfig{MaxBytes: 64 << 20}
}

// entryOverhead approximates the bookkeeping of one entry (node, hash table
// slot, slice headers) so that many tiny entries still count.
const entryOverhead = 96

type entry struct {
	data  []byte
	ttl   time.Duration
	value *cache.ValueSlot // the decoded value, see cache.EntryCache
}

// Cache is the memory adapter of cache.Cache, on otter: a bounded,
// concurrent map with per-entry expiry.
type Cache struct {
	c *otter.Cache[string, entry]
}

var (
	_ cache.Cache      = (*Cache)(nil)
	_ cache.InProcess  = (*Cache)(nil)
	_ cache.EntryCache = (*Cache)(nil)
)

// NewCache returns an empty cache. The cleanup stops the goroutine that
// proactively removes expired entries.
func NewCache(cfg CacheConfig) (*Cache, func(), error) {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultCacheConfig().MaxBytes
	}
	opts := &otter.Options[string, entry]{
		MaximumWeight: cfg.MaxBytes,
		Weigher: func(k string, e entry) uint32 {
			return uint32(min(len(k)+len(e.data)+entryOverhead, 1<<31))
		},
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, entry]) time.Duration {
			return e.Value.ttl
		}),
	}
	c, err := otter.New(opts)
	if err != nil {
		return nil, nil, fmt.Errorf("memory cache: %w", err)
	}
	return &Cache{c: c}, func() { c.StopAllGoroutines() }, nil
}

// InProcess marks the cache as never blocking (see cache.InProcess).
func (*Cache) InProcess() {}

// Get implements cache.Cache. It never fails except on an invalid key.
func (m *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return nil, false, err
	}
	e, ok := m.c.GetIfPresent(key)
	if !ok {
		return nil, false, nil
	}
	return clone(e.data), true, nil
}

// GetEntry implements cache.EntryCache: the entry's bytes without a copy
// (callers must not modify them) and its decoded-value slot.
func (m *Cache) GetEntry(key string) (cache.Entry, bool) {
	e, ok := m.c.GetIfPresent(key)
	if !ok {
		return cache.Entry{}, false
	}
	return cache.Entry{Data: e.data, Value: e.value}, true
}

// Set implements cache.Cache. An entry larger than the whole cache is
// silently not kept, as any eviction would drop it.
func (m *Cache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := cache.ValidateKey(key); err != nil {
		return err
	}
	if err := cache.ValidateTTL(ttl); err != nil {
		return err
	}
	m.c.Set(key, entry{data: clone(value), ttl: ttl, value: new(cache.ValueSlot)})
	return nil
}

// Delete implements cache.Cache.
func (m *Cache) Delete(_ context.Context, keys ...string) error {
	for _, k := range keys {
		if err := cache.ValidateKey(k); err != nil {
			return err
		}
	}
	for _, k := range keys {
		m.c.Invalidate(k)
	}
	return nil
}

// Exists implements cache.Cache.
func (m *Cache) Exists(_ context.Context, key string) (bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return false, err
	}
	_, ok := m.c.GetEntryQuietly(key)
	return ok, nil
}

// DeletePrefix implements cache.Cache by walking every key: O(entries).
func (m *Cache) DeletePrefix(_ context.Context, prefix string) (int, error) {
	if err := cache.ValidatePrefix(prefix); err != nil {
		return 0, err
	}
	var matched []string
	for k := range m.c.Keys() {
		if strings.HasPrefix(k, prefix) {
			matched = append(matched, k)
		}
	}
	n := 0
	for _, k := range matched {
		if _, live := m.c.GetEntryQuietly(k); !live {
			continue // expired: not counted as a deletion
		}
		if _, ok := m.c.Invalidate(k); ok {
			n++
		}
	}
	return n, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	out := make([]byte, len(b))
	copy(out, b)
	return out
}
