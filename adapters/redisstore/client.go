// Package redisstore holds the Redis adapters: one shared, configured
// go-redis client (pool, retries, tracing, metrics, readiness) and the
// adapters built on it, starting with the cache.
package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/health"
)

// Config configures the shared Redis client. The zero value of a field
// selects its default (see DefaultConfig).
type Config struct {
	// URL is redis://[user:password@]host:port/db or rediss:// for TLS.
	// Env REDIS_URL; required. Never logged: errors name the host only.
	URL string
	// KeyPrefix is prepended to every key this process writes, so that
	// environments (and tests) can share a server. Env REDIS_KEY_PREFIX,
	// default "tradesense:".
	KeyPrefix string
	// PoolSize is the number of pooled connections. Env REDIS_POOL_SIZE,
	// default 10 per GOMAXPROCS (go-redis's default).
	PoolSize int
	// MinIdleConns keeps that many connections open and warm. Env
	// REDIS_MIN_IDLE_CONNS, default 0.
	MinIdleConns int
	// DialTimeout bounds opening one connection. Env REDIS_DIAL_TIMEOUT,
	// default 2s.
	DialTimeout time.Duration
	// CommandTimeout bounds reading or writing one command when the caller's
	// context has no earlier deadline. Env REDIS_COMMAND_TIMEOUT, default 1s.
	CommandTimeout time.Duration
	// PoolTimeout bounds waiting for a free connection. Env
	// REDIS_POOL_TIMEOUT, default 2s.
	PoolTimeout time.Duration
	// MaxRetries is how often a command failing on a timeout or a broken
	// connection is retried (with backoff, within the caller's deadline).
	// Env REDIS_MAX_RETRIES, default 3; -1 disables retries.
	MaxRetries int
	// ConnectTimeout bounds the start-up ping, retried with backoff. Env
	// REDIS_CONNECT_TIMEOUT, default 5s.
	ConnectTimeout time.Duration
	// Required makes an unreachable Redis fatal at start-up and the "redis"
	// readiness check required (503 when down). When false, the service
	// starts and stays ready without Redis, and the cache fails open. Env
	// CACHE_REQUIRED, default false.
	Required bool
}

// DefaultConfig returns the defaults documented on Config (URL unset).
func DefaultConfig() Config {
	return Config{
		KeyPrefix:      "tradesense:",
		DialTimeout:    2 * time.Second,
		CommandTimeout: time.Second,
		PoolTimeout:    2 * time.Second,
		MaxRetries:     3,
		ConnectTimeout: 5 * time.Second,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.KeyPrefix == "" {
		c.KeyPrefix = d.KeyPrefix
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = d.DialTimeout
	}
	if c.CommandTimeout <= 0 {
		c.CommandTimeout = d.CommandTimeout
	}
	if c.PoolTimeout <= 0 {
		c.PoolTimeout = d.PoolTimeout
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	return c
}

// Client is the shared Redis client. Adapters of this package build on it;
// Redis exposes the raw client to the composition root for adapters that
// live elsewhere (the job queue).
type Client struct {
	rdb      *redis.Client
	prefix   string
	addr     string
	required bool
	// persistence is what the server said at start-up (nil: unknown).
	persistence atomic.Pointer[Persistence]
}

// Open builds the client, instruments it (redisotel tracing without command
// arguments, and connection-pool metrics through mp) and pings it until
// cfg.ConnectTimeout. An unreachable server is an error only when
// cfg.Required; otherwise Open logs a warning and returns a client that
// reconnects on its own. The cleanup closes the pool.
func Open(ctx context.Context, cfg Config, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*Client, func(), error) {
	cfg = cfg.withDefaults()
	opts, err := parseURL(cfg.URL)
	if err != nil {
		return nil, nil, err
	}
	opts.PoolSize = cfg.PoolSize
	opts.MinIdleConns = cfg.MinIdleConns
	opts.DialTimeout = cfg.DialTimeout
	opts.ReadTimeout = cfg.CommandTimeout
	opts.WriteTimeout = cfg.CommandTimeout
	opts.PoolTimeout = cfg.PoolTimeout
	opts.MaxRetries = cfg.MaxRetries
	// Honour the caller's deadline (the cache's 50 ms budget) on the socket,
	// not only the configured timeouts.
	opts.ContextTimeoutEnabled = true
	// One dial per command attempt: MaxRetries already retries with backoff,
	// and go-redis's default of 5 dials per attempt multiplies the time a
	// dead server costs.
	opts.DialerRetries = 1
	opts.ClientName = "tradesense"

	if log != nil {
		// go-redis logs dial failures through a process-wide logger that
		// writes to stderr; route it to ours at debug level: the readiness
		// check and the cache's fail-open warnings already report an outage.
		redis.SetLogger(libraryLogger{log})
	}
	rdb := redis.NewClient(opts)
	stopMetrics := make(chan struct{})
	cleanup := func() {
		close(stopMetrics)
		if err := rdb.Close(); err != nil && log != nil {
			log.Warn("redis: close", slog.String("addr", opts.Addr), slog.Any("error", err))
		}
	}
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(tp), redisotel.WithDBStatement(false),
		// The caller is always this package; finding it costs a stack walk
		// (runtime.Callers) per command, on the hot path of every request.
		redisotel.WithCallerEnabled(false)); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("redis at %s: instrument tracing: %w", opts.Addr, err)
	}
	if err := redisotel.InstrumentMetrics(rdb, redisotel.WithMeterProvider(mp), redisotel.WithCloseChan(stopMetrics)); err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("redis at %s: instrument metrics: %w", opts.Addr, err)
	}

	c := &Client{rdb: rdb, prefix: cfg.KeyPrefix, addr: opts.Addr, required: cfg.Required}
	if err := c.pingWithRetry(ctx, cfg.ConnectTimeout); err != nil {
		if cfg.Required {
			cleanup()
			return nil, nil, err
		}
		if log != nil {
			log.Warn("redis unreachable at start-up; continuing because CACHE_REQUIRED is false (the cache fails open)",
				slog.String("addr", opts.Addr), slog.Any("error", err))
		}
	} else if log != nil {
		c.warnIfVolatile(ctx, log)
	}
	return c, cleanup, nil
}

