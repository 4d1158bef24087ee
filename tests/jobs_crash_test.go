package tests

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/testenv"
)

// crashEnv is a Redis key space of its own, the helper worker binary, and
// an in-process client that enqueues default.probe jobs.
type crashEnv struct {
	t       *testing.T
	rdb     *redis.Client
	url     string
	prefix  string
	bin     string
	backend *redisstore.Jobs
	client  *jobs.Client
}

func newCrashEnv(t *testing.T) *crashEnv {
	url := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	e := &crashEnv{t: t, rdb: rdb, url: url, prefix: "test:" + uuid.NewString()[:8] + ":"}
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, e.prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	e.bin = buildProgram(t, "./jobsworker")
	log := slog.New(slog.DiscardHandler)
	e.backend = redisstore.NewJobsOn(rdb, e.prefix)
	broker, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{StreamPrefix: e.prefix + "jobs:stream:"}, e.backend.Alive, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	reg := jobs.NewRegistry()
	reg.Register("default.probe", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { return nil, nil }})
	e.client = jobs.NewClient(jobs.Config{MaxRetries: 5}, reg, e.backend, broker, nil, log, nil)
	return e
}

// start runs the helper worker as a separate process.
func (e *crashEnv) start(id string, sleep time.Duration, concurrency int) *exec.Cmd {
	return startWorker(e.t, e.bin, []string{"REDIS_URL=" + e.url, "PREFIX=" + e.prefix,
		"PROBE_SLEEP=" + sleep.String(), fmt.Sprintf("CONCURRENCY=%d", concurrency)}, id, 20*time.Second, nil)
}

// buildProgram compiles the Go package pkg (a path relative to tests/)
// into a temporary binary and returns the binary's path.
func buildProgram(t *testing.T, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// startWorker runs bin as worker id, with env added to the test's
// environment, and waits up to timeout for it to print "ready"; every
// other line it prints goes to onLine, when not nil. At cleanup the
// process is SIGKILLed and, if the test failed, its stderr logged.
func startWorker(t *testing.T, bin string, env []string, id string, timeout time.Duration, onLine func(line string)) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(append(os.Environ(), env...), "WORKER_ID="+id)
	stdout, _ := cmd.StdoutPipe()
	stderr := &strings.Builder{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("worker %s stderr:\n%s", id, stderr.String())
		}
	})
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			switch line := strings.TrimSpace(sc.Text()); {
			case line == "ready":
				close(ready)
			case onLine != nil:
				onLine(line)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(timeout):
		t.Fatalf("worker %s did not start: %s", id, stderr.String())
	}
	return cmd
}

func kill(t *testing.T, cmd *exec.Cmd) {
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

func (e *crashEnv) effects() (total, distinct int) {
	ids, err := e.rdb.LRange(context.Background(), e.prefix+"probe:effects", 0, -1).Result()
	if err != nil {
		e.t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	return len(ids), len(seen)
}

func (e *crashEnv) waitFor(what string, timeout time.Duration, cond func() bool) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			e.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestKilledWorkerJobIsRedelivered: a worker SIGKILLed mid-job; another
// worker takes the job over and completes it, once.
func TestKilledWorkerJobIsRedelivered(t *testing.T) {
	e := newCrashEnv(t)
	ctx := context.Background()
	a := e.start("worker-a", 3*time.Second, 2)
	id, err := e.client.Enqueue(ctx, "default.probe", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.waitFor("the job to start on worker-a", 10*time.Second, func() bool {
		j, err := e.backend.Get(ctx, id)
		return err == nil && j.State == jobs.StateStarted && j.Worker == "worker-a"
	})
	kill(t, a)
	e.start("worker-b", 100*time.Millisecond, 2)
	e.waitFor("the job to succeed on worker-b", 20*time.Second, func() bool {
		j, err := e.backend.Get(ctx, id)
		return err == nil && j.State == jobs.StateSucceeded
	})
	j, _ := e.backend.Get(ctx, id)
	if j.Worker != "worker-b" || j.Attempt != 2 {
		t.Fatalf("succeeded on %s at attempt %d; want worker-b, attempt 2", j.Worker, j.Attempt)
	}
	if total, _ := e.effects(); total != 1 {
		t.Fatalf("%d side effects, want 1", total)
	}
}

// TestThousandJobsSurviveAKilledWorker: 1,000 jobs, the worker killed and
// restarted halfway: every job succeeds and its side effect happens once.
func TestThousandJobsSurviveAKilledWorker(t *testing.T) {
	e := newCrashEnv(t)
	ctx := context.Background()
	const n = 1000
	first := e.start("worker-1", 5*time.Millisecond, 8)
	ids := make([]string, 0, n)
	for i := range n {
		id, err := e.client.Enqueue(ctx, "default.probe", nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if i == n/3 {
			e.waitFor("some progress", 10*time.Second, func() bool { total, _ := e.effects(); return total >= 100 })
			kill(t, first)
			e.start("worker-2", 5*time.Millisecond, 8)
		}
	}
	e.waitFor("all jobs to succeed", 90*time.Second, func() bool { total, _ := e.effects(); return total >= n })
	succeeded := 0
	for _, id := range ids {
		e.waitFor("job "+id, 10*time.Second, func() bool {
			j, err := e.backend.Get(ctx, id)
			return err == nil && j.State == jobs.StateSucceeded
		})
		succeeded++
	}
	total, distinct := e.effects()
	if succeeded != n || total != n || distinct != n {
		t.Fatalf("succeeded %d, side effects %d (%d distinct); want %d each", succeeded, total, distinct, n)
	}
}
