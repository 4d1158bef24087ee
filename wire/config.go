// Package wire is the composition root: it reads the configuration, chooses
// the adapters of the active profile (profiles.go), and assembles the
// programs with google/wire. It is the only package that knows every
// adapter.
package wire

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/cache"
)

// Environment is APP_ENV.
type Environment string

// The environments. Production enforces secure settings.
const (
	Development Environment = "development"
	Test        Environment = "test"
	Production  Environment = "production"
)

// Profile is the set of adapters a process runs on. It is read once, from
// the configuration, and chosen in one place: profiles.go picks the
// injector of the profile for each program.
type Profile string

// The profiles.
const (
	// Local runs on memory adapters (cache, rate limits, short-lived
	// state, job records) and in-process jobs, the worker inside `api`:
	// the default, needing no service.
	Local Profile = "local"
	// Services runs them on Redis, jobs on Redis Streams, shared by
	// every replica. REDIS_URL (or REDIS_URL_FILE) selects it.
	Services Profile = "services"
)

// Settings of the whole process, each its own type so that providers can
// ask for just that one (ConfigSet).
type (
	// DataDir holds the local profile's state: SQLite file, development
	// keys, mail outbox (DATA_DIR, default ./data).
	DataDir string
	// HealthTimeout bounds each readiness check (HEALTH_CHECK_TIMEOUT,
	// default 2s).
	HealthTimeout time.Duration
	// AutoMigrate applies pending migrations at start (DB_AUTO_MIGRATE,
	// default true outside production, where a migrate Job runs them).
	AutoMigrate bool
	// DatabaseSSLMode is the sslmode of a URL assembled from
	// DATABASE_SECRET (DATABASE_SSLMODE, default verify-full).
	DatabaseSSLMode string
)

// WorkerConfig configures the job worker process.
type WorkerConfig struct {
	// Addr serves the worker's /health, /health/ready and /metrics
	// (WORKER_HTTP_ADDR, default :8001).
	Addr string
}

// Config is every setting of the program, one struct per adapter.
type Config struct {
	Env             Environment
	Profile         Profile
	DataDir         DataDir
	HealthTimeout   HealthTimeout
	HTTP            httpapi.Config
	Worker          WorkerConfig
	Telemetry       telemetry.Config
	Secrets         SecretsConfig
	DB              sqlstore.Config // URL comes from Secrets
	AutoMigrate     AutoMigrate
	DatabaseSSLMode DatabaseSSLMode
	Redis           redisstore.Config // URL comes from Secrets
	Cache           cache.Config
	MemoryCache     memory.CacheConfig
	// Identity configures accounts, sessions and tokens (wire/identity.go).
	Identity IdentityConfig
	// MFA configures two-factor authentication (wire/mfa.go).
	MFA MFAConfig
	// Jobs configures background jobs and email (wire/jobs.go).
	Jobs JobsConfig
	// OAuth configures sign-in with OAuth and OpenID Connect providers
	// (wire/oauth.go).
	OAuth OAuthConfig
	// Journal configures attachments and the blob store (wire/journal.go).
	Journal JournalConfig
	// Realtime configures the realtime engine (wire/realtime.go).
	Realtime centrifuge.Config
	// Imports configures broker imports and the blob store (wire/imports.go).
	Imports ImportsConfig
	// Analytics configures the figures and the reports (wire/analytics.go).
	Analytics AnalyticsConfig
	// Lookup reads the environment (with .env merged in development) for
	// secret references such as env:NAME and NAME_FILE.
	Lookup Getenv
}

// LoadConfig reads and validates the configuration from getenv. The error
// lists every bad or missing variable by name.
func LoadConfig(getenv Getenv, version string) (Config, error) {
	cfg, _, err := loadConfig(getenv, version)
	return cfg, err
}

