//go:build wireinject

package wire

import (
	"context"

	gwire "github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/httpapi"
)

// InitializeAPI assembles the `tradesense api` program.
func InitializeAPI(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*API, func(), error) {
	gwire.Build(TelemetrySet, HTTPSet, provideAdapters, gwire.Struct(new(API), "*"))
	return nil, nil, nil
}

// InitializeWorker assembles the `tradesense worker` program.
func InitializeWorker(ctx context.Context, cfg Config, out LogOutput, build httpapi.BuildInfo) (*Worker, func(), error) {
	gwire.Build(TelemetrySet, provideHealth, provideHTTPDeps, provideOpsServer, provideAdapters, gwire.Struct(new(Worker), "*"))
	return nil, nil, nil
}
