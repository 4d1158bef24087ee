//go:build wireinject

package wire

import (
	"context"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/core/identity"
)

// The injectors, one per program and profile; profiles.go chooses among
// them. A program's sets are listed once (programs.go); its two injectors
// differ only by LocalSet or ServicesSet.

func injectLocalAPI(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*API, func(), error) {
	wire.Build(APIProgramSet, LocalSet)
	return nil, nil, nil
}

func injectServicesAPI(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*API, func(), error) {
	wire.Build(APIProgramSet, ServicesSet)
	return nil, nil, nil
}

func injectLocalWorker(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*Worker, func(), error) {
	wire.Build(WorkerProgramSet, LocalSet)
	return nil, nil, nil
}

func injectServicesWorker(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*Worker, func(), error) {
	wire.Build(WorkerProgramSet, ServicesSet)
	return nil, nil, nil
}

func injectLocalUsers(ctx context.Context, cfg Config, out LogOutput) (*Users, func(), error) {
	wire.Build(UsersProgramSet, LocalSet)
	return nil, nil, nil
}

func injectServicesUsers(ctx context.Context, cfg Config, out LogOutput) (*Users, func(), error) {
	wire.Build(UsersProgramSet, ServicesSet)
	return nil, nil, nil
}

// InitializeMigrator assembles the `tradesense migrate` program: telemetry,
// secrets and the database, nothing else, in either profile.
func InitializeMigrator(ctx context.Context, cfg Config, out LogOutput) (*Migrator, func(), error) {
	wire.Build(ConfigSet, TelemetrySet, SecretsSet, provideDatabaseURL, provideDB, wire.Struct(new(Migrator), "*"))
	return nil, nil, nil
}

// InitializeStack assembles the api program of the local profile with
// identity's mailer and the OAuth providers' HTTP client given, for the
// component tests (tests/): the same sets as the program, so the tests
// cannot drift from it. Its job worker is built but not run. The tests
// move its time with testing/synctest.
func InitializeStack(ctx context.Context, cfg Config, out LogOutput, mailer identity.Mailer, providers ProviderClient) (*Stack, func(), error) {
	wire.Build(APISet, LocalSet, wire.Value(httpapi.BuildInfo{Version: "stack"}), wire.Struct(new(Stack), "*"))
	return nil, nil, nil
}
