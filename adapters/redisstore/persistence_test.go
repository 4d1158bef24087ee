package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/tests/testenv"
)

// openPrivate opens a client on a private server and returns its logs.
func openPrivate(t *testing.T, srv *testenv.RedisServer) (*redisstore.Client, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cfg := redisstore.DefaultConfig()
	cfg.URL = srv.URL()
	c, cleanup, err := redisstore.Open(context.Background(), cfg, slog.New(slog.NewTextHandler(&logs, nil)), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return c, &logs
}

// The client says at start-up when Redis would lose the job records in a
// restart, and is quiet when the AOF is on (docs/deploy.md).
func TestOpenWarnsWhenRedisIsVolatile(t *testing.T) {
	volatile, logs := openPrivate(t, testenv.StartRedis(t))
	p, err := volatile.Persistence(context.Background())
	if err != nil || p.AOF || p.Durable() {
		t.Fatalf("persistence of a server without AOF = %+v, %v", p, err)
	}
	if !strings.Contains(logs.String(), "redis does not keep its data across a restart") {
		t.Fatalf("no warning for a volatile Redis; logs:\n%s", logs)
	}
	details, err := volatile.Health().Check.Check(context.Background())
	if err != nil || details["aof"] != false {
		t.Fatalf("readiness details = %v, %v; want aof false", details, err)
	}

	durable, logs := openPrivate(t, testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "everysec", "--dir", t.TempDir()))
	p, err = durable.Persistence(context.Background())
	if err != nil || !p.AOF || p.AppendFsync != "everysec" || !p.Durable() {
		t.Fatalf("persistence of a server with AOF everysec = %+v, %v", p, err)
	}
	if strings.Contains(logs.String(), "does not keep its data") {
		t.Fatalf("warning for a durable Redis; logs:\n%s", logs)
	}
}
