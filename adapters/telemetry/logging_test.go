package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/tradesense/tradesense/core/reqctx"
)

func TestLoggerRedactsSecrets(t *testing.T) {
	const secret = "hunter2-Secret"
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := NewLogger(Config{LogFormat: format, LogLevel: slog.LevelDebug}, &buf)
			log.Info("login", "password", secret, "Authorization", "Bearer "+secret,
				slog.Group("req", "refresh_token", secret, "new-password", secret),
				"database", "postgres://app:"+secret+"@db.internal:5432/ts",
				"target", "redis://:"+secret+"@cache:6379/0")
			out := buf.String()
			if strings.Contains(out, secret) {
				t.Fatalf("secret logged: %s", out)
			}
			for _, want := range []string{Redacted, "db.internal", "cache:6379"} {
				if !strings.Contains(out, want) {
					t.Fatalf("want %q in %s", want, out)
				}
			}
		})
	}
}

func TestLoggerAddsRequestTraceAndSource(t *testing.T) {
	var buf bytes.Buffer
	log := Component(NewLogger(Config{LogFormat: "json", LogLevel: slog.LevelInfo}, &buf), "identity")
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	defer span.End()
	ctx, info := reqctx.With(ctx, "req-1")
	info.SetUserID("user-9")
	log.InfoContext(ctx, "hello")
	log.DebugContext(ctx, "below level")

	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(buf.Bytes()), &line); err != nil {
		t.Fatalf("want exactly one JSON line, got %q: %v", buf.String(), err)
	}
	want := map[string]string{
		"request_id": "req-1", "user_id": "user-9", "logger": "identity", "msg": "hello", "level": "INFO",
		"trace_id": span.SpanContext().TraceID().String(), "span_id": span.SpanContext().SpanID().String(),
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %q", k, line[k], v)
		}
	}
	src, _ := line["source"].(map[string]any)
	if file, _ := src["file"].(string); file != "adapters/telemetry/logging_test.go" || src["function"] == nil {
		t.Errorf("source = %v, want the module-relative file and the function", src)
	}
}

func TestRedactURLKeepsURLsWithoutPasswords(t *testing.T) {
	for in, want := range map[string]string{
		"https://user@host/x":          "https://user@host/x",
		"postgres://u:p@h/db":          "postgres://u:xxxxx@h/db",
		"not a url :// @":              "not a url :// @",
		"mailto://someone@example.com": "mailto://someone@example.com",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorValuesAreNotRedactedByAccident(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(Config{LogFormat: "json"}, &buf)
	log.Error("failed", "error", fmt.Errorf("load user: %w", errors.New("boom")))
	if !strings.Contains(buf.String(), "load user: boom") {
		t.Fatalf("error text lost: %s", buf.String())
	}
}

func TestIsSensitiveKeyFoldsCaseAndDashes(t *testing.T) {
	for key, want := range map[string]bool{
		"password": true, "Authorization": true, "new-password": true, "X-Api-Key": true,
		"REFRESH_TOKEN": true, "method": false, "route": false, "passwords": false, "Status": false,
	} {
		if got := IsSensitiveKey(key); got != want {
			t.Errorf("IsSensitiveKey(%q) = %v, want %v", key, got, want)
		}
	}
}
