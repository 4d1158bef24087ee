package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/ratelimit/ratelimittest"
)

func TestRateLimiterContract(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return redisstore.NewRateLimiter(openTest(t)) })
}

func TestRateLimiterKeysExpire(t *testing.T) {
	c := openTest(t)
	l := redisstore.NewRateLimiter(c)
	ctx := context.Background()
	if _, err := l.Hit(ctx, "ttl", ratelimit.Limit{Max: 3, Window: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	ttl, err := c.Redis().PTTL(ctx, c.KeyPrefix()+"rl:ttl").Result()
	if err != nil || ttl <= 0 || ttl > 2*time.Second {
		t.Fatalf("PTTL = %s, %v; want the key to expire with its window", ttl, err)
	}
}

func TestRateLimiterRedisDown(t *testing.T) {
	c, err := openDead(t, false)
	if err != nil {
		t.Fatalf("an optional client must open even when Redis is down: %v", err)
	}
	l := redisstore.NewRateLimiter(c)
	if _, err := l.Hit(context.Background(), "k", ratelimit.Limit{Max: 1, Window: time.Second}); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Hit with Redis down = %v; want Unavailable (callers fail closed)", err)
	}
}
