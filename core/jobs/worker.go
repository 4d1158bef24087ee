package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/core/apperr"
)

// Schedule computes the ticks of a periodic job (a parsed cron
// expression).
type Schedule interface {
	// Next returns the first tick strictly after t.
	Next(t time.Time) time.Time
}

// Periodic is a job enqueued on every tick of its schedule (Celery beat).
// Exactly one worker across replicas, the holder of the "periodic" lease,
// enqueues it, and each tick's job carries the idempotency key
// "periodic:<name>:<tick>", so a failover never enqueues one tick twice.
type Periodic struct {
	Name     string
	Schedule Schedule
	Kind     string
	Payload  any
}

// WorkerConfig configures one worker process.
type WorkerConfig struct {
	// ID names this worker (its heartbeat, and its consumer name at the
	// broker); unique per process.
	ID string
	// Queues maps each queue to consume to its concurrency.
	Queues map[string]int
	// ShutdownTimeout is how long running jobs may finish after the
	// worker is told to stop; the rest are abandoned to be redelivered.
	// Default 30 s.
	ShutdownTimeout time.Duration
	// HeartbeatInterval (default 5 s) and HeartbeatTTL (default 30 s):
	// a worker whose heartbeat expired is dead, and another may take its
	// jobs over.
	HeartbeatInterval time.Duration
	HeartbeatTTL      time.Duration
	// PollInterval is how often due timers (delays, retry countdowns) and
	// periodic ticks are checked. Default 1 s.
	PollInterval time.Duration
	// PromoteLease hides a claimed timer from other workers while this one
	// publishes it. Default 30 s.
	PromoteLease time.Duration
	// Periodic lists the periodic jobs; LeaseTTL bounds how long a dead
	// leader keeps the periodic lease (default 15 s).
	Periodic []Periodic
	LeaseTTL time.Duration
	// Rand returns a number in [0, 1) for the countdown jitter; nil is
	// math/rand.
	Rand func() float64
}

// DefaultWorkerConfig returns the timings documented on WorkerConfig.
func DefaultWorkerConfig() WorkerConfig {
	return WorkerConfig{
		ShutdownTimeout:   30 * time.Second,
		HeartbeatInterval: 5 * time.Second,
		HeartbeatTTL:      30 * time.Second,
		PollInterval:      time.Second,
		PromoteLease:      30 * time.Second,
		LeaseTTL:          15 * time.Second,
	}
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	d := DefaultWorkerConfig()
	if c.ShutdownTimeout <= 0 {
		c.ShutdownTimeout = d.ShutdownTimeout
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = d.HeartbeatInterval
	}
	if c.HeartbeatTTL <= c.HeartbeatInterval {
		c.HeartbeatTTL = max(d.HeartbeatTTL, 3*c.HeartbeatInterval)
	}
	if c.PollInterval <= 0 {
		c.PollInterval = d.PollInterval
	}
	if c.PromoteLease <= 0 {
		c.PromoteLease = d.PromoteLease
	}
	if c.LeaseTTL <= c.PollInterval {
		c.LeaseTTL = max(d.LeaseTTL, 3*c.PollInterval)
	}
	return c
}

// Worker runs jobs: it consumes the configured queues, keeps each job's
// state, applies the time limits, schedules retries, moves exhausted jobs
// to the dead letters, publishes due timers, and, as leader, enqueues the
// periodic jobs.
type Worker struct {
	cfg    Config
	wcfg   WorkerConfig
	reg    *Registry
	store  Backend
	broker Broker
	client *Client
	prop   propagation.TextMapPropagator
	tracer trace.Tracer
	log    *slog.Logger
	m      *metrics
	rawM   *Metrics

	// beat is the time of the last heartbeat stored (UnixNano; 0 while
	// the worker does not run), for the readiness check.
	beat atomic.Int64

	mu       sync.Mutex
	inflight map[delivery]bool // the messages being processed: the jobs running here
	draining chan struct{}     // closed when the worker is told to stop
	deadline chan struct{}     // closed when running jobs must be abandoned
}

