package secrets_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

// backend is a fake secrets.Provider whose values and failures the test
// controls, counting calls.
type backend struct {
	mu     sync.Mutex
	values map[string]string
	err    error
	gate   chan struct{} // when set, Get waits for it to close
	sawCtx []error       // ctx.Err() seen after the gate
	calls  atomic.Int64
}

func newBackend() *backend { return &backend{values: map[string]string{}} }

func (b *backend) set(path, v string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.values[path] = v
}

func (b *backend) fail(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.err = err
}

func (b *backend) Get(ctx context.Context, ref secrets.Ref) (secrets.Secret, error) {
	b.calls.Add(1)
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		<-gate
		b.mu.Lock()
		b.sawCtx = append(b.sawCtx, ctx.Err())
		b.mu.Unlock()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return secrets.Secret{}, b.err
	}
	v, ok := b.values[ref.Path]
	if !ok {
		return secrets.Secret{}, secrets.NotFound("fake", ref, nil)
	}
	return secrets.ExtractKey("fake", ref, secrets.New(v, fmt.Sprintf("v-%d", len(v))))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type harness struct {
	r       *secrets.Resolver
	be      *backend
	logs    *lockedBuffer
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
}

const (
	ttl      = time.Minute
	maxStale = 10 * time.Minute
)

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{
		be:      newBackend(),
		logs:    &lockedBuffer{},
		spans:   tracetest.NewSpanRecorder(),
		metrics: sdkmetric.NewManualReader(),
	}
	r, cleanup, err := secrets.NewResolver(
		secrets.ResolverConfig{TTL: ttl, MaxStaleness: maxStale},
		secrets.Providers{secrets.SchemeEnv: h.be, secrets.SchemeFile: h.be, secrets.SchemeAWS: nil},
		slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans)),
		sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.metrics)),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	h.r = r
	// The background loop is asleep on its timer before the test moves time.
	synctest.Wait()
	return h
}

// advance lets d pass in the bubble and waits for the background loop to
// finish the iterations it ran meanwhile.
func (h *harness) advance(t *testing.T, d time.Duration) {
	t.Helper()
	time.Sleep(d)
	synctest.Wait()
}

func (h *harness) get(t *testing.T, ref string) (secrets.Secret, error) {
	t.Helper()
	return h.r.Get(context.Background(), secrets.MustParseRef(ref))
}

func (h *harness) mustGet(t *testing.T, ref, want string) {
	t.Helper()
	s, err := h.get(t, ref)
	if err != nil {
		t.Fatalf("Get(%s): %v", ref, err)
	}
	if s.Reveal() != want {
		t.Fatalf("Get(%s) = %q, want %q", ref, s.Reveal(), want)
	}
}

func (h *harness) calls(t *testing.T, want int64) {
	t.Helper()
	if got := h.be.calls.Load(); got != want {
		t.Fatalf("backend calls = %d, want %d", got, want)
	}
}

func (h *harness) counter(t *testing.T, name string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := h.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			for _, dp := range m.Data.(metricdata.Sum[int64]).DataPoints {
				n += dp.Value
			}
		}
	}
	return n
}

func TestResolverCachesWithinTTL(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("JWT_KEY", "key-1")
		h.mustGet(t, "env:JWT_KEY", "key-1")
		h.mustGet(t, "env:JWT_KEY", "key-1")
		h.calls(t, 1)

		h.be.set("JWT_KEY", "key-2")
		h.advance(t, ttl/4-time.Second) // before the first background tick
		h.mustGet(t, "env:JWT_KEY", "key-1")
		h.calls(t, 1) // neither the Get nor the background loop fetched
	})
}

func TestResolverIdleEntryExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("K", "one")
		h.mustGet(t, "env:K", "one")
		// Read within the last TTL, the entry is refreshed in the background
		// at the ticks where it is TTL/2 old: at TTL/2 and at TTL.
		h.advance(t, ttl+ttl/4)
		h.calls(t, 3)
		h.be.set("K", "two")
		// Idle (unread for longer than the TTL) and unsubscribed: the loop leaves
		// it alone, and the next Get, after the TTL, fetches synchronously.
		h.advance(t, ttl)
		h.calls(t, 3)
		h.mustGet(t, "env:K", "two")
		h.calls(t, 4)
		h.mustGet(t, "env:K", "two")
		h.calls(t, 4)
	})
}

