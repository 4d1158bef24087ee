package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

// TestAPIWithoutAWorkerSaysSo: with REDIS_URL the API does not run the job
// worker; without a `tradesense worker`, mail used to stop silently. The
// readiness check "jobs_consumers" is down and the log says "no live worker
// for queue email" (issue 11 item 8); once a worker serving every queue
// runs, the check is up.
func TestAPIWithoutAWorkerSaysSo(t *testing.T) {
	env := harness.Env(t)
	env["REDIS_URL"] = testenv.URL(t, "TEST_REDIS_URL")
	env["REDIS_KEY_PREFIX"] = "test:" + uuid.NewString()[:8] + ":"
	env["JOBS_HEARTBEAT_INTERVAL"] = "200ms"
	env["JOBS_HEARTBEAT_TTL"] = "1s"
	api := harness.Start(t, env)
	consumers := func() string {
		_, checks := readyChecks(t, api.URL)
		c, _ := checks["jobs_consumers"].(map[string]any)
		s, _ := c["status"].(string)
		return s
	}
	if s := consumers(); s != "down" {
		t.Fatalf("jobs_consumers %q with no worker; want down", s)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(api.Logs.String(), "no live worker for queue default, email, reports, maintenance") {
		if time.Now().After(deadline) {
			t.Fatalf("no warning naming the unserved queues:\n%s", api.Logs)
		}
		time.Sleep(50 * time.Millisecond)
	}

	wenv := harness.Env(t)
	for _, k := range []string{"REDIS_URL", "REDIS_KEY_PREFIX", "JOBS_HEARTBEAT_INTERVAL", "JOBS_HEARTBEAT_TTL"} {
		wenv[k] = env[k]
	}
	wenv["WORKER_HTTP_ADDR"] = "127.0.0.1:0"
	harness.Start(t, wenv, "worker")
	for consumers() != "up" {
		if time.Now().After(deadline.Add(10 * time.Second)) {
			t.Fatalf("jobs_consumers still %q with a worker running", consumers())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