// loadConfig also returns the names of the variables it read.
func loadConfig(getenv Getenv, version string) (Config, []string, error) {
	r := &envReader{getenv: getenv}
	cfg := Config{
		Env:           Environment(r.oneOf("APP_ENV", string(Development), string(Development), string(Test), string(Production))),
		Profile:       Local,
		DataDir:       DataDir(r.str("DATA_DIR", "./data")),
		HealthTimeout: HealthTimeout(r.duration("HEALTH_CHECK_TIMEOUT", 2*time.Second)),
		Lookup:        getenv,
	}
	// REDIS_URL is a secret, resolved later; whether it is set at all is
	// what chooses the profile.
	if getenv("REDIS_URL") != "" || getenv("REDIS_URL_FILE") != "" {
		cfg.Profile = Services
	}
	prod := cfg.Env == Production
	cfg.Secrets = r.secretsConfig()
	cfg.DB = r.databaseConfig()
	cfg.AutoMigrate = AutoMigrate(r.bool("DB_AUTO_MIGRATE", !prod))
	cfg.DatabaseSSLMode = DatabaseSSLMode(r.oneOf("DATABASE_SSLMODE", "verify-full", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"))
	cfg.Redis = r.redisConfig(prod)
	cfg.Cache, cfg.MemoryCache = r.cacheConfig()
	cfg.Identity = r.identityConfig(prod)
	cfg.MFA = r.mfaConfig()
	cfg.Jobs = r.jobsConfig()
	cfg.OAuth = r.oauthConfig(prod, cfg.Identity.Service.PublicURL)
	cfg.Journal = r.journalConfig()
	cfg.Imports = r.importsConfig()
	cfg.Analytics = r.analyticsConfig()
	r.names = append(r.names, secretSettings...)
	for _, ks := range keySettings {
		r.names = append(r.names, ks.name)
	}

	def := httpapi.DefaultConfig()
	cfg.HTTP = httpapi.Config{
		Addr:               r.str("HTTP_ADDR", def.Addr),
		ReadHeaderTimeout:  r.duration("HTTP_READ_HEADER_TIMEOUT", def.ReadHeaderTimeout),
		ReadTimeout:        r.duration("HTTP_READ_TIMEOUT", def.ReadTimeout),
		WriteTimeout:       r.duration("HTTP_WRITE_TIMEOUT", def.WriteTimeout),
		IdleTimeout:        r.duration("HTTP_IDLE_TIMEOUT", def.IdleTimeout),
		ShutdownTimeout:    r.duration("SHUTDOWN_TIMEOUT", def.ShutdownTimeout),
		ShutdownDelay:      r.duration("SHUTDOWN_DELAY", def.ShutdownDelay),
		MaxBodyBytes:       r.int64("HTTP_MAX_BODY_BYTES", def.MaxBodyBytes, 1, 1<<30),
		MaxUploadBytes:     r.int64("HTTP_MAX_UPLOAD_BYTES", def.MaxUploadBytes, 1, 1<<30),
		CORSAllowedOrigins: r.list("CORS_ALLOWED_ORIGINS"),
		TrustedProxies:     r.list("HTTP_TRUSTED_PROXIES"),
		HSTS:               r.bool("HTTP_HSTS", prod),
	}
	cfg.Worker = WorkerConfig{Addr: r.str("WORKER_HTTP_ADDR", ":8001")}
	cfg.Realtime = r.realtimeConfig(cfg.Redis.KeyPrefix, cfg.Identity.JWT.Issuer, cfg.Identity.JWT.Audience, cfg.HTTP.CORSAllowedOrigins)

	defaultFormat := "text"
	if prod {
		defaultFormat = "json"
	}
	cfg.Telemetry = telemetry.Config{
		ServiceName:    r.str("OTEL_SERVICE_NAME", "tradesense"),
		ServiceVersion: version,
		Environment:    string(cfg.Env),
		LogLevel:       r.level("LOG_LEVEL", slog.LevelInfo),
		LogFormat:      r.oneOf("LOG_FORMAT", defaultFormat, "json", "text"),
		OTLPEndpoint:   r.str("OTEL_EXPORTER_OTLP_ENDPOINT", ""),
		SampleRatio:    r.float("OTEL_TRACES_SAMPLER_ARG", 1, 0, 1),
	}

	errs := []error{r.err(), cfg.HTTP.Validate()}
	if prod {
		errs = append(errs, cfg.productionProblems()...)
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, r.names, fmt.Errorf("configuration:\n%w", err)
	}
	return cfg, r.names, nil
}

// productionProblems lists the settings production refuses, each naming the
// variable to set.
func (c Config) productionProblems() []error {
	var errs []error
	if c.Telemetry.LogFormat != "json" {
		errs = append(errs, errors.New("LOG_FORMAT: production logs must be json"))
	}
	if c.Telemetry.LogLevel < slog.LevelInfo {
		errs = append(errs, errors.New("LOG_LEVEL: debug logging is not allowed in production; use info or higher"))
	}
	if c.AutoMigrate {
		errs = append(errs, errors.New("DB_AUTO_MIGRATE: production runs migrations as a separate step (tradesense migrate up, the Kubernetes migrate Job); set it to false"))
	}
	return append(errs, c.secretsProblems()...)
}
