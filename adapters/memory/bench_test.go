package memory_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/cache"
)

type benchUser struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Admin bool   `json:"admin"`
}

// BenchmarkGetOrLoadHit measures the cache-aside hit path on the memory
// adapter: lookup, metrics, JSON decode. Target: under 1 µs/op.
func BenchmarkGetOrLoadHit(b *testing.B) {
	for _, mc := range []struct {
		name string
		mp   metric.MeterProvider
	}{
		{"sdk-metrics", sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))},
		{"noop-metrics", metricnoop.NewMeterProvider()},
	} {
		b.Run(mc.name, func(b *testing.B) {
			c, cleanup, err := memory.NewCache(memory.DefaultCacheConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer cleanup()
			l, err := cache.NewLayer(c, cache.DefaultConfig(), nil, mc.mp)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			load := func(context.Context) (benchUser, error) {
				return benchUser{ID: "0190c6d2-7d4e-7b1a-9c3e-2f1d5a6b7c8d", Email: "ada@example.com"}, nil
			}
			if _, err := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				u, err := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load)
				if err != nil || u.Email != "ada@example.com" {
					b.Fatal(u, err)
				}
			}
		})
	}
}
