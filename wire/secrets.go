package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/awssecrets"
	"github.com/tradesense/tradesense/adapters/envsecrets"
	"github.com/tradesense/tradesense/adapters/filesecrets"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/adapters/vault"
	"github.com/tradesense/tradesense/core/secrets"
)

// secretSettings are the variables whose values are secrets: each may be a
// literal, a reference (env:, file:, vault:, aws:) or given as NAME_FILE.
var secretSettings = []string{"DATABASE_URL", "DATABASE_SECRET", "REDIS_URL", "SMTP_URL"}

// SecretsSet provides the secrets resolver and the resolved secret settings.
var SecretsSet = wire.NewSet(provideResolver, provideSecrets)

// SecretsConfig configures where secrets come from.
type SecretsConfig struct {
	Resolver secrets.ResolverConfig
	Files    filesecrets.Config
	// Vault is nil unless VAULT_ADDR is set.
	Vault *vault.Config
	// AWS is nil unless a secret setting is an aws: reference or
	// AWS_SECRETS_ENABLED=true.
	AWS *awssecrets.Config
}

func (r *envReader) secretsConfig() SecretsConfig {
	c := SecretsConfig{
		Resolver: secrets.ResolverConfig{
			TTL:          r.duration("SECRETS_CACHE_TTL", secrets.DefaultTTL),
			MaxStaleness: r.duration("SECRETS_MAX_STALENESS", secrets.DefaultMaxStaleness),
			FetchTimeout: r.duration("SECRETS_FETCH_TIMEOUT", secrets.DefaultFetchTimeout),
		},
		Files: filesecrets.Config{Dir: r.str("SECRETS_DIR", "")},
	}
	if addr := r.str("VAULT_ADDR", ""); addr != "" {
		c.Vault = &vault.Config{
			Addr:          addr,
			Namespace:     r.str("VAULT_NAMESPACE", ""),
			AuthMethod:    r.oneOf("VAULT_AUTH_METHOD", vault.AuthToken, vault.AuthToken, vault.AuthKubernetes, vault.AuthAppRole),
			AuthMount:     r.str("VAULT_AUTH_MOUNT", ""),
			Token:         secrets.New(r.secret("VAULT_TOKEN"), ""),
			K8sRole:       r.str("VAULT_K8S_ROLE", ""),
			K8sTokenPath:  r.str("VAULT_K8S_TOKEN_PATH", vault.DefaultK8sTokenPath),
			RoleID:        r.str("VAULT_ROLE_ID", ""),
			SecretID:      secrets.New(r.secret("VAULT_SECRET_ID"), ""),
			CACert:        r.str("VAULT_CACERT", ""),
			ClientCert:    r.str("VAULT_CLIENT_CERT", ""),
			ClientKey:     r.str("VAULT_CLIENT_KEY", ""),
			TLSServerName: r.str("VAULT_TLS_SERVER_NAME", ""),
			SkipVerify:    r.bool("VAULT_SKIP_VERIFY", false),
			KVVersion:     int(r.int64("VAULT_KV_VERSION", 2, 1, 2)),
			Timeout:       r.duration("VAULT_CLIENT_TIMEOUT", 0),
			MaxRetries:    int(r.int64("VAULT_MAX_RETRIES", 2, -1, 20)),
		}
	}
	awsWanted := r.bool("AWS_SECRETS_ENABLED", false)
	for _, name := range append(append(secretSettings, keySettings[0].name, keySettings[1].name), oauthSecretVars(r.getenv)...) {
		if strings.HasPrefix(strings.TrimSpace(r.getenv(name)), secrets.SchemeAWS+":") {
			awsWanted = true
		}
	}
	// Read the AWS settings either way, so they are validated and documented.
	aws := awssecrets.Config{
		Region:      r.str("AWS_REGION", ""),
		Endpoint:    r.str("AWS_SECRETS_ENDPOINT", ""),
		MaxAttempts: int(r.int64("AWS_MAX_ATTEMPTS", 3, 1, 20)),
	}
	if awsWanted {
		c.AWS = &aws
	}
	return c
}

// secretsProblems lists production's objections to the secrets setup.
func (c Config) secretsProblems() []error {
	var errs []error
	if c.Secrets.Vault != nil && c.Secrets.Vault.SkipVerify {
		errs = append(errs, errors.New("VAULT_SKIP_VERIFY: certificate verification cannot be disabled in production"))
	}
	return errs
}

