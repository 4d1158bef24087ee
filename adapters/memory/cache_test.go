package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/cache/cachetest"
)

func newCache(t *testing.T, cfg memory.CacheConfig) *memory.Cache {
	t.Helper()
	c, cleanup, err := memory.NewCache(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return c
}

// TestCacheContract runs the contract in synctest bubbles: otter's own
// clock and expiry goroutine then run on the bubble's time.
func TestCacheContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Harness {
		return cachetest.Harness{Cache: newCache(t, memory.DefaultCacheConfig())}
	})
}

// TestCacheIsBounded fills the cache far past its budget: the weighted size
// must stay within it, and recent entries must survive.
func TestCacheIsBounded(t *testing.T) {
	const budget = 64 << 10
	c := newCache(t, memory.CacheConfig{MaxBytes: budget})
	ctx := context.Background()
	value := make([]byte, 1000)
	for i := range 2000 { // about 2 MB written into 64 KiB
		if err := c.Set(ctx, fmt.Sprintf("fill:%d", i), value, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	c.CleanUp()
	live := 0
	for i := range 2000 {
		if ok, _ := c.Exists(ctx, fmt.Sprintf("fill:%d", i)); ok {
			live++
		}
	}
	if maxLive := budget / 1000; live > maxLive || live == 0 {
		t.Fatalf("%d entries of 1000 bytes live in a %d-byte cache; want between 1 and %d", live, budget, maxLive)
	}
}