func TestResolverBackgroundRefreshNotifiesSubscribers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("JWT_KEY", "key-1")
		var got []string
		var mu sync.Mutex
		cur, cancel, err := h.r.Subscribe(context.Background(), secrets.MustParseRef("env:JWT_KEY"), func(s secrets.Secret) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, s.Reveal()+"@"+s.Version())
		})
		if err != nil || cur.Reveal() != "key-1" {
			t.Fatalf("Subscribe: %q, %v", cur.Reveal(), err)
		}
		// A panicking subscriber must not break the others or the loop.
		_, cancelPanic, err := h.r.Subscribe(context.Background(), secrets.MustParseRef("env:JWT_KEY"), func(secrets.Secret) { panic("boom") })
		if err != nil {
			t.Fatal(err)
		}
		defer cancelPanic()
		h.calls(t, 1)

		h.be.set("JWT_KEY", "key-22")
		h.advance(t, ttl/4) // tick, but the entry is younger than TTL/2
		h.calls(t, 1)
		h.advance(t, ttl/4) // tick at TTL/2: refresh, though nobody called Get
		h.calls(t, 2)
		mu.Lock()
		if len(got) != 1 || got[0] != "key-22@v-6" {
			t.Fatalf("notifications %v, want [key-22@v-6]", got)
		}
		mu.Unlock()
		h.mustGet(t, "env:JWT_KEY", "key-22")
		h.calls(t, 2)
		if n := h.counter(t, "secrets.rotations"); n != 1 {
			t.Errorf("secrets.rotations = %d, want 1", n)
		}
		if !strings.Contains(h.logs.String(), "subscriber panicked") || !strings.Contains(h.logs.String(), "secret rotated") {
			t.Errorf("logs lack the rotation or the contained panic:\n%s", h.logs)
		}

		// An unchanged value notifies nobody.
		h.advance(t, ttl/2)
		h.calls(t, 3)
		mu.Lock()
		if len(got) != 1 {
			t.Fatalf("notified without a change: %v", got)
		}
		mu.Unlock()

		cancel()
		cancel() // idempotent
		h.be.set("JWT_KEY", "key-333")
		h.advance(t, ttl/2)
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			t.Fatalf("notified after cancel: %v", got)
		}
	})
}

func TestResolverStaleWhileError(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("DB_PASSWORD", "pw-1")
		h.mustGet(t, "env:DB_PASSWORD", "pw-1")
		h.advance(t, ttl+ttl/4) // refreshed at TTL/2 and TTL, then idle
		h.calls(t, 3)
		outage := secrets.Unavailable("fake", secrets.MustParseRef("env:DB_PASSWORD"), errors.New("connection refused"))
		h.be.fail(outage)

		h.advance(t, ttl) // idle: no background attempt
		h.calls(t, 3)
		h.mustGet(t, "env:DB_PASSWORD", "pw-1") // expired, backend down: stale
		h.calls(t, 4)
		h.mustGet(t, "env:DB_PASSWORD", "pw-1") // within the error backoff: no new call
		h.calls(t, 4)
		if n := h.counter(t, "secrets.stale_served"); n != 2 {
			t.Errorf("secrets.stale_served = %d, want 2", n)
		}
		if logs := h.logs.String(); !strings.Contains(logs, "serving the stale cached value") || !strings.Contains(logs, "env:DB_PASSWORD") {
			t.Errorf("no warning naming the reference:\n%s", logs)
		}

		// Past MaxStaleness the error surfaces.
		h.advance(t, maxStale)
		_, err := h.get(t, "env:DB_PASSWORD")
		if !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("past max staleness: %v, want Unavailable", err)
		}

		// Recovery.
		h.be.fail(nil)
		h.mustGet(t, "env:DB_PASSWORD", "pw-1")
		if strings.Contains(h.logs.String(), "pw-1") {
			t.Fatalf("logs contain the value:\n%s", h.logs)
		}
	})
}

