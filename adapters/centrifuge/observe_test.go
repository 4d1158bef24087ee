package centrifuge_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
)

func TestMetricsAndSpans(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	spans := tracetest.NewSpanRecorder()
	s := start(t, withDeps(func(d *centrifuge.Deps) {
		d.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
		d.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	}))
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	s.dial(t, u, uuid.New())

	if n := counter(t, reader, "realtime.connections", "", ""); n != 2 {
		t.Fatalf("realtime.connections = %d; want 2", n)
	}
	if n := counter(t, reader, "realtime.subscriptions", "", ""); n != 2 {
		t.Fatalf("realtime.subscriptions = %d; want 2", n)
	}
	e := event(u, map[string]any{"job_id": "j"})
	mustPublish(t, s.E, e)
	<-c.Events
	bad := e
	bad.Type = "nope"
	if err := s.E.Publish(context.Background(), bad); !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("Publish(bad type) = %v", err)
	}
	if n := counter(t, reader, "realtime.events.published", "outcome", "ok"); n != 1 {
		t.Fatalf("published{outcome=ok} = %d; want 1", n)
	}
	if n := counter(t, reader, "realtime.events.published", "type", "unknown"); n != 1 {
		t.Fatalf("published{type=unknown} = %d; want 1 (unknown types are not metric labels)", n)
	}

	ended := spans.Ended()
	if len(ended) != 2 || ended[0].Name() != "realtime.publish" {
		t.Fatalf("spans %v; want two realtime.publish", ended)
	}
	attrs := map[string]string{}
	for _, a := range ended[0].Attributes() {
		attrs[string(a.Key)] = a.Value.String()
	}
	if attrs["realtime.event.type"] != realtime.TypeJobUpdated || attrs["realtime.event.id"] != e.ID.String() || attrs["realtime.offset"] != "1" {
		t.Fatalf("span attributes %v", attrs)
	}
	if ended[1].Status().Code != codes.Error {
		t.Fatalf("span of a refused event has status %v; want error", ended[1].Status())
	}

	// centrifuge's own metrics land in the given registry.
	families, err := s.Prom.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sent := findFamily(families, "tradesense_realtime_transport_messages_sent")
	if sent == nil || total(sent) < 1 {
		t.Fatalf("tradesense_realtime_transport_messages_sent missing or zero in %d families", len(families))
	}

	if f := findFamily(families, "tradesense_realtime_client_connections_inflight"); f == nil || f.GetMetric()[0].GetGauge().GetValue() != 2 {
		t.Fatalf("tradesense_realtime_client_connections_inflight = %v; want 2", f)
	}

	if err := c.C.Disconnect(); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() bool { return counter(t, reader, "realtime.disconnects", "reason", "connection_closed") == 1 }, "disconnect counted")
}

