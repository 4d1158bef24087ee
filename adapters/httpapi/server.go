// Package httpapi is the driving HTTP adapter: the Gin engine, its middleware
// chain, the problem+json error contract, and the handlers of the operations
// in openapi.yaml (generated interface in ./gen).
package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/gin-contrib/cors"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/idempotency"
)

// Config configures the HTTP server. Environment variable names and defaults
// are listed in .env.example.
type Config struct {
	Addr              string        // HTTP_ADDR, default :8000
	ReadHeaderTimeout time.Duration // HTTP_READ_HEADER_TIMEOUT, default 5s
	ReadTimeout       time.Duration // HTTP_READ_TIMEOUT, default 30s
	WriteTimeout      time.Duration // HTTP_WRITE_TIMEOUT, default 30s
	IdleTimeout       time.Duration // HTTP_IDLE_TIMEOUT, default 120s
	// ShutdownTimeout bounds the drain of in-flight requests after SIGTERM
	// (SHUTDOWN_TIMEOUT, default 20s).
	ShutdownTimeout time.Duration
	// ShutdownDelay keeps serving, with readiness already 503, before the
	// drain starts, so load balancers stop routing first (SHUTDOWN_DELAY,
	// default 0; Kubernetes uses a preStop hook instead).
	ShutdownDelay time.Duration
	MaxBodyBytes  int64 // HTTP_MAX_BODY_BYTES, default 1 MiB
	// MaxUploadBytes bounds the body of multipart uploads (attachments)
	// instead (HTTP_MAX_UPLOAD_BYTES, default 6 MiB: a 5 MB image and its
	// form). The image's own bound is the journal's ATTACHMENT_MAX_BYTES.
	MaxUploadBytes int64
	// CORSAllowedOrigins are exact origins allowed to call the API with
	// credentials (CORS_ALLOWED_ORIGINS, comma separated). "*" is refused.
	CORSAllowedOrigins []string
	// TrustedProxies are the CIDRs whose X-Forwarded-For is believed
	// (HTTP_TRUSTED_PROXIES). Empty: the peer address is the client.
	TrustedProxies []string
	// HSTS sends Strict-Transport-Security (on in production).
	HSTS bool
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Addr:              ":8000",
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ShutdownTimeout:   20 * time.Second,
		MaxBodyBytes:      1 << 20,
		MaxUploadBytes:    6 << 20,
	}
}

// Validate reports settings the server cannot run with.
func (c Config) Validate() error {
	var errs []error
	if slices.Contains(c.CORSAllowedOrigins, "*") {
		errs = append(errs, errors.New(`CORS_ALLOWED_ORIGINS: "*" is not allowed with credentials; list the exact origins`))
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("HTTP_MAX_BODY_BYTES: must be positive"))
	}
	if c.MaxUploadBytes < 0 {
		errs = append(errs, errors.New("HTTP_MAX_UPLOAD_BYTES: must not be negative"))
	}
	return errors.Join(errs...)
}

