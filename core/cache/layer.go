package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"golang.org/x/sync/singleflight"

	"github.com/tradesense/tradesense/core/apperr"
)

// Config tunes a Layer. The zero value of a field selects its default.
type Config struct {
	// Timeout bounds every backend call so that a slow cache cannot slow a
	// request down by more than this. Env CACHE_TIMEOUT, default 50ms.
	// Backends that implement InProcess get no deadline.
	Timeout time.Duration
	// Jitter spreads every TTL uniformly over ttl×(1±Jitter), so that keys
	// written together do not expire together. Env CACHE_TTL_JITTER,
	// default 0.1; it must lie in [0, 0.5]. Use NoJitter to disable it.
	Jitter float64
	// Cooldown is how long GetOrLoad bypasses the backend after it failed,
	// so that a dead cache costs one timeout per Cooldown instead of one per
	// request. Env CACHE_COOLDOWN, default 1s; negative disables it. Direct
	// calls (Get, Set, Delete...) always reach the backend: invalidations
	// must not be skipped.
	Cooldown time.Duration
	// WarnInterval is the least time between two fail-open warnings in the
	// log; the fail-open metric counts every occurrence. Env
	// CACHE_WARN_INTERVAL, default 1m.
	WarnInterval time.Duration
}

// NoJitter is the Config.Jitter value that disables jitter (zero selects
// the default).
const NoJitter = -1

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Timeout: 50 * time.Millisecond, Jitter: 0.1, Cooldown: time.Second, WarnInterval: time.Minute}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	switch c.Jitter {
	case 0:
		c.Jitter = d.Jitter
	case NoJitter:
		c.Jitter = 0
	}
	if c.Cooldown == 0 {
		c.Cooldown = d.Cooldown
	}
	if c.WarnInterval == 0 {
		c.WarnInterval = d.WarnInterval
	}
	if c.Timeout < 0 {
		return c, fmt.Errorf("cache: timeout %s is negative", c.Timeout)
	}
	if c.Jitter < 0 || c.Jitter > 0.5 {
		return c, fmt.Errorf("cache: jitter %g is outside [0, 0.5]", c.Jitter)
	}
	return c, nil
}

// InProcess is implemented by backends that live in the process memory and
// never block on I/O. The Layer gives their calls no deadline: the timer
// would cost more than the lookup.
type InProcess interface {
	InProcess()
}

// Layer wraps a backend with the policies every caller wants. It implements
// Cache itself (per-call deadline, jitter on Set, metrics by key prefix) and
// is the handle GetOrLoad needs for singleflight and fail-open. It is safe
// for concurrent use.
type Layer struct {
	backend   Cache
	cfg       Config
	inProcess bool
	log       *slog.Logger
	group     singleflight.Group

	hits, misses, errs, failOpens metric.Int64Counter
	prefixes                      sync.Map // prefix → *prefixMetrics
	nPrefixes                     atomic.Int32

	downUntil  atomic.Int64 // unix ns before which GetOrLoad skips the backend
	nextWarn   atomic.Int64 // unix ns before which fail-open warnings are suppressed
	suppressed atomic.Int64
}

var _ Cache = (*Layer)(nil)

// maxPrefixes caps the number of distinct metric prefixes; later ones are
// counted as "other" so a mistake in key design cannot explode cardinality.
const maxPrefixes = 256

// The operations named in the error metrics.
const (
	opGet = iota
	opSet
	opDelete
	opExists
	opDeletePrefix
	opDecode
	opCount
)

var opNames = [opCount]string{"get", "set", "delete", "exists", "delete_prefix", "decode"}

type prefixMetrics struct {
	prefix string
	base   metric.MeasurementOption
	ops    [opCount]metric.MeasurementOption
}

