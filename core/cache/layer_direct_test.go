package cache_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

// TestLayerRefusesBadKeysBeforeTheBackend: a bad key, prefix or TTL is
// Invalid from every direct call, and the backend is never asked.
func TestLayerRefusesBadKeysBeforeTheBackend(t *testing.T) {
	backend := &brokenCache{}
	f := newFixture(t, backend, cache.Config{Cooldown: -1, WarnInterval: time.Minute})
	ctx := context.Background()
	bad := strings.Repeat("k", cache.MaxKeyLen+1)
	if _, _, err := f.layer.Get(ctx, ""); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Get(\"\") = %v; want Invalid", err)
	}
	if err := f.layer.Set(ctx, bad, []byte("v"), time.Minute); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Set(long key) = %v; want Invalid", err)
	}
	if err := f.layer.Set(ctx, "user:1", []byte("v"), -time.Second); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Set(negative TTL) = %v; want Invalid", err)
	}
	if err := f.layer.Delete(ctx, "user:1", ""); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Delete(a good and an empty key) = %v; want Invalid", err)
	}
	if _, err := f.layer.Exists(ctx, ""); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("Exists(\"\") = %v; want Invalid", err)
	}
	if _, err := f.layer.DeletePrefix(ctx, bad); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("DeletePrefix(long prefix) = %v; want Invalid", err)
	}
	if err := f.layer.Delete(ctx); err != nil {
		t.Errorf("Delete() of no keys = %v", err)
	}
	if n := backend.calls.Load(); n != 0 {
		t.Fatalf("the backend was called %d times for refused input", n)
	}
}

// TestLayerDirectCallsReportADeadBackend: Set, Exists and DeletePrefix
// (unlike GetOrLoad, which serves from the source) return the backend's
// failure as Unavailable, and count it.
func TestLayerDirectCallsReportADeadBackend(t *testing.T) {
	f := newFixture(t, &brokenCache{}, cache.Config{Cooldown: -1, WarnInterval: time.Minute})
	ctx := context.Background()
	if err := f.layer.Set(ctx, "user:1", []byte("v"), time.Minute); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("Set = %v; want Unavailable", err)
	}
	if ok, err := f.layer.Exists(ctx, "user:1"); ok || !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != cache.CodeUnavailable {
		t.Errorf("Exists = %v, %v; want false, Unavailable %s", ok, err, cache.CodeUnavailable)
	}
	if _, err := f.layer.DeletePrefix(ctx, "user:"); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("DeletePrefix = %v; want Unavailable", err)
	}
	for op, want := range map[string]int64{"set": 1, "exists": 1, "delete_prefix": 1} {
		if n := f.counter(t, "cache.errors", map[string]string{"cache.operation": op}); n != want {
			t.Errorf("cache.errors{%s} = %d; want %d", op, n, want)
		}
	}
}

func TestLayerExistsOnAHealthyBackend(t *testing.T) {
	f := newFixture(t, newMapCache(), cache.Config{})
	ctx := context.Background()
	if ok, err := f.layer.Exists(ctx, "user:1"); ok || err != nil {
		t.Fatalf("Exists before Set = %v, %v", ok, err)
	}
	if err := f.layer.Set(ctx, "user:1", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if ok, err := f.layer.Exists(ctx, "user:1"); !ok || err != nil {
		t.Fatalf("Exists after Set = %v, %v", ok, err)
	}
}

// entryMapCache is a mapCache that hands out its entries (EntryCache),
// as the memory adapter does.
type entryMapCache struct{ *mapCache }

func (c entryMapCache) GetEntry(k string) (cache.Entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return cache.Entry{Data: v, Value: new(cache.ValueSlot)}, ok
}

// TestGetSharedHandsOutTheEntry: over an EntryCache backend GetShared
// returns the entry's own bytes (no copy, no Get), counting hits and
// misses; over any other backend it is Get; a bad key is Invalid.
func TestGetSharedHandsOutTheEntry(t *testing.T) {
	ctx := context.Background()
	ec := entryMapCache{newMapCache()}
	f := newFixture(t, ec, cache.Config{})
	if err := f.layer.Set(ctx, "enc:1", []byte("body"), time.Minute); err != nil {
		t.Fatal(err)
	}
	a, found, err := f.layer.GetShared(ctx, "enc:1")
	b, _, _ := f.layer.GetShared(ctx, "enc:1")
	if err != nil || !found || string(a) != "body" || &a[0] != &b[0] || ec.gets.Load() != 0 {
		t.Fatalf("GetShared = %q, %v, %v (same bytes %v, %d Gets); want the entry's bytes", a, found, err, len(b) > 0 && &a[0] == &b[0], ec.gets.Load())
	}
	if _, found, err := f.layer.GetShared(ctx, "enc:2"); found || err != nil {
		t.Fatalf("GetShared(absent) = %v, %v", found, err)
	}
	if _, _, err := f.layer.GetShared(ctx, ""); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("GetShared(\"\") = %v; want Invalid", err)
	}
	if h, m := f.counter(t, "cache.hits", map[string]string{"cache.key_prefix": "enc"}), f.counter(t, "cache.misses", map[string]string{"cache.key_prefix": "enc"}); h != 2 || m != 1 {
		t.Errorf("hits %d, misses %d; want 2, 1", h, m)
	}

	plain := newMapCache()
	g := newFixture(t, plain, cache.Config{})
	_ = g.layer.Set(ctx, "enc:1", []byte("body"), time.Minute)
	if v, found, err := g.layer.GetShared(ctx, "enc:1"); err != nil || !found || string(v) != "body" || plain.gets.Load() != 1 {
		t.Fatalf("GetShared over a plain backend = %q, %v, %v after %d Gets", v, found, err, plain.gets.Load())
	}
}