// Deps are the collaborators of the server. New refuses a nil one: every
// operation of openapi.yaml is served, so every service must be there.
type Deps struct {
	Log            *slog.Logger
	TracerProvider trace.TracerProvider
	MeterProvider  metric.MeterProvider
	Propagator     propagation.TextMapPropagator
	Metrics        http.Handler
	Health         *health.Registry
	Build          BuildInfo
	// Identity authenticates bearer tokens and serves /api/v1/auth and
	// the user administration (*identity.Service).
	Identity Identity
	// Keys publishes the JWKS (*identity.KeyRing).
	Keys KeySet
	// MFA and MFAFlows serve /api/v1/mfa and the second login step
	// (*mfa.Service, *mfa.Flows).
	MFA      MFAFactors
	MFAFlows MFAFlows
	// Jobs serves /api/v1/jobs and the job inspection of /api/v1/admin
	// (*jobs.Client); Mail the bulk email of /api/v1/admin/emails
	// (*notifications.Service).
	Jobs JobInspector
	Mail BulkMailer
	// OAuth serves sign-in through providers and the linked identities:
	// /api/v1/auth/providers, /api/v1/auth/oauth, /api/v1/auth/identities
	// (*oauth.Service).
	OAuth OAuth
	// Trading serves /api/v1/accounts, /executions and /trades
	// (*trading.Service); Journal /api/v1/tags, /playbooks, /journal and
	// /attachments (*journal.Service).
	Trading Trading
	Journal Journal
	// Idempotency replays the first answer to a POST's Idempotency-Key
	// (*idempotency.Guard over sqlstore.IdempotencyKeys).
	Idempotency *idempotency.Guard
	// Realtime is the realtime engine, mounted at /connection/websocket
	// and shut down with the server (*centrifuge.Engine); RealtimeTokens
	// serves POST /api/v1/realtime/token (*centrifuge.Tokens).
	Realtime       RealtimeEngine
	RealtimeTokens RealtimeTokens
	// Imports serves /api/v1/imports and /api/v1/import-mappings
	// (*imports.Service).
	Imports Imports
	// Analytics serves /api/v1/analytics (*analytics.Service) and Reports
	// /api/v1/reports (*analytics.Reporter).
	Analytics Analytics
	Reports   Reports
}

// infrastructure are the collaborators every server needs.
func (d Deps) infrastructure() map[string]any {
	return map[string]any{"Log": d.Log, "TracerProvider": d.TracerProvider, "MeterProvider": d.MeterProvider,
		"Propagator": d.Propagator, "Metrics": d.Metrics, "Health": d.Health}
}

// services are the modules the API serves, one entry per Deps field.
func (d Deps) services() map[string]any {
	return map[string]any{"Identity": d.Identity, "Keys": d.Keys, "MFA": d.MFA, "MFAFlows": d.MFAFlows,
		"Jobs": d.Jobs, "Mail": d.Mail, "OAuth": d.OAuth,
		"Trading": d.Trading, "Journal": d.Journal, "Idempotency": d.Idempotency,
		"Realtime": d.Realtime, "RealtimeTokens": d.RealtimeTokens, "Imports": d.Imports,
		"Analytics": d.Analytics, "Reports": d.Reports}
}

// missing names the nil fields among the given ones.
func missing(fields ...map[string]any) error {
	var errs []error
	for _, f := range fields {
		for _, name := range slices.Sorted(maps.Keys(f)) {
			if isNil(f[name]) {
				errs = append(errs, fmt.Errorf("httpapi: Deps.%s is nil", name))
			}
		}
	}
	return errors.Join(errs...)
}

// isNil is true for nil and for an interface holding a nil pointer, map,
// func, channel or slice.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice:
		return rv.IsNil()
	}
	return false
}

// Server is the API's HTTP server.
type Server struct {
	cfg    Config
	log    *slog.Logger
	health *health.Registry
	engine *gin.Engine
	srv    *http.Server
	// realtime is shut down before the HTTP drain (nil: the ops server).
	realtime RealtimeEngine

	listening chan struct{} // closed once addr is set
	addr      string
}

