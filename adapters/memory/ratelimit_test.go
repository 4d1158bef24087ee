package memory_test

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/ratelimit/ratelimittest"
)

func TestRateLimiterContract(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return memory.NewRateLimiter() })
}

func TestRateLimiterSweepsExpiredKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := memory.NewRateLimiter()
		lim := ratelimit.Limit{Max: 5, Window: time.Minute}
		for i := range 100 {
			if _, err := l.Hit(context.Background(), fmt.Sprint("k", i), lim); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(2 * time.Minute)
		if _, err := l.Hit(context.Background(), "fresh", lim); err != nil {
			t.Fatal(err)
		}
		if n := l.Len(); n != 1 {
			t.Fatalf("%d keys after every window ended; want only the fresh one", n)
		}
	})
}