// NewWorker returns a worker; client enqueues the periodic jobs.
func NewWorker(cfg Config, wcfg WorkerConfig, reg *Registry, store Backend, broker Broker, client *Client, prop propagation.TextMapPropagator, tp trace.TracerProvider, log *slog.Logger, m *Metrics) (*Worker, error) {
	wcfg = wcfg.withDefaults()
	if wcfg.ID == "" {
		return nil, errors.New("jobs: a worker needs an ID")
	}
	for q, n := range wcfg.Queues {
		if !KnownQueue(q) {
			return nil, fmt.Errorf("jobs: unknown queue %q (want one of default, email, reports, maintenance)", q)
		}
		if n < 1 {
			return nil, fmt.Errorf("jobs: queue %q needs a concurrency of at least 1", q)
		}
	}
	for _, p := range wcfg.Periodic {
		if _, ok := reg.Lookup(p.Kind); !ok || p.Schedule == nil || p.Name == "" {
			return nil, fmt.Errorf("jobs: periodic job %q needs a name, a schedule and a registered kind (%q)", p.Name, p.Kind)
		}
	}
	if prop == nil {
		prop = propagation.TraceContext{}
	}
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return &Worker{
		cfg: cfg.withDefaults(), wcfg: wcfg, reg: reg, store: store, broker: broker, client: client,
		prop: prop, tracer: tp.Tracer("github.com/tradesense/tradesense/core/jobs"),
		log: log, m: m.get(), rawM: m,
		inflight: map[delivery]bool{}, draining: make(chan struct{}), deadline: make(chan struct{}),
	}, nil
}

// ID returns the worker's name.
func (w *Worker) ID() string { return w.wcfg.ID }

// Run works until ctx is cancelled, then stops taking jobs, lets the
// running ones finish for up to ShutdownTimeout, abandons the rest to be
// redelivered, and returns. It returns an error only if it cannot start.
func (w *Worker) Run(ctx context.Context) error {
	bg := context.WithoutCancel(ctx)
	if err := w.heartbeat(ctx); err != nil {
		return fmt.Errorf("worker %s: first heartbeat: %w", w.wcfg.ID, err)
	}
	w.beat.Store(time.Now().UnixNano())
	defer w.beat.Store(0)
	stopGauge, err := w.rawM.observeDepth(w.broker.Depth, queuesOf(w.wcfg.Queues))
	if err != nil {
		return fmt.Errorf("worker %s: queue depth gauge: %w", w.wcfg.ID, err)
	}
	defer stopGauge()

	loopCtx, stopLoops := context.WithCancel(bg)
	var loops sync.WaitGroup
	loops.Go(func() { w.heartbeatLoop(loopCtx) })
	loops.Go(func() { w.timerLoop(loopCtx) })
	if len(w.wcfg.Periodic) > 0 {
		loops.Go(func() { w.periodicLoop(loopCtx) })
	}

	var consumers sync.WaitGroup
	for q, n := range w.wcfg.Queues {
		consumers.Go(func() {
			for {
				err := w.broker.Consume(ctx, q, n, w.process)
				if err == nil || ctx.Err() != nil {
					return
				}
				w.log.ErrorContext(ctx, "consume failed; retrying", "queue", q, "error", err)
				t := time.NewTimer(time.Second)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		})
	}
	w.log.InfoContext(ctx, "worker started", "worker", w.wcfg.ID, "queues", w.wcfg.Queues, "periodic", len(w.wcfg.Periodic))

	<-ctx.Done()
	close(w.draining)
	w.log.Info("worker draining", "worker", w.wcfg.ID, "running", w.runningCount(), "timeout", w.wcfg.ShutdownTimeout)
	drained := make(chan struct{})
	go func() { consumers.Wait(); close(drained) }()
	t := time.NewTimer(w.wcfg.ShutdownTimeout)
	select {
	case <-drained:
		t.Stop()
	case <-t.C:
		close(w.deadline)
		<-drained
	}
	stopLoops()
	loops.Wait()
	// Retire at once, so other workers take abandoned jobs over now.
	rctx, cancel := context.WithTimeout(bg, 2*time.Second)
	defer cancel()
	if err := w.store.Heartbeat(rctx, w.wcfg.ID, 0); err != nil {
		w.log.Warn("retire worker heartbeat", "worker", w.wcfg.ID, "error", err)
	}
	if len(w.wcfg.Periodic) > 0 {
		_ = w.store.ReleaseLease(rctx, periodicLease, w.wcfg.ID)
	}
	w.log.Info("worker stopped", "worker", w.wcfg.ID)
	return nil
}

func queuesOf(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for _, q := range Queues {
		if _, ok := m[q]; ok {
			out = append(out, q)
		}
	}
	return out
}

func (w *Worker) runningCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.inflight)
}