func TestResolverDoesNotBridgeNotFound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("K", "v")
		h.mustGet(t, "env:K", "v")
		h.be.mu.Lock()
		delete(h.be.values, "K")
		h.be.mu.Unlock()
		h.advance(t, ttl+time.Second)
		if _, err := h.get(t, "env:K"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("deleted secret after TTL: %v, want NotFound", err)
		}
	})
}

func TestResolverSingleflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("K", "value")
		gate := make(chan struct{})
		h.be.mu.Lock()
		h.be.gate = gate
		h.be.mu.Unlock()

		const n = 64
		var wg sync.WaitGroup
		results := make(chan string, n)
		for range n {
			wg.Go(func() {
				s, err := h.get(t, "env:K")
				if err != nil {
					results <- "error: " + err.Error()
					return
				}
				results <- s.Reveal()
			})
		}
		synctest.Wait() // every caller waits on the one flight
		close(gate)
		wg.Wait()
		close(results)
		for r := range results {
			if r != "value" {
				t.Errorf("a caller got %q", r)
			}
		}
		h.calls(t, 1)
	})
}

func TestResolverCallerCancellationDoesNotCancelSharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("K", "value")
		gate := make(chan struct{})
		h.be.mu.Lock()
		h.be.gate = gate
		h.be.mu.Unlock()

		ctx, cancel := context.WithCancel(context.Background())
		impatient := make(chan error, 1)
		go func() {
			_, err := h.r.Get(ctx, secrets.MustParseRef("env:K"))
			impatient <- err
		}()
		synctest.Wait() // the impatient caller's fetch waits at the gate
		patient := make(chan string, 1)
		go func() {
			s, _ := h.get(t, "env:K")
			patient <- s.Reveal()
		}()
		synctest.Wait() // the patient caller waits on the same flight
		cancel()
		if err := <-impatient; !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("canceled caller: %v, want Unavailable", err)
		}
		close(gate)
		if v := <-patient; v != "value" {
			t.Fatalf("patient caller got %q", v)
		}
		h.be.mu.Lock()
		defer h.be.mu.Unlock()
		if len(h.be.sawCtx) != 1 || h.be.sawCtx[0] != nil {
			t.Fatalf("backend saw ctx errors %v, want one live context", h.be.sawCtx)
		}
	})
}

func TestResolverRouting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		_, err := h.get(t, "vault:secret/app#k")
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeNotConfigured || !strings.Contains(err.Error(), "vault") {
			t.Fatalf("unconfigured scheme: %v", err)
		}
		// A nil provider in the chain is absent, not a nil dereference.
		if _, err := h.get(t, "aws:x"); apperr.CodeOf(err) != secrets.CodeNotConfigured {
			t.Fatalf("nil provider: %v", err)
		}
		// A hand-built reference that ParseRef would reject never reaches a backend.
		_, err = h.r.Get(context.Background(), secrets.Ref{Scheme: "env", Path: "NOT VALID"})
		if !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("invalid hand-built ref: %v", err)
		}
		_, err = h.r.Get(context.Background(), secrets.Ref{Scheme: "file", Path: "/a/../b"})
		if !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("non-canonical hand-built ref: %v", err)
		}
		h.calls(t, 0)
	})
}

func TestResolverSpansCarryNoValues(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("K", marker)
		h.mustGet(t, "env:K", marker)
		h.mustGet(t, "env:K", marker) // a hit: no span
		spans := h.spans.Ended()
		if len(spans) != 1 || spans[0].Name() != "secrets.fetch" {
			t.Fatalf("spans %v, want one secrets.fetch", spans)
		}
		var sawRef bool
		for _, a := range spans[0].Attributes() {
			if strings.Contains(a.Value.String(), marker) {
				t.Fatalf("span attribute %s leaks the value", a.Key)
			}
			sawRef = sawRef || (a.Key == "secret.ref" && a.Value.AsString() == "env:K")
		}
		if !sawRef {
			t.Fatalf("span lacks secret.ref: %v", spans[0].Attributes())
		}
	})
}

