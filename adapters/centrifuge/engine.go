// Package centrifuge is the realtime engine on centrifugal/centrifuge: the
// WebSocket endpoint (GET /connection/websocket), connection tokens, one
// personal server-side channel per user with history and offset/epoch
// recovery, and realtime.Publisher and realtime.Disconnector over an
// in-process broker (one replica) or the Redis broker and presence manager
// (every replica). docs/realtime.md is the client's view.
package centrifuge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cf "github.com/centrifugal/centrifuge"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/realtime"
)

// Path is where the HTTP layer mounts Handler.
const Path = "/connection/websocket"

// CodeUnavailable is the error code of a publish or disconnect that could
// not reach the broker.
const CodeUnavailable = "realtime_unavailable"

// readBufferBytes is each connection's read buffer (see New).
const readBufferBytes = 512

// historyMetaTTL is how long a channel's stream position (epoch, offset)
// outlives its last publication. A client away longer is told to reload.
const historyMetaTTL = 24 * time.Hour

// Deps are the engine's collaborators. Sessions and Tokens are required
// unless PublishOnly.
type Deps struct {
	Tokens   *Tokens
	Sessions realtime.Sessions
	// PublishOnly runs a node that publishes and disconnects but accepts
	// no connection (its Handler answers 404): the worker's and the CLI's,
	// whose events and disconnects reach the API replicas through the
	// Redis broker.
	PublishOnly bool
	Log         *slog.Logger
	// TracerProvider and MeterProvider default to no-ops.
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	// Prometheus receives centrifuge's own metrics (namespace
	// tradesense_realtime): messages sent and received by type, commands,
	// recoveries, server disconnects by code, broker PUB/SUB drops. Nil
	// keeps them in a private registry (centrifuge would otherwise use the
	// global default one).
	Prometheus cf.RegistererGatherer
}

// Engine is one replica's realtime node.
type Engine struct {
	cfg      Config
	node     *cf.Node
	ws       *cf.WebsocketHandler
	shard    *cf.RedisShard
	tokens   *Tokens
	sessions realtime.Sessions
	log      *slog.Logger
	tracer   trace.Tracer
	origins  map[string]bool
	broker   string
	// publishOnly: no connections (Deps.PublishOnly).
	publishOnly bool

	published   metric.Int64Counter
	disconnects metric.Int64Counter
	reg         metric.Registration

	nextSessionWarn atomic.Int64 // unix ns before which a failing session check is not logged again
	shuttingDown    atomic.Bool

	shutdownOnce sync.Once
	shutdownErr  error
}

var (
	_ realtime.Publisher    = (*Engine)(nil)
	_ realtime.Disconnector = (*Engine)(nil)
)