// delivery names a message: a job at one seq.
type delivery struct {
	job string
	seq int
}

// enter records that m is being processed; false when it already is.
func (w *Worker) enter(m Message) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	d := delivery{m.JobID, m.Seq}
	if w.inflight[d] {
		return false
	}
	w.inflight[d] = true
	return true
}

func (w *Worker) leave(m Message) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.inflight, delivery{m.JobID, m.Seq})
}

// errDrop ends an Update whose message is stale or duplicated.
var errDrop = errors.New("drop message")

// errOwnerCheck asks for a liveness check of the job's current worker.
var errOwnerCheck = errors.New("check owner")

// process handles one message. It returns nil to acknowledge it, ErrAbandon
// to leave it for redelivery, or an error when the store cannot be reached
// (the message is redelivered).
func (w *Worker) process(ctx context.Context, m Message) error {
	// A second delivery of the same message (job and seq) while this
	// worker handles the first is a duplicate: between the first one's
	// start and its run the job reads "started by this worker" but not
	// yet running, and would start again.
	if !w.enter(m) {
		return nil
	}
	defer w.leave(m)
	j, err := w.start(ctx, m, false)
	if err == nil && j == nil {
		return nil
	}
	if errors.Is(err, errOwnerCheck) {
		var cur *Job
		if cur, err = w.store.Get(ctx, m.JobID); err != nil {
			return w.storeErr(m, err)
		}
		alive, aerr := w.store.Alive(ctx, cur.Worker)
		if aerr != nil {
			return aerr
		}
		if alive {
			return nil // the live owner runs it: this message is a duplicate
		}
		j, err = w.start(ctx, m, true)
		if err == nil && j == nil {
			return nil
		}
	}
	if err != nil {
		return w.storeErr(m, err)
	}
	if j.State == StateDead {
		w.m.dead(ctx, j.Kind, j.Queue)
		w.log.WarnContext(ctx, "job dead: its worker stopped on every attempt", "job_id", j.ID, "kind", j.Kind, "attempt", j.Attempt)
		return nil
	}
	return w.run(ctx, j)
}

func (w *Worker) storeErr(m Message, err error) error {
	if apperr.Is(err, apperr.NotFound) {
		return nil // deleted or expired: nothing to run
	}
	return fmt.Errorf("job %s: %w", m.JobID, err)
}

