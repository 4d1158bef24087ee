package wire

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/wire"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/adapters/cron"
	"github.com/tradesense/tradesense/adapters/smtp"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
	"github.com/tradesense/tradesense/core/realtime"
)

// JobsConfig configures background jobs and email.
type JobsConfig struct {
	Jobs jobs.Config
	// Worker holds the worker's timings; its Queues come from
	// WORKER_CONCURRENCY, narrowed by `worker --queues`.
	Worker jobs.WorkerConfig
	// Embedded runs a worker inside `api` (WORKER_EMBEDDED; default true
	// in the local profile, where jobs travel in-process, false in the
	// services profile).
	Embedded *bool
	Redis    watermill.RedisConfig
	// PurgeSchedule is the cron schedule of maintenance.purge_jobs
	// (JOBS_PURGE_SCHEDULE, default every 15 minutes; "off" disables).
	PurgeSchedule string
	// IdentityPurgeSchedule is the cron schedule of
	// maintenance.purge_identity, which deletes ended sessions and email
	// tokens (IDENTITY_PURGE_SCHEDULE, default every 15 minutes; "off"
	// disables); IdentityPurgeKeep keeps them that long after they ended
	// (IDENTITY_PURGE_KEEP, default 24h).
	IdentityPurgeSchedule string
	IdentityPurgeKeep     time.Duration
	SMTP                  smtp.Config // URL: SMTP_URL (secret), From: MAIL_FROM
}

// defaultConcurrency is WORKER_CONCURRENCY's default.
const defaultConcurrency = "default:8,email:8,reports:2,maintenance:1"

// defaultPurgeSchedule is when the purges of expired job records and of
// ended identity records run: every 15 minutes (UTC).
const defaultPurgeSchedule = "*/15 * * * *"

func (r *envReader) jobsConfig() JobsConfig {
	d, wd, rd, md := jobs.DefaultConfig(), jobs.DefaultWorkerConfig(), watermill.DefaultRedisConfig(), smtp.DefaultConfig()
	c := JobsConfig{
		Jobs: jobs.Config{
			MaxRetries:        int(r.int64("JOBS_MAX_RETRIES", int64(d.MaxRetries), 0, 100)),
			Backoff:           jobs.LinearBackoff(r.duration("JOBS_RETRY_BACKOFF", jobs.DefaultBackoffStep)),
			Jitter:            r.float("JOBS_RETRY_JITTER", d.Jitter, 0, 1),
			SoftTimeout:       r.duration("JOBS_SOFT_TIME_LIMIT", d.SoftTimeout),
			HardTimeout:       r.duration("JOBS_HARD_TIME_LIMIT", d.HardTimeout),
			ResultTTL:         r.duration("JOBS_RESULT_TTL", d.ResultTTL),
			DeadTTL:           r.duration("JOBS_DEAD_TTL", d.DeadTTL),
			IdempotencyWindow: r.duration("JOBS_IDEMPOTENCY_WINDOW", d.IdempotencyWindow),
			RescueAfter:       r.duration("JOBS_RESCUE_AFTER", d.RescueAfter),
		},
		Worker: jobs.WorkerConfig{
			ID:                r.str("WORKER_ID", ""),
			ShutdownTimeout:   r.duration("WORKER_SHUTDOWN_TIMEOUT", wd.ShutdownTimeout),
			HeartbeatInterval: r.duration("JOBS_HEARTBEAT_INTERVAL", wd.HeartbeatInterval),
			HeartbeatTTL:      r.duration("JOBS_HEARTBEAT_TTL", wd.HeartbeatTTL),
			PollInterval:      r.duration("JOBS_POLL_INTERVAL", wd.PollInterval),
		},
		Redis: watermill.RedisConfig{
			ClaimInterval: r.duration("JOBS_CLAIM_INTERVAL", rd.ClaimInterval),
			MaxIdleTime:   r.duration("JOBS_CLAIM_MIN_IDLE", rd.MaxIdleTime),
		},
		PurgeSchedule:         r.str("JOBS_PURGE_SCHEDULE", defaultPurgeSchedule),
		IdentityPurgeSchedule: r.str("IDENTITY_PURGE_SCHEDULE", defaultPurgeSchedule),
		IdentityPurgeKeep:     r.duration("IDENTITY_PURGE_KEEP", 24*time.Hour),
		SMTP: smtp.Config{
			// URL comes from Secrets (SMTP_URL, resolved through the secrets port).
			From:    r.str("MAIL_FROM", md.From),
			Timeout: r.duration("SMTP_TIMEOUT", md.Timeout),
		},
	}
	if c.Jobs.Jitter == 0 {
		c.Jobs.Jitter = jobs.NoJitter
	}
	if c.Jobs.MaxRetries == 0 {
		c.Jobs.MaxRetries = -1 // none
	}
	if v := r.str("WORKER_EMBEDDED", ""); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			r.fail("WORKER_EMBEDDED", "%q is not true or false", v)
		}
		c.Embedded = &b
	}
	if c.Worker.HeartbeatTTL <= c.Worker.HeartbeatInterval {
		r.fail("JOBS_HEARTBEAT_TTL", "must be longer than JOBS_HEARTBEAT_INTERVAL")
	}
	if c.Jobs.HardTimeout < c.Jobs.SoftTimeout {
		r.fail("JOBS_HARD_TIME_LIMIT", "must not be shorter than JOBS_SOFT_TIME_LIMIT")
	}
	q, err := ParseConcurrency(r.str("WORKER_CONCURRENCY", defaultConcurrency))
	if err != nil {
		r.fail("WORKER_CONCURRENCY", "%v", err)
	}
	c.Worker.Queues = q
	if c.PurgeSchedule != "off" {
		if _, err := cron.Parse(c.PurgeSchedule); err != nil {
			r.fail("JOBS_PURGE_SCHEDULE", "%v", err)
		}
	}
	if c.IdentityPurgeSchedule != "off" {
		if _, err := cron.Parse(c.IdentityPurgeSchedule); err != nil {
			r.fail("IDENTITY_PURGE_SCHEDULE", "%v", err)
		}
	}
	if c.IdentityPurgeKeep < 0 {
		r.fail("IDENTITY_PURGE_KEEP", "must not be negative")
	}
	return c
}

