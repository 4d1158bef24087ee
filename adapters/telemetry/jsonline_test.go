package telemetry

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/reqctx"
)

// lineHandlers are the same contextHandler twice: ref with slog's JSON
// handler alone (jsonLine off), fast with jsonLine on, whose slog
// handler writes to slogOut and jsonLine to fastOut, so a test sees which
// of the two wrote each line.
type lineHandlers struct {
	ref, fast                slog.Handler
	refOut, fastOut, slogOut *bytes.Buffer
}

func newLineHandlers() *lineHandlers {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug - 8, ReplaceAttr: replaceAttr}
	l := &lineHandlers{refOut: new(bytes.Buffer), fastOut: new(bytes.Buffer), slogOut: new(bytes.Buffer)}
	sources := new(sync.Map)
	l.ref = contextHandler{Handler: slog.NewJSONHandler(l.refOut, opts), sources: sources}
	l.fast = contextHandler{Handler: slog.NewJSONHandler(l.slogOut, opts), sources: sources, fast: &jsonLine{w: &lockedWriter{w: l.fastOut}}}
	return l
}

func (l *lineHandlers) reset() { l.refOut.Reset(); l.fastOut.Reset(); l.slogOut.Reset() }

// check logs r through both and fails unless the bytes are equal; it
// reports whether jsonLine wrote the line.
func (l *lineHandlers) check(t testing.TB, ctx context.Context, ref, fast slog.Handler, r slog.Record) bool {
	t.Helper()
	l.reset()
	if err := ref.Handle(ctx, r.Clone()); err != nil {
		t.Fatal(err)
	}
	if err := fast.Handle(ctx, r.Clone()); err != nil {
		t.Fatal(err)
	}
	got := l.fastOut.String() + l.slogOut.String()
	if l.fastOut.Len() > 0 && l.slogOut.Len() > 0 {
		t.Fatalf("both writers wrote: %q and %q", l.fastOut, l.slogOut)
	}
	if got != l.refOut.String() {
		t.Fatalf("jsonLine wrote\n%s\nslog writes\n%s", got, l.refOut)
	}
	return l.fastOut.Len() > 0
}

func pcHere() uintptr {
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:])
	return pcs[0]
}

