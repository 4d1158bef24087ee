package wire

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/secrets"
)

func (r *envReader) databaseConfig() sqlstore.Config {
	d := sqlstore.DefaultConfig()
	return sqlstore.Config{
		MaxOpenConns:    int(r.int64("DB_MAX_OPEN_CONNS", int64(d.MaxOpenConns), 1, 10000)),
		MaxIdleConns:    int(r.int64("DB_MAX_IDLE_CONNS", int64(d.MaxIdleConns), 0, 10000)),
		ConnMaxLifetime: r.duration("DB_CONN_MAX_LIFETIME", d.ConnMaxLifetime),
		ConnMaxIdleTime: r.duration("DB_CONN_MAX_IDLE_TIME", d.ConnMaxIdleTime),
		AcquireTimeout:  r.duration("DB_ACQUIRE_TIMEOUT", d.AcquireTimeout),
		PingIdleAfter:   r.duration("DB_PING_IDLE_AFTER", d.PingIdleAfter),
		ConnectTimeout:  r.duration("DB_CONNECT_TIMEOUT", d.ConnectTimeout),
		SlowQuery:       r.duration("DB_SLOW_QUERY", d.SlowQuery),
	}
}

// redisConfig reads the Redis settings. Redis is required by default in
// production, where replicas share rate limits, short-lived state and jobs
// through it, and optional elsewhere (the cache fails open).
func (r *envReader) redisConfig(prod bool) redisstore.Config {
	d := redisstore.DefaultConfig()
	return redisstore.Config{
		KeyPrefix:      r.str("REDIS_KEY_PREFIX", d.KeyPrefix),
		PoolSize:       int(r.int64("REDIS_POOL_SIZE", int64(d.PoolSize), 0, 10000)),
		MinIdleConns:   int(r.int64("REDIS_MIN_IDLE_CONNS", int64(d.MinIdleConns), 0, 10000)),
		DialTimeout:    r.duration("REDIS_DIAL_TIMEOUT", d.DialTimeout),
		CommandTimeout: r.duration("REDIS_COMMAND_TIMEOUT", d.CommandTimeout),
		PoolTimeout:    r.duration("REDIS_POOL_TIMEOUT", d.PoolTimeout),
		MaxRetries:     int(r.int64("REDIS_MAX_RETRIES", int64(d.MaxRetries), -1, 100)),
		ConnectTimeout: r.duration("REDIS_CONNECT_TIMEOUT", d.ConnectTimeout),
		Required:       r.bool("CACHE_REQUIRED", prod),
	}
}

func (r *envReader) cacheConfig() (cache.Config, memory.CacheConfig) {
	d, md := cache.DefaultConfig(), memory.DefaultCacheConfig()
	jitter := r.float("CACHE_TTL_JITTER", d.Jitter, 0, 0.5)
	if jitter == 0 {
		jitter = cache.NoJitter
	}
	return cache.Config{
			Timeout:      r.duration("CACHE_TIMEOUT", d.Timeout),
			Jitter:       jitter,
			Cooldown:     r.duration("CACHE_COOLDOWN", d.Cooldown),
			WarnInterval: r.duration("CACHE_WARN_INTERVAL", d.WarnInterval),
		}, memory.CacheConfig{
			// #nosec G115 -- bounded to [1 MiB, 1 TiB] here, and the default is 64 MiB
			MaxBytes: uint64(r.int64("CACHE_MEMORY_MAX_BYTES", int64(md.MaxBytes), 1<<20, 1<<40)),
		}
}

// DatabaseSet provides the database and the cache layer over the
// profile's cache backend.
var DatabaseSet = wire.NewSet(provideDatabaseURL, provideDB, provideCacheLayer)

// DatabaseURL returns the current DATABASE_URL (see databaseURL).
type DatabaseURL func(ctx context.Context) (secrets.Secret, error)

func provideDatabaseURL(lookup Getenv, sslmode DatabaseSSLMode, r *secrets.Resolver) DatabaseURL {
	return func(ctx context.Context) (secrets.Secret, error) { return databaseURL(ctx, lookup, sslmode, r) }
}

// provideDB opens the database named by DATABASE_URL (SQLite under DATA_DIR
// when unset), registers its readiness check, and applies pending
// migrations when DB_AUTO_MIGRATE is on (the default outside production).
func provideDB(ctx context.Context, c sqlstore.Config, dir DataDir, migrate AutoMigrate, s Secrets, current DatabaseURL, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, h *health.Registry) (*sqlstore.DB, func(), error) {
	c.URL = s.DatabaseURL.Reveal()
	c.DataDir = string(dir)
	c.CurrentURL = func(ctx context.Context) (string, error) {
		u, err := current(ctx)
		return u.Reveal(), err
	}
	log = telemetry.Component(log, "sqlstore")
	db, cleanup, err := sqlstore.Open(ctx, c, log, tp, mp)
	if err != nil {
		return nil, nil, fmt.Errorf("open database: %w", err)
	}
	h.Register(db.Health())
	if migrate {
		if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("migrate at start (DB_AUTO_MIGRATE): %w", err)
		}
		v, err := db.SchemaVersion(ctx)
		if err != nil {
			cleanup()
			return nil, nil, err
		}
		log.InfoContext(ctx, "database schema is current", "version", v, "where", db.Where())
	}
	return db, cleanup, nil
}

// provideCacheLayer is the cache layer over the profile's backend.
func provideCacheLayer(backend cache.Cache, c cache.Config, log *slog.Logger, mp metric.MeterProvider) (*cache.Layer, error) {
	return cache.NewLayer(backend, c, telemetry.Component(log, "cache"), mp)
}
