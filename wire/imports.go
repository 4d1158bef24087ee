package wire

import (
	"fmt"
	"log/slog"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/cron"
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
	// RequeueSchedule is the cron (UTC) of maintenance.requeue_imports
	// (IMPORTS_REQUEUE_SCHEDULE, every 15 minutes; "off" disables).
	RequeueSchedule string
}

func (r *envReader) importsConfig() ImportsConfig {
	def := imports.DefaultConfig()
	return ImportsConfig{Service: imports.Config{
		MaxBytes:    r.int64("IMPORT_MAX_BYTES", def.MaxBytes, 1<<10, 1<<30),
		PreviewRows: def.PreviewRows,
		MaxWarnings: def.MaxWarnings,
	}, RequeueSchedule: r.str("IMPORTS_REQUEUE_SCHEDULE", "7,22,37,52 * * * *")}
}

// ImportsSet provides the imports module of the api and worker programs:
// the service, its job kind registered on the job registry, over the
// trading service and the blob store of TradingSet.
var ImportsSet = wire.NewSet(provideImports, provideImportJobs)

// ImportJobs are the imports module's periodic jobs; the worker takes
// them (provideJobsWorker).
type ImportJobs []jobs.Periodic

// provideImportJobs takes the service so that its kinds are registered
// before the worker that runs these starts.
func provideImportJobs(c ImportsConfig, _ *imports.Service) (ImportJobs, error) {
	if c.RequeueSchedule == "off" {
		return nil, nil
	}
	s, err := cron.Parse(c.RequeueSchedule)
	if err != nil {
		return nil, fmt.Errorf("IMPORTS_REQUEUE_SCHEDULE: %w", err)
	}
	return ImportJobs{{Name: "requeue_imports", Schedule: s, Kind: imports.KindRequeue}}, nil
}

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