// start moves the job to started for this worker, or returns (nil, nil)
// when the message must be dropped. ownerDead says a liveness check found
// the job's previous worker dead.
func (w *Worker) start(ctx context.Context, m Message, ownerDead bool) (*Job, error) {
	now := time.Now().UTC()
	update := w.store.Update
	if ru, ok := w.store.(RecordUpdater); ok && m.Record != "" && !ownerDead {
		// The message carries the record stored with it: no read first.
		update = func(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
			return ru.UpdateFromRecord(ctx, id, m.Record, fn)
		}
	}
	j, err := update(ctx, m.JobID, func(j *Job) (*Job, error) {
		if j.Seq != m.Seq || j.State.Terminal() {
			return nil, errDrop
		}
		// Started by another worker: ask whether it still lives. Started
		// by this one but not in flight here (process drops a second
		// delivery of a message in flight): this worker restarted and
		// that attempt died with it, so it runs again.
		if j.State.Running() && j.Worker != w.wcfg.ID && !ownerDead {
			return nil, errOwnerCheck
		}
		j.State = StateStarted
		j.Attempt++
		j.Worker = w.wcfg.ID
		j.StartedAt, j.UpdatedAt = now, now
		j.Scheduled, j.TimerAt = false, time.Time{}
		j.Progress = nil
		if j.Attempt > j.MaxRetries+1 {
			j.State = StateDead
			j.addError(now, "the worker running the job stopped during every attempt")
			j.FinishedAt, j.ExpiresAt = now, now.Add(w.cfg.DeadTTL)
		}
		return j, nil
	})
	if errors.Is(err, errDrop) {
		return nil, nil
	}
	return j, err
}

type outcome struct {
	result any
	err    error
}

// run executes one attempt under the time limits and records its outcome.
func (w *Worker) run(ctx context.Context, j *Job) error {
	kc, ok := w.reg.Lookup(j.Kind)
	w.m.started(ctx, j.Kind, j.Queue)

	parent := spanContextOf(ctx, w.prop, j.Trace)
	sctx, span := w.tracer.Start(parent, "job "+j.Kind, trace.WithSpanKind(trace.SpanKindConsumer))
	defer span.End()
	if span.IsRecording() {
		// Built only for a span that keeps them: most jobs run unsampled
		// or without a tracer, and the attributes cost allocations.
		span.SetAttributes(attribute.String("job.id", j.ID), attribute.String("job.kind", j.Kind), attribute.String("job.queue", j.Queue),
			attribute.Int("job.attempt", j.Attempt), attribute.String("job.worker", w.wcfg.ID))
	}
	log := &jobLogger{base: w.log, j: j}

	hctx, cancel := context.WithCancel(sctx)
	defer cancel()
	hctx = WithInfo(hctx, Info{ID: j.ID, Kind: j.Kind, Queue: j.Queue, Attempt: j.Attempt, MaxRetries: j.MaxRetries, Owner: j.Owner, Worker: w.wcfg.ID},
		func(pctx context.Context, v any) error { return w.progress(pctx, j, v) })

	began := time.Now()
	done := make(chan outcome, 1)
	if !ok {
		done <- outcome{err: fmt.Errorf("no handler for kind %q on worker %s", j.Kind, w.wcfg.ID)}
	} else {
		input := j.Clone()
		go func() {
			defer func() {
				if p := recover(); p != nil {
					done <- outcome{err: fmt.Errorf("handler panicked: %v\n%s", p, debug.Stack())}
				}
			}()
			r, err := kc.Handler(hctx, input)
			done <- outcome{r, err}
		}()
	}

	// One timer for both limits: the soft one first (unless it comes
	// after the hard one), then re-armed for the hard one.
	armed := time.Now()
	limit := time.NewTimer(min(j.SoftTimeout, j.HardTimeout))
	defer limit.Stop()
	var o outcome
	softFired := false
	draining := w.draining
wait:
	for {
		select {
		case o = <-done:
			break wait
		case <-limit.C:
			if !softFired && j.SoftTimeout <= j.HardTimeout {
				softFired = true
				cancel()
				log.get().WarnContext(sctx, "job exceeded its soft time limit; context cancelled", "soft_timeout", j.SoftTimeout)
				limit.Reset(time.Until(armed.Add(j.HardTimeout)))
				continue
			}
			cancel()
			w.m.leaked(sctx, j.Kind, j.Queue)
			log.get().ErrorContext(sctx, "job exceeded its hard time limit; handler abandoned and still running", "hard_timeout", j.HardTimeout)
			o = outcome{err: fmt.Errorf("hard time limit (%s) exceeded", j.HardTimeout)}
			break wait
		case <-draining:
			draining = nil
			log.get().InfoContext(sctx, "worker draining; waiting for the job")
		case <-w.deadline:
			cancel()
			span.SetStatus(codes.Error, "abandoned at shutdown")
			log.get().WarnContext(sctx, "worker shutdown deadline passed; job left for redelivery")
			w.release(j)
			return ErrAbandon
		}
	}
	if softFired && o.err != nil {
		o.err = fmt.Errorf("soft time limit (%s) exceeded: %w", j.SoftTimeout, o.err)
	}
	elapsed := time.Since(began)
	w.m.duration(sctx, j.Kind, j.Queue, elapsed)
	if o.err != nil {
		span.RecordError(o.err)
		span.SetStatus(codes.Error, "attempt failed")
	}
	return w.finish(sctx, log, j, kc, o)
}

