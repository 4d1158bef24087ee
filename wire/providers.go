package wire

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/smtp"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
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

// ConfigSet hands every provider its own part of the configuration.
var ConfigSet = wire.NewSet(
	wire.FieldsOf(new(Config), "Env", "DataDir", "HealthTimeout", "HTTP", "Worker", "Telemetry", "Secrets",
		"DB", "AutoMigrate", "DatabaseSSLMode", "Redis", "Cache", "MemoryCache", "Identity", "MFA", "Jobs", "OAuth", "Journal", "Realtime", "Imports", "Analytics", "Lookup"),
	wire.FieldsOf(new(IdentityConfig), "Service", "JWT", "Argon2", "Hashing"),
	wire.FieldsOf(new(MFAConfig), "Service"),
	wire.FieldsOf(new(JobsConfig), "Jobs", "Worker", "Redis", "SMTP"),
	wire.FieldsOf(new(OAuthConfig), "Service", "Providers"),
)

// TelemetrySet provides logs, traces, metrics and the readiness registry.
var TelemetrySet = wire.NewSet(
	provideLogger,
	telemetry.NewTracerProvider,
	telemetry.NewMetrics,
	provideMeterProvider,
	provideHealth,
)

// HTTPSet provides the API server.
var HTTPSet = wire.NewSet(provideHTTPDeps, provideAPIServer)

func provideLogger(cfg telemetry.Config, out LogOutput) *slog.Logger {
	return telemetry.NewLogger(cfg, out.Writer)
}

func provideMeterProvider(m *telemetry.Metrics) metric.MeterProvider { return m.Provider }

func provideHealth(timeout HealthTimeout) *health.Registry {
	return health.NewRegistry(time.Duration(timeout))
}

func provideHTTPDeps(log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider, m *telemetry.Metrics, h *health.Registry, build httpapi.BuildInfo, rt *JobsRuntime, imp *imports.Service) httpapi.Deps {
	return httpapi.Deps{
		Imports:        imp,
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

// provideAdapters names the adapters in use: the profile's, and those
// chosen by their own settings (traces, logs, database, mail, secrets).
func provideAdapters(tc telemetry.Config, sc SecretsConfig, db *sqlstore.DB, profile profileAdapters, sender notifications.Sender) Adapters {
	traces := "none"
	if tc.OTLPEndpoint != "" {
		traces = "otlp-http"
	}
	mail := "outbox"
	if _, ok := sender.(*smtp.Sender); ok {
		mail = "smtp"
	}
	a := Adapters{
		"http":     "gin",
		"traces":   traces,
		"metrics":  "prometheus",
		"logs":     "slog-" + tc.LogFormat,
		"database": string(db.Dialect()),
		"mail":     mail,
		"secrets":  secretsAdapters(sc),
	}
	for port, name := range profile {
		a[port] = name
	}
	return a
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
	telemetry.Component(a.Log, "app").Info("starting api", "env", a.Config.Env, "profile", a.Config.Profile, "adapters", a.Adapters,
		"jobs", a.Jobs.Broker, "worker_embedded", a.Jobs.Embedded)
	go a.Jobs.warnUnserved(ctx, telemetry.Component(a.Log, "jobs"))
	return jobs.RunBeside(ctx, a.Server.Run, worker)
}

// OpsServer is the worker's probe and metrics server.
type OpsServer struct{ *httpapi.Server }

func provideOpsServer(hc httpapi.Config, wc WorkerConfig, d httpapi.Deps) (*OpsServer, error) {
	hc.Addr = wc.Addr
	s, err := httpapi.NewOps(hc, d)
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
// cancelled, then drains the running jobs (WORKER_SHUTDOWN_TIMEOUT) while
// the probes answer "not ready", and stops the probe server last.
func (w *Worker) Run(ctx context.Context) error {
	telemetry.Component(w.Log, "app").Info("starting worker", "env", w.Config.Env, "profile", w.Config.Profile, "adapters", w.Adapters,
		"jobs", w.Jobs.Broker, "worker_id", w.Jobs.Worker.ID(), "queues", w.Config.Jobs.Worker.Queues)
	return jobs.RunUnder(ctx, w.Ops.Run, w.Ops.SetDraining, w.Jobs.Worker)
}

// Migrator is the `tradesense migrate` program.
type Migrator struct {
	DB *sqlstore.DB
}

// Run applies the migration command (up, down or status), reporting to out.
func (m *Migrator) Run(ctx context.Context, command string, out io.Writer) error {
	return m.DB.Migrate(ctx, command, out)
}
