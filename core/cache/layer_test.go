package cache_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

// mapCache is a minimal healthy backend.
type mapCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	ttls map[string]time.Duration
	gets atomic.Int32
}

func newMapCache() *mapCache {
	return &mapCache{m: map[string][]byte{}, ttls: map[string]time.Duration{}}
}

func (c *mapCache) Get(_ context.Context, k string) ([]byte, bool, error) {
	c.gets.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return bytes.Clone(v), ok, nil
}

func (c *mapCache) Set(_ context.Context, k string, v []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k], c.ttls[k] = bytes.Clone(v), ttl
	return nil
}

func (c *mapCache) Delete(_ context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, k := range keys {
		delete(c.m, k)
	}
	return nil
}

func (c *mapCache) Exists(_ context.Context, k string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok, nil
}

func (c *mapCache) DeletePrefix(_ context.Context, p string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k := range c.m {
		if strings.HasPrefix(k, p) {
			delete(c.m, k)
			n++
		}
	}
	return n, nil
}

// brokenCache fails every call, either at once (down) or by blocking until
// the deadline (slow). calls counts the calls that reached it.
type brokenCache struct {
	slow  bool
	calls atomic.Int32
}

func (b *brokenCache) fail(ctx context.Context) error {
	b.calls.Add(1)
	if b.slow {
		<-ctx.Done()
		return cache.Unavailable(ctx.Err())
	}
	return errors.New("dial tcp 127.0.0.1:1: connect: connection refused") // not an apperr: the Layer must normalise it
}

func (b *brokenCache) Get(ctx context.Context, _ string) ([]byte, bool, error) {
	return nil, false, b.fail(ctx)
}
func (b *brokenCache) Set(ctx context.Context, _ string, _ []byte, _ time.Duration) error {
	return b.fail(ctx)
}
func (b *brokenCache) Delete(ctx context.Context, _ ...string) error { return b.fail(ctx) }
func (b *brokenCache) Exists(ctx context.Context, _ string) (bool, error) {
	return false, b.fail(ctx)
}
func (b *brokenCache) DeletePrefix(ctx context.Context, _ string) (int, error) {
	return 0, b.fail(ctx)
}

type fixture struct {
	layer  *cache.Layer
	reader *sdkmetric.ManualReader
	logs   *bytes.Buffer
}

func newFixture(t *testing.T, backend cache.Cache, cfg cache.Config) fixture {
	t.Helper()
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	logs := &bytes.Buffer{}
	l, err := cache.NewLayer(backend, cfg, slog.New(slog.NewTextHandler(&lockedWriter{w: logs}, nil)), mp)
	if err != nil {
		t.Fatal(err)
	}
	return fixture{layer: l, reader: reader, logs: logs}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// counter returns the sum of a counter's points whose attributes include
// want (key=value pairs).
func (f fixture) counter(t *testing.T, name string, want map[string]string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				t.Fatalf("%s is %T; want a counter", name, m.Data)
			}
		points:
			for _, dp := range sum.DataPoints {
				for k, v := range want {
					if got, ok := dp.Attributes.Value(attribute.Key(k)); !ok || got.AsString() != v {
						continue points
					}
				}
				total += dp.Value
			}
		}
	}
	return total
}

func TestFailOpenWhenBackendDown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		backend := &brokenCache{}
		f := newFixture(t, backend, cache.Config{Cooldown: -1, WarnInterval: time.Minute})
		ctx := context.Background()
		for i := range 5 {
			got, err := cache.GetOrLoad(ctx, f.layer, "user:1", time.Minute, func(context.Context) (string, error) { return "from-db", nil })
			if err != nil || got != "from-db" {
				t.Fatalf("call %d: GetOrLoad = %q, %v; want the loader's value", i, got, err)
			}
		}
		if n := f.counter(t, "cache.fail_open", map[string]string{"cache.key_prefix": "user"}); n != 5 {
			t.Fatalf("cache.fail_open = %d; want 5 (the failed get; the set is then skipped)", n)
		}
		if n := f.counter(t, "cache.errors", map[string]string{"cache.operation": "get"}); n != 5 {
			t.Fatalf("cache.errors{get} = %d; want 5", n)
		}
		if n := strings.Count(f.logs.String(), "serving from the source"); n != 1 {
			t.Fatalf("%d fail-open warnings within one interval; want 1:\n%s", n, f.logs)
		}
		time.Sleep(time.Minute)
		_, _ = cache.GetOrLoad(ctx, f.layer, "user:1", time.Minute, func(context.Context) (string, error) { return "x", nil })
		if out := f.logs.String(); strings.Count(out, "serving from the source") != 2 || !strings.Contains(out, "suppressed_warnings=4") {
			t.Fatalf("after the interval want a second warning counting 4 suppressed ones:\n%s", out)
		}
		// Direct calls report the failure instead of hiding it.
		if _, _, err := f.layer.Get(ctx, "user:1"); !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != cache.CodeUnavailable {
			t.Fatalf("Layer.Get on a dead backend = %v; want Unavailable %s", err, cache.CodeUnavailable)
		}
		if err := f.layer.Delete(ctx, "user:1"); !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("Layer.Delete on a dead backend = %v; want Unavailable", err)
		}
	})
}