// NewLayer returns a Layer over backend. log receives the rate-limited
// fail-open warnings; mp the counters cache.hits, cache.misses, cache.errors
// and cache.fail_open, each with the attribute cache.key_prefix.
func NewLayer(backend Cache, cfg Config, log *slog.Logger, mp metric.MeterProvider) (*Layer, error) {
	if backend == nil {
		return nil, errors.New("cache: nil backend")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	_, inProcess := backend.(InProcess)
	l := &Layer{backend: backend, cfg: cfg, inProcess: inProcess, log: log}
	m := mp.Meter("github.com/tradesense/tradesense/core/cache")
	for _, c := range []struct {
		dst        *metric.Int64Counter
		name, desc string
	}{
		{&l.hits, "cache.hits", "Cache lookups that found a value."},
		{&l.misses, "cache.misses", "Cache lookups that found nothing."},
		{&l.errs, "cache.errors", "Cache operations that failed, by operation."},
		{&l.failOpens, "cache.fail_open", "Loads served from the source because the cache failed or was bypassed."},
	} {
		if *c.dst, err = m.Int64Counter(c.name, metric.WithDescription(c.desc), metric.WithUnit("{operation}")); err != nil {
			return nil, fmt.Errorf("cache: create counter %s: %w", c.name, err)
		}
	}
	return l, nil
}

func (l *Layer) metricsFor(key string) *prefixMetrics {
	p := Prefix(key)
	if v, ok := l.prefixes.Load(p); ok {
		return v.(*prefixMetrics)
	}
	if l.nPrefixes.Load() >= maxPrefixes {
		p = "other"
		if v, ok := l.prefixes.Load(p); ok {
			return v.(*prefixMetrics)
		}
	}
	pm := &prefixMetrics{prefix: p}
	attr := attribute.String("cache.key_prefix", p)
	pm.base = metric.WithAttributeSet(attribute.NewSet(attr))
	for op := range opCount {
		pm.ops[op] = metric.WithAttributeSet(attribute.NewSet(attr, attribute.String("cache.operation", opNames[op])))
	}
	v, loaded := l.prefixes.LoadOrStore(p, pm)
	if !loaded {
		l.nPrefixes.Add(1)
	}
	return v.(*prefixMetrics)
}

func (l *Layer) deadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if l.inProcess || l.cfg.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, l.cfg.Timeout)
}

// normalize guarantees the error contract of Cache whatever the backend did.
func normalize(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := apperr.As(err); ok && (e.Kind == apperr.Invalid || e.Kind == apperr.Unavailable) {
		return err
	}
	return Unavailable(err)
}

func (l *Layer) recordErr(ctx context.Context, pm *prefixMetrics, op int) {
	l.errs.Add(ctx, 1, pm.ops[op])
}

// Get implements Cache, counting hits and misses.
func (l *Layer) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	return l.get(ctx, key, l.metricsFor(key))
}

func (l *Layer) get(ctx context.Context, key string, pm *prefixMetrics) ([]byte, bool, error) {
	cctx, cancel := l.deadline(ctx)
	v, found, err := l.backend.Get(cctx, key)
	cancel()
	switch {
	case err != nil:
		l.recordErr(ctx, pm, opGet)
		return nil, false, normalize(err)
	case found:
		l.hits.Add(ctx, 1, pm.base)
	default:
		l.misses.Add(ctx, 1, pm.base)
	}
	return v, found, nil
}

// GetShared is Get without the copy for backends that hand out their
// entries' bytes (EntryCache, the memory adapter): the caller may keep the
// slice but must not modify it, as other callers get the same one. Other
// backends are asked through Get. Hits and misses are counted as Get's.
func (l *Layer) GetShared(ctx context.Context, key string) ([]byte, bool, error) {
	ec, ok := l.backend.(EntryCache)
	if !ok {
		return l.Get(ctx, key)
	}
	if err := ValidateKey(key); err != nil {
		return nil, false, err
	}
	pm := l.metricsFor(key)
	e, found := ec.GetEntry(key)
	if !found {
		l.misses.Add(ctx, 1, pm.base)
		return nil, false, nil
	}
	l.hits.Add(ctx, 1, pm.base)
	return e.Data, true, nil
}

// Set implements Cache. The stored TTL carries the configured jitter.
func (l *Layer) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ValidateTTL(ttl); err != nil {
		return err
	}
	return l.set(ctx, key, value, ttl, l.metricsFor(key))
}

func (l *Layer) set(ctx context.Context, key string, value []byte, ttl time.Duration, pm *prefixMetrics) error {
	cctx, cancel := l.deadline(ctx)
	err := l.backend.Set(cctx, key, value, l.jittered(ttl))
	cancel()
	if err != nil {
		l.recordErr(ctx, pm, opSet)
	}
	return normalize(err)
}

// Delete implements Cache.
func (l *Layer) Delete(ctx context.Context, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			return err
		}
	}
	cctx, cancel := l.deadline(ctx)
	err := l.backend.Delete(cctx, keys...)
	cancel()
	if err != nil {
		l.recordErr(ctx, l.metricsFor(keys[0]), opDelete)
	}
	return normalize(err)
}

// Exists implements Cache.
func (l *Layer) Exists(ctx context.Context, key string) (bool, error) {
	if err := ValidateKey(key); err != nil {
		return false, err
	}
	cctx, cancel := l.deadline(ctx)
	ok, err := l.backend.Exists(cctx, key)
	cancel()
	if err != nil {
		l.recordErr(ctx, l.metricsFor(key), opExists)
	}
	return ok, normalize(err)
}

