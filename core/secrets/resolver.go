package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/tradesense/tradesense/core/apperr"
)

// Defaults of ResolverConfig.
const (
	DefaultTTL          = 5 * time.Minute
	DefaultMaxStaleness = time.Hour
	DefaultFetchTimeout = 10 * time.Second
)

// instrumentation is the OTel instrumentation scope name.
const instrumentation = "github.com/tradesense/tradesense/core/secrets"

// ResolverConfig tunes the cache. The composition root fills it from the
// environment (suggested names in brackets); zero fields take the defaults.
type ResolverConfig struct {
	// TTL [SECRETS_CACHE_TTL, default 5m] is how long a fetched value is
	// served without asking the backend again. Entries in use are refreshed in
	// the background once half the TTL has passed, so readers rarely wait and a
	// rotation is seen within about TTL/2..3TTL/4.
	TTL time.Duration
	// MaxStaleness [SECRETS_MAX_STALENESS, default 1h] bounds
	// stale-while-error: when the backend fails after the TTL, the last value
	// is served (with a warning and the secrets.stale_served counter) until it
	// is this old; after that Get fails. Set it equal to TTL to disable stale
	// serving. It must not be below TTL.
	MaxStaleness time.Duration
	// FetchTimeout [SECRETS_FETCH_TIMEOUT, default 10s] bounds one backend
	// call, independently of the caller's context so that a caller giving up
	// does not cancel a fetch other callers share.
	FetchTimeout time.Duration
}

func (c ResolverConfig) withDefaults() (ResolverConfig, error) {
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = max(DefaultMaxStaleness, c.TTL)
	}
	if c.FetchTimeout == 0 {
		c.FetchTimeout = DefaultFetchTimeout
	}
	switch {
	case c.TTL < 0:
		return c, errors.New("secrets: cache TTL must be positive")
	case c.MaxStaleness < c.TTL:
		return c, fmt.Errorf("secrets: max staleness %s is below the cache TTL %s", c.MaxStaleness, c.TTL)
	case c.FetchTimeout < 0:
		return c, errors.New("secrets: fetch timeout must be positive")
	}
	return c, nil
}