func TestFailOpenWhenBackendSlow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		backend := &brokenCache{slow: true}
		f := newFixture(t, backend, cache.Config{Timeout: 30 * time.Millisecond, Cooldown: -1})
		start := time.Now()
		got, err := cache.GetOrLoad(context.Background(), f.layer, "user:1", time.Minute, func(context.Context) (int, error) { return 7, nil })
		elapsed := time.Since(start)
		if err != nil || got != 7 {
			t.Fatalf("GetOrLoad = %d, %v; want 7", got, err)
		}
		// One get, bounded by the timeout (the bubble's clock: exact).
		if elapsed != 30*time.Millisecond {
			t.Fatalf("GetOrLoad over a hanging cache took %s; want the 30ms timeout", elapsed)
		}
		if n := backend.calls.Load(); n != 1 {
			t.Fatalf("backend reached %d times; want 1 (the get; a failed cache is not written)", n)
		}
	})
}

func TestCooldownBypassesDeadBackend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		backend := &brokenCache{}
		f := newFixture(t, backend, cache.Config{Cooldown: time.Second})
		ctx := context.Background()
		load := func(context.Context) (int, error) { return 1, nil }
		for range 10 {
			if v, err := cache.GetOrLoad(ctx, f.layer, "n:1", time.Minute, load); err != nil || v != 1 {
				t.Fatalf("GetOrLoad = %d, %v", v, err)
			}
		}
		if n := backend.calls.Load(); n != 1 {
			t.Fatalf("backend reached %d times during the cooldown; want 1 (the failure that opened it)", n)
		}
		if n := f.counter(t, "cache.fail_open", nil); n != 10 {
			t.Fatalf("cache.fail_open = %d; want 10", n)
		}
		time.Sleep(1100 * time.Millisecond)
		_, _ = cache.GetOrLoad(ctx, f.layer, "n:1", time.Minute, load)
		if n := backend.calls.Load(); n != 2 {
			t.Fatalf("backend reached %d times after the cooldown; want it retried (2)", n)
		}
	})
}

func TestHitMissMetricsByPrefix(t *testing.T) {
	f := newFixture(t, newMapCache(), cache.Config{})
	ctx := context.Background()
	load := func(context.Context) (int, error) { return 1, nil }
	for range 3 {
		_, _ = cache.GetOrLoad(ctx, f.layer, "user:1", time.Minute, load)
	}
	_, _ = cache.GetOrLoad(ctx, f.layer, "report:1", time.Minute, load)
	_, _ = cache.GetOrLoad(ctx, f.layer, "nocolon", time.Minute, load)
	for _, tc := range []struct {
		name, prefix string
		want         int64
	}{
		{"cache.hits", "user", 2},
		{"cache.misses", "user", 1},
		{"cache.misses", "report", 1},
		{"cache.misses", "other", 1},
		{"cache.hits", "report", 0},
	} {
		if got := f.counter(t, tc.name, map[string]string{"cache.key_prefix": tc.prefix}); got != tc.want {
			t.Errorf("%s{prefix=%s} = %d; want %d", tc.name, tc.prefix, got, tc.want)
		}
	}
}

func TestJitterSpreadsTTL(t *testing.T) {
	backend := newMapCache()
	f := newFixture(t, backend, cache.Config{})
	ctx := context.Background()
	const ttl = 100 * time.Second
	lo, hi := ttl, ttl
	for i := range 500 {
		key := "j:" + strings.Repeat("x", i%50) + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if err := f.layer.Set(ctx, key, []byte("1"), ttl); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range backend.ttls {
		if d < ttl*9/10 || d > ttl*11/10 {
			t.Fatalf("jittered TTL %s outside ±10%% of %s", d, ttl)
		}
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo > ttl*96/100 || hi < ttl*104/100 {
		t.Fatalf("500 TTLs span only [%s, %s]: jitter is not applied", lo, hi)
	}

	noJitter := newMapCache()
	g := newFixture(t, noJitter, cache.Config{Jitter: cache.NoJitter})
	if err := g.layer.Set(ctx, "j:1", []byte("1"), ttl); err != nil {
		t.Fatal(err)
	}
	if d := noJitter.ttls["j:1"]; d != ttl {
		t.Fatalf("TTL with NoJitter = %s; want %s", d, ttl)
	}
}

func TestNewLayerRejectsBadConfig(t *testing.T) {
	for _, cfg := range []cache.Config{{Jitter: 0.6}, {Jitter: -0.2}, {Timeout: -time.Second}} {
		if _, err := cache.NewLayer(newMapCache(), cfg, nil, sdkmetric.NewMeterProvider()); err == nil {
			t.Errorf("NewLayer(%+v) accepted a bad config", cfg)
		}
	}
	if _, err := cache.NewLayer(nil, cache.Config{}, nil, sdkmetric.NewMeterProvider()); err == nil {
		t.Error("NewLayer(nil backend) succeeded")
	}
}

func TestValidateKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		ok  bool
	}{
		{"user:1", true},
		{"ünï:cødé", true},
		{strings.Repeat("k", cache.MaxKeyLen), true},
		{"", false},
		{strings.Repeat("k", cache.MaxKeyLen+1), false},
		{"a\x00b", false},
		{"a\x7fb", false},
		{"\xc3\x28", false},
	} {
		err := cache.ValidateKey(tc.key)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateKey(%q) = %v; want ok=%v", tc.key, err, tc.ok)
		}
		if err != nil && (!apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != cache.CodeKeyInvalid) {
			t.Errorf("ValidateKey(%q) error = %v; want Invalid %s", tc.key, err, cache.CodeKeyInvalid)
		}
	}
}

func TestPrefix(t *testing.T) {
	for key, want := range map[string]string{"user:1": "user", "a:b:c": "a", "plain": "other", ":x": "other"} {
		if got := cache.Prefix(key); got != want {
			t.Errorf("Prefix(%q) = %q; want %q", key, got, want)
		}
	}
}