// New starts the engine: it connects to Redis when cfg.RedisURL is set
// (failing when it cannot), and runs the node. The cleanup shuts it down
// if Shutdown was not called (bounded at 5s). One engine per process: the
// API's handler and every Publisher and Disconnector of the process share
// it (centrifuge's metrics can be registered once per registry).
func New(cfg Config, d Deps) (*Engine, func(), error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	cfg = cfg.withDefaults()
	if !d.PublishOnly && (d.Tokens == nil || d.Sessions == nil) {
		return nil, nil, errors.New("realtime engine: Tokens and Sessions are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.TracerProvider == nil {
		d.TracerProvider = tracenoop.NewTracerProvider()
	}
	if d.MeterProvider == nil {
		d.MeterProvider = metricnoop.NewMeterProvider()
	}
	if d.Prometheus == nil {
		d.Prometheus = prometheus.NewRegistry()
	}
	if cfg.NodeName == "" {
		host, _ := os.Hostname()
		cfg.NodeName = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	e := &Engine{cfg: cfg, tokens: d.Tokens, sessions: d.Sessions, log: d.Log.With("logger", "realtime"),
		tracer: d.TracerProvider.Tracer("github.com/tradesense/tradesense/adapters/centrifuge"), origins: map[string]bool{},
		publishOnly: d.PublishOnly}
	for _, o := range cfg.AllowedOrigins {
		n, _ := normalOrigin(o)
		e.origins[n] = true
	}

	level := cf.LogLevelWarn
	if e.log.Enabled(context.Background(), slog.LevelDebug) {
		level = cf.LogLevelInfo
	}
	node, err := cf.New(cf.Config{
		Name:                        cfg.NodeName,
		LogLevel:                    level,
		LogHandler:                  e.logEntry,
		ClientQueueMaxSize:          cfg.ClientQueueBytes,
		UserConnectionLimit:         cfg.MaxConnectionsPerUser,
		ClientExpiredCloseDelay:     cfg.RefreshGrace,
		ClientChannelLimit:          4,
		HistoryMetaTTL:              historyMetaTTL,
		HistoryMaxPublicationLimit:  cfg.HistorySize,
		RecoveryMaxPublicationLimit: cfg.HistorySize,
		Metrics:                     cf.MetricsConfig{MetricsNamespace: "tradesense_realtime", RegistererGatherer: d.Prometheus},
	})
	if err != nil {
		return nil, nil, fmt.Errorf("realtime node: %w", err)
	}
	e.node = node
	if err := e.setBroker(); err != nil {
		return nil, nil, err
	}
	if err := e.instrument(d.MeterProvider); err != nil {
		e.closeShard()
		return nil, nil, err
	}
	node.OnConnecting(e.onConnecting)
	node.OnConnect(e.onConnect)
	if err := node.Run(); err != nil {
		_ = e.reg.Unregister()
		e.closeShard()
		return nil, nil, fmt.Errorf("realtime node: run: %w", err)
	}
	e.ws = cf.NewWebsocketHandler(node, cf.WebsocketConfig{
		CheckOrigin:      e.checkOrigin,
		MessageSizeLimit: cfg.MaxMessageBytes,
		// A read buffer of its own, small: clients send only connect,
		// refresh and pongs (a larger frame is read in several fills).
		// With 0 the connection would keep net/http's hijacked 4 KiB
		// reader for its whole life; this way that one is garbage once
		// the upgrade is done (about 3 KiB less per idle connection,
		// docs/benchmarks.md).
		ReadBufferSize:             readBufferBytes,
		WriteTimeout:               cfg.WriteTimeout,
		UseWriteBufferPool:         true,
		ProcessCommandsOffReadLoop: true,
		PingPongConfig:             cf.PingPongConfig{PingInterval: cfg.PingInterval, PongTimeout: cfg.PongTimeout},
	})
	e.log.Info("realtime engine started", "broker", e.broker, "node", cfg.NodeName)
	cleanup := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			e.log.Warn("realtime engine shutdown", "error", err)
		}
	}
	return e, cleanup, nil
}

func (e *Engine) setBroker() error {
	if e.cfg.RedisURL == "" {
		b, err := cf.NewMemoryBroker(e.node, cf.MemoryBrokerConfig{})
		if err != nil {
			return fmt.Errorf("realtime memory broker: %w", err)
		}
		p, err := cf.NewMemoryPresenceManager(e.node, cf.MemoryPresenceManagerConfig{})
		if err != nil {
			return fmt.Errorf("realtime memory presence: %w", err)
		}
		e.node.SetBroker(b)
		e.node.SetPresenceManager(p)
		e.broker = "memory"
		return nil
	}
	shard, err := cf.NewRedisShard(e.node, cf.RedisShardConfig{
		Address:        e.cfg.RedisURL,
		ClientName:     "tradesense-realtime",
		ConnectTimeout: e.cfg.RedisDialTimeout,
		IOTimeout:      e.cfg.RedisCommandTimeout,
	})
	if err != nil {
		// The error of the Redis client may quote the address: say which
		// setting failed without it.
		return fmt.Errorf("realtime redis broker: connect to REDIS_URL (%s): %w", redactedHost(e.cfg.RedisURL), redactErr(err, e.cfg.RedisURL))
	}
	e.shard = shard
	b, err := cf.NewRedisBroker(e.node, cf.RedisBrokerConfig{Prefix: e.cfg.RedisPrefix, Shards: []*cf.RedisShard{shard}})
	if err != nil {
		e.closeShard()
		return fmt.Errorf("realtime redis broker: %w", err)
	}
	p, err := cf.NewRedisPresenceManager(e.node, cf.RedisPresenceManagerConfig{Prefix: e.cfg.RedisPrefix, Shards: []*cf.RedisShard{shard}})
	if err != nil {
		e.closeShard()
		return fmt.Errorf("realtime redis presence: %w", err)
	}
	e.node.SetBroker(b)
	e.node.SetPresenceManager(p)
	e.broker = "redis"
	return nil
}

