package redisstore

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/shortlived"
)

// ShortLived is the Redis shortlived.Store: SET with PX, GET, GETDEL
// (atomic in Redis 6.2+) and DEL, under the client's prefix plus "sl:".
// Expiry is Redis's own clock.
type ShortLived struct {
	rdb *redis.Client
	ns  string
}

var _ shortlived.Store = (*ShortLived)(nil)

// NewShortLived returns the store on c.
func NewShortLived(c *Client) *ShortLived {
	return &ShortLived{rdb: c.Redis(), ns: c.KeyPrefix() + "sl:"}
}

// Put implements shortlived.Store.
func (s *ShortLived) Put(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := shortlived.Validate(key, value, ttl, true); err != nil {
		return err
	}
	if ttl < time.Millisecond {
		ttl = time.Millisecond
	}
	if err := s.rdb.Set(ctx, s.ns+key, value, ttl).Err(); err != nil {
		return shortLivedUnavailable(err)
	}
	return nil
}

// Get implements shortlived.Store.
func (s *ShortLived) Get(ctx context.Context, key string) ([]byte, error) {
	if err := shortlived.Validate(key, nil, 0, false); err != nil {
		return nil, err
	}
	return s.reply(s.rdb.Get(ctx, s.ns+key).Bytes())
}

// Take implements shortlived.Store.
func (s *ShortLived) Take(ctx context.Context, key string) ([]byte, error) {
	if err := shortlived.Validate(key, nil, 0, false); err != nil {
		return nil, err
	}
	return s.reply(s.rdb.GetDel(ctx, s.ns+key).Bytes())
}

// Delete implements shortlived.Store.
func (s *ShortLived) Delete(ctx context.Context, key string) error {
	if err := shortlived.Validate(key, nil, 0, false); err != nil {
		return err
	}
	if err := s.rdb.Del(ctx, s.ns+key).Err(); err != nil {
		return shortLivedUnavailable(err)
	}
	return nil
}

func (s *ShortLived) reply(b []byte, err error) ([]byte, error) {
	switch {
	case errors.Is(err, redis.Nil):
		return nil, shortlived.NotFound()
	case err != nil:
		return nil, shortLivedUnavailable(err)
	}
	return b, nil
}

func shortLivedUnavailable(err error) error {
	return apperr.Wrap(err, apperr.Unavailable, shortlived.CodeUnavailable, "the short-lived store is unavailable")
}