// parseURL parses REDIS_URL. Its errors never contain the URL itself, which
// may carry a password.
func parseURL(raw string) (*redis.Options, error) {
	if raw == "" {
		return nil, errors.New("redis: REDIS_URL is empty")
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		// Fixed reasons only: the parsers' own messages may quote parts of
		// the URL (a port, a host) and, through them, a mistyped password.
		reason := "malformed URL (check the host, the port and the escaping of the password)"
		switch {
		case strings.Contains(err.Error(), "scheme"):
			reason = "unsupported scheme (want redis:// or rediss://)"
		case strings.Contains(err.Error(), "database number"):
			reason = "invalid database number"
		}
		return nil, fmt.Errorf("redis: REDIS_URL is invalid: %s", redact(reason, raw))
	}
	return opts, nil
}

// redact removes the password of raw from msg, in case a parser quoted it.
func redact(msg, raw string) string {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}

func (c *Client) pingWithRetry(ctx context.Context, budget time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := c.rdb.Ping(ctx).Err()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis at %s unreachable after %s: %w", c.addr, budget, err)
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Redis returns the shared go-redis client, for adapters outside this
// package that the composition root wires to it. Keys they write should
// start with KeyPrefix.
func (c *Client) Redis() *redis.Client { return c.rdb }

// KeyPrefix returns the configured key prefix.
func (c *Client) KeyPrefix() string { return c.prefix }

// Health returns the readiness check named "redis": a PING, with the pool
// statistics as details. It is required only when Config.Required.
func (c *Client) Health() health.Registration {
	return health.Registration{
		Name:     "redis",
		Required: c.required,
		Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
			s := c.rdb.PoolStats()
			details := map[string]any{
				"addr":             c.addr,
				"total_conns":      s.TotalConns,
				"idle_conns":       s.IdleConns,
				"stale_conns":      s.StaleConns,
				"hits":             s.Hits,
				"misses":           s.Misses,
				"timeouts":         s.Timeouts,
				"wait_count":       s.WaitCount,
				"wait_duration_ms": time.Duration(s.WaitDurationNs).Milliseconds(),
				"pending_requests": s.PendingRequests,
			}
			if p := c.persistence.Load(); p != nil {
				details["aof"] = p.AOF
			}
			if err := c.rdb.Ping(ctx).Err(); err != nil {
				return details, fmt.Errorf("redis at %s: ping: %w", c.addr, err)
			}
			return details, nil
		}),
	}
}

// libraryLogger adapts slog to go-redis's logger.
type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, fmt.Sprintf(format, v...), slog.String("library", "go-redis"))
	}
}
