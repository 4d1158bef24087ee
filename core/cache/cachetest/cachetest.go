// Package cachetest is the contract suite of cache.Cache. Every adapter runs
// it: the memory adapter always, Redis when TEST_REDIS_URL is set. It also
// runs GetOrLoad over the adapter, since singleflight and negative caching
// depend on the backend keeping its promises.
package cachetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

// Harness is one fresh, empty cache under test.
type Harness struct {
	Cache cache.Cache
}

// Factory returns a fresh, empty cache. It registers its own cleanup.
type Factory func(t *testing.T) Harness

// Run runs the whole contract against caches whose entries expire by the
// process clock (time.Now): each case runs in a synctest bubble of its
// own, with the cache made inside it, so waiting for an expiry costs
// nothing.
func Run(t *testing.T, newCache Factory) { run(t, newCache, true) }

// RunRealTime runs the contract against caches that expire entries by
// their own clock (Redis): the cases run outside a bubble and wait in real
// time. The suite keeps the durations it waits short.
func RunRealTime(t *testing.T, newCache Factory) { run(t, newCache, false) }

func run(t *testing.T, newCache Factory, bubble bool) {
	each := func(t *testing.T, name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if bubble {
				synctest.Test(t, f)
				return
			}
			f(t)
		})
	}
	t.Run("Port", func(t *testing.T) { runPort(t, newCache, each) })
	t.Run("GetOrLoad", func(t *testing.T) { runGetOrLoad(t, newCache, each) })
}

// caseRunner runs one case, in a bubble or not.
type caseRunner func(t *testing.T, name string, f func(t *testing.T))

