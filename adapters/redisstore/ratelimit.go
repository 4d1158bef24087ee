package redisstore

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// RateLimiter is the Redis adapter of ratelimit.Limiter: one Lua script
// runs ratelimit.Apply on a hash per key (count c, window end w, block end
// b, in Unix milliseconds), so every replica sees one atomic counter. Keys
// live under "<KeyPrefix>rl:" and expire with their window or block.
//
// The time comes from the process clock (time.Now), not Redis TIME, so
// that tests drive windows from a synctest bubble; replicas' clocks agree to well under a
// window in practice (NTP), and a skew only stretches or shortens a window
// by that much.
type RateLimiter struct {
	rdb *redis.Client
	ns  string
}

var _ ratelimit.Limiter = (*RateLimiter)(nil)

// NewRateLimiter returns the limiter on the shared client.
func NewRateLimiter(c *Client) *RateLimiter {
	return &RateLimiter{rdb: c.rdb, ns: c.prefix + "rl:"}
}

// KEYS[1] key; ARGV: now ms, max, window ms, block ms, count (1 Hit, 0 Peek).
// Returns {allowed, count, retry ms, blocked, just blocked}. Mirrors
// ratelimit.Apply line for line.
var applyScript = redis.NewScript(`
local now   = tonumber(ARGV[1])
local max   = tonumber(ARGV[2])
local win   = tonumber(ARGV[3])
local block = tonumber(ARGV[4])
local count = ARGV[5] == "1"
local v = redis.call("HMGET", KEYS[1], "c", "w", "b")
local c = tonumber(v[1]) or 0
local w = tonumber(v[2]) or 0
local b = tonumber(v[3]) or 0
if now < b then
  return {0, c, b - now, 1, 0}
end
if now >= w then
  c = 0; w = now + win; b = 0
end
if c >= max then
  return {0, c, w - now, 0, 0}
end
if not count then
  return {1, c, 0, 0, 0}
end
c = c + 1
local just = 0
if c >= max and block > 0 then
  b = now + block
  just = 1
end
redis.call("HSET", KEYS[1], "c", c, "w", w, "b", b)
local expiry = w
if b > expiry then expiry = b end
redis.call("PEXPIRE", KEYS[1], expiry - now)
return {1, c, 0, just, just}
`)

// Hit implements ratelimit.Limiter.
func (r *RateLimiter) Hit(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	return r.apply(ctx, key, l, true)
}

// Peek implements ratelimit.Limiter.
func (r *RateLimiter) Peek(ctx context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	return r.apply(ctx, key, l, false)
}

// Reset implements ratelimit.Limiter.
func (r *RateLimiter) Reset(ctx context.Context, key string) error {
	if err := ratelimit.ValidateKey(key); err != nil {
		return err
	}
	if err := r.rdb.Del(ctx, r.ns+key).Err(); err != nil {
		return unavailable(err)
	}
	return nil
}

func (r *RateLimiter) apply(ctx context.Context, key string, l ratelimit.Limit, count bool) (ratelimit.Result, error) {
	if err := ratelimit.ValidateKey(key); err != nil {
		return ratelimit.Result{}, err
	}
	if err := l.Validate(); err != nil {
		return ratelimit.Result{}, err
	}
	c := "0"
	if count {
		c = "1"
	}
	vals, err := applyScript.Run(ctx, r.rdb, []string{r.ns + key},
		time.Now().UnixMilli(), l.Max, l.Window.Milliseconds(), l.Block.Milliseconds(), c).Int64Slice()
	if err != nil {
		return ratelimit.Result{}, unavailable(err)
	}
	if len(vals) != 5 {
		return ratelimit.Result{}, apperr.New(apperr.Internal, ratelimit.CodeUnavailable, "rate limit script returned an unexpected reply")
	}
	res := ratelimit.Result{
		Allowed:     vals[0] == 1,
		Count:       int(vals[1]),
		RetryAfter:  time.Duration(vals[2]) * time.Millisecond,
		Blocked:     vals[3] == 1,
		JustBlocked: vals[4] == 1,
	}
	if res.Allowed && !res.Blocked {
		res.Remaining = l.Max - res.Count
	}
	return res, nil
}

func unavailable(err error) error {
	return apperr.Wrap(err, apperr.Unavailable, ratelimit.CodeUnavailable, "the rate limiter is unavailable")
}
