package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/realtime"
)

// realtimeConfig reads the realtime engine's settings (docs/realtime.md).
// REDIS_URL comes from Secrets (realtimeBrokerURL); the key prefix, the
// token issuer and the allowed origins are those of Redis, the access
// tokens and CORS.
func (r *envReader) realtimeConfig(redisPrefix, issuer, apiAudience string, origins []string) centrifuge.Config {
	d := centrifuge.DefaultConfig()
	c := centrifuge.Config{
		RedisPrefix:           redisPrefix + "realtime",
		AllowedOrigins:        origins,
		TokenIssuer:           issuer,
		TokenAudience:         r.str("REALTIME_TOKEN_AUDIENCE", d.TokenAudience),
		TokenTTL:              r.duration("REALTIME_TOKEN_TTL", d.TokenTTL),
		RefreshGrace:          r.duration("REALTIME_REFRESH_GRACE", d.RefreshGrace),
		MaxConnectionsPerUser: int(r.int64("REALTIME_MAX_CONNECTIONS_PER_USER", int64(d.MaxConnectionsPerUser), 1, 1000)),
		MaxMessageBytes:       int(r.int64("REALTIME_MAX_MESSAGE_BYTES", int64(d.MaxMessageBytes), 512, 1<<20)),
		MaxEventBytes:         int(r.int64("REALTIME_MAX_EVENT_BYTES", int64(d.MaxEventBytes), 256, 64<<10)),
		ClientQueueBytes:      int(r.int64("REALTIME_CLIENT_QUEUE_BYTES", int64(d.ClientQueueBytes), 4096, 1<<30)),
		WriteTimeout:          r.duration("REALTIME_WRITE_TIMEOUT", d.WriteTimeout),
		WriteDelay:            r.duration("REALTIME_WRITE_DELAY", d.WriteDelay),
		PingInterval:          r.duration("REALTIME_PING_INTERVAL", d.PingInterval),
		PongTimeout:           r.duration("REALTIME_PONG_TIMEOUT", d.PongTimeout),
		HistorySize:           int(r.int64("REALTIME_HISTORY_SIZE", int64(d.HistorySize), 1, 1000)),
		HistoryTTL:            r.duration("REALTIME_HISTORY_TTL", d.HistoryTTL),
		NodeName:              r.str("REALTIME_NODE_NAME", ""),
	}
	if c.TokenAudience == apiAudience {
		r.fail("REALTIME_TOKEN_AUDIENCE", "must differ from AUTH_JWT_AUDIENCE, so that neither token is accepted as the other")
	}
	if err := c.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	return c
}

// realtimeBrokerURL is the Redis URL of the realtime engine's broker and
// presence manager: REDIS_URL in the services profile, empty (the
// in-process broker) in the local one.
type realtimeBrokerURL string

func provideRealtimeRedisURL(s Secrets) realtimeBrokerURL {
	return realtimeBrokerURL(s.RedisURL.Reveal())
}

// RealtimeSet is the realtime engine of the api program: the WebSocket
// endpoint, connection tokens, and the Publisher and Disconnector every
// module of the process shares.
var RealtimeSet = wire.NewSet(
	provideRealtimeTokens,
	provideRealtimeSessions,
	provideRealtime,
	wire.Bind(new(realtime.Publisher), new(*centrifuge.Engine)),
	wire.Bind(new(realtime.Disconnector), new(*centrifuge.Engine)),
)

// RealtimePublishOnlySet is the engine of the programs that serve no
// connection (worker, users): their events and disconnects reach the API
// replicas through the Redis broker.
var RealtimePublishOnlySet = wire.NewSet(
	provideRealtimePublisher,
	wire.Bind(new(realtime.Publisher), new(*centrifuge.Engine)),
	wire.Bind(new(realtime.Disconnector), new(*centrifuge.Engine)),
)

func provideRealtimeTokens(c centrifuge.Config, ring *identity.KeyRing) (*centrifuge.Tokens, error) {
	return centrifuge.NewTokens(c, ring, nil)
}

// realtimeSessions is the engine's realtime.Sessions: identity's session
// check, bound once identity is built (bindRealtimeSessions). The engine
// is built first because identity publishes through it. Until bound it
// answers Unavailable: connects fail temporarily, never open.
type realtimeSessions struct{ svc *identity.Service }

func provideRealtimeSessions() *realtimeSessions { return &realtimeSessions{} }

func (s *realtimeSessions) CheckSession(ctx context.Context, userID, sessionID uuid.UUID) error {
	if s.svc == nil {
		return apperr.New(apperr.Unavailable, "session_check_unavailable", "The session check is not ready.")
	}
	return s.svc.CheckSession(ctx, userID, sessionID)
}

// realtimeBound is the proof that the engine's session check is bound to
// identity; provideAPIServer asks for it.
type realtimeBound struct{}

func bindRealtimeSessions(s *realtimeSessions, svc *identity.Service) realtimeBound {
	s.svc = svc
	return realtimeBound{}
}

type realtimeDeps struct {
	log   *slog.Logger
	tp    trace.TracerProvider
	mp    metric.MeterProvider
	m     *telemetry.Metrics
	h     *health.Registry
	redis redisstore.Config
}

// provideRealtime starts the engine on the profile's broker. When Redis
// does not answer at start and is optional (CACHE_REQUIRED=false), the
// engine runs on the in-process broker and says so: this replica's
// connections get only this replica's events until a restart; required,
// the start fails.
func provideRealtime(c centrifuge.Config, url realtimeBrokerURL, rc redisstore.Config, tokens *centrifuge.Tokens, sessions *realtimeSessions,
	log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, m *telemetry.Metrics, h *health.Registry) (*centrifuge.Engine, func(), error) {
	return startRealtime(c, url, centrifuge.Deps{Tokens: tokens, Sessions: sessions}, realtimeDeps{log, tp, mp, m, h, rc})
}

// provideRealtimePublisher is the publish-only engine (RealtimePublishOnlySet).
func provideRealtimePublisher(c centrifuge.Config, url realtimeBrokerURL, rc redisstore.Config,
	log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, m *telemetry.Metrics, h *health.Registry) (*centrifuge.Engine, func(), error) {
	return startRealtime(c, url, centrifuge.Deps{PublishOnly: true}, realtimeDeps{log, tp, mp, m, h, rc})
}

func startRealtime(c centrifuge.Config, url realtimeBrokerURL, d centrifuge.Deps, rd realtimeDeps) (*centrifuge.Engine, func(), error) {
	d.Log = telemetry.Component(rd.log, "realtime")
	d.TracerProvider, d.MeterProvider, d.Prometheus = rd.tp, rd.mp, rd.m.Registry
	c.RedisURL = string(url)
	e, cleanup, err := centrifuge.New(c, d)
	if err != nil && c.RedisURL != "" && !rd.redis.Required {
		d.Log.Warn("realtime: Redis broker unavailable at start; using the in-process broker, so this replica's connections get only its own events until a restart (set CACHE_REQUIRED=true to refuse to start instead)", "error", err)
		c.RedisURL = ""
		e, cleanup, err = centrifuge.New(c, d)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("realtime engine: %w", err)
	}
	rd.h.Register(e.HealthCheck())
	return e, cleanup, nil
}