// Resolver is the secrets service: it routes each reference to the provider
// of its scheme, caches values, refreshes them in the background, serves a
// stale value for a while when the backend fails, collapses concurrent misses
// into one backend call and tells subscribers when a value rotates. It
// implements Provider and is safe for concurrent use.
//
// A cache hit costs a map lookup and a clock read (see BenchmarkResolverHit)
// and is not traced; misses and refreshes get a span "secrets.fetch" whose
// attributes name the reference, never the value.
type Resolver struct {
	cfg          ResolverConfig
	refreshAge   time.Duration // background refresh once an entry is this old
	tick         time.Duration // background loop period
	errorBackoff time.Duration // after a failed fetch, serve stale this long before retrying

	providers Providers
	log       *slog.Logger
	tracer    trace.Tracer
	metrics   resolverMetrics
	group     singleflight.Group

	// entries maps Ref to *entry. A sync.Map because the hit path is
	// read-only and must not bounce a lock's cache line between cores.
	entries sync.Map

	mu   sync.RWMutex // guards subs
	subs map[Ref][]*subscription

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type entry struct {
	snap     atomic.Pointer[snapshot]
	lastUsed atomic.Int64 // Unix nanoseconds of the last Get
}

// snapshot is immutable once published.
type snapshot struct {
	secret    Secret
	fetchedAt time.Time
	failedAt  time.Time // last failed refresh; zero after a success
	staleOK   bool      // the last failure may be bridged with the cached value
}

type subscription struct {
	fn func(Secret)
}

type resolverMetrics struct {
	fetches  metric.Int64Counter
	writes   metric.Int64Counter
	stale    metric.Int64Counter
	rotation metric.Int64Counter
	duration metric.Float64Histogram
}

// NewResolver returns a Resolver over providers and starts its background
// refresh; the returned cleanup (also Close) stops it. log, tp and mp may be
// nil for a discarding logger and no-op telemetry. Time is time.Now and
// time.After: tests drive TTLs and the background loop from a synctest
// bubble.
func NewResolver(cfg ResolverConfig, providers Providers, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*Resolver, func(), error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	if mp == nil {
		mp = metricnoop.NewMeterProvider()
	}
	chain := make(Providers, len(providers))
	for scheme, p := range providers {
		if p != nil {
			chain[scheme] = p
		}
	}
	m, err := newResolverMetrics(mp.Meter(instrumentation))
	if err != nil {
		return nil, nil, fmt.Errorf("secrets: create metrics: %w", err)
	}
	r := &Resolver{
		cfg:          cfg,
		refreshAge:   cfg.TTL / 2,
		tick:         max(cfg.TTL/4, 10*time.Millisecond),
		errorBackoff: min(cfg.TTL/4, 30*time.Second),
		providers:    chain,
		log:          log.With("component", "secrets"),
		tracer:       tp.Tracer(instrumentation),
		metrics:      m,
		subs:         make(map[Ref][]*subscription),
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	go r.loop()
	return r, r.Close, nil
}

func newResolverMetrics(meter metric.Meter) (resolverMetrics, error) {
	var m resolverMetrics
	var err, e error
	m.fetches, e = meter.Int64Counter("secrets.fetches",
		metric.WithDescription("Backend fetches of secrets, by scheme and outcome."))
	err = errors.Join(err, e)
	m.writes, e = meter.Int64Counter("secrets.writes",
		metric.WithDescription("Secret writes (Resolver.Put), by scheme and outcome."))
	err = errors.Join(err, e)
	m.stale, e = meter.Int64Counter("secrets.stale_served",
		metric.WithDescription("Secrets served from cache past their TTL because the backend failed."))
	err = errors.Join(err, e)
	m.rotation, e = meter.Int64Counter("secrets.rotations",
		metric.WithDescription("Secrets whose value or version changed on refresh."))
	err = errors.Join(err, e)
	m.duration, e = meter.Float64Histogram("secrets.fetch.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of backend fetches of secrets."))
	err = errors.Join(err, e)
	return m, err
}

var _ Provider = (*Resolver)(nil)

// Close stops the background refresh and waits for it. Get keeps working
// afterwards (without background refresh). Close is idempotent.
func (r *Resolver) Close() {
	r.closeOnce.Do(func() {
		close(r.stop)
		<-r.done
	})
}

// Get returns the value of ref, from the cache when it is fresh. See the
// Provider contract for errors; an unknown scheme fails with apperr.Invalid
// (code secret_backend_not_configured). During a backend outage, a value
// fetched less than MaxStaleness ago is returned instead of the error.
func (r *Resolver) Get(ctx context.Context, ref Ref) (Secret, error) {
	now := time.Now()
	if v, ok := r.entries.Load(ref); ok {
		e := v.(*entry)
		// Written at most once a second, so concurrent readers share the line.
		if n := now.UnixNano(); n-e.lastUsed.Load() > int64(time.Second) {
			e.lastUsed.Store(n)
		}
		if s := e.snap.Load(); s != nil {
			age := now.Sub(s.fetchedAt)
			if age < r.cfg.TTL {
				return s.secret, nil
			}
			// A recent failure: bridge with the cached value instead of making
			// every caller wait for a backend that is down.
			if s.staleOK && now.Sub(s.failedAt) < r.errorBackoff && age <= r.cfg.MaxStaleness {
				r.metrics.stale.Add(ctx, 1, metric.WithAttributes(attribute.String("secret.scheme", ref.Scheme)))
				return s.secret, nil
			}
		}
	}
	return r.load(ctx, ref, false)
}

// Resolve resolves a setting's value: a reference (see Ref) is fetched, a
// literal is returned as is (with version ""). Use IsRef to tell which.
func (r *Resolver) Resolve(ctx context.Context, value string) (Secret, error) {
	if lit, ok := Literal(value); ok {
		return New(lit, ""), nil
	}
	ref, err := ParseRef(value)
	if err != nil {
		return Secret{}, err
	}
	return r.Get(ctx, ref)
}

// Subscribe registers fn to be called with the new value each time ref's
// value or version changes (on a background refresh or a fetch after
// expiry), and returns the current value. A subscribed reference is
// refreshed in the background whether or not anyone reads it. fn runs on the
// refreshing goroutine, in order, and must return quickly (hand off to a
// channel for slow work); a panic in fn is logged and contained. cancel
// removes the subscription; it is idempotent.
//
// Consumers: JWT signing keys and MFA encryption keys swap their key ring on
// notification; the DB pool instead reads Get in its BeforeConnect hook, so
// new connections use the rotated password.
func (r *Resolver) Subscribe(ctx context.Context, ref Ref, fn func(Secret)) (current Secret, cancel func(), err error) {
	sub := &subscription{fn: fn}
	r.mu.Lock()
	r.subs[ref] = append(r.subs[ref], sub)
	r.mu.Unlock()
	cancel = func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		subs := slices.DeleteFunc(r.subs[ref], func(s *subscription) bool { return s == sub })
		if len(subs) == 0 {
			delete(r.subs, ref)
		} else {
			r.subs[ref] = subs
		}
	}
	// Registered before the first read, so no rotation between the two is lost.
	current, err = r.Get(ctx, ref)
	if err != nil {
		cancel()
		return Secret{}, nil, err
	}
	return current, cancel, nil
}