// DeletePrefix implements Cache. It gets no deadline from the Layer: on a
// large Redis keyspace the scan legitimately takes longer than a lookup, so
// only ctx bounds it.
func (l *Layer) DeletePrefix(ctx context.Context, prefix string) (int, error) {
	if err := ValidatePrefix(prefix); err != nil {
		return 0, err
	}
	n, err := l.backend.DeletePrefix(ctx, prefix)
	if err != nil {
		l.recordErr(ctx, l.metricsFor(prefix), opDeletePrefix)
	}
	return n, normalize(err)
}

func (l *Layer) jittered(ttl time.Duration) time.Duration {
	if l.cfg.Jitter == 0 {
		return ttl
	}
	d := time.Duration(float64(ttl) * (1 + l.cfg.Jitter*(2*rand.Float64()-1))) // #nosec G404 -- spreading expiries needs no cryptographic randomness
	if d <= 0 {
		return ttl
	}
	return d
}

// bypassed reports whether GetOrLoad should skip the backend because it
// failed less than Cooldown ago.
func (l *Layer) bypassed() bool {
	until := l.downUntil.Load()
	return until != 0 && time.Now().UnixNano() < until
}

// failOpen records a backend failure that GetOrLoad absorbed: the metric
// always, a warning at most once per WarnInterval (with the number of
// warnings suppressed since the last one), and the cooldown.
func (l *Layer) failOpen(ctx context.Context, op string, pm *prefixMetrics, err error) {
	l.failOpens.Add(ctx, 1, pm.base)
	if !apperr.Is(err, apperr.Unavailable) {
		return
	}
	now := time.Now().UnixNano()
	if l.cfg.Cooldown > 0 {
		l.downUntil.Store(now + int64(l.cfg.Cooldown))
	}
	next := l.nextWarn.Load()
	if now < next || !l.nextWarn.CompareAndSwap(next, now+int64(l.cfg.WarnInterval)) {
		l.suppressed.Add(1)
		return
	}
	if l.log != nil {
		l.log.WarnContext(ctx, "cache unavailable: serving from the source",
			slog.String("operation", op),
			slog.String("key_prefix", pm.prefix),
			slog.Int64("suppressed_warnings", l.suppressed.Swap(0)),
			slog.Any("error", err))
	}
}

// LoadOption tunes one GetOrLoad call.
type LoadOption func(*loadOptions)

type loadOptions struct {
	negativeTTL time.Duration
}

// NegativeTTL caches an apperr.NotFound returned by the loader for ttl, so
// that repeated lookups of a missing entity do not reach the source. Later
// calls return an apperr.NotFound with the same code and message until the
// entry expires or is deleted. Off by default: callers must invalidate the
// key when they create the entity.
func NegativeTTL(ttl time.Duration) LoadOption {
	return func(o *loadOptions) { o.negativeTTL = ttl }
}

// GetOrLoad returns the value cached under key, or calls load, caches its
// result as JSON for ttl (with jitter) and returns it. It is the cache-aside
// decorator:
//
//   - Concurrent misses of one key in this process share one call of load
//     (singleflight). The shared call runs with the first caller's context
//     values and deadline but not its cancellation, so one caller giving up
//     does not fail the others; each caller stops waiting when its own ctx
//     is done and then gets ctx.Err().
//   - Fail-open: when the cache fails or is slower than Config.Timeout, load
//     runs and its result is returned; the failure is counted in
//     cache.fail_open and logged at most once per Config.WarnInterval.
//   - Errors of load are returned as they are and not cached, except
//     apperr.NotFound with the NegativeTTL option.
//   - A cached value that no longer decodes into T (a changed type) counts
//     as a miss and is overwritten.
//   - A panic in load is re-raised in every waiting caller.
//
// T must round-trip through encoding/json. A caller that did not run load
// gets its own decoded copy, so callers never share a mutable value.
// GetOrLoad fails on its own only with apperr.Invalid for a bad key or TTL,
// or with ctx.Err().
func GetOrLoad[T any](ctx context.Context, l *Layer, key string, ttl time.Duration, load func(context.Context) (T, error), opts ...LoadOption) (T, error) {
	var zero T
	if err := ValidateKey(key); err != nil {
		return zero, err
	}
	if err := ValidateTTL(ttl); err != nil {
		return zero, err
	}
	var o loadOptions
	for _, opt := range opts {
		opt(&o)
	}
	pm := l.metricsFor(key)

	useCache := !l.bypassed()
	if !useCache {
		l.failOpens.Add(ctx, 1, pm.base)
	} else if ec, ok := l.backend.(EntryCache); ok && isFlat[T]() {
		// In-process hit without decoding: the value decoded from this
		// entry's bytes is kept in its slot.
		if e, found := ec.GetEntry(key); found {
			l.hits.Add(ctx, 1, pm.base)
			if v, ok := e.Value.Load().(T); ok {
				return v, nil
			}
			if v, err, ok := decode[T](e.Data); ok {
				if err == nil {
					e.Value.Store(v)
				}
				return v, err
			}
			l.recordErr(ctx, pm, opDecode)
		} else {
			l.misses.Add(ctx, 1, pm.base)
		}
	} else {
		data, found, err := l.get(ctx, key, pm)
		switch {
		case err != nil:
			l.failOpen(ctx, "get", pm, err)
			useCache = false
		case found:
			if v, err, ok := decode[T](data); ok {
				return v, err
			}
			l.recordErr(ctx, pm, opDecode)
		}
	}

	var leader bool // set by the shared call if it is ours; read after the channel receive
	ch := l.group.DoChan(key, func() (any, error) {
		leader = true
		return fill(ctx, l, key, ttl, load, o, pm, useCache)
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			var p *panicError
			if errors.As(r.Err, &p) {
				panic(p)
			}
			return zero, r.Err
		}
		f := r.Val.(filled[T])
		if leader || f.data == nil {
			return f.val, nil
		}
		if v, err, ok := decode[T](f.data); ok && err == nil {
			return v, nil
		}
		return f.val, nil
	case <-ctx.Done():
		return zero, ctx.Err()
	}
}