// jobLogger is the worker's logger with a job's attributes, made on the
// first line logged: most jobs log nothing, and slog's With costs
// allocations (and, with the JSON handler, formatting) per job.
type jobLogger struct {
	base *slog.Logger
	j    *Job
	l    *slog.Logger
}

func (l *jobLogger) get() *slog.Logger {
	if l.l == nil {
		l.l = l.base.With("job_id", l.j.ID, "kind", l.j.Kind, "queue", l.j.Queue, "attempt", l.j.Attempt)
	}
	return l.l
}

// release returns an abandoned job to queued, its attempt not counted.
func (w *Worker) release(j *Job) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := w.store.Update(ctx, j.ID, func(cur *Job) (*Job, error) {
		if cur.Seq != j.Seq || cur.Worker != w.wcfg.ID || !cur.State.Running() {
			return nil, errDrop
		}
		cur.State = StateQueued
		cur.Attempt--
		cur.UpdatedAt = time.Now().UTC()
		return cur, nil
	})
	if err != nil && !errors.Is(err, errDrop) {
		w.log.Warn("release abandoned job", "job_id", j.ID, "error", err)
	}
}

func (w *Worker) progress(ctx context.Context, j *Job, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return apperr.Wrap(err, apperr.Invalid, "job_progress_invalid", "progress does not encode as JSON")
	}
	_, err = w.store.Update(ctx, j.ID, func(cur *Job) (*Job, error) {
		if cur.Seq != j.Seq || cur.Worker != w.wcfg.ID || !cur.State.Running() {
			return nil, errDrop
		}
		cur.State = StateProgress
		cur.Progress = b
		cur.UpdatedAt = time.Now().UTC()
		return cur, nil
	})
	if errors.Is(err, errDrop) {
		return nil
	}
	return err
}