// Refresh fetches every cached reference now, regardless of age, notifying
// subscribers of changes (for an operator-triggered reload such as SIGHUP).
// It returns the errors of the fetches that failed, joined.
func (r *Resolver) Refresh(ctx context.Context) error {
	var refs []Ref
	r.entries.Range(func(k, _ any) bool {
		refs = append(refs, k.(Ref))
		return true
	})
	var mu sync.Mutex
	var errs []error
	r.refreshAll(ctx, refs, func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	})
	return errors.Join(errs...)
}

// loop refreshes, every TTL/4, the entries that are at least TTL/2 old and
// either subscribed or read within the last TTL. Idle entries are left to
// expire: the next Get fetches them synchronously.
func (r *Resolver) loop() {
	defer close(r.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-r.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		select {
		case <-r.stop:
			return
		case <-time.After(r.tick):
			r.refreshAll(ctx, r.due(), nil)
		}
	}
}

func (r *Resolver) due() []Ref {
	now := time.Now()
	r.mu.RLock()
	defer r.mu.RUnlock()
	var refs []Ref
	r.entries.Range(func(k, v any) bool {
		ref, e := k.(Ref), v.(*entry)
		s := e.snap.Load()
		switch {
		case s == nil || now.Sub(s.fetchedAt) < r.refreshAge:
		case !s.failedAt.IsZero() && now.Sub(s.failedAt) < r.errorBackoff:
		case len(r.subs[ref]) == 0 && now.Sub(time.Unix(0, e.lastUsed.Load())) > r.cfg.TTL:
		default:
			refs = append(refs, ref)
		}
		return true
	})
	return refs
}

// refreshAll fetches refs with bounded concurrency: a handful of secrets, but
// one slow backend must not delay the others by a timeout each.
func (r *Resolver) refreshAll(ctx context.Context, refs []Ref, onErr func(error)) {
	var g errgroup.Group
	g.SetLimit(4)
	for _, ref := range refs {
		g.Go(func() error {
			if _, err := r.load(ctx, ref, true); err != nil && onErr != nil {
				onErr(err)
			}
			return nil
		})
	}
	_ = g.Wait()
}

// load fetches ref through the singleflight group, so that N concurrent
// misses (and a background refresh) make one backend call. The fetch runs on
// a context detached from the caller's cancellation (but keeping its trace),
// bounded by FetchTimeout; each caller still stops waiting when its own ctx
// is done.
func (r *Resolver) load(ctx context.Context, ref Ref, background bool) (Secret, error) {
	return r.loadMode(ctx, ref, background, false)
}

// loadMode is load; strict loads (Reload) return the backend's error
// instead of a cached value, and share their backend call only with other
// strict loads.
func (r *Resolver) loadMode(ctx context.Context, ref Ref, background, strict bool) (Secret, error) {
	key := ref.String()
	if strict {
		key = "reload " + key
	}
	ch := r.group.DoChan(key, func() (any, error) {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.FetchTimeout)
		defer cancel()
		return r.fetchAndStore(fctx, ref, background, strict)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return Secret{}, res.Err
		}
		return res.Val.(Secret), nil
	case <-ctx.Done():
		return Secret{}, apperr.Wrap(ctx.Err(), apperr.Unavailable, CodeUnavailable,
			fmt.Sprintf("secrets: gave up waiting for %s", ref))
	}
}

