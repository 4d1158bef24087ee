package wire

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/google/uuid"
	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/blobdir"
	"github.com/tradesense/tradesense/adapters/blobs3"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

// ImportsConfig configures broker imports (docs/imports.md) and the blob
// store the uploaded files are kept in.
type ImportsConfig struct {
	Service imports.Config
	// S3 is the blob store when S3_BUCKET is set; otherwise blobs are
	// files under DATA_DIR/blobs.
	S3 blobs3.Config
}

func (r *envReader) importsConfig() ImportsConfig {
	def := imports.DefaultConfig()
	c := ImportsConfig{Service: imports.Config{
		MaxBytes:    r.int64("IMPORT_MAX_BYTES", def.MaxBytes, 1<<10, 1<<30),
		PreviewRows: def.PreviewRows,
		MaxWarnings: def.MaxWarnings,
	}}
	c.S3 = blobs3.Config{
		Bucket:          r.str("S3_BUCKET", ""),
		Prefix:          r.str("S3_PREFIX", ""),
		Region:          r.str("S3_REGION", ""),
		Endpoint:        r.str("S3_ENDPOINT", ""),
		PathStyle:       r.bool("S3_FORCE_PATH_STYLE", false),
		AccessKeyID:     r.str("S3_ACCESS_KEY_ID", ""),
		SecretAccessKey: r.secret("S3_SECRET_ACCESS_KEY"),
	}
	return c
}

// ImportsSet provides the imports module of the api and worker programs:
// the service (its job kind registered on the job registry) and, until
// the trading module and the realtime engine are wired by their own sets,
// the trading service, the user zones and the event publisher it needs.
var ImportsSet = wire.NewSet(
	provideBlobs,
	provideUserZones,
	provideTradingService,
	providePendingPublisher,
	provideImports,
)

// provideBlobs chooses the blob store by its own setting: S3 when
// S3_BUCKET is set (production: the api and worker replicas share it),
// else a directory under DATA_DIR (the local profile).
func provideBlobs(ctx context.Context, c ImportsConfig, dir DataDir) (blob.Store, func(), error) {
	if c.S3.Bucket != "" {
		s, err := blobs3.New(ctx, c.S3)
		if err != nil {
			return nil, nil, err
		}
		return s, func() {}, nil
	}
	s, cleanup, err := blobdir.New(blobdir.Config{Dir: filepath.Join(string(dir), "blobs")})
	if err != nil {
		return nil, nil, err
	}
	return s, cleanup, nil
}

// provideUserZones reads a user's zone from the user record (UTC when
// unset or unreadable as a zone).
func provideUserZones(db *sqlstore.DB) trading.UserZones {
	users := sqlstore.NewUsers(db)
	return trading.ZoneFunc(func(ctx context.Context, userID uuid.UUID) (*time.Location, error) {
		u, err := users.Get(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("user zone: %w", err)
		}
		if u.Timezone == "" {
			return time.UTC, nil
		}
		loc, err := time.LoadLocation(u.Timezone)
		if err != nil {
			return time.UTC, nil //nolint:nilerr // a stored zone that no longer loads reads as UTC
		}
		return loc, nil
	})
}

// pendingPublisher stands in for the realtime engine's publisher until
// RealtimeSet (#17) is part of these programs: it logs each event at
// debug level and drops it. Delete it, and its provider, when that lands.
type pendingPublisher struct{ log *slog.Logger }

func (p pendingPublisher) Publish(ctx context.Context, e realtime.Event) error {
	p.log.DebugContext(ctx, "realtime event (no engine wired)", slog.String("type", e.Type))
	return nil
}

func providePendingPublisher(log *slog.Logger) realtime.Publisher {
	return pendingPublisher{log: telemetry.Component(log, "realtime")}
}

func provideTradingService(db *sqlstore.DB, zones trading.UserZones, events realtime.Publisher, log *slog.Logger) (*trading.Service, error) {
	ledger := sqlstore.NewLedger(db)
	return trading.NewService(trading.Deps{
		Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db), Executions: sqlstore.NewExecutions(db),
		Ledger: ledger, Trades: ledger, Labels: sqlstore.NewTradeLabels(db), Versions: sqlstore.NewDataVersions(db),
		Zones: zones, Tx: sqlstore.NewUnitOfWork(db), Events: events, Log: telemetry.Component(log, "trading"),
	})
}

func provideImports(c ImportsConfig, db *sqlstore.DB, tr *trading.Service, blobs blob.Store, reg *jobs.Registry, client *jobs.Client,
	events realtime.Publisher, zones trading.UserZones, log *slog.Logger) (*imports.Service, error) {
	svc, err := imports.NewService(c.Service, imports.Deps{
		Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db), Trading: tr, Blobs: blobs, Jobs: client,
		Events: events, Zones: zones, Tx: sqlstore.NewUnitOfWork(db), Log: telemetry.Component(log, "imports"),
	})
	if err != nil {
		return nil, err
	}
	svc.Register(reg)
	return svc, nil
}