func (e *Engine) closeShard() {
	if e.shard != nil {
		e.shard.Close()
	}
}

// Connections returns the number of open connections on this replica.
func (e *Engine) Connections() int { return e.node.Hub().NumClients() }

// Broker names the broker in use: "memory" or "redis".
func (e *Engine) Broker() string { return e.broker }

// Handler serves GET /connection/websocket. The client sends its
// connection token in the first protocol message (connect); a token in the
// URL is refused, so that tokens never reach access logs. An Origin header,
// when present, must be an allowed origin or the request's own.
func (e *Engine) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e.publishOnly {
			http.NotFound(w, r)
			return
		}
		q := r.URL.Query()
		if q.Has("token") || q.Has("access_token") || q.Has("jwt") {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"type":"about:blank","title":"Bad Request","status":400,"code":"realtime_token_in_url","detail":"Send the connection token in the connect message, never in the URL."}`))
			return
		}
		if e.shuttingDown.Load() {
			// Let the client's reconnect reach another replica.
			w.Header().Set("Retry-After", "1")
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		e.ws.ServeHTTP(w, r)
	})
}

// AllowsOrigin reports whether r's Origin, if any, may open a connection:
// an allowed origin or the request's own (the API checks it first, to
// refuse in its own problem format).
func (e *Engine) AllowsOrigin(r *http.Request) bool { return e.checkOrigin(r) }

func (e *Engine) checkOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true // not a browser: no ambient credential to abuse
	}
	n, ok := normalOrigin(o)
	if !ok {
		return false
	}
	if e.origins[n] {
		return true
	}
	_, host, _ := strings.Cut(n, "://")
	return strings.EqualFold(host, r.Host)
}

// Channel is the personal channel of userID: the server subscribes each
// connection to its user's channel; clients cannot subscribe to any
// channel themselves.
func Channel(userID uuid.UUID) string { return "user:" + userID.String() }

// Close codes sent to clients whose credentials ended (terminal: clients
// do not reconnect by themselves). docs/realtime.md lists them.
var reasonDisconnects = map[realtime.DisconnectReason]cf.Disconnect{
	realtime.ReasonSessionRevoked:  {Code: 4500, Reason: "session revoked"},
	realtime.ReasonUserDisabled:    {Code: 4501, Reason: "user disabled"},
	realtime.ReasonPasswordChanged: {Code: 4502, Reason: "password changed"},
}

// ReasonOf returns the reason whose close code is code, if any.
func ReasonOf(code uint32) (realtime.DisconnectReason, bool) {
	for r, d := range reasonDisconnects {
		if d.Code == code {
			return r, true
		}
	}
	return "", false
}

func disconnectFor(reason realtime.DisconnectReason) cf.Disconnect {
	if d, ok := reasonDisconnects[reason]; ok {
		return d
	}
	return cf.DisconnectForceNoReconnect
}

func (e *Engine) onConnecting(ctx context.Context, ev cf.ConnectEvent) (cf.ConnectReply, error) {
	if e.publishOnly {
		return cf.ConnectReply{}, cf.DisconnectServerError
	}
	c, err := e.tokens.Verify(ev.Token)
	if err == nil && !time.Now().Before(c.ExpiresAt) {
		// Within the verification leeway: still tell the client to fetch
		// a new token (centrifuge's own check would answer 110, which the
		// SDKs do not handle).
		err = apperr.New(apperr.Unauthenticated, CodeTokenExpired, "expired within the leeway")
	}
	if err != nil {
		if apperr.CodeOf(err) == CodeTokenExpired {
			return cf.ConnectReply{}, cf.ErrorTokenExpired // the client fetches a new token
		}
		e.log.DebugContext(ctx, "realtime: connection refused", "code", apperr.CodeOf(err), "error", err)
		return cf.ConnectReply{}, cf.DisconnectInvalidToken
	}
	if err := e.checkSession(ctx, c); err != nil {
		return cf.ConnectReply{}, err
	}
	ch := Channel(c.UserID)
	if st, err := e.node.PresenceStats(ch); err == nil && st.NumClients >= e.cfg.MaxConnectionsPerUser {
		return cf.ConnectReply{}, cf.DisconnectConnectionLimit
	}
	return cf.ConnectReply{
		Credentials:       &cf.Credentials{UserID: c.UserID.String(), ExpireAt: c.ExpiresAt.Unix()},
		ClientSideRefresh: true,
		// With WriteDelay, a write timer instead of a writer goroutine per
		// connection (see Config.WriteDelay).
		WriteDelay:     e.cfg.WriteDelay,
		WriteWithTimer: e.cfg.WriteDelay > 0,
		Labels:         map[string]string{"sid": c.SessionID.String()},
		Subscriptions: map[string]cf.SubscribeOptions{ch: {
			EnableRecovery: true,
			EmitPresence:   true, // counts the user's connections across replicas
			HistoryMetaTTL: historyMetaTTL,
		}},
	}, nil
}

// checkSession asks Sessions. Like identity's own check it never fails
// open: when the session store cannot answer, the connect or refresh gets
// a temporary error (centrifuge 100), which the SDKs retry with backoff; a
// connection whose refresh keeps failing ends when its token expires.
// It returns nil to accept, or what to answer the client.
func (e *Engine) checkSession(ctx context.Context, c Claims) error {
	err := e.sessions.CheckSession(ctx, c.UserID, c.SessionID)
	switch {
	case err == nil:
		return nil
	case apperr.Is(err, apperr.Unauthenticated):
		return disconnectFor(realtime.ReasonSessionRevoked)
	default:
		if now := time.Now().UnixNano(); now > e.nextSessionWarn.Load() {
			e.nextSessionWarn.Store(now + int64(10*time.Second))
			e.log.WarnContext(ctx, "realtime: session check failed; connects and refreshes are retried by the clients (logged at most every 10s)", "error", err)
		}
		return cf.ErrorInternal
	}
}

func (e *Engine) onConnect(client *cf.Client) {
	user := client.UserID()
	sid := client.Labels()["sid"]
	client.OnRefresh(func(ev cf.RefreshEvent, cb cf.RefreshCallback) {
		c, err := e.tokens.Verify(ev.Token)
		if err == nil && !time.Now().Before(c.ExpiresAt) {
			err = apperr.New(apperr.Unauthenticated, CodeTokenExpired, "expired within the leeway")
		}
		if err != nil {
			if apperr.CodeOf(err) == CodeTokenExpired {
				cb(cf.RefreshReply{Expired: true}, nil)
				return
			}
			cb(cf.RefreshReply{}, cf.DisconnectInvalidToken)
			return
		}
		if c.UserID.String() != user || c.SessionID.String() != sid {
			// A token of another user or session cannot take over this
			// connection: its labels (and channel) were fixed at connect.
			cb(cf.RefreshReply{}, cf.DisconnectInvalidToken)
			return
		}
		if err := e.checkSession(client.Context(), c); err != nil {
			cb(cf.RefreshReply{}, err)
			return
		}
		cb(cf.RefreshReply{ExpireAt: c.ExpiresAt.Unix()}, nil)
	})
	client.OnDisconnect(func(ev cf.DisconnectEvent) {
		e.disconnects.Add(context.Background(), 1, metric.WithAttributes(attribute.String("reason", reasonName(ev.Code))))
	})
}

// reasonName names a close code for the disconnects metric.
func reasonName(code uint32) string {
	if r, ok := ReasonOf(code); ok {
		return string(r)
	}
	switch code {
	case cf.DisconnectConnectionClosed.Code:
		return "connection_closed"
	case cf.DisconnectShutdown.Code:
		return "shutdown"
	case cf.DisconnectServerError.Code:
		return "server_error"
	case cf.DisconnectExpired.Code:
		return "expired"
	case cf.DisconnectSlow.Code:
		return "slow"
	case cf.DisconnectWriteError.Code:
		return "write_error"
	case cf.DisconnectInsufficientState.Code:
		return "insufficient_state"
	case cf.DisconnectNoPong.Code:
		return "no_pong"
	case cf.DisconnectInvalidToken.Code:
		return "invalid_token"
	case cf.DisconnectBadRequest.Code:
		return "bad_request"
	case cf.DisconnectStale.Code:
		return "stale"
	case cf.DisconnectConnectionLimit.Code:
		return "connection_limit"
	case cf.DisconnectChannelLimit.Code:
		return "channel_limit"
	case cf.DisconnectTooManyRequests.Code:
		return "too_many_requests"
	}
	return "other"
}

// envelope is an event as clients receive it (docs/realtime.md).
type envelope struct {
	ID         uuid.UUID       `json:"id"`
	Type       string          `json:"type"`
	Version    int             `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Payload    json.RawMessage `json:"payload"`
}

