package redisstore_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/tests/testenv"
)

type benchUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Admin bool   `json:"admin"`
}

// BenchmarkGetHit compares, in one run, a raw go-redis GET (plain client,
// no hooks, no decoding) with the GetOrLoad hit path through the adapter
// (instrumented client, Layer deadline, metrics, JSON decode). Target: the
// second within 1.5x of the first.
func BenchmarkGetHit(b *testing.B) {
	url := testenv.URL(b, "TEST_REDIS_URL")
	ctx := context.Background()
	prefix := uniquePrefix(b)
	want := benchUser{ID: "0190c6d2-7d4e-7b1a-9c3e-2f1d5a6b7c8d", Email: "ada@example.com"}

	b.Run("raw-go-redis-GET", func(b *testing.B) {
		opts, err := redis.ParseURL(url)
		if err != nil {
			b.Fatal(err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		data, _ := json.Marshal(want)
		key := prefix + "raw:user:1"
		if err := rdb.Set(ctx, key, data, time.Hour).Err(); err != nil {
			b.Fatal(err)
		}
		defer rdb.Del(ctx, key)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := rdb.Get(ctx, key).Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("GetOrLoad-hit", func(b *testing.B) {
		mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
		cfg := redisstore.DefaultConfig()
		cfg.URL, cfg.KeyPrefix = url, prefix
		c, cleanup, err := redisstore.Open(ctx, cfg, slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), mp)
		if err != nil {
			b.Fatal(err)
		}
		defer cleanup()
		backend := redisstore.NewCache(c)
		defer backend.DeletePrefix(ctx, "")
		l, err := cache.NewLayer(backend, cache.DefaultConfig(), nil, mp)
		if err != nil {
			b.Fatal(err)
		}
		load := func(context.Context) (benchUser, error) { return want, nil }
		if _, err := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			u, err := cache.GetOrLoad(ctx, l, "user:1", time.Hour, func(context.Context) (benchUser, error) {
				b.Fatal("loader called on the hit path")
				return benchUser{}, nil
			})
			if err != nil || u != want {
				b.Fatal(u, err)
			}
		}
	})
}