func runPort(t *testing.T, newCache Factory, each caseRunner) {
	ctx := context.Background()

	each(t, "MissIsNotAnError", func(t *testing.T) {
		c := newCache(t).Cache
		v, found, err := c.Get(ctx, "user:absent")
		if err != nil || found || v != nil {
			t.Fatalf("Get(absent) = %q, %v, %v; want nil, false, nil", v, found, err)
		}
		ok, err := c.Exists(ctx, "user:absent")
		if err != nil || ok {
			t.Fatalf("Exists(absent) = %v, %v; want false, nil", ok, err)
		}
	})

	each(t, "RoundTripOwnsSlices", func(t *testing.T) {
		c := newCache(t).Cache
		in := []byte(`{"name":"ada"}`)
		mustSet(t, c, "user:1", in, time.Minute)
		in[2] = 'X' // the cache must have copied the value
		got := mustGet(t, c, "user:1")
		if string(got) != `{"name":"ada"}` {
			t.Fatalf("Get = %q; want the value as it was set", got)
		}
		got[2] = 'Y' // and must hand out a copy
		if again := mustGet(t, c, "user:1"); string(again) != `{"name":"ada"}` {
			t.Fatalf("Get after mutating the returned slice = %q", again)
		}
	})

	each(t, "BinaryAndEmptyValues", func(t *testing.T) {
		c := newCache(t).Cache
		bin := []byte{0, 1, 0xff, 0xfe, 0, '\n'}
		mustSet(t, c, "bin:1", bin, time.Minute)
		if got := mustGet(t, c, "bin:1"); !bytes.Equal(got, bin) {
			t.Fatalf("binary round trip = %v; want %v", got, bin)
		}
		mustSet(t, c, "bin:empty", []byte{}, time.Minute)
		v, found, err := c.Get(ctx, "bin:empty")
		if err != nil || !found || len(v) != 0 {
			t.Fatalf("empty value = %q, %v, %v; want empty, true, nil", v, found, err)
		}
	})

	each(t, "GetMany", func(t *testing.T) {
		h := newCache(t)
		l, err := cache.NewLayer(h.Cache, cache.Config{Timeout: 2 * time.Second}, nil, noop.NewMeterProvider())
		if err != nil {
			t.Fatal(err)
		}
		mustSet(t, h.Cache, "many:a", []byte("A"), time.Minute)
		mustSet(t, h.Cache, "many:empty", []byte{}, time.Minute)
		getters := map[string]cache.MultiGetter{"Layer": l}
		if mg, ok := h.Cache.(cache.MultiGetter); ok {
			getters["backend"] = mg
		}
		for name, mg := range getters {
			got, err := mg.GetMany(ctx, "many:absent", "many:a", "many:empty", "many:a")
			if err != nil || len(got) != 4 || got[0] != nil || string(got[1]) != "A" || got[2] == nil || len(got[2]) != 0 || string(got[3]) != "A" {
				t.Fatalf("%s: GetMany = %q, %v; want [nil A \"\" A]", name, got, err)
			}
			got[1][0] = 'X' // the caller owns the slices
			if again, _ := mg.GetMany(ctx, "many:a"); string(again[0]) != "A" {
				t.Fatalf("%s: GetMany after mutating a returned slice = %q", name, again)
			}
			if _, err := mg.GetMany(ctx, "many:a", ""); !isInvalid(err, cache.CodeKeyInvalid) {
				t.Fatalf("%s: GetMany with an empty key: err = %v; want cache_key_invalid", name, err)
			}
		}
		// Concurrent callers (which an adapter may batch) each get their
		// own values.
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 64 {
			wg.Go(func() {
				k := fmt.Sprintf("many:c%d", i)
				if err := h.Cache.Set(ctx, k, []byte(k), time.Minute); err != nil {
					errs <- err
					return
				}
				for range 20 {
					got, err := l.GetMany(ctx, k, "many:absent")
					if err != nil || len(got) != 2 || string(got[0]) != k || got[1] != nil {
						errs <- fmt.Errorf("GetMany(%s) = %q, %v", k, got, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	})

	each(t, "Overwrite", func(t *testing.T) {
		c := newCache(t).Cache
		mustSet(t, c, "k:1", []byte("one"), time.Minute)
		mustSet(t, c, "k:1", []byte("two"), time.Minute)
		if got := mustGet(t, c, "k:1"); string(got) != "two" {
			t.Fatalf("after overwrite Get = %q; want two", got)
		}
	})

	each(t, "UnicodeKeys", func(t *testing.T) {
		c := newCache(t).Cache
		mustSet(t, c, "naïve:ключ:🙂", []byte("u"), time.Minute)
		if got := mustGet(t, c, "naïve:ключ:🙂"); string(got) != "u" {
			t.Fatalf("Get(unicode key) = %q", got)
		}
	})

	each(t, "Delete", func(t *testing.T) {
		c := newCache(t).Cache
		mustSet(t, c, "d:1", []byte("1"), time.Minute)
		mustSet(t, c, "d:2", []byte("2"), time.Minute)
		mustSet(t, c, "d:3", []byte("3"), time.Minute)
		if err := c.Delete(ctx, "d:1", "d:2", "d:absent"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		for _, k := range []string{"d:1", "d:2"} {
			if ok, err := c.Exists(ctx, k); err != nil || ok {
				t.Fatalf("Exists(%s) after Delete = %v, %v; want false", k, ok, err)
			}
		}
		if ok, err := c.Exists(ctx, "d:3"); err != nil || !ok {
			t.Fatalf("Exists(d:3) = %v, %v; Delete removed a key it was not given", ok, err)
		}
		if err := c.Delete(ctx); err != nil {
			t.Fatalf("Delete() with no keys: %v", err)
		}
	})

	each(t, "Expiry", func(t *testing.T) {
		h := newCache(t)
		c := h.Cache
		mustSet(t, c, "ttl:short", []byte("s"), 100*time.Millisecond)
		mustSet(t, c, "ttl:long", []byte("l"), time.Hour)
		time.Sleep(250 * time.Millisecond)
		if v, found, err := c.Get(ctx, "ttl:short"); err != nil || found {
			t.Fatalf("Get(expired) = %q, %v, %v; want a miss", v, found, err)
		}
		if ok, err := c.Exists(ctx, "ttl:short"); err != nil || ok {
			t.Fatalf("Exists(expired) = %v, %v; want false", ok, err)
		}
		if got := mustGet(t, c, "ttl:long"); string(got) != "l" {
			t.Fatalf("Get(unexpired) = %q", got)
		}
		// Overwriting renews the TTL.
		mustSet(t, c, "ttl:renew", []byte("a"), 200*time.Millisecond)
		time.Sleep(120 * time.Millisecond)
		mustSet(t, c, "ttl:renew", []byte("b"), 200*time.Millisecond)
		time.Sleep(120 * time.Millisecond)
		if got := mustGet(t, c, "ttl:renew"); string(got) != "b" {
			t.Fatalf("overwritten key expired with its old TTL: %q", got)
		}
	})

	each(t, "InvalidArguments", func(t *testing.T) {
		c := newCache(t).Cache
		for _, key := range []string{"", "bad\nkey", "tab\tkey", strings.Repeat("k", cache.MaxKeyLen+1), "bad\xffutf8"} {
			if err := c.Set(ctx, key, []byte("v"), time.Minute); !isInvalid(err, cache.CodeKeyInvalid) {
				t.Errorf("Set(%q) error = %v; want Invalid %s", key, err, cache.CodeKeyInvalid)
			}
			if _, _, err := c.Get(ctx, key); !isInvalid(err, cache.CodeKeyInvalid) {
				t.Errorf("Get(%q) error = %v; want Invalid %s", key, err, cache.CodeKeyInvalid)
			}
			if err := c.Delete(ctx, "ok:1", key); !isInvalid(err, cache.CodeKeyInvalid) {
				t.Errorf("Delete(%q) error = %v; want Invalid %s", key, err, cache.CodeKeyInvalid)
			}
			if _, err := c.Exists(ctx, key); !isInvalid(err, cache.CodeKeyInvalid) {
				t.Errorf("Exists(%q) error = %v; want Invalid %s", key, err, cache.CodeKeyInvalid)
			}
		}
		if _, err := c.DeletePrefix(ctx, "bad\x00"); !isInvalid(err, cache.CodeKeyInvalid) {
			t.Errorf("DeletePrefix(control char) error = %v; want Invalid", err)
		}
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := c.Set(ctx, "ttl:bad", []byte("v"), ttl); !isInvalid(err, cache.CodeTTLInvalid) {
				t.Errorf("Set(ttl=%s) error = %v; want Invalid %s", ttl, err, cache.CodeTTLInvalid)
			}
		}
		if ok, _ := c.Exists(ctx, "ttl:bad"); ok {
			t.Error("a Set with an invalid TTL stored a value")
		}
	})

	each(t, "DeletePrefix", func(t *testing.T) {
		c := newCache(t).Cache
		keys := []string{"rep:1:a", "rep:1:b", "rep:10:a", "rep:2:a", "other:1", "g*:1", "g?x", "g[1]", "gz", `g\y`}
		for _, k := range keys {
			mustSet(t, c, k, []byte(k), time.Minute)
		}
		assertDeleted := func(prefix string, want int, gone ...string) {
			t.Helper()
			n, err := c.DeletePrefix(ctx, prefix)
			if err != nil || n != want {
				t.Fatalf("DeletePrefix(%q) = %d, %v; want %d, nil", prefix, n, err, want)
			}
			for _, k := range gone {
				if ok, _ := c.Exists(ctx, k); ok {
					t.Fatalf("DeletePrefix(%q) left %q", prefix, k)
				}
			}
		}
		assertDeleted("rep:1:", 2, "rep:1:a", "rep:1:b")
		for _, k := range []string{"rep:10:a", "rep:2:a", "other:1"} {
			if ok, _ := c.Exists(ctx, k); !ok {
				t.Fatalf("DeletePrefix(rep:1:) removed %q", k)
			}
		}
		// Glob characters in the prefix are literal.
		assertDeleted("g*", 1, "g*:1")
		assertDeleted("g?", 1, "g?x")
		assertDeleted("g[", 1, "g[1]")
		assertDeleted(`g\`, 1, `g\y`)
		if ok, _ := c.Exists(ctx, "gz"); !ok {
			t.Fatal("a glob character in the prefix matched gz")
		}
		assertDeleted("nothing:", 0)
		assertDeleted("", 4, "rep:10:a", "rep:2:a", "other:1", "gz")
	})

	each(t, "Concurrent", func(t *testing.T) {
		c := newCache(t).Cache
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := range 16 {
			wg.Go(func() {
				for i := range 50 {
					key := fmt.Sprintf("conc:%d:%d", g, i%5)
					val := []byte(fmt.Sprintf("%d-%d", g, i))
					if err := c.Set(ctx, key, val, time.Minute); err != nil {
						errs <- err
						return
					}
					got, found, err := c.Get(ctx, key)
					if err != nil || !found || !bytes.HasPrefix(got, []byte(fmt.Sprintf("%d-", g))) {
						errs <- fmt.Errorf("Get(%s) = %q, %v, %v", key, got, found, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
}

func runGetOrLoad(t *testing.T, newCache Factory, each caseRunner) {
	ctx := context.Background()
	type user struct {
		ID    string   `json:"id"`
		Email string   `json:"email"`
		Tags  []string `json:"tags"`
	}
	newLayer := func(t *testing.T) (*cache.Layer, Harness) {
		h := newCache(t)
		cfg := cache.DefaultConfig()
		cfg.Timeout = 2 * time.Second // the backend is healthy: a slow CI runner must not fail open
		l, err := cache.NewLayer(h.Cache, cfg, nil, noop.NewMeterProvider())
		if err != nil {
			t.Fatal(err)
		}
		return l, h
	}

	each(t, "MissThenHit", func(t *testing.T) {
		l, h := newLayer(t)
		var calls atomic.Int32
		load := func(context.Context) (user, error) {
			calls.Add(1)
			return user{ID: "1", Email: "a@example.com", Tags: []string{"x"}}, nil
		}
		for range 3 {
			u, err := cache.GetOrLoad(ctx, l, "user:1", time.Minute, load)
			if err != nil || u.Email != "a@example.com" || !slices.Equal(u.Tags, []string{"x"}) {
				t.Fatalf("GetOrLoad = %+v, %v", u, err)
			}
		}
		if n := calls.Load(); n != 1 {
			t.Fatalf("loader ran %d times for three lookups; want 1", n)
		}
		if raw := mustGet(t, h.Cache, "user:1"); string(raw) != `{"id":"1","email":"a@example.com","tags":["x"]}` {
			t.Fatalf("cached bytes = %s; want the JSON of the value", raw)
		}
	})

	each(t, "ThousandConcurrentMissesLoadOnce", func(t *testing.T) {
		l, _ := newLayer(t)
		const n = 1000
		var calls atomic.Int32
		release := make(chan struct{})
		load := func(context.Context) (user, error) {
			calls.Add(1)
			<-release
			return user{ID: "42"}, nil
		}
		var started, wg sync.WaitGroup
		started.Add(n)
		results := make([]user, n)
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				started.Done()
				results[i], errs[i] = cache.GetOrLoad(ctx, l, "user:42", time.Minute, load)
			})
		}
		started.Wait()
		time.Sleep(50 * time.Millisecond) // let the goroutines reach the flight
		close(release)
		wg.Wait()
		if c := calls.Load(); c != 1 {
			t.Fatalf("loader ran %d times for %d concurrent misses; want 1", c, n)
		}
		for i := range n {
			if errs[i] != nil || results[i].ID != "42" {
				t.Fatalf("caller %d got %+v, %v", i, results[i], errs[i])
			}
		}
	})

	each(t, "CallersDoNotShareValues", func(t *testing.T) {
		l, _ := newLayer(t)
		release := make(chan struct{})
		load := func(context.Context) (user, error) {
			<-release
			return user{ID: "7", Tags: []string{"a"}}, nil
		}
		var wg sync.WaitGroup
		res := make([]user, 2)
		for i := range res {
			wg.Go(func() { res[i], _ = cache.GetOrLoad(ctx, l, "user:7", time.Minute, load) })
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
		wg.Wait()
		if len(res[0].Tags) != 1 || len(res[1].Tags) != 1 {
			t.Fatalf("results = %+v", res)
		}
		res[0].Tags[0] = "mutated"
		if res[1].Tags[0] != "a" {
			t.Fatal("two callers share the same backing array")
		}
	})

	each(t, "ErrorsAreNotCached", func(t *testing.T) {
		l, _ := newLayer(t)
		var calls atomic.Int32
		boom := errors.New("source down")
		load := func(context.Context) (int, error) { calls.Add(1); return 0, boom }
		for range 2 {
			if _, err := cache.GetOrLoad(ctx, l, "n:1", time.Minute, load); !errors.Is(err, boom) {
				t.Fatalf("error = %v; want the loader's", err)
			}
		}
		if c := calls.Load(); c != 2 {
			t.Fatalf("loader ran %d times; a failed load must not be cached", c)
		}
	})

	each(t, "NegativeCaching", func(t *testing.T) {
		l, _ := newLayer(t)
		var calls atomic.Int32
		load := func(context.Context) (user, error) {
			calls.Add(1)
			return user{}, apperr.New(apperr.NotFound, "user_not_found", "user not found")
		}
		for range 3 {
			_, err := cache.GetOrLoad(ctx, l, "user:ghost", time.Minute, load, cache.NegativeTTL(200*time.Millisecond))
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.NotFound || e.Code != "user_not_found" || e.Message != "user not found" {
				t.Fatalf("error = %v; want NotFound user_not_found", err)
			}
		}
		if c := calls.Load(); c != 1 {
			t.Fatalf("loader ran %d times with negative caching; want 1", c)
		}
		time.Sleep(400 * time.Millisecond) // past the negative TTL, even with jitter
		_, _ = cache.GetOrLoad(ctx, l, "user:ghost", time.Minute, load, cache.NegativeTTL(200*time.Millisecond))
		if c := calls.Load(); c != 2 {
			t.Fatalf("loader ran %d times after the negative entry expired; want 2", c)
		}
		// Without the option a NotFound is not cached.
		_, _ = cache.GetOrLoad(ctx, l, "user:ghost2", time.Minute, load)
		_, _ = cache.GetOrLoad(ctx, l, "user:ghost2", time.Minute, load)
		if c := calls.Load(); c != 4 {
			t.Fatalf("loader ran %d times; NotFound was cached without NegativeTTL", c)
		}
	})

	each(t, "UndecodableEntryIsReloaded", func(t *testing.T) {
		l, h := newLayer(t)
		mustSet(t, h.Cache, "n:2", []byte(`"not a number"`), time.Minute)
		got, err := cache.GetOrLoad(ctx, l, "n:2", time.Minute, func(context.Context) (int, error) { return 5, nil })
		if err != nil || got != 5 {
			t.Fatalf("GetOrLoad over a stale type = %d, %v; want 5, nil", got, err)
		}
		if raw := mustGet(t, h.Cache, "n:2"); string(raw) != "5" {
			t.Fatalf("stale entry not overwritten: %s", raw)
		}
	})

	each(t, "WaiterCancellation", func(t *testing.T) {
		l, h := newLayer(t)
		release := make(chan struct{})
		var leaderErr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, leaderErr = cache.GetOrLoad(ctx, l, "n:3", time.Minute, func(context.Context) (int, error) {
				<-release
				return 3, nil
			})
		}()
		time.Sleep(20 * time.Millisecond)
		wctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := cache.GetOrLoad(wctx, l, "n:3", time.Minute, func(context.Context) (int, error) { return 0, nil }); !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiter got %v; want context.Canceled", err)
		}
		close(release)
		<-done
		if leaderErr != nil {
			t.Fatalf("leader: %v", leaderErr)
		}
		if raw := mustGet(t, h.Cache, "n:3"); string(raw) != "3" {
			t.Fatalf("value not cached after a waiter gave up: %s", raw)
		}
	})

	each(t, "LoaderPanicReachesCaller", func(t *testing.T) {
		l, _ := newLayer(t)
		defer func() {
			if p := recover(); p == nil || !strings.Contains(fmt.Sprint(p), "kaboom") {
				t.Fatalf("recovered %v; want the loader's panic", p)
			}
		}()
		_, _ = cache.GetOrLoad(ctx, l, "n:4", time.Minute, func(context.Context) (int, error) { panic("kaboom") })
		t.Fatal("GetOrLoad returned after its loader panicked")
	})

	each(t, "InvalidArguments", func(t *testing.T) {
		l, _ := newLayer(t)
		called := false
		load := func(context.Context) (int, error) { called = true; return 1, nil }
		if _, err := cache.GetOrLoad(ctx, l, "", time.Minute, load); !isInvalid(err, cache.CodeKeyInvalid) {
			t.Errorf("empty key error = %v", err)
		}
		if _, err := cache.GetOrLoad(ctx, l, "n:5", 0, load); !isInvalid(err, cache.CodeTTLInvalid) {
			t.Errorf("zero TTL error = %v", err)
		}
		if called {
			t.Error("loader ran despite invalid arguments")
		}
	})
}

func isInvalid(err error, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == apperr.Invalid && e.Code == code
}

func mustSet(t *testing.T, c cache.Cache, key string, v []byte, ttl time.Duration) {
	t.Helper()
	if err := c.Set(context.Background(), key, v, ttl); err != nil {
		t.Fatalf("Set(%s): %v", key, err)
	}
}

func mustGet(t *testing.T, c cache.Cache, key string) []byte {
	t.Helper()
	v, found, err := c.Get(context.Background(), key)
	if err != nil || !found {
		t.Fatalf("Get(%s) = %q, %v, %v; want a hit", key, v, found, err)
	}
	return v
}