type filled[T any] struct {
	val  T
	data []byte // the JSON of val, nil when it could not be encoded
}

// fill is the shared part of a miss: re-check the cache (another process or
// a just-finished flight may have filled it), load, store.
func fill[T any](ctx context.Context, l *Layer, key string, ttl time.Duration, load func(context.Context) (T, error), o loadOptions, pm *prefixMetrics, useCache bool) (res filled[T], err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	lctx := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		lctx, cancel = context.WithDeadline(lctx, dl)
		defer cancel()
	}

	if useCache {
		cctx, cancel := l.deadline(lctx)
		data, found, gerr := l.backend.Get(cctx, key)
		cancel()
		if gerr == nil && found {
			if v, derr, ok := decode[T](data); ok {
				return filled[T]{val: v, data: data}, derr
			}
		}
	}

	v, err := load(lctx)
	if err != nil {
		if o.negativeTTL > 0 && useCache && apperr.Is(err, apperr.NotFound) {
			if serr := l.set(lctx, key, tombstone(err), o.negativeTTL, pm); serr != nil {
				l.failOpen(lctx, "set", pm, serr)
			}
		}
		return res, err
	}
	data, merr := json.Marshal(v)
	if merr != nil {
		l.recordErr(lctx, pm, opSet)
		if l.log != nil {
			l.log.ErrorContext(lctx, "cache: value cannot be encoded as JSON; not cached",
				slog.String("key_prefix", pm.prefix), slog.Any("error", merr))
		}
		return filled[T]{val: v}, nil
	}
	if useCache {
		if serr := l.set(lctx, key, data, ttl, pm); serr != nil {
			l.failOpen(lctx, "set", pm, serr)
		}
	}
	return filled[T]{val: v, data: data}, nil
}

// A negative entry is a zero byte followed by the JSON of the NotFound
// error's code and message. No JSON text starts with a zero byte, so it
// cannot be mistaken for a value.
type negativeEntry struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func tombstone(err error) []byte {
	ne := negativeEntry{Code: apperr.CodeOf(err), Message: "not found"}
	if e, ok := apperr.As(err); ok && e.Message != "" {
		ne.Message = e.Message
	}
	b, _ := json.Marshal(ne) // two strings always encode
	return append([]byte{0}, b...)
}

// decode turns cached bytes into a value, or into the NotFound error of a
// negative entry. ok is false when data is corrupt or of another type.
func decode[T any](data []byte) (v T, err error, ok bool) {
	if len(data) > 0 && data[0] == 0 {
		var ne negativeEntry
		if json.Unmarshal(data[1:], &ne) != nil {
			return v, nil, false //nolint:nilerr // a corrupt entry is a miss, reported through ok
		}
		return v, apperr.New(apperr.NotFound, ne.Code, ne.Message), true
	}
	if json.Unmarshal(data, &v) != nil {
		return v, nil, false //nolint:nilerr // a corrupt entry is a miss, reported through ok
	}
	return v, nil, true
}

// panicError carries a loader's panic to every caller that waited on it.
type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string {
	return fmt.Sprintf("cache: loader panicked: %v\n\n%s", p.value, p.stack)
}