// New builds the API server with every operation of openapi.yaml routed.
// It fails when a collaborator is missing.
func New(ctx context.Context, cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := missing(d.infrastructure(), d.services()); err != nil {
		return nil, err
	}
	doc, err := loadSpec(ctx)
	if err != nil {
		return nil, err
	}
	routes, err := routesOf(doc)
	if err != nil {
		return nil, err
	}
	docs, err := newDocsAssets()
	if err != nil {
		return nil, fmt.Errorf("docs assets: %w", err)
	}
	engine, err := newEngine(cfg, d, routes, corsHeadersOf(doc))
	if err != nil {
		return nil, err
	}
	engine.Use(authenticator(routes, d.Identity, d.Log), validator(routes, d.Log), idempotent(routes, d.Idempotency, d.Log))

	api := &strictServer{
		systemHandlers:    &systemHandlers{health: d.Health, build: d.Build, log: d.Log},
		identityHandlers:  &identityHandlers{svc: d.Identity, keys: d.Keys},
		mfaHandlers:       &mfaHandlers{factors: d.MFA, flows: d.MFAFlows},
		jobHandlers:       &jobHandlers{jobs: d.Jobs, mail: d.Mail},
		oauthHandlers:     &oauthHandlers{svc: d.OAuth, log: d.Log},
		tradingHandlers:   &tradingHandlers{svc: d.Trading},
		journalHandlers:   &journalHandlers{svc: d.Journal, trades: d.Trading},
		realtimeHandlers:  &realtimeHandlers{tokens: d.RealtimeTokens},
		importHandlers:    &importHandlers{svc: d.Imports},
		analyticsHandlers: &analyticsHandlers{figures: d.Analytics, reports: d.Reports},
	}
	si := gen.NewStrictHandlerWithOptions(api, []gen.StrictMiddlewareFunc{requestScoped}, gen.StrictGinServerOptions{
		RequestErrorHandlerFunc: func(c *gin.Context, err error) {
			writeProblem(c, d.Log, apperr.Wrap(err, apperr.Invalid, "invalid_request", "The request could not be read."))
		},
		HandlerErrorFunc: func(c *gin.Context, err error) { writeProblem(c, d.Log, err) },
		ResponseErrorHandlerFunc: func(c *gin.Context, err error) {
			writeProblem(c, d.Log, fmt.Errorf("write response: %w", err))
		},
	})
	gen.RegisterHandlersWithOptions(engine, si, gen.GinServerOptions{
		ErrorHandler: func(c *gin.Context, err error, _ int) { writeProblem(c, d.Log, paramProblem(err)) },
	})
	engine.GET("/metrics", gin.WrapH(d.Metrics))
	engine.GET(callbackPath, api.callback)
	engine.GET(RealtimePath, realtimeUpgrade(d.Realtime, d.Log))
	engine.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", specYAML) })
	engine.GET("/docs", docs.page(d.Log))
	engine.GET("/docs/:file", docs.asset(d.Log))
	answerHead(engine)
	srv := newServer(cfg, d, engine)
	srv.realtime = d.Realtime
	return srv, nil
}

// requestScoped is the strict-server middleware every operation runs
// through. It hands the handler a copy of the Gin context (gin's Copy)
// instead of the pooled one: Gin recycles its context for the next request
// once the chain returns, and work that outlives a middleware's
// bookkeeping (database/sql watches ctx.Done() from its own goroutines, a
// service's background mail) must not see another request's state. The
// copy answers Deadline, Done, Err and Value from the request's own
// context (the engine sets ContextWithFallback), including the principal
// and the request record the middleware put there. Being the strict
// server's one middleware, it covers every handler, present and future.
func requestScoped(f gen.StrictHandlerFunc, _ string) gen.StrictHandlerFunc {
	return func(c *gin.Context, req any) (any, error) {
		return f(c.Copy(), req)
	}
}

// NewOps builds the small server a worker runs for its probes and metrics:
// /health, /health/ready and /metrics, with the same middleware as the API.
func NewOps(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := missing(d.infrastructure()); err != nil {
		return nil, err
	}
	engine, err := newEngine(cfg, d, nil, corsHeadersOf(nil))
	if err != nil {
		return nil, err
	}
	si := gen.NewStrictHandler(&strictServer{systemHandlers: &systemHandlers{health: d.Health, build: d.Build, log: d.Log}}, []gen.StrictMiddlewareFunc{requestScoped})
	engine.GET("/health", si.GetHealth)
	engine.GET("/health/ready", si.GetReadiness)
	engine.GET("/metrics", gin.WrapH(d.Metrics))
	answerHead(engine)
	return newServer(cfg, d, engine), nil
}