func TestResolveAndResolveEnv(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("DB", `{"password":"from-json"}`)
		h.be.set("/run/secrets/db_password", "from-file")
		ctx := context.Background()

		if s, err := h.r.Resolve(ctx, "plain-literal"); err != nil || s.Reveal() != "plain-literal" {
			t.Fatalf("Resolve(literal) = %q, %v", s.Reveal(), err)
		}
		if s, err := h.r.Resolve(ctx, "env:DB#password"); err != nil || s.Reveal() != "from-json" {
			t.Fatalf("Resolve(ref) = %q, %v", s.Reveal(), err)
		}
		if _, err := h.r.Resolve(ctx, "env:bad name"); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("Resolve(bad ref) = %v", err)
		}

		for _, tc := range []struct {
			env     map[string]string
			wantVar string
			want    string
			literal bool
			errKind apperr.Kind
		}{
			{env: map[string]string{}},
			{env: map[string]string{"DB_PASSWORD": "literal-pw"}, wantVar: "DB_PASSWORD", want: "literal-pw", literal: true},
			{env: map[string]string{"DB_PASSWORD": "env:DB#password"}, wantVar: "DB_PASSWORD", want: "from-json"},
			{env: map[string]string{"DB_PASSWORD_FILE": "/run/secrets/db_password"}, wantVar: "DB_PASSWORD_FILE", want: "from-file"},
			{env: map[string]string{"DB_PASSWORD": "x", "DB_PASSWORD_FILE": "/run/secrets/db_password"}, errKind: apperr.Invalid},
			{env: map[string]string{"DB_PASSWORD_FILE": "/run/secrets/missing"}, errKind: apperr.NotFound},
			{env: map[string]string{"DB_PASSWORD": "vault:nope"}, errKind: apperr.Invalid},
		} {
			s, err := h.r.ResolveEnv(ctx, func(k string) string { return tc.env[k] }, "DB_PASSWORD")
			if tc.errKind != apperr.Internal {
				if !apperr.Is(err, tc.errKind) || !strings.Contains(err.Error(), "DB_PASSWORD") {
					t.Errorf("ResolveEnv(%v) = %v, want %v naming DB_PASSWORD", tc.env, err, tc.errKind)
				}
				continue
			}
			if err != nil {
				t.Errorf("ResolveEnv(%v): %v", tc.env, err)
				continue
			}
			if s.Var != tc.wantVar || s.Value.Reveal() != tc.want || s.Literal != tc.literal || s.IsSet() != (tc.wantVar != "") {
				t.Errorf("ResolveEnv(%v) = %+v (value %q)", tc.env, s, s.Value.Reveal())
			}
		}
	})
}

func TestResolverRefreshAndConfig(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t)
		h.be.set("A", "1")
		h.mustGet(t, "env:A", "1")
		h.be.set("A", "2")
		if err := h.r.Refresh(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.mustGet(t, "env:A", "2")
		h.calls(t, 2)

		for _, cfg := range []secrets.ResolverConfig{
			{TTL: -time.Second},
			{TTL: time.Hour, MaxStaleness: time.Minute},
			{FetchTimeout: -1},
		} {
			if _, _, err := secrets.NewResolver(cfg, nil, nil, nil, nil); err == nil {
				t.Errorf("NewResolver(%+v) accepted the config", cfg)
			}
		}
		r, cleanup, err := secrets.NewResolver(secrets.ResolverConfig{}, nil, nil, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		cleanup()
		r.Close() // idempotent
	})
}

// BenchmarkResolverHit measures a cached Get (the budget: < 200 ns).
func BenchmarkResolverHit(b *testing.B) {
	be := newBackend()
	be.set("K", "value")
	r, cleanup, err := secrets.NewResolver(secrets.ResolverConfig{TTL: time.Hour}, secrets.Providers{"env": be}, nil, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cleanup()
	ref := secrets.MustParseRef("env:K")
	ctx := context.Background()
	if _, err := r.Get(ctx, ref); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Get(ctx, ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	if be.calls.Load() != 1 {
		b.Fatalf("backend calls = %d, want 1", be.calls.Load())
	}
}