// TestJSONLineMatchesSlog: every line jsonLine writes is byte for byte the
// line slog's JSON handler writes (with replaceAttr: redaction, source),
// and the lines it does not cover go to slog's handler.
func TestJSONLineMatchesSlog(t *testing.T) {
	l := newLineHandlers()
	ctx, info := reqctx.With(context.Background(), "req-1")
	info.SetUserID("u-1")
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled}))
	now := time.Date(2026, 12, 1, 17, 0, 0, 123456789, time.UTC)
	pc := pcHere()
	covered := []slog.Record{}
	add := func(level slog.Level, msg string, attrs ...slog.Attr) slog.Record {
		r := slog.NewRecord(now, level, msg, pc)
		r.AddAttrs(attrs...)
		return r
	}
	access := add(slog.LevelInfo, "request completed", slog.String("method", "GET"), slog.String("route", "/health"),
		slog.Int("status", 200), slog.Duration("duration", 2784*time.Nanosecond), slog.String("client_ip", "127.0.0.1"), slog.Int("bytes", 16))
	covered = append(covered, access,
		add(slog.LevelDebug, "d"), add(slog.LevelWarn, "w", slog.Bool("b", true), slog.Uint64("u", math.MaxUint64)),
		add(slog.LevelError, "e", slog.Int64("neg", math.MinInt64)),
		add(slog.LevelInfo, "escapes \"\\\n\r\t\x00\x1f\x7f <>& \u2028\u2029 \xff é 日本", slog.String("k\"ey\n", "v\u2028\xfe")),
		add(slog.LevelInfo, "redacted", slog.String("password", "hunter2"), slog.String("Authorization", "Bearer x"),
			slog.String("dsn", "postgres://u:secret@db/x"), slog.String("url", "redis://:secret@cache:6379/0")),
		add(slog.LevelInfo, "postgres://u:secret@db/x in the message"),
		add(slog.LevelInfo, "group", slog.Group("g", slog.String("a", "1"), slog.Group("h", slog.Int("b", 2), slog.String("token", "t")))),
	)
	uncovered := []slog.Record{
		add(slog.LevelInfo+2, "custom level"),
		add(slog.LevelInfo, "float", slog.Float64("f", 1.5)),
		add(slog.LevelInfo, "time", slog.Time("at", now)),
		add(slog.LevelInfo, "error", slog.Any("error", errors.New("boom"))),
		add(slog.LevelInfo, "any", slog.Any("m", map[string]int{"a": 1})),
		add(slog.LevelInfo, "inline group", slog.Group("", slog.String("a", "1"))),
		slog.NewRecord(time.Time{}, slog.LevelInfo, "no time", pc),
		slog.NewRecord(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "far", pc),
		add(slog.LevelInfo, "empty key", slog.String("", "x")),
	}
	for _, hs := range []struct {
		name      string
		ref, fast slog.Handler
		covers    bool
	}{
		{"plain", l.ref, l.fast, true},
		{"with attrs", l.ref.WithAttrs([]slog.Attr{slog.String("logger", "httpapi")}).WithAttrs([]slog.Attr{slog.Int("n", 1), slog.String("secret", "s")}),
			l.fast.WithAttrs([]slog.Attr{slog.String("logger", "httpapi")}).WithAttrs([]slog.Attr{slog.Int("n", 1), slog.String("secret", "s")}), true},
		{"with a float attr", l.ref.WithAttrs([]slog.Attr{slog.Float64("f", 2)}), l.fast.WithAttrs([]slog.Attr{slog.Float64("f", 2)}), false},
		{"with group", l.ref.WithGroup("g"), l.fast.WithGroup("g"), false},
	} {
		t.Run(hs.name, func(t *testing.T) {
			for _, c := range []context.Context{ctx, context.Background()} {
				for i, r := range covered {
					if wrote := l.check(t, c, hs.ref, hs.fast, r); wrote != hs.covers {
						t.Errorf("covered record %d (%q): jsonLine wrote it: %v", i, r.Message, wrote)
					}
				}
				for i, r := range uncovered {
					if l.check(t, c, hs.ref, hs.fast, r) {
						t.Errorf("uncovered record %d (%q) written by jsonLine", i, r.Message)
					}
				}
			}
		})
	}
	if l.check(t, ctx, l.ref, l.fast, access); !strings.Contains(l.fastOut.String(), `"request_id":"req-1","user_id":"u-1","trace_id":"01020300000000000000000000000000"`) {
		t.Fatalf("access line lacks the request's identity: %s", l.fastOut)
	}
}

func FuzzJSONLine(f *testing.F) {
	f.Add("msg", "key", "value", int64(1))
	f.Add("a\u2028b", "k\x00", "\xff\xfe<>&\"\\", int64(-7))
	l := newLineHandlers()
	pc := pcHere()
	f.Fuzz(func(t *testing.T, msg, key, value string, n int64) {
		r := slog.NewRecord(time.Unix(0, n).UTC(), slog.LevelInfo, msg, pc)
		r.AddAttrs(slog.String(key, value), slog.Int64("n", n), slog.Group("g", slog.String(value, key)))
		l.check(t, context.Background(), l.ref, l.fast, r)
	})
}

// BenchmarkAccessLine: the access log's line through NewLogger's JSON
// handler, jsonLine on and off.
func BenchmarkAccessLine(b *testing.B) {
	ctx, _ := reqctx.With(context.Background(), "5f0c2a52-8a4e-4bfa-9d3c-3d3f0a0e8c11")
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5}, TraceFlags: trace.FlagsSampled}))
	for _, on := range []bool{false, true} {
		name := "slog"
		if on {
			name = "jsonLine"
		}
		b.Run(name, func(b *testing.B) {
			log := NewLogger(Config{LogFormat: "json", LogLevel: slog.LevelInfo}, discard{})
			if !on {
				h := log.Handler().(contextHandler)
				h.fast = nil
				log = slog.New(h)
			}
			log = Component(log, "httpapi")
			b.ReportAllocs()
			for b.Loop() {
				log.LogAttrs(ctx, slog.LevelInfo, "request completed",
					slog.String("method", "GET"), slog.String("route", "/health"), slog.Int("status", 200),
					slog.Duration("duration", 2784*time.Nanosecond), slog.String("client_ip", "127.0.0.1"), slog.Int("bytes", 16))
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
