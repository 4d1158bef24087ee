package memory_test

import (
	"context"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

type flatUser struct {
	ID    [16]byte
	Email string
	Admin bool
}

type listUser struct {
	Email string
	Roles []string
}

func newLayer(t *testing.T) (*memory.Cache, *cache.Layer) {
	t.Helper()
	c, cleanup, err := memory.NewCache(memory.DefaultCacheConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	l, err := cache.NewLayer(c, cache.DefaultConfig(), nil, metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	return c, l
}

// TestDecodedValuesFollowTheBytes: the decoded value kept for hits is
// replaced as soon as the entry's bytes are, and a stored corrupt entry is a
// miss, not a stale value.
func TestDecodedValuesFollowTheBytes(t *testing.T) {
	c, l := newLayer(t)
	ctx := context.Background()
	loads := 0
	load := func(email string) func(context.Context) (flatUser, error) {
		return func(context.Context) (flatUser, error) { loads++; return flatUser{Email: email}, nil }
	}
	for range 3 {
		u, err := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load("a@x.test"))
		if err != nil || u.Email != "a@x.test" {
			t.Fatalf("%v %v", u, err)
		}
	}
	if loads != 1 {
		t.Fatalf("loaded %d times, want 1", loads)
	}
	if err := l.Set(ctx, "user:1", []byte(`{"Email":"b@x.test"}`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if u, _ := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load("never")); u.Email != "b@x.test" {
		t.Fatalf("after Set: %q, want the new bytes' value", u.Email)
	}
	if err := c.Set(ctx, "user:1", []byte(`{not json`), time.Hour); err != nil {
		t.Fatal(err)
	}
	if u, _ := cache.GetOrLoad(ctx, l, "user:1", time.Hour, load("c@x.test")); u.Email != "c@x.test" || loads != 2 {
		t.Fatalf("corrupt entry: %q after %d loads, want a reload", u.Email, loads)
	}
}

// TestValuesWithSharedMemoryAreDecodedPerCaller: a type with a slice is
// never handed out twice, so one caller's mutation cannot reach another.
func TestValuesWithSharedMemoryAreDecodedPerCaller(t *testing.T) {
	_, l := newLayer(t)
	ctx := context.Background()
	load := func(context.Context) (listUser, error) {
		return listUser{Email: "a@x.test", Roles: []string{"user"}}, nil
	}
	first, err := cache.GetOrLoad(ctx, l, "roles:1", time.Hour, load)
	if err != nil {
		t.Fatal(err)
	}
	first.Roles[0] = "admin"
	second, _ := cache.GetOrLoad(ctx, l, "roles:1", time.Hour, load)
	second.Roles[0] = "admin"
	third, _ := cache.GetOrLoad(ctx, l, "roles:1", time.Hour, load)
	if third.Roles[0] != "user" {
		t.Fatalf("a caller's mutation leaked into the cache: %v", third.Roles)
	}
}

func TestNegativeEntriesOnTheFastPath(t *testing.T) {
	_, l := newLayer(t)
	ctx := context.Background()
	calls := 0
	load := func(context.Context) (flatUser, error) {
		calls++
		return flatUser{}, apperr.New(apperr.NotFound, "user_not_found", "No such user.")
	}
	for range 3 {
		_, err := cache.GetOrLoad(ctx, l, "user:404", time.Hour, load, cache.NegativeTTL(time.Minute))
		if !apperr.Is(err, apperr.NotFound) || apperr.CodeOf(err) != "user_not_found" {
			t.Fatalf("err %v", err)
		}
	}
	if calls != 1 {
		t.Fatalf("loader ran %d times, want 1", calls)
	}
}