// DecodeEvent parses a publication of userID's channel back into an event
// (for Go clients: the load generator and the tests).
func DecodeEvent(userID uuid.UUID, data []byte) (realtime.Event, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return realtime.Event{}, fmt.Errorf("decode realtime event: %w", err)
	}
	e := realtime.Event{ID: env.ID, Type: env.Type, Version: env.Version, UserID: userID, OccurredAt: env.OccurredAt.UTC()}
	if err := json.Unmarshal(env.Payload, &e.Payload); err != nil {
		return realtime.Event{}, fmt.Errorf("decode realtime event payload: %w", err)
	}
	return e, nil
}

// Publish implements realtime.Publisher: the event goes to the user's
// channel through the broker (every replica), and into its history
// (HistorySize publications for HistoryTTL).
func (e *Engine) Publish(ctx context.Context, ev realtime.Event) (err error) {
	ctx, span := e.tracer.Start(ctx, "realtime.publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("realtime.event.type", ev.Type), attribute.String("realtime.event.id", ev.ID.String()),
			attribute.String("messaging.system", "centrifuge"), attribute.String("messaging.destination.name", "user:*")))
	outcome := "ok"
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, apperr.CodeOf(err))
		}
		span.End()
		e.published.Add(ctx, 1, metric.WithAttributes(attribute.String("type", metricType(ev.Type)), attribute.String("outcome", outcome)))
	}()
	if err := ev.Validate(); err != nil {
		outcome = "invalid"
		return err
	}
	payload := []byte("{}")
	if ev.Payload != nil {
		if payload, err = json.Marshal(ev.Payload); err != nil {
			outcome = "invalid"
			return apperr.Wrap(err, apperr.Invalid, realtime.CodeEventInvalid, "realtime event: payload is not JSON")
		}
	}
	if len(payload) > e.cfg.MaxEventBytes {
		outcome = "invalid"
		return apperr.New(apperr.Invalid, realtime.CodeEventInvalid,
			fmt.Sprintf("realtime event: payload of %d bytes exceeds %d (REALTIME_MAX_EVENT_BYTES)", len(payload), e.cfg.MaxEventBytes))
	}
	data, err := json.Marshal(envelope{ID: ev.ID, Type: ev.Type, Version: ev.Version, OccurredAt: ev.OccurredAt.UTC(), Payload: payload})
	if err != nil {
		outcome = "invalid"
		return apperr.Wrap(err, apperr.Invalid, realtime.CodeEventInvalid, "realtime event: encode")
	}
	if err := ctx.Err(); err != nil {
		outcome = "unavailable"
		return apperr.Wrap(err, apperr.Unavailable, CodeUnavailable, "The realtime broker is unavailable.")
	}
	res, err := e.node.Publish(Channel(ev.UserID), data, cf.WithHistory(e.cfg.HistorySize, e.cfg.HistoryTTL))
	if err != nil {
		outcome = "unavailable"
		return apperr.Wrap(redactErr(err, e.cfg.RedisURL), apperr.Unavailable, CodeUnavailable, "The realtime broker is unavailable.")
	}
	span.SetAttributes(attribute.Int64("realtime.offset", int64(res.Offset))) //nolint:gosec // offsets stay far below 2^63
	return nil
}

