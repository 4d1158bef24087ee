package wire

import (
	"context"
	"io"
	"log/slog"

	gwire "github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/jobs"
)

// LogOutput is where the process writes its logs (stdout in app/).
type LogOutput struct{ io.Writer }

// Adapters names the adapter chosen for each port, for the start-up log.
type Adapters map[string]string

// LogValue renders the adapters as one group in the start-up log line.
func (a Adapters) LogValue() slog.Value {
	attrs := make([]slog.Attr, 0, len(a))
	for k, v := range a {
		attrs = append(attrs, slog.String(k, v))
	}
	return slog.GroupValue(attrs...)
}

// TelemetrySet provides logs, traces and metrics.
var TelemetrySet = gwire.NewSet(
	gwire.FieldsOf(new(Config), "Telemetry"),
	provideLogger,
	telemetry.NewTracerProvider,
	gwire.Bind(new(trace.TracerProvider), new(*sdktrace.TracerProvider)),
	telemetry.NewMetrics,
	provideMeterProvider,
)

// HTTPSet provides the API server.
var HTTPSet = gwire.NewSet(
	gwire.FieldsOf(new(Config), "HTTP"),
	provideHTTPDeps,
	IdentitySet,
	provideAPIServer,
)

// SecretsSet provides the secrets resolver and the resolved secret settings.
var SecretsSet = gwire.NewSet(provideResolver, provideSecrets)

// PersistenceSet provides the database, the shared Redis client (nil in the
// local profile) and the cache layer.
var PersistenceSet = gwire.NewSet(provideDB, provideRedis, provideCache)

func provideLogger(cfg telemetry.Config, out LogOutput) *slog.Logger {
	return telemetry.NewLogger(cfg, out.Writer)
}

func provideMeterProvider(m *telemetry.Metrics) metric.MeterProvider { return m.Provider }

func provideHealth(cfg Config) *health.Registry { return health.NewRegistry(cfg.HealthTimeout) }

func provideHTTPDeps(log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, m *telemetry.Metrics, h *health.Registry, build httpapi.BuildInfo, rt *JobsRuntime) httpapi.Deps {
	return httpapi.Deps{
		Jobs:           rt.Client,
		Mail:           rt.Notifications,
		Log:            telemetry.Component(log, "httpapi"),
		TracerProvider: tp,
		MeterProvider:  mp,
		Propagator:     telemetry.Propagator(),
		Metrics:        m.Handler(),
		Health:         h,
		Build:          build,
	}
}

func provideAdapters(cfg Config, db *sqlstore.DB, redis *redisstore.Client) Adapters {
	traces := "none"
	if cfg.Telemetry.OTLPEndpoint != "" {
		traces = "otlp-http"
	}
	cacheAdapter := "memory"
	if redis != nil {
		cacheAdapter = "redis"
	}
	return Adapters{
		"http":     "gin",
		"traces":   traces,
		"metrics":  "prometheus",
		"logs":     "slog-" + cfg.Telemetry.LogFormat,
		"database": string(db.Dialect()),
		"cache":    cacheAdapter,
		"secrets":  secretsAdapters(cfg.Secrets),
	}
}

// API is the `tradesense api` program.
type API struct {
	Config   Config
	Log      *slog.Logger
	Server   *httpapi.Server
	DB       *sqlstore.DB
	Cache    *cache.Layer
	Keys     Keys
	Jobs     *JobsRuntime
	Adapters Adapters
}

// Run serves the API until ctx is cancelled, then shuts down gracefully.
// In the local profile (or with WORKER_EMBEDDED=true) it runs the job
// worker beside the server.
func (a *API) Run(ctx context.Context) error {
	var worker *jobs.Worker
	if a.Jobs.Embedded {
		worker = a.Jobs.Worker
	}
	telemetry.Component(a.Log, "app").Info("starting api", "env", a.Config.Env, "adapters", a.Adapters, "jobs", a.Jobs.Broker, "worker_embedded", a.Jobs.Embedded)
	return runBeside(ctx, a.Server.Run, worker)
}

// OpsServer is the worker's probe and metrics server.
type OpsServer struct{ *httpapi.Server }

func provideOpsServer(cfg Config, d httpapi.Deps) (*OpsServer, error) {
	c := cfg.HTTP
	c.Addr = cfg.Worker.Addr
	s, err := httpapi.NewOps(c, d)
	if err != nil {
		return nil, err
	}
	return &OpsServer{s}, nil
}

// Worker is the `tradesense worker` program.
type Worker struct {
	Config   Config
	Log      *slog.Logger
	Ops      *OpsServer
	DB       *sqlstore.DB
	Cache    *cache.Layer
	Jobs     *JobsRuntime
	Adapters Adapters
}

// Run consumes jobs and serves the worker's probes until ctx is
// cancelled, then drains the running jobs (WORKER_SHUTDOWN_TIMEOUT).
func (w *Worker) Run(ctx context.Context) error {
	telemetry.Component(w.Log, "app").Info("starting worker", "env", w.Config.Env, "adapters", w.Adapters, "jobs", w.Jobs.Broker,
		"worker_id", w.Jobs.Worker.ID(), "queues", w.Config.Jobs.Worker.Queues)
	return runBeside(ctx, w.Ops.Run, w.Jobs.Worker)
}

// Migrator is the `tradesense migrate` program.
type Migrator struct {
	DB *sqlstore.DB
}

// Run applies the migration command (up, down or status), reporting to out.
func (m *Migrator) Run(ctx context.Context, command string, out io.Writer) error {
	return m.DB.Migrate(ctx, command, out)
}
