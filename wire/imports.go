package wire

import (
	"log/slog"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

// ImportsConfig configures broker imports (docs/imports.md). The
// uploaded files go to the blob store of the trading journal (S3_BUCKET,
// else DATA_DIR/blobs: JournalConfig).
type ImportsConfig struct {
	Service imports.Config
}

func (r *envReader) importsConfig() ImportsConfig {
	def := imports.DefaultConfig()
	return ImportsConfig{Service: imports.Config{
		MaxBytes:    r.int64("IMPORT_MAX_BYTES", def.MaxBytes, 1<<10, 1<<30),
		PreviewRows: def.PreviewRows,
		MaxWarnings: def.MaxWarnings,
	}}
}

// ImportsSet provides the imports module of the api and worker programs:
// the service, its job kind registered on the job registry, over the
// trading service and the blob store of TradingSet.
var ImportsSet = wire.NewSet(provideImports)

func provideImports(c ImportsConfig, db *sqlstore.DB, tr *trading.Service, blobs BlobStore, reg *jobs.Registry, client *jobs.Client,
	events realtime.Publisher, log *slog.Logger) (*imports.Service, error) {
	svc, err := imports.NewService(c.Service, imports.Deps{
		Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db), Trading: tr, Blobs: blobs.Store, Jobs: client,
		Events: events, Zones: userZones(db), Tx: sqlstore.NewUnitOfWork(db), Log: telemetry.Component(log, "imports"),
	})
	if err != nil {
		return nil, err
	}
	svc.Register(reg)
	return svc, nil
}
