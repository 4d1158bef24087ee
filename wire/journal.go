package wire

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"

	"github.com/tradesense/tradesense/adapters/blobdir"
	"github.com/tradesense/tradesense/adapters/blobs3"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/trading"
)

// JournalConfig configures the trading journal: attachments and the blob
// store behind them.
type JournalConfig struct {
	// Journal bounds attachments (ATTACHMENT_MAX_BYTES, default 5 MB).
	Journal journal.Config
	// S3 is the object store when S3_BUCKET is set; otherwise blobs are
	// files under DATA_DIR/blobs.
	S3 blobs3.Config
	// S3Secret is S3_SECRET_ACCESS_KEY (or its _FILE), never printed.
	S3Secret secrets.Secret
	// PageCacheMaxBytes bounds the in-process cache of encoded trade
	// pages (trading.Deps.Pages; TRADES_PAGE_CACHE_MAX_BYTES, default
	// 8 MiB, at least 1 MiB; 0 turns it off: every page is read).
	PageCacheMaxBytes uint64
}

func (r *envReader) journalConfig() JournalConfig {
	c := JournalConfig{
		Journal: journal.Config{MaxAttachmentBytes: r.int64("ATTACHMENT_MAX_BYTES", journal.DefaultMaxImageBytes, 1024, 1<<30)},
		// #nosec G115 -- bounded to [0, 1 TiB] here
		PageCacheMaxBytes: uint64(r.int64("TRADES_PAGE_CACHE_MAX_BYTES", 8<<20, 0, 1<<40)),
		S3: blobs3.Config{
			Bucket:      r.str("S3_BUCKET", ""),
			Prefix:      r.str("S3_PREFIX", ""),
			Region:      r.str("S3_REGION", ""),
			Endpoint:    r.str("S3_ENDPOINT", ""),
			PathStyle:   r.bool("S3_FORCE_PATH_STYLE", false),
			AccessKeyID: r.str("S3_ACCESS_KEY_ID", ""),
		},
	}
	if s := r.secret("S3_SECRET_ACCESS_KEY"); s != "" {
		c.S3Secret = secrets.New(s, "")
	}
	if c.PageCacheMaxBytes > 0 && c.PageCacheMaxBytes < 1<<20 {
		r.fail("TRADES_PAGE_CACHE_MAX_BYTES", "must be 0 (off) or at least 1048576")
	}
	if c.S3.Prefix != "" && !strings.HasSuffix(c.S3.Prefix, "/") {
		r.fail("S3_PREFIX", "must end with /")
	}
	if (c.S3.AccessKeyID == "") != c.S3Secret.IsZero() {
		r.fail("S3_ACCESS_KEY_ID", "set both S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY, or neither (the standard AWS chain)")
	}
	return c
}

// JournalSet provides the trading and journal services, the blob store
// and the idempotency guard of POSTs. The blob store is chosen by its own
// setting (S3_BUCKET), like the database by DATABASE_URL, not by the
// profile.
// Their events go to the process's realtime.Publisher (RealtimeSet in the
// api program, RealtimePublishOnlySet elsewhere).
var JournalSet = wire.NewSet(TradingSet, provideTradePages, provideJournal, provideIdempotency)

// TradingSet is the trading service and the blob store, which the worker
// program needs too (broker imports run there).
var TradingSet = wire.NewSet(provideBlobStore, provideTrading)

// BlobStore is the store attachments use, and the adapter's name for the
// start-up log.
type BlobStore struct {
	blob.Store
	Adapter string
}

