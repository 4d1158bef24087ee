package wire

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"

	"github.com/tradesense/tradesense/adapters/cron"
	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/reportfile"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

// AnalyticsConfig configures the analytics figures and the reports.
type AnalyticsConfig struct {
	// Service: ANALYTICS_CACHE_TTL (default 10 min).
	Service analytics.Config
	// EncodedMaxBytes bounds the in-process cache of encoded answers
	// (analytics.Deps.Encoded) in front of the shared cache
	// (ANALYTICS_ENCODED_CACHE_MAX_BYTES, default 8 MiB, at least 1 MiB).
	EncodedMaxBytes uint64
	// Reports: REPORTS_RETENTION (default 30 days), REPORTS_DEFINITIONS_URL.
	Reports analytics.ReportsConfig
	// ScheduleTick is the cron schedule of reports.schedule_tick, which
	// fans out the scheduled reports that are due
	// (REPORTS_SCHEDULE_TICK, default every 15 minutes: time zones with
	// half- and quarter-hour offsets reach 07:00 local on those; "off"
	// disables). PurgeSchedule is maintenance.purge_reports's, which
	// deletes the files past the retention (REPORTS_PURGE_SCHEDULE,
	// default hourly; "off" disables).
	ScheduleTick  string
	PurgeSchedule string
}

func (r *envReader) analyticsConfig() AnalyticsConfig {
	sd, rd := analytics.DefaultConfig(), analytics.DefaultReportsConfig()
	c := AnalyticsConfig{
		Service: analytics.Config{CacheTTL: r.duration("ANALYTICS_CACHE_TTL", sd.CacheTTL)},
		// #nosec G115 -- bounded to [1 MiB, 1 TiB] here
		EncodedMaxBytes: uint64(r.int64("ANALYTICS_ENCODED_CACHE_MAX_BYTES", 8<<20, 1<<20, 1<<40)),
		Reports: analytics.ReportsConfig{
			Retention:      r.duration("REPORTS_RETENTION", rd.Retention),
			DefinitionsURL: r.str("REPORTS_DEFINITIONS_URL", rd.DefinitionsURL),
			Hour:           rd.Hour,
		},
		ScheduleTick:  r.str("REPORTS_SCHEDULE_TICK", "*/15 * * * *"),
		PurgeSchedule: r.str("REPORTS_PURGE_SCHEDULE", "41 * * * *"),
	}
	if c.Service.CacheTTL <= 0 {
		r.fail("ANALYTICS_CACHE_TTL", "must be positive")
	}
	if c.Reports.Retention < time.Hour {
		r.fail("REPORTS_RETENTION", "must be at least 1h")
	}
	for name, s := range map[string]string{"REPORTS_SCHEDULE_TICK": c.ScheduleTick, "REPORTS_PURGE_SCHEDULE": c.PurgeSchedule} {
		if s != "off" {
			if _, err := cron.Parse(s); err != nil {
				r.fail(name, "%v", err)
			}
		}
	}
	return c
}

// AnalyticsSet provides the analytics service, the reporter with its job
// kinds (reports.render, reports.schedule_tick, maintenance.purge_reports)
// and the mailer of scheduled reports.
var AnalyticsSet = wire.NewSet(provideAnalytics, provideReportMailer, provideReporter, provideReportJobs)

// provideAnalytics gives the service, besides the shared cache, a bounded
// in-process cache of its encoded answers (a warm summary is then the
// data version's statement and a memory look-up); the cleanup stops that
// cache's expiry goroutine.
func provideAnalytics(c AnalyticsConfig, tr *trading.Service, db *sqlstore.DB, layer *cache.Layer, cc cache.Config, log *slog.Logger,
	mp metric.MeterProvider) (*analytics.Service, func(), error) {
	encoded, cleanup, err := inProcessLayer("analytics encoded cache", c.EncodedMaxBytes, cc, log, mp)
	if err != nil {
		return nil, nil, err
	}
	svc, err := analytics.NewService(c.Service, analytics.Deps{Trading: tr, Source: sqlstore.NewAnalyticsSource(db), Cache: layer, Encoded: encoded})
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	return svc, cleanup, nil
}

// inProcessLayer is a bounded in-process cache (the memory adapter, at
// most maxBytes) behind a cache.Layer, for encoded answers kept next to
// the code that serves them; the cleanup stops its expiry goroutine.
func inProcessLayer(what string, maxBytes uint64, cc cache.Config, log *slog.Logger, mp metric.MeterProvider) (*cache.Layer, func(), error) {
	mem, cleanup, err := memory.NewCache(memory.CacheConfig{MaxBytes: maxBytes})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	l, err := cache.NewLayer(mem, cc, telemetry.Component(log, "cache"), mp)
	if err != nil {
		cleanup()
		return nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	return l, cleanup, nil
}

// userRecipients reads a user's address from identity's store.
type userRecipients struct{ users *sqlstore.Users }

func (u userRecipients) Recipient(ctx context.Context, id uuid.UUID) (string, string, error) {
	usr, err := u.users.Get(ctx, id)
	if err != nil {
		return "", "", err
	}
	return usr.Email, usr.DisplayName, nil
}

func provideReportMailer(svc *notifications.Service, db *sqlstore.DB) analytics.Mailer {
	return &analytics.EmailMailer{Email: svc, Users: userRecipients{users: sqlstore.NewUsers(db)}}
}

// ReportJobs are the reporter's periodic jobs; the worker takes them
// (provideJobsWorker), which also orders the kinds' registration before
// the worker starts.
type ReportJobs []jobs.Periodic

func provideReporter(c AnalyticsConfig, svc *analytics.Service, db *sqlstore.DB, blobs BlobStore, client *jobs.Client, reg *jobs.Registry,
	events realtime.Publisher, mailer analytics.Mailer, log *slog.Logger) (*analytics.Reporter, error) {
	rep, err := analytics.NewReporter(c.Reports, analytics.ReportDeps{
		Analytics: svc, Reports: sqlstore.NewReports(db), Schedules: sqlstore.NewReportSchedules(db), Blobs: blobs.Store,
		Renderer: reportfile.New(), Jobs: client, Events: events, Zones: userZones(db), Mailer: mailer,
		Log: telemetry.Component(log, "reports"),
	})
	if err != nil {
		return nil, err
	}
	rep.Register(reg)
	return rep, nil
}

// provideReportJobs takes the reporter so that its kinds are registered
// before the worker that runs these starts.
func provideReportJobs(c AnalyticsConfig, _ *analytics.Reporter) (ReportJobs, error) {
	var periodic ReportJobs
	for _, p := range []struct{ name, schedule, kind string }{
		{"reports_schedule_tick", c.ScheduleTick, analytics.KindScheduleTick},
		{"purge_reports", c.PurgeSchedule, analytics.KindPurgeReports},
	} {
		if p.schedule == "off" {
			continue
		}
		s, err := cron.Parse(p.schedule)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		periodic = append(periodic, jobs.Periodic{Name: p.name, Schedule: s, Kind: p.kind})
	}
	return periodic, nil
}