func findFamily(fs []*dto.MetricFamily, name string) *dto.MetricFamily {
	for _, f := range fs {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

func total(f *dto.MetricFamily) float64 {
	var n float64
	for _, m := range f.GetMetric() {
		n += m.GetCounter().GetValue()
	}
	return n
}

func TestConfigValidation(t *testing.T) {
	if err := centrifuge.DefaultConfig().Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if err := (centrifuge.Config{}).Validate(); err != nil {
		t.Fatalf("zero config (defaults) invalid: %v", err)
	}
	cases := map[string]func(*centrifuge.Config){
		"REDIS_URL":                         func(c *centrifuge.Config) { c.RedisURL = "http://localhost:6379" },
		"CORS_ALLOWED_ORIGINS":              func(c *centrifuge.Config) { c.AllowedOrigins = []string{"https://ok.example", "*"} },
		"REALTIME_TOKEN_TTL":                func(c *centrifuge.Config) { c.TokenTTL = 30 * time.Second },
		"REALTIME_PONG_TIMEOUT":             func(c *centrifuge.Config) { c.PongTimeout = 30 * time.Second },
		"REALTIME_CLIENT_QUEUE_BYTES":       func(c *centrifuge.Config) { c.ClientQueueBytes = 1024 },
		"REALTIME_MAX_EVENT_BYTES":          func(c *centrifuge.Config) { c.MaxEventBytes = 1 << 20; c.ClientQueueBytes = 1 << 30 },
		"REALTIME_MAX_CONNECTIONS_PER_USER": func(c *centrifuge.Config) { c.MaxConnectionsPerUser = 5000 },
		"REALTIME_HISTORY_SIZE":             func(c *centrifuge.Config) { c.HistorySize = 5000; c.ClientQueueBytes = 1 << 30 },
		"REALTIME_HISTORY_TTL":              func(c *centrifuge.Config) { c.HistoryTTL = 48 * time.Hour },
	}
	for env, mutate := range cases {
		c := centrifuge.DefaultConfig()
		mutate(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), env) {
			t.Errorf("%s: Validate = %v; want an error naming it", env, err)
		}
		if _, _, err := centrifuge.New(c, centrifuge.Deps{}); err == nil {
			t.Errorf("%s: New accepted an invalid config", env)
		}
	}
	toks, _ := centrifuge.NewTokens(centrifuge.Config{}, newRing(t), nil)
	if _, _, err := centrifuge.New(centrifuge.Config{}, centrifuge.Deps{Tokens: toks}); err == nil {
		t.Error("New without Sessions succeeded")
	}
	if _, err := centrifuge.NewTokens(centrifuge.Config{}, nil, nil); err == nil {
		t.Error("NewTokens without a key ring succeeded")
	}
}

func TestUnreachableRedisFailsWithoutLeakingThePassword(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close() // nothing listens there now
	var logs bytes.Buffer
	toks, _ := centrifuge.NewTokens(centrifuge.Config{}, newRing(t), nil)
	cfg := centrifuge.Config{RedisURL: "redis://user:s3cr3t-pass@" + addr + "/0"}
	began := time.Now()
	_, _, err = centrifuge.New(cfg, centrifuge.Deps{Tokens: toks, Sessions: newSessions(), Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err == nil {
		t.Fatal("New succeeded with nothing listening at REDIS_URL")
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("New took %s to fail", took)
	}
	if strings.Contains(err.Error()+logs.String(), "s3cr3t-pass") {
		t.Fatalf("the Redis password leaked: %v / %s", err, logs.String())
	}
	if !strings.Contains(err.Error(), "REDIS_URL") || !strings.Contains(err.Error(), addr) {
		t.Fatalf("error %q: want the variable and host named", err)
	}
}

func TestHealthCheck(t *testing.T) {
	for name, opts := range map[string][]option{"memory": nil, "redis": {onRedis(t, uniquePrefix())}} {
		s := start(t, opts...)
		s.dial(t, uuid.New(), uuid.New())
		reg := s.E.HealthCheck()
		if reg.Name != "realtime" || reg.Required {
			t.Fatalf("%s: registration %+v; want optional \"realtime\"", name, reg)
		}
		details, err := reg.Check.Check(context.Background())
		if err != nil || details["broker"] != name || details["connections"] != 1 || s.E.Broker() != name {
			t.Fatalf("%s: Check = %v, %v", name, details, err)
		}
	}
}

func TestLogsNeverCarryTokens(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := start(t, withDeps(func(d *centrifuge.Deps) { d.Log = log }))
	u, sid := uuid.New(), uuid.New()
	good := issue(t, s.Tokens, u, sid)
	s.dial(t, u, sid)
	r, err := s.rawDial(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	forged := good[:len(good)-6] + "AAAAAA"
	_ = r.WriteJSON(map[string]any{"id": 1, "connect": map[string]any{"token": forged}})
	r.closeCode(t, wait)
	if err := s.E.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	if out == "" {
		t.Fatal("no logs at debug level: the test would prove nothing")
	}
	sig := good[strings.LastIndex(good, ".")+1:]
	if strings.Contains(out, sig) || strings.Contains(out, forged[strings.LastIndex(forged, ".")+1:]) {
		t.Fatalf("a token reached the logs:\n%s", out)
	}
}