func provideBlobStore(ctx context.Context, c JournalConfig, dir DataDir, log *slog.Logger) (BlobStore, func(), error) {
	log = telemetry.Component(log, "blob")
	if c.S3.Bucket != "" {
		cfg := c.S3
		cfg.SecretAccessKey = c.S3Secret.Reveal()
		s, err := blobs3.New(ctx, cfg)
		if err != nil {
			return BlobStore{}, nil, fmt.Errorf("blob store (S3_BUCKET): %w", err)
		}
		log.InfoContext(ctx, "blob store", "adapter", "s3", "bucket", cfg.Bucket, "endpoint", cfg.Endpoint)
		return BlobStore{Store: s, Adapter: "s3"}, func() {}, nil
	}
	s, cleanup, err := blobdir.New(blobdir.Config{Dir: filepath.Join(string(dir), "blobs")})
	if err != nil {
		return BlobStore{}, nil, fmt.Errorf("blob store (DATA_DIR): %w", err)
	}
	log.InfoContext(ctx, "blob store", "adapter", "directory", "dir", s.Dir())
	return BlobStore{Store: s, Adapter: "directory"}, cleanup, nil
}

// userZones reads the user's time zone from their profile (UTC when none
// or unknown). The zone's name is read on every call (a profile change
// applies to the next request, on every replica); zone.Load keeps
// the loaded locations.
func userZones(db *sqlstore.DB) trading.UserZones {
	users := sqlstore.NewUsers(db)
	return trading.ZoneFunc(func(ctx context.Context, userID uuid.UUID) (*time.Location, error) {
		name, err := users.TimeZone(ctx, userID)
		if err != nil {
			if apperr.Is(err, apperr.NotFound) {
				return time.UTC, nil
			}
			return nil, err
		}
		return trading.ZoneOrUTC(name), nil
	})
}

// TradePages is the trading service's cache of encoded trade pages:
// the api program's (provideTradePages), none in the worker, which
// serves no pages.
type TradePages struct{ *cache.Layer }

// provideTradePages is a bounded in-process cache of encoded trade pages
// (a warm page is then the data version's statement and a memory
// look-up), none with TRADES_PAGE_CACHE_MAX_BYTES=0; the cleanup stops its
// expiry goroutine.
func provideTradePages(c JournalConfig, cc cache.Config, log *slog.Logger, mp metric.MeterProvider) (TradePages, func(), error) {
	if c.PageCacheMaxBytes == 0 {
		return TradePages{}, func() {}, nil
	}
	l, cleanup, err := inProcessLayer("trade page cache", c.PageCacheMaxBytes, cc, log, mp)
	return TradePages{l}, cleanup, err
}

func provideTrading(db *sqlstore.DB, pages TradePages, events realtime.Publisher, log *slog.Logger) (*trading.Service, error) {
	ledger := sqlstore.NewLedger(db)
	return trading.NewService(trading.Deps{
		Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db),
		Executions: sqlstore.NewExecutions(db), Ledger: ledger, Trades: ledger, Labels: sqlstore.NewTradeLabels(db),
		Versions: sqlstore.NewDataVersions(db), Zones: userZones(db), Tx: sqlstore.NewUnitOfWork(db),
		Events: events, Log: telemetry.Component(log, "trading"), Pages: pages.Layer,
	})
}

func provideJournal(c JournalConfig, db *sqlstore.DB, blobs BlobStore, events realtime.Publisher, log *slog.Logger) (*journal.Service, error) {
	return journal.NewService(c.Journal, journal.Deps{
		Tags: sqlstore.NewTags(db), Playbooks: sqlstore.NewPlaybooks(db), Entries: sqlstore.NewJournalEntries(db),
		Attachments: sqlstore.NewAttachments(db), Blobs: blobs.Store, Trades: sqlstore.NewLedger(db),
		Accounts: sqlstore.NewTradingAccounts(db), Zones: userZones(db), Versions: sqlstore.NewDataVersions(db), Tx: sqlstore.NewUnitOfWork(db),
		Events: events, Log: telemetry.Component(log, "journal"),
	})
}

func provideIdempotency(db *sqlstore.DB) *idempotency.Guard {
	return &idempotency.Guard{Store: sqlstore.NewIdempotencyKeys(db)}
}
