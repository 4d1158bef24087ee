//go:build wireinject

package wire

import (
	"context"

	gwire "github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/httpapi"
)

// InitializeAPI assembles the `tradesense api` program.
func InitializeAPI(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*API, func(), error) {
	gwire.Build(TelemetrySet, provideHealth, SecretsSet, provideKeys, PersistenceSet, HTTPSet, JobsSet, provideAdapters, gwire.Struct(new(API), "*"))
	return nil, nil, nil
}

// InitializeWorker assembles the `tradesense worker` program. Its probes
// and metrics are served on WORKER_HTTP_ADDR.
func InitializeWorker(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*Worker, func(), error) {
	gwire.Build(TelemetrySet, provideHealth, SecretsSet, PersistenceSet, provideHTTPDeps, provideOpsServer, JobsSet, provideAdapters, gwire.Struct(new(Worker), "*"))
	return nil, nil, nil
}

// InitializeMigrator assembles the `tradesense migrate` program: telemetry,
// secrets and the database, nothing else.
func InitializeMigrator(ctx context.Context, cfg Config, out LogOutput) (*Migrator, func(), error) {
	gwire.Build(TelemetrySet, provideHealth, SecretsSet, provideDB, gwire.Struct(new(Migrator), "*"))
	return nil, nil, nil
}

// InitializeUsers assembles the `tradesense users` program: the identity
// service over the configured database, for account administration.
func InitializeUsers(ctx context.Context, cfg Config, out LogOutput) (*Users, func(), error) {
	gwire.Build(TelemetrySet, provideHealth, SecretsSet, provideKeys, PersistenceSet, IdentitySet, JobsSet, gwire.Struct(new(Users), "*"))
	return nil, nil, nil
}
