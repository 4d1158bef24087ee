package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/shortlived"
)

// The profile is chosen here, once per program: each Initialize function
// runs the injector of cfg.Profile (wire.go holds one per profile and
// program). Nothing else in this package asks which profile it is in; a
// profile is the provider set below that its injectors are built with.

// InitializeAPI assembles the `tradesense api` program.
func InitializeAPI(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*API, func(), error) {
	return byProfile(cfg.Profile, injectLocalAPI, injectServicesAPI)(ctx, cfg, out, build)
}

// InitializeWorker assembles the `tradesense worker` program. Its probes
// and metrics are served on WORKER_HTTP_ADDR.
func InitializeWorker(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*Worker, func(), error) {
	return byProfile(cfg.Profile, injectLocalWorker, injectServicesWorker)(ctx, cfg, out, build)
}

// InitializeUsers assembles the `tradesense users` program: the identity
// service over the configured database and cache, for account
// administration. It has no jobs and no MFA: its operations send no mail
// and log nobody in.
func InitializeUsers(ctx context.Context, cfg Config, out LogOutput) (*Users, func(), error) {
	return byProfile(cfg.Profile, injectLocalUsers, injectServicesUsers)(ctx, cfg, out)
}

func byProfile[F any](p Profile, local, services F) F {
	if p == Services {
		return services
	}
	return local
}

// profileAdapters names the adapters a profile chose, for the start-up
// log (provideAdapters).
type profileAdapters Adapters

// inProcessJobs says whether the job broker lives in this process: then
// `api` runs the worker unless WORKER_EMBEDDED says otherwise, and a
// stopped worker fails readiness (provideJobsRuntime).
type inProcessJobs bool

// LocalSet is the local profile: memory adapters and in-process jobs.
var LocalSet = wire.NewSet(
	provideMemoryCache,
	provideMemoryRateLimiter,
	provideMemoryShortLived,
	provideMemoryJobs,
	provideGoChannel,
	wire.Value(inProcessJobs(true)),
	wire.Value(realtimeBrokerURL("")),
	wire.Value(profileAdapters{"cache": "memory", "ratelimit": "memory", "shortlived": "memory", "jobs_store": "memory", "realtime": "memory"}),
)

// ServicesSet is the services profile: one Redis client (REDIS_URL) for
// the cache, rate limits, short-lived state and job records, and jobs on
// Redis Streams.
var ServicesSet = wire.NewSet(
	provideRedis,
	redisstore.NewCache,
	wire.Bind(new(cache.Cache), new(*redisstore.Cache)),
	provideRedisRateLimiter,
	redisstore.NewShortLived,
	wire.Bind(new(shortlived.Store), new(*redisstore.ShortLived)),
	provideRedisJobs,
	provideRedisStreams,
	wire.Value(inProcessJobs(false)),
	provideRealtimeRedisURL,
	wire.Value(profileAdapters{"cache": "redis", "ratelimit": "redis", "shortlived": "redis", "jobs_store": "redis", "realtime": "redis"}),
)

func provideMemoryCache(c memory.CacheConfig) (cache.Cache, func(), error) {
	m, cleanup, err := memory.NewCache(c)
	if err != nil {
		return nil, nil, fmt.Errorf("memory cache: %w", err)
	}
	return m, cleanup, nil
}

func provideMemoryRateLimiter() ratelimit.Limiter { return memory.NewRateLimiter() }

func provideMemoryShortLived() shortlived.Store { return memory.NewShortLived() }

// provideMemoryJobs keeps job records in memory, on the real clock like
// the rest of the job system, written through to the database's job
// journal from acceptance to completion (jobs.WriteThrough), so that not
// even a SIGKILL loses an accepted job. It takes back the unfinished jobs
// the journal holds at start, and saves the exact state of its own at the
// exit; its cleanup runs after the worker drained and before the database
// closes.
func provideMemoryJobs(ctx context.Context, db *sqlstore.DB, log *slog.Logger) (jobs.Backend, func(), error) {
	log = telemetry.Component(log, "jobs")
	wt := jobs.NewWriteThrough(memory.NewJobs(), sqlstore.NewJobJournal(db), log)
	if n, err := wt.RestoreSaved(ctx, time.Now().UTC()); err != nil {
		log.WarnContext(ctx, "jobs saved at the last exit not restored", "error", err)
	} else if n > 0 {
		log.InfoContext(ctx, "restored the unfinished jobs saved at the last exit", "jobs", n)
	}
	return wt, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if n, err := wt.SaveUnfinished(sctx); err != nil {
			log.Error("unfinished jobs not saved at the exit: the journal keeps them as they were accepted", "error", err)
		} else if n > 0 {
			log.Info("saved the unfinished jobs for the next start", "jobs", n)
		}
	}, nil
}

func provideGoChannel(log *slog.Logger) (jobs.Broker, func(), error) {
	return watermill.NewGoChannel(watermill.GoChannelConfig{}, telemetry.Component(log, "jobs.broker"))
}

// provideRedis opens the shared Redis client on REDIS_URL and registers
// its readiness check (required when CACHE_REQUIRED is true).
func provideRedis(ctx context.Context, c redisstore.Config, s Secrets, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, h *health.Registry) (*redisstore.Client, func(), error) {
	if s.RedisURL.IsZero() {
		return nil, nil, errors.New("REDIS_URL: set, but resolved to an empty value")
	}
	c.URL = s.RedisURL.Reveal()
	client, cleanup, err := redisstore.Open(ctx, c, telemetry.Component(log, "redisstore"), tp, mp)
	if err != nil {
		return nil, nil, fmt.Errorf("open redis (REDIS_URL): %w", err)
	}
	h.Register(client.Health())
	return client, cleanup, nil
}

// provideRedisRateLimiter is the limiter shared by the replicas in Redis,
// with a per-instance memory fallback while Redis is down
// (ratelimit.Fallback).
func provideRedisRateLimiter(c *redisstore.Client, log *slog.Logger, mp metric.MeterProvider) (ratelimit.Limiter, error) {
	return ratelimit.NewFallback(redisstore.NewRateLimiter(c), memory.NewRateLimiter(),
		ratelimit.FallbackConfig{}, telemetry.Component(log, "ratelimit"), mp)
}

// provideRedisJobs keeps job records in Redis, on the real clock like the
// rest of the job system.
func provideRedisJobs(c *redisstore.Client) jobs.Backend { return redisstore.NewJobs(c) }

func provideRedisStreams(c *redisstore.Client, rc watermill.RedisConfig, backend jobs.Backend, id WorkerID, log *slog.Logger) (jobs.Broker, func(), error) {
	rc.StreamPrefix = c.KeyPrefix() + "jobs:stream:"
	rc.Consumer = string(id)
	return watermill.NewRedisStreams(c.Redis(), rc, backend.Alive, telemetry.Component(log, "jobs.broker"))
}