// metricType keeps the metric's cardinality bounded.
func metricType(t string) string {
	if realtime.KnownType(t) {
		return t
	}
	return "unknown"
}

// DisconnectUser implements realtime.Disconnector. It returns once this
// replica's connections of the user are closed (awaitClosed).
func (e *Engine) DisconnectUser(ctx context.Context, userID uuid.UUID, reason realtime.DisconnectReason) error {
	closing := e.localConnections(userID, nil)
	if err := e.node.Disconnect(userID.String(), cf.WithCustomDisconnect(disconnectFor(reason))); err != nil {
		return apperr.Wrap(redactErr(err, e.cfg.RedisURL), apperr.Unavailable, CodeUnavailable, "The realtime broker is unavailable.")
	}
	e.awaitClosed(ctx, userID, closing)
	return nil
}

// closeWaitMax bounds awaitClosed when ctx has no earlier deadline.
const closeWaitMax = time.Second

// localConnections are this replica's connections of userID, those of the
// sessions sids only when sids is not nil.
func (e *Engine) localConnections(userID uuid.UUID, sids map[string]bool) []*cf.Client {
	var out []*cf.Client
	for _, c := range e.node.Hub().UserConnections(userID.String()) {
		if sids == nil || sids[c.Labels()["sid"]] {
			out = append(out, c)
		}
	}
	return out
}

