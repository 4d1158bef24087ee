package ratelimit_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// counter is a Limiter counting hits per key against Max (no windows),
// which can be made unavailable.
type counter struct {
	mu    sync.Mutex
	n     map[string]int
	down  atomic.Bool
	calls atomic.Int32
}

func newCounter() *counter { return &counter{n: map[string]int{}} }

func (c *counter) err() error {
	c.calls.Add(1)
	if c.down.Load() {
		return apperr.Wrap(errors.New("connection refused"), apperr.Unavailable, ratelimit.CodeUnavailable, "down")
	}
	return nil
}

func (c *counter) Hit(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	if err := c.err(); err != nil {
		return ratelimit.Result{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[key] >= l.Max {
		return ratelimit.Result{Allowed: false}, nil
	}
	c.n[key]++
	return ratelimit.Result{Allowed: true, Remaining: l.Max - c.n[key]}, nil
}

func (c *counter) Peek(_ context.Context, key string, l ratelimit.Limit) (ratelimit.Result, error) {
	if err := c.err(); err != nil {
		return ratelimit.Result{}, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ratelimit.Result{Allowed: c.n[key] < l.Max}, nil
}

func (c *counter) Reset(_ context.Context, key string) error {
	if err := c.err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.n, key)
	return nil
}

// While the primary is unavailable the fallback answers and still limits;
// the primary is skipped for the cooldown, then tried again and used once
// it answers.
func TestFallbackLimitsWhileThePrimaryIsDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		primary, local := newCounter(), newCounter()
		f, err := ratelimit.NewFallback(primary, local, ratelimit.FallbackConfig{Cooldown: time.Second}, nil, noop.NewMeterProvider())
		if err != nil {
			t.Fatal(err)
		}
		l := ratelimit.Limit{Max: 3, Window: time.Minute}
		if r, err := f.Hit(ctx, "k", l); err != nil || !r.Allowed || f.InFallback() {
			t.Fatalf("primary up: %+v, %v", r, err)
		}
		primary.down.Store(true)
		for i := range 3 {
			r, err := f.Hit(ctx, "k", l)
			if err != nil || !r.Allowed || !f.InFallback() {
				t.Fatalf("hit %d in fallback: %+v, %v", i, r, err)
			}
		}
		if r, _ := f.Hit(ctx, "k", l); r.Allowed {
			t.Fatal("the fallback does not limit")
		}
		calls := primary.calls.Load()
		for range 10 {
			_, _ = f.Peek(ctx, "k", l)
		}
		if primary.calls.Load() != calls {
			t.Fatal("the primary was asked again within the cooldown")
		}
		time.Sleep(time.Second)
		if _, _ = f.Hit(ctx, "k", l); primary.calls.Load() != calls+1 || !f.InFallback() {
			t.Fatal("the primary was not tried again after the cooldown")
		}
		primary.down.Store(false)
		time.Sleep(time.Second)
		if r, err := f.Hit(ctx, "k", l); err != nil || !r.Allowed || f.InFallback() {
			t.Fatalf("primary back: %+v, %v, fallback %v", r, err, f.InFallback())
		}
		if primary.n["k"] != 2 {
			t.Fatalf("primary counted %d hits, want 2", primary.n["k"])
		}
	})
}

// A cancelled caller gets its cancellation, not a decision of the
// fallback; errors other than unavailability pass through.
func TestFallbackDoesNotDecideForACancelledCaller(t *testing.T) {
	primary, local := newCounter(), newCounter()
	f, _ := ratelimit.NewFallback(primary, local, ratelimit.FallbackConfig{}, nil, noop.NewMeterProvider())
	primary.down.Store(true)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := f.Hit(ctx, "k", ratelimit.Limit{Max: 1, Window: time.Minute}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled hit = %v", err)
	}
	if local.calls.Load() != 0 || f.InFallback() {
		t.Fatal("a cancelled hit reached the fallback")
	}
}