// ParseConcurrency parses "queue:n,queue:n" (a bare queue gets 1).
func ParseConcurrency(s string) (map[string]int, error) {
	out := map[string]int{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, n, found := strings.Cut(part, ":")
		name = strings.TrimSpace(name)
		if !jobs.KnownQueue(name) {
			return nil, fmt.Errorf("unknown queue %q (want default, email, reports, maintenance)", name)
		}
		c := 1
		if found {
			v, err := strconv.Atoi(strings.TrimSpace(n))
			if err != nil || v < 1 || v > 1000 {
				return nil, fmt.Errorf("queue %s: concurrency %q is not a number from 1 to 1000", name, n)
			}
			c = v
		}
		out[name] = c
	}
	if len(out) == 0 {
		return nil, errors.New("no queue given")
	}
	return out, nil
}

// SelectQueues narrows the worker to the comma-separated queues (the
// `worker --queues` flag), keeping their configured concurrency.
func (c *Config) SelectQueues(list string) error {
	want, err := ParseConcurrency(list)
	if err != nil {
		return fmt.Errorf("--queues: %w", err)
	}
	all, _ := ParseConcurrency(defaultConcurrency)
	out := map[string]int{}
	for q := range want {
		switch {
		case c.Jobs.Worker.Queues[q] > 0:
			out[q] = c.Jobs.Worker.Queues[q]
		case all[q] > 0:
			out[q] = all[q]
		}
		if strings.Contains(list, q+":") {
			out[q] = want[q]
		}
	}
	c.Jobs.Worker.Queues = out
	return nil
}

// WorkerID names this process at the broker and in heartbeats.
type WorkerID string

func provideWorkerID(wc jobs.WorkerConfig) (WorkerID, error) {
	if wc.ID != "" {
		return WorkerID(wc.ID), nil
	}
	host, _ := os.Hostname()
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return WorkerID(fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))), nil
}