// newEngine returns a Gin engine with the shared middleware chain, outermost
// first: tracing, request ID, access log and metrics, panic recovery,
// security headers, CORS (allowing and exposing the headers in corsHeaders),
// body limit.
func newEngine(cfg Config, d Deps, routes routeTable, headers corsHeaders) (*gin.Engine, error) {
	gin.SetMode(gin.ReleaseMode)
	engine := gin.New()
	engine.HandleMethodNotAllowed = true
	engine.ContextWithFallback = true
	engine.RedirectTrailingSlash = false
	engine.RedirectFixedPath = false
	if err := engine.SetTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, fmt.Errorf("HTTP_TRUSTED_PROXIES: %w", err)
	}
	observed, err := observe(d.Log, d.TracerProvider, d.Propagator, d.MeterProvider, drainingProbe(d.Health))
	if err != nil {
		return nil, err
	}
	engine.Use(
		observed,
		recovery(d.Log),
		securityHeaders(cfg.HSTS),
	)
	if len(cfg.CORSAllowedOrigins) > 0 {
		engine.Use(corsGate(d.Log, cfg.CORSAllowedOrigins), cors.New(cors.Config{
			AllowOrigins:     cfg.CORSAllowedOrigins,
			AllowMethods:     []string{"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"},
			AllowHeaders:     headers.allow,
			ExposeHeaders:    headers.expose,
			AllowCredentials: true,
			MaxAge:           12 * time.Hour,
		}))
	}
	engine.Use(bodyLimit(d.Log, cfg.MaxBodyBytes, cfg.MaxUploadBytes, routes, uploadLimits(d)))
	engine.NoRoute(func(c *gin.Context) {
		writeProblem(c, d.Log, apperr.New(apperr.NotFound, "not_found", "No such resource."))
	})
	engine.NoMethod(func(c *gin.Context) {
		writeProblem(c, d.Log, errMethodNotAllowed())
	})
	return engine, nil
}

// uploadFormOverhead is what a multipart form adds to its file: the other
// fields, boundaries and part headers.
const uploadFormOverhead = 64 << 10

// uploadLimits are the body caps of the upload routes: the import size
// cap and the form around it (the ops server serves none).
func uploadLimits(d Deps) map[routeKey]int64 {
	if d.Imports == nil {
		return nil
	}
	n := d.Imports.Config().MaxBytes + uploadFormOverhead
	return map[routeKey]int64{{http.MethodPost, "/api/v1/imports"}: n, {http.MethodPost, "/api/v1/imports/preview"}: n}
}

// drainingProbe reports the readiness probes' 503s while the process
// drains: expected answers, logged at info.
func drainingProbe(h *health.Registry) func(route string, status int) bool {
	return func(route string, status int) bool {
		return status == http.StatusServiceUnavailable && route == "/health/ready" && h != nil && h.Draining()
	}
}

func newServer(cfg Config, d Deps, engine *gin.Engine) *Server {
	return &Server{
		cfg:       cfg,
		log:       d.Log,
		health:    d.Health,
		engine:    engine,
		listening: make(chan struct{}),
		srv: &http.Server{
			Handler:           engine,
			ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout:       cfg.ReadTimeout,
			WriteTimeout:      cfg.WriteTimeout,
			IdleTimeout:       cfg.IdleTimeout,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(d.Log.Handler(), slog.LevelWarn),
		},
	}
}

// Listening is closed once Run has bound its address.
func (s *Server) Listening() <-chan struct{} { return s.listening }

// Addr is the bound address; valid after Listening is closed.
func (s *Server) Addr() string {
	<-s.listening
	return s.addr
}

// Handler is the server's routing handler, for in-process tests and benchmarks.
func (s *Server) Handler() http.Handler { return s.engine }

// Routes lists the registered method and path pairs, in Gin's syntax.
func (s *Server) Routes() [][2]string {
	var out [][2]string
	for _, r := range s.engine.Routes() {
		out = append(out, [2]string{r.Method, r.Path})
	}
	return out
}

