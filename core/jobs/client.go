package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/propagation"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/reqctx"
)

// Config holds the job system's defaults, shared by the Client and the
// Worker. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// MaxRetries is the default number of retries (Celery's max_retries,
	// 3).
	MaxRetries int
	// Backoff is the default countdown: 60 s × attempt, as the plan.
	Backoff Backoff
	// Jitter spreads each countdown over [d, d×(1+Jitter)); default 0.1.
	// Use NoJitter for exact countdowns.
	Jitter float64
	// SoftTimeout (240 s) and HardTimeout (300 s) are the default time
	// limits of one attempt.
	SoftTimeout time.Duration
	HardTimeout time.Duration
	// ResultTTL keeps succeeded and failed records (Celery's
	// result_expires, 1 h); DeadTTL keeps dead letters (7 days).
	ResultTTL time.Duration
	DeadTTL   time.Duration
	// IdempotencyWindow is how long an idempotency key maps to its first
	// job (24 h).
	IdempotencyWindow time.Duration
	// RescueAfter republishes a queued job that no worker started this
	// long after it was due (a message lost between the store and the
	// broker); duplicates are dropped by sequence. Default 1 h.
	RescueAfter time.Duration
}

// NoJitter disables the countdown jitter.
const NoJitter = -1

// DefaultBackoffStep is the step of the default countdown, LinearBackoff.
const DefaultBackoffStep = 60 * time.Second

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		MaxRetries:        3,
		Backoff:           LinearBackoff(DefaultBackoffStep),
		Jitter:            0.1,
		SoftTimeout:       240 * time.Second,
		HardTimeout:       300 * time.Second,
		ResultTTL:         time.Hour,
		DeadTTL:           7 * 24 * time.Hour,
		IdempotencyWindow: 24 * time.Hour,
		RescueAfter:       time.Hour,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	} else if c.MaxRetries == 0 {
		c.MaxRetries = d.MaxRetries
	}
	if c.Backoff == nil {
		c.Backoff = d.Backoff
	}
	switch {
	case c.Jitter == 0:
		c.Jitter = d.Jitter
	case c.Jitter < 0:
		c.Jitter = 0
	}
	if c.SoftTimeout <= 0 {
		c.SoftTimeout = d.SoftTimeout
	}
	if c.HardTimeout <= 0 {
		c.HardTimeout = d.HardTimeout
	}
	if c.HardTimeout < c.SoftTimeout {
		c.HardTimeout = c.SoftTimeout
	}
	if c.ResultTTL <= 0 {
		c.ResultTTL = d.ResultTTL
	}
	if c.DeadTTL <= 0 {
		c.DeadTTL = d.DeadTTL
	}
	if c.IdempotencyWindow <= 0 {
		c.IdempotencyWindow = d.IdempotencyWindow
	}
	if c.RescueAfter <= 0 {
		c.RescueAfter = d.RescueAfter
	}
	return c
}

// Option adjusts one enqueue.
type Option func(*options)

type options struct {
	queue       string
	runAt       time.Time
	delay       time.Duration
	maxRetries  *int
	idemKey     string
	softTimeout time.Duration
	hardTimeout time.Duration
	owner       *string
	id          string
}

// OnQueue overrides the kind's queue.
func OnQueue(q string) Option { return func(o *options) { o.queue = q } }

// WithDelay runs the job no sooner than d from now.
func WithDelay(d time.Duration) Option { return func(o *options) { o.delay = d } }

// WithRunAt runs the job no sooner than t.
func WithRunAt(t time.Time) Option { return func(o *options) { o.runAt = t } }

// WithMaxRetries overrides the number of retries (0: none).
func WithMaxRetries(n int) Option { return func(o *options) { o.maxRetries = &n } }

// WithIdempotencyKey makes a second enqueue with the same key, within the
// idempotency window, return the first job's ID instead of a new job.
func WithIdempotencyKey(k string) Option { return func(o *options) { o.idemKey = k } }

