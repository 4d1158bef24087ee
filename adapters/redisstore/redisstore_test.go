package redisstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/cache/cachetest"
	"github.com/tradesense/tradesense/core/health"
	"github.com/tradesense/tradesense/tests/testenv"
)

func uniquePrefix(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:" + hex.EncodeToString(b) + ":"
}

// openTest connects to TEST_REDIS_URL under a key prefix of its own, and
// removes the test's keys afterwards.
func openTest(t testing.TB) *redisstore.Client {
	t.Helper()
	url := testenv.URL(t, "TEST_REDIS_URL")
	cfg := redisstore.DefaultConfig()
	cfg.URL = url
	cfg.KeyPrefix = uniquePrefix(t)
	cfg.Required = true
	cfg.ConnectTimeout = 3 * time.Second
	// More connections than any suite has concurrent calls: contract cases
	// run in synctest bubbles, and go-redis keeps the timer of a wait for a
	// busy pool in a package-level sync.Pool, so a wait in one bubble would
	// hand the next bubble a timer it may not touch. A free connection
	// never waits.
	cfg.PoolSize = 64
	c, cleanup, err := redisstore.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	t.Cleanup(func() {
		if _, err := redisstore.NewCache(c).DeletePrefix(context.Background(), ""); err != nil {
			t.Errorf("clean up test keys: %v", err)
		}
		cleanup()
	})
	return c
}

func TestCacheContract(t *testing.T) {
	cachetest.RunRealTime(t, func(t *testing.T) cachetest.Harness {
		return cachetest.Harness{Cache: redisstore.NewCache(openTest(t))}
	})
}

func TestCacheKeysAreNamespaced(t *testing.T) {
	c := openTest(t)
	ctx := context.Background()
	if err := redisstore.NewCache(c).Set(ctx, "user:1", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	raw := c.Redis()
	if got, err := raw.Get(ctx, c.KeyPrefix()+"cache:user:1").Result(); err != nil || got != "v" {
		t.Fatalf("raw GET of the namespaced key = %q, %v", got, err)
	}
	// Another process's keys under the same prefix but outside the cache
	// namespace survive DeletePrefix("").
	if err := raw.Set(ctx, c.KeyPrefix()+"ratelimit:x", "1", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Del(context.Background(), c.KeyPrefix()+"ratelimit:x") })
	if _, err := redisstore.NewCache(c).DeletePrefix(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if n, _ := raw.Exists(ctx, c.KeyPrefix()+"ratelimit:x").Result(); n != 1 {
		t.Fatal("DeletePrefix(\"\") removed a key outside the cache namespace")
	}
}

func TestHealthUp(t *testing.T) {
	c := openTest(t)
	reg := c.Health()
	if reg.Name != "redis" || !reg.Required {
		t.Fatalf("registration = %q required=%v; want redis, required (as configured)", reg.Name, reg.Required)
	}
	details, err := reg.Check.Check(context.Background())
	if err != nil {
		t.Fatalf("check on a live server: %v", err)
	}
	if _, ok := details["total_conns"]; !ok {
		t.Fatalf("details lack pool statistics: %v", details)
	}
}

const deadURL = "redis://:sup3r-s3cret@127.0.0.1:1/0" // nothing listens on port 1

func openDead(t *testing.T, required bool) (*redisstore.Client, error) {
	t.Helper()
	cfg := redisstore.DefaultConfig()
	cfg.URL = deadURL
	cfg.Required = required
	cfg.ConnectTimeout = 300 * time.Millisecond
	c, cleanup, err := redisstore.Open(context.Background(), cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err == nil {
		t.Cleanup(cleanup)
	}
	return c, err
}

// TestRedisDownFailsOpen is the fault test of the issue: with Redis at a
// closed port, GetOrLoad still serves the loader's values, and readiness
// reports the check down: degraded (still ready) when the cache is optional,
// not ready when it is required.
func TestRedisDownFailsOpen(t *testing.T) {
	c, err := openDead(t, false)
	if err != nil {
		t.Fatalf("Open with CACHE_REQUIRED=false must survive a dead Redis: %v", err)
	}
	layer, err := cache.NewLayer(redisstore.NewCache(c), cache.DefaultConfig(), slog.New(slog.DiscardHandler), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 3 {
		start := time.Now()
		got, err := cache.GetOrLoad(ctx, layer, "user:1", time.Minute, func(context.Context) (string, error) { return "from-db", nil })
		if err != nil || got != "from-db" {
			t.Fatalf("call %d: GetOrLoad = %q, %v; want the loader's value", i, got, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("call %d took %s with the cache down; the timeout does not bound it", i, d)
		}
	}
	if _, _, err := layer.Get(ctx, "user:1"); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("direct Get on a dead Redis = %v; want Unavailable", err)
	}

	reg := health.NewRegistry(2 * time.Second)
	reg.Register(c.Health())
	rep := reg.Run(ctx)
	if rep.Status != health.StatusDegraded || !rep.Ready {
		t.Fatalf("optional dead Redis: report %s ready=%v; want degraded and ready", rep.Status, rep.Ready)
	}
	if len(rep.Checks) != 1 || rep.Checks[0].Name != "redis" || rep.Checks[0].Status != health.StatusDown {
		t.Fatalf("checks = %+v; want redis down", rep.Checks)
	}
	if msg := rep.Checks[0].Error; !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "sup3r-s3cret") {
		t.Fatalf("check error %q must name the host and never the password", msg)
	}
}

func TestRedisDownRequired(t *testing.T) {
	_, err := openDead(t, true)
	if err == nil {
		t.Fatal("Open with CACHE_REQUIRED=true succeeded against a dead Redis")
	}
	if msg := err.Error(); !strings.Contains(msg, "127.0.0.1:1") || strings.Contains(msg, "sup3r-s3cret") {
		t.Fatalf("error %q must name the host and never the password", msg)
	}
}

func TestOpenRejectsBadURL(t *testing.T) {
	for _, raw := range []string{"", "http://:pw-secret-1@host:6379", "redis://:pw-secret-1@host:6379/notanumber", "redis://:pw-secret-1@host:port/0"} {
		cfg := redisstore.DefaultConfig()
		cfg.URL = raw
		_, _, err := redisstore.Open(context.Background(), cfg, nil, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
		if err == nil {
			t.Errorf("Open(%q) succeeded", raw)
			continue
		}
		if strings.Contains(err.Error(), "pw-secret-1") {
			t.Errorf("Open(%q) error leaks the password: %v", raw, err)
		}
	}
}