// SetDraining turns readiness to 503 ahead of Run's own shutdown: the
// worker's probe server keeps answering, not ready, while the worker
// drains (jobs.RunUnder).
func (s *Server) SetDraining() { s.health.SetDraining() }

// Run serves until ctx is cancelled, then shuts down gracefully: readiness
// turns 503 at once, the server keeps serving for ShutdownDelay, then stops
// accepting and drains in-flight requests for up to ShutdownTimeout. A drain
// cut short by the timeout is logged, not returned: the process still exits 0.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.addr = ln.Addr().String()
	close(s.listening)
	errc := make(chan error, 1)
	var headers bytes.Buffer
	_ = apiSecurityHeaders(s.cfg.HSTS).Write(&headers) // header lines, each ending in CRLF
	go func() { errc <- s.srv.Serve(problemListener{ln, s.log, headers.Bytes()}) }()
	s.log.Info("http server listening", "addr", s.addr)

	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	s.health.SetDraining()
	s.log.Info("shutting down: readiness is now 503", "delay", s.cfg.ShutdownDelay, "drain_timeout", s.cfg.ShutdownTimeout)
	if s.cfg.ShutdownDelay > 0 {
		time.Sleep(s.cfg.ShutdownDelay)
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if s.realtime != nil {
		// Hijacked connections are not net/http's to drain: the engine
		// refuses new upgrades (503) and closes each connection with the
		// reconnect advice, so clients move to another replica.
		began := time.Now()
		if err := s.realtime.Shutdown(drainCtx); err != nil {
			s.log.Warn("realtime drain cut short", "error", err)
		} else {
			s.log.Info("realtime connections closed", "took", time.Since(began))
		}
	}
	if err := s.srv.Shutdown(drainCtx); err != nil {
		s.log.Warn("drain cut short: closing remaining connections", "error", err)
		_ = s.srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve http: %w", err)
	}
	s.log.Info("http server stopped")
	return nil
}

// problemListener hands net/http connections whose writes turn the
// plain-text errors net/http answers by itself (before any handler: a
// header with control bytes, headers over MaxHeaderBytes, a missing Host)
// into problem+json (netHTTPProblem), so that every error the server sends
// has the API's error format. net/http has no hook for those answers.
// Each such answer is logged (warn, with its request ID, status, code and
// the peer's address): no access line is written for a request no
// handler saw.
type problemListener struct {
	net.Listener
	log *slog.Logger
	// headers are the API's security headers, as header lines: net/http's
	// answers carry them as every other does.
	headers []byte
}

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		return &problemTCPConn{TCPConn: tc, log: l.log, headers: l.headers}, nil
	}
	return &problemConn{Conn: c, log: l.log, headers: l.headers}, nil
}

type problemConn struct {
	net.Conn
	log     *slog.Logger
	headers []byte
}

func (c *problemConn) Write(p []byte) (int, error) { return problemWrite(c.Conn, c.log, c.headers, p) }

// problemTCPConn keeps *net.TCPConn's methods that net/http looks for
// (CloseWrite for a graceful close, ReadFrom for sendfile).
type problemTCPConn struct {
	*net.TCPConn
	log     *slog.Logger
	headers []byte
}

func (c *problemTCPConn) Write(p []byte) (int, error) {
	return problemWrite(c.TCPConn, c.log, c.headers, p)
}

// problemWrite writes p to conn, or, when p is one of net/http's own
// answers, its problem+json form, and logs that.
func problemWrite(conn net.Conn, log *slog.Logger, headers, p []byte) (int, error) {
	a, ok := netHTTPProblem(p, uuid.NewString, headers)
	if !ok {
		return conn.Write(p)
	}
	if _, err := conn.Write(a.out); err != nil {
		return 0, err
	}
	log.Warn("request refused before any handler", "request_id", a.requestID, "status", a.status, "code", a.code,
		"client_addr", conn.RemoteAddr().String())
	return len(p), nil
}
