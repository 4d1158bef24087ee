package tests

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/testenv"
)

// benchSystem is the production job system (Redis state store, Redis
// Streams broker) with a worker consuming the default queue in this
// process, and a no-op kind whose handler reports when it starts.
type benchSystem struct {
	client  *jobs.Client
	started chan time.Time
	count   atomic.Int64
	stop    func()
}

func newBenchSystem(b *testing.B, concurrency int) *benchSystem {
	url := testenv.URL(b, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		b.Fatal(err)
	}
	opts.PoolSize = 4 * concurrency
	rdb := redis.NewClient(opts)
	prefix := "bench:" + uuid.NewString()[:8] + ":"
	log := slog.New(slog.DiscardHandler)
	backend := redisstore.NewJobsOn(rdb, prefix)
	id := "bench-worker"
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: prefix + "jobs:stream:", Consumer: id}, backend.Alive, log)
	if err != nil {
		b.Fatal(err)
	}
	s := &benchSystem{started: make(chan time.Time, 1)}
	reg := jobs.NewRegistry()
	reg.Register("default.noop", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) {
		s.count.Add(1)
		select {
		case s.started <- time.Now():
		default:
		}
		return nil, nil
	}})
	cfg := jobs.Config{}
	s.client = jobs.NewClient(cfg, reg, backend, broker, nil, log, nil)
	w, err := jobs.NewWorker(cfg, jobs.WorkerConfig{ID: id, Queues: map[string]int{jobs.QueueDefault: concurrency}}, reg, backend, broker, s.client, nil, nil, log, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = w.Run(ctx); close(done) }()
	s.stop = func() {
		cancel()
		<-done
		// Before cleanup: closing the Watermill publisher closes rdb, and
		// a failed KEYS here is what left ~52,000 keys behind.
		keys, err := rdb.Keys(context.Background(), prefix+"*").Result()
		if err != nil {
			b.Errorf("list the benchmark's keys: %v", err)
		}
		for chunk := range slices.Chunk(keys, 1000) {
			if err := rdb.Del(context.Background(), chunk...).Err(); err != nil {
				b.Errorf("delete the benchmark's keys: %v", err)
			}
		}
		if left, err := rdb.Keys(context.Background(), prefix+"*").Result(); err != nil || len(left) > 0 {
			b.Errorf("the benchmark left %d keys under %s (%v)", len(left), prefix, err)
		}
		cleanup()
		_ = rdb.Close()
	}
	time.Sleep(200 * time.Millisecond) // consumers subscribed
	return s
}

// BenchmarkJobsRedisStreams measures, with one worker on Redis Streams:
// the enqueue rate, the end-to-end rate of 50,000 no-op jobs, and the
// enqueue→start latency of single jobs.
//
//	TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test ./tests -run '^$' -bench JobsRedisStreams -benchtime 1x
func BenchmarkJobsRedisStreams(b *testing.B) {
	ctx := context.Background()
	b.Run("EndToEnd50k", func(b *testing.B) {
		n, producers := 50000, 16
		if v, err := strconv.Atoi(os.Getenv("BENCH_JOBS")); err == nil && v > 0 {
			n = v // quicker runs while profiling
		}
		for range b.N {
			s := newBenchSystem(b, 64)
			start := time.Now()
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					for i := p; i < n; i += producers {
						if _, err := s.client.Enqueue(ctx, "default.noop", nil); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			enqueued := time.Since(start)
			for s.count.Load() < int64(n) {
				time.Sleep(time.Millisecond)
			}
			total := time.Since(start)
			s.stop()
			b.ReportMetric(float64(n)/enqueued.Seconds(), "enqueued/s")
			b.ReportMetric(float64(n)/total.Seconds(), "jobs/s")
		}
	})
	b.Run("Latency", func(b *testing.B) {
		s := newBenchSystem(b, 8)
		defer s.stop()
		const samples = 2000
		lat := make([]time.Duration, 0, samples)
		for range samples {
			t0 := time.Now()
			if _, err := s.client.Enqueue(ctx, "default.noop", nil); err != nil {
				b.Fatal(err)
			}
			t1 := <-s.started
			lat = append(lat, t1.Sub(t0))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
}
