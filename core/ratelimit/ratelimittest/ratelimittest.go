// Package ratelimittest is the contract suite of ratelimit.Limiter, run
// against the memory adapter always and the Redis adapter when
// TEST_REDIS_URL is set.
//
// Limiters read their time from time.Now (the Redis adapter too: the
// window arithmetic uses the caller's clock), so every case runs inside a
// synctest bubble, where time.Sleep moves windows and blocks at no cost.
// The factory is called inside the bubble.
package ratelimittest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// Factory returns an empty limiter and registers its cleanup.
type Factory func(t *testing.T) ratelimit.Limiter

var keySeq atomic.Int64

func key(name string) string { return fmt.Sprintf("suite:%s:%d", name, keySeq.Add(1)) }

// inBubble runs one case of the suite in a bubble of its own.
func inBubble(t *testing.T, name string, f func(t *testing.T)) {
	t.Helper()
	t.Run(name, func(t *testing.T) { synctest.Test(t, f) })
}

// Run runs the contract.
func Run(t *testing.T, newLimiter Factory) {
	ctx := context.Background()

	inBubble(t, "WindowAllowsMaxThenRefusesUntilItEnds", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 3, Window: time.Minute}
		k := key("window")
		for i := 1; i <= 3; i++ {
			r, err := l.Hit(ctx, k, lim)
			if err != nil || !r.Allowed || r.Count != i || r.Remaining != 3-i {
				t.Fatalf("hit %d = %+v, %v; want allowed, count %d", i, r, err, i)
			}
			time.Sleep(10 * time.Second)
		}
		r, err := l.Hit(ctx, k, lim)
		if err != nil || r.Allowed || r.Count != 3 || r.RetryAfter != 30*time.Second || r.Blocked {
			t.Fatalf("4th hit = %+v, %v; want refused with RetryAfter 30s", r, err)
		}
		time.Sleep(30 * time.Second)
		r, err = l.Hit(ctx, k, lim)
		if err != nil || !r.Allowed || r.Count != 1 {
			t.Fatalf("hit in the next window = %+v, %v; want allowed, count 1", r, err)
		}
	})

	inBubble(t, "PeekCountsNothing", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 2, Window: time.Minute}
		k := key("peek")
		for range 5 {
			r, err := l.Peek(ctx, k, lim)
			if err != nil || !r.Allowed || r.Count != 0 {
				t.Fatalf("Peek on a fresh key = %+v, %v", r, err)
			}
		}
		mustHit(t, l, k, lim, true)
		mustHit(t, l, k, lim, true)
		r, err := l.Peek(ctx, k, lim)
		if err != nil || r.Allowed || r.Count != 2 || r.RetryAfter <= 0 {
			t.Fatalf("Peek on a full window = %+v, %v; want refused", r, err)
		}
	})

	inBubble(t, "BlockStartsAtMaxAndOutlivesTheWindow", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute}
		k := key("lock")
		for i := 1; i <= 4; i++ {
			r := mustHit(t, l, k, lim, true)
			if r.Blocked || r.JustBlocked {
				t.Fatalf("hit %d blocked early: %+v", i, r)
			}
			time.Sleep(2 * time.Minute)
		}
		r := mustHit(t, l, k, lim, true)
		if !r.JustBlocked || !r.Blocked {
			t.Fatalf("5th hit = %+v; want it to start the block", r)
		}
		time.Sleep(14 * time.Minute) // the window has ended, the block has not
		r, err := l.Peek(ctx, k, lim)
		if err != nil || r.Allowed || !r.Blocked || r.RetryAfter != time.Minute {
			t.Fatalf("Peek during the block = %+v, %v; want blocked for 1m more", r, err)
		}
		r = mustHit(t, l, k, lim, false)
		if r.JustBlocked {
			t.Fatalf("a refused hit restarted the block: %+v", r)
		}
		time.Sleep(time.Minute)
		r, err = l.Peek(ctx, k, lim)
		if err != nil || !r.Allowed || r.Count != 0 {
			t.Fatalf("Peek after the block = %+v, %v; want a fresh window", r, err)
		}
	})

	inBubble(t, "Reset", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 1, Window: time.Hour, Block: time.Hour}
		k := key("reset")
		mustHit(t, l, k, lim, true)
		mustHit(t, l, k, lim, false)
		if err := l.Reset(ctx, k); err != nil {
			t.Fatal(err)
		}
		mustHit(t, l, k, lim, true)
		if err := l.Reset(ctx, key("never-used")); err != nil {
			t.Fatalf("Reset of an unknown key = %v", err)
		}
	})

	inBubble(t, "KeysAreIndependent", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 1, Window: time.Hour}
		a, b := key("a"), key("b")
		mustHit(t, l, a, lim, true)
		mustHit(t, l, a, lim, false)
		mustHit(t, l, b, lim, true)
	})

	inBubble(t, "ConcurrentHitsAreAtomic", func(t *testing.T) {
		l := newLimiter(t)
		lim := ratelimit.Limit{Max: 7, Window: time.Hour}
		k := key("race")
		var allowed atomic.Int64
		var wg sync.WaitGroup
		for range 40 {
			wg.Go(func() {
				r, err := l.Hit(ctx, k, lim)
				if err != nil {
					t.Errorf("Hit: %v", err)
					return
				}
				if r.Allowed {
					allowed.Add(1)
				}
			})
		}
		wg.Wait()
		if got := allowed.Load(); got != 7 {
			t.Fatalf("%d of 40 concurrent hits allowed; want exactly 7", got)
		}
	})

	inBubble(t, "InvalidArguments", func(t *testing.T) {
		l := newLimiter(t)
		for _, tc := range []struct {
			key string
			lim ratelimit.Limit
		}{
			{"", ratelimit.Limit{Max: 1, Window: time.Second}},
			{string(make([]byte, ratelimit.MaxKeyLen+1)), ratelimit.Limit{Max: 1, Window: time.Second}},
			{"k", ratelimit.Limit{Max: 0, Window: time.Second}},
			{"k", ratelimit.Limit{Max: 1}},
			{"k", ratelimit.Limit{Max: 1, Window: time.Second, Block: -1}},
		} {
			if _, err := l.Hit(ctx, tc.key, tc.lim); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("Hit(%q, %+v) = %v; want Invalid", tc.key, tc.lim, err)
			}
			if _, err := l.Peek(ctx, tc.key, tc.lim); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("Peek(%q, %+v) = %v; want Invalid", tc.key, tc.lim, err)
			}
		}
	})
}

func mustHit(t *testing.T, l ratelimit.Limiter, k string, lim ratelimit.Limit, wantAllowed bool) ratelimit.Result {
	t.Helper()
	r, err := l.Hit(context.Background(), k, lim)
	if err != nil {
		t.Fatalf("Hit(%s): %v", k, err)
	}
	if r.Allowed != wantAllowed {
		t.Fatalf("Hit(%s) = %+v; want allowed=%v", k, r, wantAllowed)
	}
	return r
}