// WithTimeout overrides the soft time limit; the hard limit becomes
// hard = soft × 1.25 unless WithHardTimeout says otherwise.
func WithTimeout(soft time.Duration) Option { return func(o *options) { o.softTimeout = soft } }

// WithHardTimeout overrides the hard time limit.
func WithHardTimeout(d time.Duration) Option { return func(o *options) { o.hardTimeout = d } }

// WithOwner names the user the job belongs to; by default the
// authenticated user of ctx (reqctx), if any.
func WithOwner(userID string) Option { return func(o *options) { o.owner = &userID } }

// WithID gives the job a caller-chosen ID (a UUID): enqueueing an ID that
// exists returns it without a second job, which makes fan-outs
// repeatable.
func WithID(id string) Option { return func(o *options) { o.id = id } }

// Client enqueues and inspects jobs. It is safe for concurrent use.
type Client struct {
	cfg        Config
	reg        *Registry
	store      Backend
	broker     Broker
	propagator propagation.TextMapPropagator
	log        *slog.Logger
	metrics    *metrics
	// appender and encoder are set when the store can append the
	// broker's messages itself (both on one Redis): an enqueue is then
	// one atomic write.
	appender StreamAppender
	encoder  StreamEncoder
}

// NewClient returns a client. The registry must hold every kind the
// client will enqueue: an unknown kind fails at enqueue.
func NewClient(cfg Config, reg *Registry, store Backend, broker Broker, prop propagation.TextMapPropagator, log *slog.Logger, m *Metrics) *Client {
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	c := &Client{cfg: cfg.withDefaults(), reg: reg, store: store, broker: broker, propagator: prop, log: log, metrics: m.get()}
	if a, ok := store.(StreamAppender); ok {
		if e, ok := broker.(StreamEncoder); ok && a.StreamTarget() != nil && a.StreamTarget() == e.StreamTarget() {
			c.appender, c.encoder = a, e
		}
	}
	return c
}

// Enqueue stores a job of kind with payload (encoded as JSON) and hands it
// to the broker, or schedules it when it has a delay. It returns the job's
// ID, which is the first job's when the idempotency key or the ID was used
// already. Fails with apperr.Invalid for an unknown kind or queue or a
// payload that does not encode, apperr.Unavailable when the store or the
// broker is down. When the store can append the broker's message itself
// (StreamAppender and StreamEncoder on one server: Redis), the record and
// its message are one atomic write.
func (c *Client) Enqueue(ctx context.Context, kind string, payload any, opts ...Option) (string, error) {
	now := time.Now().UTC()
	j, delayed, err := c.build(ctx, kind, payload, opts, now)
	if err != nil {
		return "", err
	}
	var id string
	var created, published bool
	if c.appender != nil && !delayed {
		// The record and its message in one write.
		e, err := c.encoder.StreamEntry(c.message(ctx, j))
		if err != nil {
			return "", fmt.Errorf("enqueue %s: %w", kind, err)
		}
		e.Confidential = c.Confidential(j.Kind)
		id, created, err = c.appender.CreateAppend(ctx, j, c.cfg.IdempotencyWindow, e)
		if err != nil {
			return "", fmt.Errorf("enqueue %s: %w", kind, err)
		}
		published = created
	} else {
		id, created, err = c.store.Create(ctx, j, c.cfg.IdempotencyWindow)
		if err != nil {
			return "", fmt.Errorf("enqueue %s: %w", kind, err)
		}
	}
	if !created {
		existing, err := c.store.Get(ctx, id)
		if err != nil {
			return "", fmt.Errorf("enqueue %s: existing job %s: %w", kind, id, err)
		}
		// A queued, due job may never have been published (the first
		// enqueue died in between): publish again; the worker drops the
		// duplicate if both arrive.
		if existing.State == StateQueued && !existing.RunAt.After(now) {
			return id, c.publish(ctx, existing)
		}
		return id, nil
	}
	c.metrics.enqueued(ctx, kind, j.Queue)
	if delayed || published {
		return id, nil
	}
	return id, c.publish(ctx, j)
}

