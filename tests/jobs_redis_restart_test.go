package tests

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

// readyChecks returns the status code and the checks of url's /health/ready.
func readyChecks(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url + "/health/ready")
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]any `json:"checks"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body.Checks
}

// TestWorkerSurvivesARedisRestartedEmpty is issue 11's item 2: the
// `tradesense worker` program against a Redis of its own that is killed
// and started again empty. While Redis is down the worker's readiness is
// 503; after the restart it is 200 again and the jobs enqueued then are
// run, by the same worker process.
func TestWorkerSurvivesARedisRestartedEmpty(t *testing.T) {
	srv := testenv.StartRedis(t)
	env := harness.Env(t)
	env["REDIS_URL"] = srv.URL()
	env["WORKER_HTTP_ADDR"] = "127.0.0.1:0"
	env["HEALTH_CHECK_TIMEOUT"] = "300ms"
	env["JOBS_HEARTBEAT_INTERVAL"] = "200ms"
	env["JOBS_HEARTBEAT_TTL"] = "1s"
	worker := harness.Start(t, env, "worker", "--queues", "maintenance")

	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	backend := redisstore.NewJobsOn(rdb, "tradesense:")
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: "tradesense:jobs:stream:"}, backend.Alive, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	reg := jobs.NewRegistry()
	jobs.RegisterMaintenance(reg, backend)
	client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
	ctx := context.Background()
	runJob := func(when string) {
		t.Helper()
		var id string
		deadline := time.Now().Add(20 * time.Second)
		for {
			var err error
			if id, err = client.Enqueue(ctx, jobs.KindPurgeJobs, nil); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: enqueue: %v", when, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		for {
			j, err := backend.Get(ctx, id)
			if err == nil && j.State == jobs.StateSucceeded {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: job %s not run: %+v, %v\nworker logs:\n%s", when, id, j, err, worker.Logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	runJob("before the restart")

	srv.Kill()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, checks := readyChecks(t, worker.URL)
		if status == http.StatusServiceUnavailable {
			if _, ok := checks["jobs_worker"]; !ok {
				t.Fatalf("readiness 503 without a jobs_worker check: %v", checks)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker readiness stayed %d while Redis was down: %v", status, checks)
		}
		time.Sleep(50 * time.Millisecond)
	}

	srv.Start() // empty: no job records, no streams, no consumer groups
	for i := range 3 {
		runJob("after the restart, job " + string(rune('1'+i)))
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		status, checks := readyChecks(t, worker.URL)
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker readiness stayed %d after Redis came back: %v", status, checks)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestJobsSurviveACrashOfARedisWithAOF tests what docs/deploy.md promises
// of the production Redis (appendonly yes, appendfsync everysec): job
// records and their messages written more than a second before Redis
// crashes (SIGKILL) are there when it comes back, and a worker started
// then runs every one of them.
func TestJobsSurviveACrashOfARedisWithAOF(t *testing.T) {
	srv := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "everysec", "--dir", t.TempDir())
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	backend := redisstore.NewJobsOn(rdb, "tradesense:")
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: "tradesense:jobs:stream:"}, backend.Alive, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	reg := jobs.NewRegistry()
	jobs.RegisterMaintenance(reg, backend)
	client := jobs.NewClient(jobs.Config{}, reg, backend, broker, nil, log, nil)
	ctx := context.Background()
	const n = 20
	ids := make([]string, n)
	for i := range ids {
		if ids[i], err = client.Enqueue(ctx, jobs.KindPurgeJobs, nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(1500 * time.Millisecond) // appendfsync everysec: on disk within a second
	// ... on a host that keeps up: a Redis whose last fsync is still
	// running postpones its AOF write (up to 2 s), and a slow or busy
	// disk stretches that. Crash it once it reports nothing left to write
	// or fsync, however long that takes, not at a fixed instant.
	waitAOFFlushed(t, rdb)
	srv.Kill()
	srv.Start()

	env := harness.Env(t)
	env["REDIS_URL"] = srv.URL()
	env["WORKER_HTTP_ADDR"] = "127.0.0.1:0"
	harness.Start(t, env, "worker", "--queues", "maintenance")
	deadline := time.Now().Add(20 * time.Second)
	for _, id := range ids {
		for {
			j, err := backend.Get(ctx, id)
			if err == nil && j.State == jobs.StateSucceeded {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("job %s after the crash: %+v, %v", id, j, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitAOFFlushed waits, for at most 30 s, until Redis reports its AOF
// buffer written and no fsync pending (INFO persistence).
func waitAOFFlushed(t *testing.T, rdb *redis.Client) {
	t.Helper()
	var info string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		info, err = rdb.Info(context.Background(), "persistence").Result()
		if err == nil && strings.Contains(info, "aof_enabled:1") &&
			strings.Contains(info, "aof_buffer_length:0\r\n") && strings.Contains(info, "aof_pending_bio_fsync:0\r\n") &&
			strings.Contains(info, "aof_last_write_status:ok") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the AOF not flushed within 30s: %v\n%s", err, info)
		}
	}
}
