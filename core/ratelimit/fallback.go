package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/tradesense/tradesense/core/apperr"
)

// Fallback is a Limiter that asks a shared primary (Redis) and, while the
// primary is unavailable, answers from a per-instance fallback (memory),
// so that an outage of the shared store is not an outage of sign-in.
//
// The policy, and its price: while in fallback every instance counts on
// its own, so the limits still hold per instance but are looser across
// replicas (a budget of n is n per replica), and the counts of the
// fallback are not carried back to the primary when it recovers (nor the
// primary's into the fallback: a client blocked before the outage starts
// afresh on each instance). Entering and leaving fallback is logged once
// each; every hit answered by the fallback is counted in the metric
// ratelimit.fallback.hits.
//
// After a primary failure the primary is skipped for Cooldown, so that a
// dead store costs one timeout per Cooldown and not one per request; then
// the next call tries it again. A caller whose context ended gets its
// error: a cancelled request decides nothing.
type Fallback struct {
	primary, fallback Limiter
	cooldown          time.Duration
	log               *slog.Logger
	hits              metric.Int64Counter

	downUntil atomic.Int64 // unix ns; 0 while the primary is used
}

var _ Limiter = (*Fallback)(nil)

// FallbackConfig tunes a Fallback.
type FallbackConfig struct {
	// Cooldown is how long the primary is skipped after it failed
	// (default 1 s).
	Cooldown time.Duration
}

// NewFallback returns the limiter over primary and fallback.
func NewFallback(primary, fallback Limiter, cfg FallbackConfig, log *slog.Logger, mp metric.MeterProvider) (*Fallback, error) {
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	hits, err := mp.Meter("github.com/tradesense/tradesense/core/ratelimit").Int64Counter("ratelimit.fallback.hits",
		metric.WithDescription("Rate-limit decisions taken by the per-instance fallback limiter because the shared one was unavailable."),
		metric.WithUnit("{decision}"))
	if err != nil {
		return nil, fmt.Errorf("ratelimit: fallback counter: %w", err)
	}
	return &Fallback{primary: primary, fallback: fallback, cooldown: cfg.Cooldown, log: log, hits: hits}, nil
}

// InFallback reports whether the fallback answers now.
func (f *Fallback) InFallback() bool { return f.downUntil.Load() != 0 }

var (
	opHit   = metric.WithAttributes(attribute.String("ratelimit.operation", "hit"))
	opPeek  = metric.WithAttributes(attribute.String("ratelimit.operation", "peek"))
	opReset = metric.WithAttributes(attribute.String("ratelimit.operation", "reset"))
)

// Hit implements Limiter.
func (f *Fallback) Hit(ctx context.Context, key string, l Limit) (Result, error) {
	return do(f, ctx, opHit, func(lim Limiter) (Result, error) { return lim.Hit(ctx, key, l) })
}

// Peek implements Limiter.
func (f *Fallback) Peek(ctx context.Context, key string, l Limit) (Result, error) {
	return do(f, ctx, opPeek, func(lim Limiter) (Result, error) { return lim.Peek(ctx, key, l) })
}

// Reset implements Limiter. It resets the key in the fallback too, so a
// reset during an outage is not undone by the fallback's old count.
func (f *Fallback) Reset(ctx context.Context, key string) error {
	_, err := do(f, ctx, opReset, func(lim Limiter) (Result, error) { return Result{}, lim.Reset(ctx, key) })
	if err == nil && !f.InFallback() {
		_ = f.fallback.Reset(ctx, key)
	}
	return err
}

func do(f *Fallback, ctx context.Context, op metric.AddOption, call func(Limiter) (Result, error)) (Result, error) {
	now := time.Now().UnixNano()
	if until := f.downUntil.Load(); until == 0 || now >= until {
		r, err := call(f.primary)
		switch {
		case err == nil:
			if until != 0 && f.downUntil.CompareAndSwap(until, 0) {
				f.log.InfoContext(ctx, "rate limiter: the shared limiter answers again; leaving the per-instance fallback")
			}
			return r, nil
		case !apperr.Is(err, apperr.Unavailable):
			return r, err
		case ctx.Err() != nil:
			return Result{}, fmt.Errorf("rate limit: %w", ctx.Err())
		}
		next := time.Now().Add(f.cooldown).UnixNano()
		if f.downUntil.Swap(next) == 0 {
			f.log.WarnContext(ctx, "rate limiter: the shared limiter is unavailable; limiting per instance until it answers (limits are looser across replicas)", "error", err)
		}
	}
	f.hits.Add(ctx, 1, op)
	return call(f.fallback)
}