// JobsSet provides the job system and the notifications service, over the
// profile's job store and broker.
var JobsSet = wire.NewSet(
	provideWorkerID,
	provideJobsMetrics,
	provideJobsRegistry,
	provideJobsClient,
	provideSender,
	provideNotifications,
	provideJobsWorker,
	provideJobsRuntime,
)

func provideJobsMetrics(mp metric.MeterProvider) (*jobs.Metrics, error) { return jobs.NewMetrics(mp) }

func provideJobsRegistry(c JobsConfig, backend jobs.Backend, db *sqlstore.DB) *jobs.Registry {
	reg := jobs.NewRegistry()
	jobs.RegisterMaintenance(reg, backend)
	sessions, tokens, keep := sqlstore.NewSessions(db), sqlstore.NewEmailTokens(db), c.IdentityPurgeKeep
	reg.Register(identity.KindPurge, jobs.KindConfig{MaxRetries: 1, Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
		return identity.PurgeEnded(ctx, sessions, tokens, time.Now().UTC(), keep)
	}})
	return reg
}

// provideJobsClient and provideJobsWorker store jobs through
// jobs.PublishEvents: every state change of a user's job is pushed to
// their devices (job.updated).
func provideJobsClient(c jobs.Config, reg *jobs.Registry, backend jobs.Backend, broker jobs.Broker, push realtime.Publisher, m *jobs.Metrics, log *slog.Logger) *jobs.Client {
	log = telemetry.Component(log, "jobs")
	return jobs.NewClient(c, reg, jobs.PublishEvents(backend, push, log), broker, telemetry.Propagator(), log, m)
}

// provideSender returns SMTP when SMTP_URL is set, else the outbox under
// DATA_DIR/outbox; production refuses the outbox.
func provideSender(c smtp.Config, env Environment, dir DataDir, s Secrets, log *slog.Logger) (notifications.Sender, error) {
	if !s.SMTPURL.IsZero() {
		c.URL = s.SMTPURL.Reveal()
		return smtp.New(c)
	}
	if env == Production {
		return nil, errors.New("SMTP_URL: production sends real email; set it to smtp://user:password@host:587 (or smtps://)")
	}
	return smtp.NewOutbox(filepath.Join(string(dir), "outbox"), c.From, telemetry.Component(log, "mail"))
}

// provideNotifications links mails to identity's PUBLIC_URL.
func provideNotifications(ic identity.Config, reg *jobs.Registry, client *jobs.Client, backend jobs.Backend, sender notifications.Sender, log *slog.Logger) (*notifications.Service, error) {
	tpl, err := notifications.DefaultTemplates()
	if err != nil {
		return nil, err
	}
	svc := notifications.NewService(notifications.Config{PublicURL: ic.PublicURL}, tpl, client, backend, sender, telemetry.Component(log, "notifications"))
	svc.Register(reg)
	return svc, nil
}

// provideJobsWorker builds the worker (it runs only in `worker`, or in
// `api` when embedded). svc and reports are asked for so their kinds are
// registered first.
func provideJobsWorker(c JobsConfig, id WorkerID, reg *jobs.Registry, backend jobs.Backend, broker jobs.Broker, client *jobs.Client, _ *notifications.Service, reports ReportJobs, importJobs ImportJobs, push realtime.Publisher, tp trace.TracerProvider, m *jobs.Metrics, log *slog.Logger) (*jobs.Worker, error) {
	wc := c.Worker
	wc.ID = string(id)
	wc.Periodic = append(wc.Periodic, reports...)
	wc.Periodic = append(wc.Periodic, importJobs...)
	if c.PurgeSchedule != "off" {
		s, err := cron.Parse(c.PurgeSchedule)
		if err != nil {
			return nil, fmt.Errorf("JOBS_PURGE_SCHEDULE: %w", err)
		}
		wc.Periodic = append(wc.Periodic, jobs.Periodic{Name: "purge_jobs", Schedule: s, Kind: jobs.KindPurgeJobs})
	}
	if c.IdentityPurgeSchedule != "off" {
		s, err := cron.Parse(c.IdentityPurgeSchedule)
		if err != nil {
			return nil, fmt.Errorf("IDENTITY_PURGE_SCHEDULE: %w", err)
		}
		wc.Periodic = append(wc.Periodic, jobs.Periodic{Name: "purge_identity", Schedule: s, Kind: identity.KindPurge})
	}
	log = telemetry.Component(log, "jobs")
	return jobs.NewWorker(c.Jobs, wc, reg, jobs.PublishEvents(backend, push, log), broker, client, telemetry.Propagator(), tp, log, m)
}

