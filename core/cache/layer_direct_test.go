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
