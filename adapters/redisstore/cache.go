package redisstore

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/cache"
)

// Cache is the Redis adapter of cache.Cache. Its keys live under
// "<KeyPrefix>cache:" so that DeletePrefix("") clears the cache and nothing
// else on a shared server.
type Cache struct {
	rdb   *redis.Client
	ns    string
	mgets *autoPipe
}

var _ cache.Cache = (*Cache)(nil)

// scanBatch is the COUNT hint of DeletePrefix's SCAN and the size of its
// UNLINK batches.
const scanBatch = 500

// NewCache returns the cache on the shared client.
func NewCache(c *Client) *Cache {
	return &Cache{rdb: c.rdb, ns: c.prefix + "cache:", mgets: &autoPipe{rdb: c.rdb}}
}

// Get implements cache.Cache.
func (c *Cache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return nil, false, err
	}
	v, err := c.rdb.Get(ctx, c.ns+key).Bytes()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, false, nil
	case err != nil:
		return nil, false, cache.Unavailable(err)
	}
	return v, true, nil
}

// Set implements cache.Cache (SET with PX).
func (c *Cache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := cache.ValidateKey(key); err != nil {
		return err
	}
	if err := cache.ValidateTTL(ttl); err != nil {
		return err
	}
	if value == nil {
		value = []byte{}
	}
	if err := c.rdb.Set(ctx, c.ns+key, value, max(ttl, time.Millisecond)).Err(); err != nil {
		return cache.Unavailable(err)
	}
	return nil
}

// Delete implements cache.Cache with UNLINK, which frees memory off the
// server's main thread.
func (c *Cache) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		if err := cache.ValidateKey(k); err != nil {
			return err
		}
		full[i] = c.ns + k
	}
	if err := c.rdb.Unlink(ctx, full...).Err(); err != nil {
		return cache.Unavailable(err)
	}
	return nil
}

// Exists implements cache.Cache.
func (c *Cache) Exists(ctx context.Context, key string) (bool, error) {
	if err := cache.ValidateKey(key); err != nil {
		return false, err
	}
	n, err := c.rdb.Exists(ctx, c.ns+key).Result()
	if err != nil {
		return false, cache.Unavailable(err)
	}
	return n == 1, nil
}

// DeletePrefix implements cache.Cache with SCAN MATCH and batched UNLINK. It
// walks the whole keyspace of the database (SCAN cannot do better), so its
// cost grows with the server's size, not the number of matches. Keys written
// during the scan may survive it.
func (c *Cache) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := cache.ValidatePrefix(prefix); err != nil {
		return 0, err
	}
	pattern := escapeGlob(c.ns+prefix) + "*"
	deleted := 0
	var cursor uint64
	for {
		keys, next, err := c.rdb.Scan(ctx, cursor, pattern, scanBatch).Result()
		if err != nil {
			return deleted, cache.Unavailable(err)
		}
		if len(keys) > 0 {
			n, err := c.rdb.Unlink(ctx, keys...).Result()
			if err != nil {
				return deleted, cache.Unavailable(err)
			}
			deleted += int(n)
		}
		if next == 0 {
			return deleted, nil
		}
		cursor = next
	}
}

// escapeGlob makes s match itself literally in a Redis MATCH pattern.
func escapeGlob(s string) string {
	if !strings.ContainsAny(s, `*?[]\^`) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '*', '?', '[', ']', '\\', '^':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var _ cache.MultiGetter = (*Cache)(nil)

// GetMany implements cache.MultiGetter with one MGET, sent in one pipeline
// with the MGETs of concurrent callers (see autoPipe): the per-request
// revocation and profile read of identity.Service.Authenticate.
func (c *Cache) GetMany(ctx context.Context, keys ...string) ([][]byte, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		if err := cache.ValidateKey(k); err != nil {
			return nil, err
		}
		full[i] = c.ns + k
	}
	vals, err := c.mgets.mget(ctx, full)
	if err != nil {
		return nil, cache.Unavailable(err)
	}
	out := make([][]byte, len(keys))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}