// finish records the attempt's outcome, retrying the store write a few
// times: a lost write would run the job again.
func (w *Worker) finish(ctx context.Context, log *jobLogger, j *Job, kc KindConfig, o outcome) error {
	var result json.RawMessage
	if o.err == nil && o.result != nil {
		b, err := json.Marshal(o.result)
		if err != nil {
			o.err = Permanent(fmt.Errorf("result does not encode as JSON: %w", err))
		} else {
			result = b
		}
	}
	var final *Job
	var err error
	for try := range 3 {
		now := time.Now().UTC()
		final, err = w.store.Update(context.WithoutCancel(ctx), j.ID, func(cur *Job) (*Job, error) {
			if cur.Seq != j.Seq || cur.Worker != w.wcfg.ID || !cur.State.Running() {
				return nil, errDrop
			}
			cur.UpdatedAt = now
			switch {
			case o.err == nil:
				cur.State = StateSucceeded
				cur.Result = result
				cur.Error = ""
				cur.FinishedAt, cur.ExpiresAt = now, now.Add(w.cfg.ResultTTL)
			case isCancel(o.err):
				cur.State = StateFailed
				cur.addError(now, o.err.Error())
				cur.FinishedAt, cur.ExpiresAt = now, now.Add(w.cfg.ResultTTL)
			case IsPermanent(o.err) || cur.Attempt > cur.MaxRetries:
				cur.State = StateDead
				cur.addError(now, o.err.Error())
				cur.FinishedAt, cur.ExpiresAt = now, now.Add(w.cfg.DeadTTL)
			default:
				d, ok := retryAfter(o.err)
				if !ok {
					backoff := kc.Backoff
					if backoff == nil {
						backoff = w.cfg.Backoff
					}
					d = jitter(backoff(cur.Attempt), w.cfg.Jitter, w.wcfg.Rand)
				}
				cur.State = StateRetrying
				cur.addError(now, o.err.Error())
				cur.Seq++
				cur.RunAt = now.Add(d)
				cur.Scheduled, cur.TimerAt = true, cur.RunAt
			}
			return cur, nil
		})
		if err == nil || errors.Is(err, errDrop) || apperr.Is(err, apperr.NotFound) {
			break
		}
		if try < 2 {
			t := time.NewTimer(time.Duration(try+1) * 100 * time.Millisecond)
			<-t.C
		}
	}
	switch {
	case errors.Is(err, errDrop), apperr.Is(err, apperr.NotFound):
		log.get().InfoContext(ctx, "job changed while it ran (deleted or taken over); outcome dropped")
		return nil
	case err != nil:
		log.get().ErrorContext(ctx, "record job outcome", "error", err)
		return err
	}
	switch final.State {
	case StateSucceeded:
		w.m.succeeded(ctx, j.Kind, j.Queue)
		if w.log.Enabled(ctx, slog.LevelDebug) {
			log.get().DebugContext(ctx, "job succeeded")
		}
	case StateFailed:
		w.m.failed(ctx, j.Kind, j.Queue)
		log.get().WarnContext(ctx, "job cancelled by its handler", "error", o.err)
	case StateDead:
		w.m.failed(ctx, j.Kind, j.Queue)
		w.m.dead(ctx, j.Kind, j.Queue)
		log.get().ErrorContext(ctx, "job dead", "error", o.err, "permanent", IsPermanent(o.err))
	case StateRetrying:
		w.m.failed(ctx, j.Kind, j.Queue)
		w.m.retried(ctx, j.Kind, j.Queue)
		log.get().WarnContext(ctx, "job attempt failed; retry scheduled", "error", o.err, "run_at", final.RunAt)
	}
	return nil
}

// heartbeat records the worker as alive, and each queue it consumes as
// served (QueueServedKey), for HeartbeatTTL. A queue's entry is not retired
// when the worker stops: another worker may serve the queue too, so it
// expires on its own, at most HeartbeatTTL after the last worker stopped.
func (w *Worker) heartbeat(ctx context.Context) error {
	if err := w.store.Heartbeat(ctx, w.wcfg.ID, w.wcfg.HeartbeatTTL); err != nil {
		return err
	}
	for _, q := range queuesOf(w.wcfg.Queues) {
		if err := w.store.Heartbeat(ctx, QueueServedKey(q), w.wcfg.HeartbeatTTL); err != nil {
			return err
		}
	}
	return nil
}

// QueueServedKey is the Coordinator name a worker heartbeats for each queue
// it consumes: Alive(QueueServedKey(q)) says some live worker serves q.
func QueueServedKey(queue string) string { return "queue:" + queue }