// awaitClosed waits until clients, being disconnected, can no longer
// receive a publication of userID's channel, or ctx ends (at most
// closeWaitMax). centrifuge closes a client on a goroutine of its own, so
// without this an event published right after a disconnect (identity's
// security.session_revoked) could still reach the devices being closed,
// which docs/realtime.md says are disconnected first. A client leaves its
// channel only after its writer is closed and the disconnect sent, so a
// client no longer subscribed is past the point where an event reaches it.
// Other replicas close theirs when the disconnect reaches them through the
// broker.
func (e *Engine) awaitClosed(ctx context.Context, userID uuid.UUID, clients []*cf.Client) {
	if len(clients) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, closeWaitMax)
	defer cancel()
	ch := Channel(userID)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for _, c := range clients {
		for c.IsSubscribed(ch) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}
}

// DisconnectSessions implements realtime.Disconnector: the connections are
// matched by the sid label set at connect.
func (e *Engine) DisconnectSessions(ctx context.Context, userID uuid.UUID, sessionIDs []uuid.UUID, reason realtime.DisconnectReason) error {
	if len(sessionIDs) == 0 {
		return nil
	}
	vals := make([]string, len(sessionIDs))
	sids := make(map[string]bool, len(sessionIDs))
	for i, s := range sessionIDs {
		vals[i] = s.String()
		sids[vals[i]] = true
	}
	closing := e.localConnections(userID, sids)
	err := e.node.Disconnect(userID.String(), cf.WithCustomDisconnect(disconnectFor(reason)),
		cf.WithDisconnectLabelFilter(&cf.FilterNode{Key: "sid", Cmp: "in", Vals: vals}))
	if err != nil {
		return apperr.Wrap(redactErr(err, e.cfg.RedisURL), apperr.Unavailable, CodeUnavailable, "The realtime broker is unavailable.")
	}
	e.awaitClosed(ctx, userID, closing)
	return nil
}