// JobsRuntime is the job system as a program sees it.
type JobsRuntime struct {
	Client        *jobs.Client
	Worker        *jobs.Worker
	Notifications *notifications.Service
	// Embedded says whether `api` runs the worker.
	Embedded bool
	Broker   string
	// Queues are the configured queues (WORKER_CONCURRENCY), in order;
	// HeartbeatTTL the workers' heartbeat TTL.
	Queues       []string
	HeartbeatTTL time.Duration
}

// provideJobsRuntime also registers the readiness checks "jobs" and
// "jobs_worker". "jobs_worker" is required and fails only where the worker
// runs: a stale heartbeat, or consumers that cannot read. Over a shared
// broker (services profile) "jobs" is not required: the broker is shared
// by every replica, so taking them out of rotation when it is down would
// turn a degraded service into an outage (CACHE_REQUIRED decides that for
// the redis check itself). In-process (local profile) it is required.
func provideJobsRuntime(c JobsConfig, inProcess inProcessJobs, client *jobs.Client, w *jobs.Worker, svc *notifications.Service, broker jobs.Broker, h *health.Registry) *JobsRuntime {
	embedded := bool(inProcess)
	if c.Embedded != nil {
		embedded = *c.Embedded
	}
	h.Register(client.Health(bool(inProcess)))
	h.Register(w.Health())
	var queues []string
	for _, q := range jobs.Queues {
		if _, ok := c.Worker.Queues[q]; ok {
			queues = append(queues, q)
		}
	}
	if !embedded {
		// Jobs enqueued here run in `tradesense worker`: say when none
		// serves a queue ("no live worker for queue email").
		h.Register(client.ConsumersHealth(queues))
	}
	name := "watermill"
	if n, ok := broker.(interface{ Name() string }); ok {
		name = n.Name()
	}
	return &JobsRuntime{Client: client, Worker: w, Notifications: svc, Embedded: embedded, Broker: name, Queues: queues,
		HeartbeatTTL: c.Worker.HeartbeatTTL}
}

// warnUnserved logs a warning, once, if some queue still has no live
// worker one heartbeat TTL after the API started (the time a worker started
// with it needs to beat): with REDIS_URL and no `tradesense worker`, mail
// would otherwise stop without a word. The readiness check
// "jobs_consumers" keeps reporting it.
func (r *JobsRuntime) warnUnserved(ctx context.Context, log *slog.Logger) {
	if r.Embedded || len(r.Queues) == 0 {
		return
	}
	wait := r.HeartbeatTTL
	if wait <= 0 {
		wait = jobs.DefaultWorkerConfig().HeartbeatTTL
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	missing, err := r.Client.Unserved(ctx, r.Queues)
	if err == nil && len(missing) > 0 {
		log.Warn(jobs.ErrNoWorker(missing).Error()+"; start `tradesense worker` (WORKER_EMBEDDED=false with REDIS_URL)", "queues", missing)
	}
}

// notificationsMailer adapts the notifications service to identity.Mailer.
type notificationsMailer struct{ svc *notifications.Service }

func (m notificationsMailer) SendEmail(ctx context.Context, e identity.Email) (string, error) {
	return m.svc.SendEmail(ctx, notifications.Email{To: e.To, Template: e.Template, Data: e.Data, IdempotencyKey: e.IdempotencyKey})
}

// provideNotificationsMailer gives identity its Mailer on the
// notifications service.
func provideNotificationsMailer(svc *notifications.Service) identity.Mailer {
	return notificationsMailer{svc: svc}
}