func (w *Worker) heartbeatLoop(ctx context.Context) {
	for {
		t := time.NewTimer(w.wcfg.HeartbeatInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		if err := w.heartbeat(ctx); err != nil {
			if ctx.Err() == nil {
				w.log.Warn("worker heartbeat", "worker", w.wcfg.ID, "error", err)
			}
		} else {
			w.beat.Store(time.Now().UnixNano())
		}
	}
}

// timerLoop publishes the jobs whose timer is due.
func (w *Worker) timerLoop(ctx context.Context) {
	for {
		for w.promoteDue(ctx) {
		}
		t := time.NewTimer(w.wcfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

const promoteBatch = 100

// promoteDue publishes one batch of due timers and reports whether there
// may be more.
func (w *Worker) promoteDue(ctx context.Context) bool {
	now := time.Now().UTC()
	ids, err := w.store.ClaimDue(ctx, now, w.wcfg.PromoteLease, promoteBatch)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Warn("claim due jobs", "error", err)
		}
		return false
	}
	for _, id := range ids {
		if err := w.promote(ctx, id, now); err != nil && ctx.Err() == nil {
			w.log.Warn("publish due job", "job_id", id, "error", err)
		}
	}
	return len(ids) == promoteBatch
}

func (w *Worker) promote(ctx context.Context, id string, now time.Time) error {
	j, err := w.store.Get(ctx, id)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if j.Scheduled && (j.State == StateQueued || j.State == StateRetrying) {
		m := Message{JobID: j.ID, Seq: j.Seq, Queue: j.Queue, Kind: j.Kind, Metadata: map[string]string{}}
		w.prop.Inject(spanContextOf(ctx, w.prop, j.Trace), propagation.MapCarrier(m.Metadata))
		if err := w.broker.Publish(ctx, m); err != nil {
			return err
		}
	}
	_, err = w.store.Update(ctx, id, func(cur *Job) (*Job, error) {
		if cur.Seq != j.Seq || !cur.Scheduled {
			return nil, errDrop
		}
		if cur.State == StateQueued || cur.State == StateRetrying {
			cur.TimerAt = now.Add(w.cfg.RescueAfter) // rescue if the message is lost
		} else {
			cur.Scheduled, cur.TimerAt = false, time.Time{}
		}
		return cur, nil
	})
	if errors.Is(err, errDrop) || apperr.Is(err, apperr.NotFound) {
		return nil
	}
	return err
}

const periodicLease = "periodic"

// periodicLoop enqueues the periodic jobs while this worker holds the
// periodic lease.
func (w *Worker) periodicLoop(ctx context.Context) {
	next := map[string]time.Time{}
	for {
		now := time.Now().UTC()
		leader, err := w.store.AcquireLease(ctx, periodicLease, w.wcfg.ID, w.wcfg.LeaseTTL)
		switch {
		case err != nil:
			if ctx.Err() == nil {
				w.log.Warn("periodic lease", "error", err)
			}
			clear(next)
		case !leader:
			clear(next)
		default:
			w.enqueuePeriodic(ctx, now, next)
		}
		t := time.NewTimer(w.wcfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (w *Worker) enqueuePeriodic(ctx context.Context, now time.Time, next map[string]time.Time) {
	for _, p := range w.wcfg.Periodic {
		t, ok := next[p.Name]
		if !ok {
			// A new leader also fires the ticks a failover may have
			// missed; the idempotency key drops those already enqueued.
			t = p.Schedule.Next(now.Add(-w.wcfg.LeaseTTL - w.wcfg.PollInterval))
		}
		for !t.After(now) {
			key := "periodic:" + p.Name + ":" + t.UTC().Format(time.RFC3339)
			if _, err := w.client.Enqueue(ctx, p.Kind, p.Payload, WithIdempotencyKey(key), WithOwner("")); err != nil {
				w.log.Warn("enqueue periodic job", "periodic", p.Name, "tick", t, "error", err)
				break // try this tick again on the next poll
			}
			t = p.Schedule.Next(t)
		}
		next[p.Name] = t
	}
}