// Shutdown closes every connection with the shutdown advice (code 3001:
// reconnect, which a load balancer sends to another replica), stops the
// node and closes its Redis connections. It returns when every connection
// is closed or ctx ends (then with ctx's error); later calls return the
// first call's result.
func (e *Engine) Shutdown(ctx context.Context) error {
	e.shutdownOnce.Do(func() {
		e.shuttingDown.Store(true)
		e.shutdownErr = e.node.Shutdown(ctx)
		if e.reg != nil {
			_ = e.reg.Unregister()
		}
		e.closeShard()
	})
	return e.shutdownErr
}

// HealthCheck is the engine's readiness check: a presence read through the
// broker (memory: always up). It is optional: the service stays ready
// without push, since clients fall back to fetching.
func (e *Engine) HealthCheck() health.Registration {
	return health.Registration{Name: "realtime", Required: false, Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
		done := make(chan error, 1)
		go func() {
			_, err := e.node.PresenceStats("health:" + e.cfg.NodeName)
			done <- err
		}()
		select {
		case err := <-done:
			details := map[string]any{"broker": e.broker, "connections": e.node.Hub().NumClients()}
			if err != nil {
				return details, fmt.Errorf("realtime %s broker: %w", e.broker, redactErr(err, e.cfg.RedisURL))
			}
			return details, nil
		case <-ctx.Done():
			return nil, fmt.Errorf("realtime %s broker: %w", e.broker, ctx.Err())
		}
	})}
}

func (e *Engine) instrument(mp metric.MeterProvider) error {
	m := mp.Meter("github.com/tradesense/tradesense/adapters/centrifuge")
	var err1, err2, err3, err4, err5 error
	e.published, err1 = m.Int64Counter("realtime.events.published", metric.WithDescription("Events handed to Publish, by type and outcome (ok, invalid, unavailable)."))
	e.disconnects, err2 = m.Int64Counter("realtime.disconnects", metric.WithDescription("Closed connections by reason."))
	conns, err3 := m.Int64ObservableGauge("realtime.connections", metric.WithDescription("Open connections on this replica."))
	subs, err4 := m.Int64ObservableGauge("realtime.subscriptions", metric.WithDescription("Channel subscriptions on this replica."))
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return fmt.Errorf("realtime metrics: %w", err)
	}
	e.reg, err5 = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		h := e.node.Hub()
		o.ObserveInt64(conns, int64(h.NumClients()))
		o.ObserveInt64(subs, int64(h.NumSubscriptions()))
		return nil
	}, conns, subs)
	if err5 != nil {
		return fmt.Errorf("realtime metrics: %w", err5)
	}
	return nil
}

// logEntry forwards centrifuge's log entries to slog, without any field
// that could carry a token.
func (e *Engine) logEntry(le cf.LogEntry) {
	level := slog.LevelInfo
	switch le.Level {
	case cf.LogLevelTrace, cf.LogLevelDebug:
		level = slog.LevelDebug
	case cf.LogLevelWarn:
		level = slog.LevelWarn
	case cf.LogLevelError:
		level = slog.LevelError
	}
	attrs := make([]any, 0, 2*len(le.Fields)+2)
	for k, v := range le.Fields {
		if strings.Contains(strings.ToLower(k), "token") || k == "data" {
			continue
		}
		attrs = append(attrs, k, v)
	}
	if le.Error != nil {
		attrs = append(attrs, "error", redactErr(le.Error, e.cfg.RedisURL).Error())
	}
	e.log.Log(context.Background(), level, "centrifuge: "+le.Message, attrs...)
}