// Request is one job of EnqueueMany: what Enqueue takes.
type Request struct {
	Kind    string
	Payload any
	Options []Option
}

// MaxBatch bounds the jobs of one EnqueueMany: larger fan-outs are sent
// in several batches (each one store write and one publish).
const MaxBatch = 1000

// EnqueueMany enqueues every request as Enqueue would and returns their IDs
// in order, with one store write (Store.CreateMany) and one publish
// (Broker.PublishMany) per MaxBatch jobs instead of one of each per job: a
// fan-out of thousands of mails costs a few round trips (on Redis each
// job's record and message are one script, the batch one pipeline). It validates every
// request before storing any (an invalid one fails the call, nothing
// stored). A failure of the store or the broker part-way may leave a prefix
// stored: the jobs stored and not published are republished by the timer
// set after Config.RescueAfter, and calling again with the same IDs or
// idempotency keys is safe.
func (c *Client) EnqueueMany(ctx context.Context, reqs []Request) ([]string, error) {
	now := time.Now().UTC()
	built := make([]*Job, len(reqs))
	delayed := make([]bool, len(reqs))
	for i, r := range reqs {
		j, d, err := c.build(ctx, r.Kind, r.Payload, r.Options, now)
		if err != nil {
			return nil, fmt.Errorf("enqueue job %d of %d: %w", i+1, len(reqs), err)
		}
		built[i], delayed[i] = j, d
	}
	ids := make([]string, 0, len(reqs))
	for lo := 0; lo < len(built); lo += MaxBatch {
		hi := min(lo+MaxBatch, len(built))
		got, err := c.enqueueBatch(ctx, built[lo:hi], delayed[lo:hi], now)
		ids = append(ids, got...)
		if err != nil {
			return ids, err
		}
	}
	return ids, nil
}

func (c *Client) enqueueBatch(ctx context.Context, js []*Job, delayed []bool, now time.Time) ([]string, error) {
	var res []Created
	var err error
	appended := c.appender != nil
	if appended {
		// Records and messages in one pipeline of atomic writes.
		entries := make([]StreamEntry, len(js))
		for i, j := range js {
			if delayed[i] {
				continue
			}
			if entries[i], err = c.encoder.StreamEntry(c.message(ctx, j)); err != nil {
				return nil, fmt.Errorf("enqueue %d jobs: %w", len(js), err)
			}
			entries[i].Confidential = c.Confidential(j.Kind)
		}
		res, err = c.appender.CreateAppendMany(ctx, js, c.cfg.IdempotencyWindow, entries)
	} else {
		res, err = c.store.CreateMany(ctx, js, c.cfg.IdempotencyWindow)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue %d jobs: %w", len(js), err)
	}
	ids := make([]string, len(js))
	msgs := make([]Message, 0, len(js))
	for i, r := range res {
		ids[i] = r.ID
		if !r.Created {
			existing, err := c.store.Get(ctx, r.ID)
			if err != nil {
				return nil, fmt.Errorf("enqueue %s: existing job %s: %w", js[i].Kind, r.ID, err)
			}
			if existing.State == StateQueued && !existing.RunAt.After(now) {
				msgs = append(msgs, c.message(ctx, existing))
			}
			continue
		}
		c.metrics.enqueued(ctx, js[i].Kind, js[i].Queue)
		if !delayed[i] && !appended {
			msgs = append(msgs, c.message(ctx, js[i]))
		}
	}
	if len(msgs) == 0 {
		return ids, nil
	}
	if err := c.broker.PublishMany(ctx, msgs); err != nil {
		return ids, fmt.Errorf("publish %d jobs: %w", len(msgs), err)
	}
	return ids, nil
}