func (r *Resolver) fetchAndStore(ctx context.Context, ref Ref, background, strict bool) (Secret, error) {
	val, err := r.fetch(ctx, ref)
	now := time.Now()

	var e *entry
	var old *snapshot
	if v, ok := r.entries.Load(ref); ok {
		e = v.(*entry)
		old = e.snap.Load()
	}

	if err != nil {
		if old == nil {
			return Secret{}, err
		}
		age := now.Sub(old.fetchedAt)
		staleOK := bridgeable(err)
		e.snap.Store(&snapshot{secret: old.secret, fetchedAt: old.fetchedAt, failedAt: now, staleOK: staleOK})
		switch {
		case strict:
			return Secret{}, err
		case age < r.cfg.TTL:
			// Still fresh: an early background refresh failed; keep serving.
			r.log.WarnContext(ctx, "secret refresh failed; keeping the cached value",
				"ref", ref.String(), "age", age.Round(time.Second), "error", err)
			return old.secret, nil
		case staleOK && age <= r.cfg.MaxStaleness:
			r.metrics.stale.Add(ctx, 1, metric.WithAttributes(attribute.String("secret.scheme", ref.Scheme)))
			r.log.WarnContext(ctx, "secret backend failing; serving the stale cached value",
				"ref", ref.String(), "age", age.Round(time.Second),
				"max_staleness", r.cfg.MaxStaleness, "error", err)
			return old.secret, nil
		default:
			if background {
				r.log.ErrorContext(ctx, "secret refresh failed and the cached value expired",
					"ref", ref.String(), "age", age.Round(time.Second), "error", err)
			}
			return Secret{}, err
		}
	}

	if e == nil {
		v, _ := r.entries.LoadOrStore(ref, &entry{})
		e = v.(*entry)
		e.lastUsed.Store(now.UnixNano())
		old = e.snap.Load()
	}
	e.snap.Store(&snapshot{secret: val, fetchedAt: now})
	if old != nil && (old.secret.Version() != val.Version() || !old.secret.Equal(val)) {
		r.metrics.rotation.Add(ctx, 1, metric.WithAttributes(attribute.String("secret.scheme", ref.Scheme)))
		r.log.InfoContext(ctx, "secret rotated", "ref", ref.String(),
			"old_version", old.secret.Version(), "new_version", val.Version())
		r.notify(ctx, ref, val)
	}
	return val, nil
}

// bridgeable reports whether a failure may be bridged with a stale value.
// NotFound and Invalid are definitive answers, not outages: a deleted secret
// or a broken reference must surface once the TTL is over.
func bridgeable(err error) bool {
	switch apperr.KindOf(err) {
	case apperr.NotFound, apperr.Invalid:
		return false
	}
	return true
}

func (r *Resolver) fetch(ctx context.Context, ref Ref) (Secret, error) {
	ctx, span := r.tracer.Start(ctx, "secrets.fetch", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("secret.scheme", ref.Scheme), attribute.String("secret.ref", ref.String())))
	defer span.End()
	start := time.Now()

	val, err := r.fetchUnobserved(ctx, ref)

	outcome := "ok"
	if err != nil {
		outcome = apperr.KindOf(err).String()
		span.RecordError(err)
		span.SetStatus(codes.Error, apperr.CodeOf(err))
	} else if v := val.Version(); v != "" {
		span.SetAttributes(attribute.String("secret.version", v))
	}
	attrs := metric.WithAttributes(attribute.String("secret.scheme", ref.Scheme), attribute.String("outcome", outcome))
	r.metrics.fetches.Add(ctx, 1, attrs)
	r.metrics.duration.Record(ctx, time.Since(start).Seconds(), attrs)
	return val, err
}

func (r *Resolver) fetchUnobserved(ctx context.Context, ref Ref) (Secret, error) {
	// Refs built by hand bypass ParseRef; validate before touching a backend.
	if parsed, err := ParseRef(ref.String()); err != nil {
		return Secret{}, err
	} else if parsed != ref {
		return Secret{}, apperr.New(apperr.Invalid, CodeInvalid,
			fmt.Sprintf("secrets: reference %s is not in canonical form (build it with ParseRef)", ref))
	}
	p := r.providers[ref.Scheme]
	if p == nil {
		return Secret{}, apperr.New(apperr.Invalid, CodeNotConfigured,
			fmt.Sprintf("secrets: no provider configured for %s: references (needed by %s)", ref.Scheme, ref))
	}
	val, err := p.Get(ctx, ref)
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			// A provider broke its contract; keep the kind honest.
			err = Unavailable(ref.Scheme, ref, err)
		}
		return Secret{}, err
	}
	return val, nil
}

func (r *Resolver) notify(ctx context.Context, ref Ref, val Secret) {
	r.mu.RLock()
	subs := slices.Clone(r.subs[ref])
	r.mu.RUnlock()
	for _, s := range subs {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.log.ErrorContext(ctx, "secret rotation subscriber panicked", "ref", ref.String(), "panic", fmt.Sprint(p))
				}
			}()
			s.fn(val)
		}()
	}
}
