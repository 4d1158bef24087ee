// Command jobsworker is a test helper: a job worker on the real Redis
// adapters (state store and Redis Streams broker) with one probe kind,
// default.probe, whose side effect is recorded exactly once per job under a
// done-marker. The crash tests start it as a separate process and kill it.
//
// Environment: REDIS_URL, PREFIX (key prefix), WORKER_ID, PROBE_SLEEP
// (handler duration), CONCURRENCY.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// effectScript records the probe's side effect once per job: the marker
// and the effect are one atomic step.
var effectScript = redis.NewScript(`
if redis.call("SET", KEYS[1], "1", "NX") then
  redis.call("RPUSH", KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// Setup returns the job system the helper and the tests share.
func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts, err := redis.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		return err
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	prefix := os.Getenv("PREFIX")
	sleep, _ := time.ParseDuration(os.Getenv("PROBE_SLEEP"))
	conc, _ := strconv.Atoi(os.Getenv("CONCURRENCY"))
	if conc < 1 {
		conc = 4
	}
	id := os.Getenv("WORKER_ID")
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	backend := redisstore.NewJobsOn(rdb, prefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, Streams(prefix, id), backend.Alive, log)
	if err != nil {
		return err
	}
	defer cleanup()
	reg := jobs.NewRegistry()
	reg.Register("default.probe", jobs.KindConfig{Handler: func(ctx context.Context, j *jobs.Job) (any, error) {
		select {
		case <-time.After(sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if err := effectScript.Run(ctx, rdb, []string{prefix + "probe:done:" + j.ID, prefix + "probe:effects"}, j.ID).Err(); err != nil {
			return nil, err
		}
		return nil, nil
	}})
	cfg := Config()
	client := jobs.NewClient(cfg, reg, backend, broker, nil, log, nil)
	w, err := jobs.NewWorker(cfg, jobs.WorkerConfig{
		ID: id, Queues: map[string]int{jobs.QueueDefault: conc}, ShutdownTimeout: 5 * time.Second,
		HeartbeatInterval: 100 * time.Millisecond, HeartbeatTTL: 600 * time.Millisecond, PollInterval: 100 * time.Millisecond,
	}, reg, backend, broker, client, nil, nil, log, nil)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stdout, "ready")
	return w.Run(ctx)
}

// Streams is the broker configuration of the crash tests: dead workers'
// messages are claimed within about a second.
func Streams(prefix, consumer string) watermill.RedisConfig {
	return watermill.RedisConfig{StreamPrefix: prefix + "jobs:stream:", Consumer: consumer,
		ClaimInterval: 200 * time.Millisecond, MaxIdleTime: 300 * time.Millisecond, NackDelay: 100 * time.Millisecond}
}

// Config is the job configuration of the crash tests.
func Config() jobs.Config {
	return jobs.Config{MaxRetries: 5, Backoff: jobs.LinearBackoff(100 * time.Millisecond), Jitter: jobs.NoJitter}
}