// build makes the record of one enqueue; delayed says it waits for RunAt.
func (c *Client) build(ctx context.Context, kind string, payload any, opts []Option, now time.Time) (*Job, bool, error) {
	kc, ok := c.reg.Lookup(kind)
	if !ok {
		return nil, false, apperr.New(apperr.Invalid, CodeUnknownKind, fmt.Sprintf("unknown job kind %q", kind))
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, false, apperr.Wrap(err, apperr.Invalid, CodeInvalidPayload, "the job payload does not encode as JSON")
	}
	j := &Job{
		Kind:           kind,
		Queue:          firstNonEmpty(o.queue, kc.Queue, Route(kind)),
		Payload:        body,
		IdempotencyKey: o.idemKey,
		State:          StateQueued,
		MaxRetries:     c.cfg.MaxRetries,
		Seq:            1,
		SoftTimeout:    firstPositive(o.softTimeout, kc.SoftTimeout, c.cfg.SoftTimeout),
		CreatedAt:      now,
		UpdatedAt:      now,
		RunAt:          now,
		Trace:          map[string]string{},
	}
	if !KnownQueue(j.Queue) {
		return nil, false, apperr.New(apperr.Invalid, CodeUnknownQueue, fmt.Sprintf("unknown queue %q", j.Queue))
	}
	switch {
	case o.hardTimeout > 0:
		j.HardTimeout = o.hardTimeout
	case o.softTimeout > 0:
		j.HardTimeout = o.softTimeout + o.softTimeout/4
	default:
		j.HardTimeout = firstPositive(kc.HardTimeout, c.cfg.HardTimeout)
	}
	j.HardTimeout = max(j.HardTimeout, j.SoftTimeout)
	switch {
	case kc.MaxRetries > 0:
		j.MaxRetries = kc.MaxRetries
	case kc.MaxRetries < 0:
		j.MaxRetries = 0
	}
	if o.maxRetries != nil {
		j.MaxRetries = max(*o.maxRetries, 0)
	}
	if o.owner != nil {
		j.Owner = *o.owner
	} else if info := reqctx.From(ctx); info != nil {
		j.Owner = info.UserID()
	}
	if o.id != "" {
		if _, err := uuid.Parse(o.id); err != nil {
			return nil, false, apperr.New(apperr.Invalid, "job_id_invalid", "a job ID must be a UUID")
		}
		j.ID = o.id
	} else {
		id, err := uuid.NewV7()
		if err != nil {
			return nil, false, apperr.Wrap(err, apperr.Internal, "job_id", "cannot make a job ID")
		}
		j.ID = id.String()
	}
	if !o.runAt.IsZero() {
		j.RunAt = o.runAt.UTC()
	}
	if o.delay > 0 {
		j.RunAt = now.Add(o.delay)
	}
	delayed := j.RunAt.After(now)
	// The timer set doubles as the rescue of a message lost between the
	// store write and the publish: a job not started by then is
	// republished (see Config.RescueAfter).
	j.Scheduled, j.TimerAt = true, j.RunAt
	if !delayed {
		j.TimerAt = now.Add(c.cfg.RescueAfter)
	}
	c.propagator.Inject(ctx, propagation.MapCarrier(j.Trace))

	return j, delayed, nil
}

func (c *Client) message(ctx context.Context, j *Job) Message {
	m := Message{JobID: j.ID, Seq: j.Seq, Queue: j.Queue, Kind: j.Kind, Metadata: map[string]string{}}
	c.propagator.Inject(ctx, propagation.MapCarrier(m.Metadata))
	return m
}

func (c *Client) publish(ctx context.Context, j *Job) error {
	if err := c.broker.Publish(ctx, c.message(ctx, j)); err != nil {
		return fmt.Errorf("publish job %s: %w", j.ID, err)
	}
	return nil
}

// Get returns a job. apperr.NotFound when it does not exist or expired.
func (c *Client) Get(ctx context.Context, id string) (*Job, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, notFound(id)
	}
	return c.store.Get(ctx, id)
}

