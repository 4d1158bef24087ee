package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// HandlerFunc runs one attempt of a job. It returns the job's result
// (stored as JSON; nil for none) or an error: plain errors are retried,
// Permanent ones go dead at once, Cancel ends the job failed. The context
// carries the job's trace, its Info and a progress reporter (Progress),
// and is cancelled at the soft time limit or on shutdown.
type HandlerFunc func(ctx context.Context, job *Job) (result any, err error)

// Backoff returns the countdown before the next attempt, given the number
// of the attempt that failed (1 for the first).
type Backoff func(attempt int) time.Duration

// LinearBackoff is Celery's countdown of the plan: step × attempt
// (60 s, 120 s, 180 s with step 60 s).
func LinearBackoff(step time.Duration) Backoff {
	return func(attempt int) time.Duration { return step * time.Duration(attempt) }
}

// KindConfig holds a kind's handler and its defaults. Zero fields take the
// worker's defaults.
type KindConfig struct {
	Handler HandlerFunc
	// Queue overrides Route(kind).
	Queue string
	// MaxRetries is the number of retries after the first attempt; 0
	// selects the default, NoRetries means none.
	MaxRetries int
	Backoff    Backoff
	// SoftTimeout and HardTimeout are the time limits of one attempt.
	SoftTimeout time.Duration
	HardTimeout time.Duration
	// Confidential says that the payload and result may carry secrets
	// (a rendered email holds sign-in and reset links): inspection must
	// not show them, not even to the job's owner or an admin.
	Confidential bool
}

// NoRetries, as KindConfig.MaxRetries, means that a failed attempt is not
// retried.
const NoRetries = -1

// Registry maps kinds to handlers. Register everything at start-up, before
// the worker runs; lookups are safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	kinds map[string]KindConfig
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{kinds: map[string]KindConfig{}} }

// Register adds a kind. Registering a kind twice, or one without a
// handler, is a programming error and panics.
func (r *Registry) Register(kind string, c KindConfig) {
	if kind == "" || c.Handler == nil {
		panic("jobs: Register needs a kind and a handler")
	}
	if c.Queue != "" && !KnownQueue(c.Queue) {
		panic(fmt.Sprintf("jobs: kind %q routed to unknown queue %q", kind, c.Queue))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.kinds[kind]; ok {
		panic(fmt.Sprintf("jobs: kind %q registered twice", kind))
	}
	r.kinds[kind] = c
}

// Lookup returns a kind's configuration.
func (r *Registry) Lookup(kind string) (KindConfig, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	c, ok := r.kinds[kind]
	return c, ok
}

// Kinds lists the registered kinds, sorted.
func (r *Registry) Kinds() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Handle registers a typed handler: the payload is decoded from JSON into
// T (unknown fields rejected), and a payload that does not decode is a
// permanent failure.
func Handle[T any](r *Registry, kind string, c KindConfig, fn func(ctx context.Context, job *Job, payload T) (any, error)) {
	c.Handler = func(ctx context.Context, job *Job) (any, error) {
		var p T
		if err := decodeStrict(job.Payload, &p); err != nil {
			return nil, Permanent(apperr.Wrap(err, apperr.Invalid, CodeInvalidPayload, fmt.Sprintf("payload of %s does not decode", kind)))
		}
		return fn(ctx, job, p)
	}
	r.Register(kind, c)
}

// Info describes the running job to its handler.
type Info struct {
	ID         string
	Kind       string
	Queue      string
	Attempt    int
	MaxRetries int
	Owner      string
	Worker     string
}

type infoKey struct{}
type progressKey struct{}

// InfoFrom returns the running job's Info; false outside a handler.
func InfoFrom(ctx context.Context) (Info, bool) {
	i, ok := ctx.Value(infoKey{}).(Info)
	return i, ok
}

// Progress records a progress report for the running job (any JSON value,
// say {"done": 40, "total": 100}); the job's state becomes progress. It is
// a no-op outside a handler.
func Progress(ctx context.Context, v any) error {
	f, ok := ctx.Value(progressKey{}).(func(context.Context, any) error)
	if !ok {
		return nil
	}
	return f(ctx, v)
}

// WithInfo returns ctx carrying info and a progress reporter, for tests of
// handlers.
func WithInfo(ctx context.Context, info Info, progress func(context.Context, any) error) context.Context {
	ctx = context.WithValue(ctx, infoKey{}, info)
	if progress != nil {
		ctx = context.WithValue(ctx, progressKey{}, progress)
	}
	return ctx
}

// jitter spreads d over d×[1, 1+frac).
func jitter(d time.Duration, frac float64, rnd func() float64) time.Duration {
	if frac <= 0 || d <= 0 {
		return d
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	return d + time.Duration(float64(d)*frac*rnd())
}

func decodeStrict(b []byte, v any) error {
	if len(b) == 0 {
		b = []byte("null")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the payload")
	}
	return nil
}