// Secrets are the secret-bearing settings after resolution. Their values
// print as [REDACTED].
type Secrets struct {
	// DatabaseURL is DATABASE_URL, or the URL assembled from the JSON secret
	// DATABASE_SECRET (RDS style); zero selects the local SQLite file.
	DatabaseURL secrets.Secret
	// RedisURL is REDIS_URL; zero selects the in-memory adapters.
	RedisURL secrets.Secret
	// SMTPURL is SMTP_URL; zero selects the development outbox.
	SMTPURL secrets.Secret
}

// provideResolver builds the secrets resolver over the providers the
// configuration asks for: env and files always, Vault and AWS when set up.
func provideResolver(ctx context.Context, c SecretsConfig, lookup Getenv, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*secrets.Resolver, func(), error) {
	log = telemetry.Component(log, "secrets")
	files, err := filesecrets.New(c.Files)
	if err != nil {
		return nil, nil, fmt.Errorf("SECRETS_DIR: %w", err)
	}
	providers := secrets.Providers{
		secrets.SchemeEnv:  envsecrets.New(envsecrets.Getenv(lookup)),
		secrets.SchemeFile: files,
	}
	var cleanups []func()
	cleanup := func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	if c.Vault != nil {
		v, done, err := vault.New(ctx, *c.Vault, log, tp)
		if err != nil {
			return nil, nil, fmt.Errorf("vault secrets (VAULT_ADDR): %w", err)
		}
		providers[secrets.SchemeVault] = v
		cleanups = append(cleanups, done)
	}
	if c.AWS != nil {
		a, done, err := awssecrets.New(ctx, *c.AWS, log, tp)
		if err != nil {
			cleanup()
			return nil, nil, fmt.Errorf("aws secrets manager: %w", err)
		}
		providers[secrets.SchemeAWS] = a
		cleanups = append(cleanups, done)
	}
	r, done, err := secrets.NewResolver(c.Resolver, providers, log, tp, mp)
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	cleanups = append(cleanups, done)
	return r, cleanup, nil
}

// provideSecrets resolves the secret-bearing settings. In production the
// database must be PostgreSQL and Redis must be configured.
func provideSecrets(ctx context.Context, env Environment, lookup Getenv, dbURL DatabaseURL, r *secrets.Resolver) (Secrets, error) {
	var out Secrets
	db, err := dbURL(ctx)
	if err != nil {
		return out, err
	}
	out.DatabaseURL = db
	redis, err := r.ResolveEnv(ctx, lookup, "REDIS_URL")
	if err != nil {
		return out, err
	}
	out.RedisURL = redis.Value
	smtpURL, err := r.ResolveEnv(ctx, lookup, "SMTP_URL")
	if err != nil {
		return out, err
	}
	out.SMTPURL = smtpURL.Value

	if env == Production {
		var errs []error
		if u := out.DatabaseURL.Reveal(); !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
			errs = append(errs, errors.New("DATABASE_URL: production needs PostgreSQL: set DATABASE_URL to a postgres:// URL (or DATABASE_SECRET to an RDS-style JSON secret)"))
		}
		if out.RedisURL.IsZero() {
			errs = append(errs, errors.New("REDIS_URL: production needs Redis for the cache, rate limits, short-lived state and jobs: set REDIS_URL"))
		}
		if err := errors.Join(errs...); err != nil {
			return out, fmt.Errorf("production configuration:\n%w", err)
		}
	}
	return out, nil
}

// databaseURL resolves DATABASE_URL, or assembles it from the JSON secret
// DATABASE_SECRET. It is called at start and, through sqlstore's CurrentURL,
// before each new connection: the resolver's cache makes that cheap, and its
// background refresh makes a rotated password reach new connections.
func databaseURL(ctx context.Context, lookup Getenv, sslmode DatabaseSSLMode, r *secrets.Resolver) (secrets.Secret, error) {
	db, err := r.ResolveEnv(ctx, lookup, "DATABASE_URL")
	if err != nil || db.IsSet() {
		return db.Value, err
	}
	doc, err := r.ResolveEnv(ctx, lookup, "DATABASE_SECRET")
	if err != nil || !doc.IsSet() {
		return secrets.Secret{}, err
	}
	u, err := secrets.DatabaseURLFromJSON(doc.Value, url.Values{"sslmode": {string(sslmode)}})
	if err != nil {
		return secrets.Secret{}, fmt.Errorf("DATABASE_SECRET: %w", err)
	}
	return u, nil
}

func secretsAdapters(cfg SecretsConfig) string {
	names := []string{"env", "file"}
	if cfg.Vault != nil {
		names = append(names, "vault")
	}
	if cfg.AWS != nil {
		names = append(names, "aws")
	}
	return strings.Join(names, ",")
}