// List returns jobs matching f, most recently updated first.
func (c *Client) List(ctx context.Context, f Filter) ([]*Job, error) {
	if f.State != "" && !f.State.Valid() {
		return nil, apperr.Validation("unknown job state", map[string]string{"state": "must be one of queued, started, progress, retrying, succeeded, failed, dead"})
	}
	if f.Queue != "" && !KnownQueue(f.Queue) {
		return nil, apperr.Validation("unknown queue", map[string]string{"queue": "must be one of default, email, reports, maintenance"})
	}
	if len(f.Kind) > 200 {
		return nil, apperr.Validation("job kind too long", map[string]string{"kind": "must be at most 200 characters"})
	}
	if f.Limit <= 0 || f.Limit > 1000 {
		f.Limit = 100
	}
	return c.store.List(ctx, f)
}

// Confidential reports whether a kind's payload and result must not be
// shown by inspection (KindConfig.Confidential). Unknown kinds are
// confidential: what nobody declared is not shown.
func (c *Client) Confidential(kind string) bool {
	kc, ok := c.reg.Lookup(kind)
	return !ok || kc.Confidential
}

// Retry runs a dead, failed or retrying job again now, with its attempts
// counted afresh. apperr.Conflict "job_not_retriable" for other states.
func (c *Client) Retry(ctx context.Context, id string) (*Job, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, notFound(id)
	}
	now := time.Now().UTC()
	j, err := c.store.Update(ctx, id, func(j *Job) (*Job, error) {
		switch j.State {
		case StateDead, StateFailed, StateRetrying:
		default:
			return nil, apperr.New(apperr.Conflict, CodeNotRetriable, fmt.Sprintf("a %s job cannot be retried", j.State))
		}
		j.State = StateQueued
		j.Attempt = 0
		j.Seq++
		j.RunAt = now
		j.Scheduled, j.TimerAt = true, now.Add(c.cfg.RescueAfter)
		j.FinishedAt = time.Time{}
		j.ExpiresAt = time.Time{}
		j.UpdatedAt = now
		return j, nil
	})
	if err != nil {
		return nil, err
	}
	return j, c.publish(ctx, j)
}

// Delete removes a job that is not running. A queued or retrying job is
// thereby cancelled: its pending message finds no record and is dropped.
// apperr.Conflict "job_running" while a worker runs it.
func (c *Client) Delete(ctx context.Context, id string) error {
	j, err := c.Get(ctx, id)
	if err != nil {
		return err
	}
	if j.State.Running() {
		return apperr.New(apperr.Conflict, CodeStillRunning, "the job is running; retry when it has finished")
	}
	return c.store.Delete(ctx, id)
}

// QueueStats is one queue's inspection numbers.
type QueueStats struct {
	Queue string
	Depth
	QueueCounts
}

// Stats returns every queue's numbers.
func (c *Client) Stats(ctx context.Context) ([]QueueStats, error) {
	out := make([]QueueStats, 0, len(Queues))
	for _, q := range Queues {
		d, err := c.broker.Depth(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("depth of queue %s: %w", q, err)
		}
		counts, err := c.store.Counts(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("counts of queue %s: %w", q, err)
		}
		out = append(out, QueueStats{Queue: q, Depth: d, QueueCounts: counts})
	}
	return out, nil
}

// Markers returns the done-markers of the backend, for handlers.
func (c *Client) Markers() Markers { return c.store }

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func firstPositive(vs ...time.Duration) time.Duration {
	for _, v := range vs {
		if v > 0 {
			return v
		}
	}
	return 0
}

// spanContextOf extracts the span context carried in a map.
func spanContextOf(ctx context.Context, prop propagation.TextMapPropagator, carrier map[string]string) context.Context {
	if len(carrier) == 0 {
		return ctx
	}
	return prop.Extract(ctx, propagation.MapCarrier(carrier))
}
