package secretstest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

// WriterFixture is one secrets.Writer under test. Its Fixture's Provider
// reads back what the Writer wrote, and its PutFields seeds JSON objects in
// the backend directly.
type WriterFixture struct {
	Fixture
	// Writer is the implementation under test.
	Writer secrets.Writer
	// New returns a reference, without #key, to a secret called name that
	// does not exist yet.
	New func(t *testing.T, name string) secrets.Ref
	// WholeIsObject is true when every secret of the backend is a JSON
	// object by nature (Vault's data maps): a write without #key must then
	// be an object.
	WholeIsObject bool
}

func withKey(ref secrets.Ref, key string) secrets.Ref {
	ref.Key = key
	return ref
}

// RunWriter runs the writer part of the contract: put then get, updates
// with check-and-set, conflicts, keyed updates that keep the other keys,
// concurrent writers.
func RunWriter(t *testing.T, newFixture func(t *testing.T) WriterFixture) {
	ctx := context.Background()
	get := func(t *testing.T, f WriterFixture, ref secrets.Ref) secrets.Secret {
		t.Helper()
		s, err := f.Provider.Get(ctx, ref)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		return s
	}
	put := func(t *testing.T, f WriterFixture, ref secrets.Ref, value, ifVersion string) string {
		t.Helper()
		v, err := f.Writer.Put(ctx, ref, secrets.New(value, ""), ifVersion)
		if err != nil {
			t.Fatalf("Put(%s, if version %q): %v", ref, ifVersion, err)
		}
		if v == "" {
			t.Fatalf("Put(%s) returned an empty version", ref)
		}
		return v
	}

	t.Run("PutThenGet", func(t *testing.T) {
		f := newFixture(t)
		ref := withKey(f.New(t, name()), "token")
		v1 := put(t, f, ref, "first-ünï-"+name(), secrets.NoVersion)
		if got := get(t, f, ref); !strings.HasPrefix(got.Reveal(), "first-ünï-") || got.Version() != v1 {
			t.Fatalf("after create: Get = version %q, want the value written and version %q", got.Version(), v1)
		}
		v2 := put(t, f, ref, "second-value", v1)
		if v2 == v1 {
			t.Fatalf("update returned the same version %q", v1)
		}
		if got := get(t, f, ref); got.Reveal() != "second-value" || got.Version() != v2 {
			t.Fatalf("after update: Get = %q version %q, want second-value version %q", got.Reveal(), got.Version(), v2)
		}
	})

	t.Run("WholeValue", func(t *testing.T) {
		f := newFixture(t)
		ref := f.New(t, name())
		if f.WholeIsObject {
			_, err := f.Writer.Put(ctx, ref, secrets.New("not an object", ""), secrets.NoVersion)
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("whole write of a non-object: %v, want Invalid", err)
			}
			put(t, f, ref, `{"a":"α","b":"2"}`, secrets.NoVersion)
			if got := get(t, f, withKey(ref, "a")); got.Reveal() != "α" {
				t.Fatalf("field a = %q after a whole write", got.Reveal())
			}
			return
		}
		const v = "whole value: p@ss:w/o?r#d\nsecond line"
		put(t, f, ref, v, secrets.NoVersion)
		if got := get(t, f, ref); got.Reveal() != v {
			t.Fatalf("Get = %q, want %q", got.Reveal(), v)
		}
	})

	t.Run("CheckAndSetConflicts", func(t *testing.T) {
		f := newFixture(t)
		ref := withKey(f.New(t, name()), "token")
		v1 := put(t, f, ref, "value-one", secrets.NoVersion)
		v2 := put(t, f, ref, "value-two", v1)
		for _, c := range []struct{ what, ifVersion string }{
			{"create over an existing secret", secrets.NoVersion},
			{"update from a stale version", v1},
		} {
			_, err := f.Writer.Put(ctx, ref, secrets.New("lost-update-value", ""), c.ifVersion)
			if !apperr.Is(err, apperr.Conflict) || apperr.CodeOf(err) != secrets.CodeConflict {
				t.Fatalf("%s: error %v (kind %s), want Conflict %s", c.what, err, kindOf(err), secrets.CodeConflict)
			}
			assertNoValue(t, err.Error(), "lost-update-value")
			if !strings.Contains(err.Error(), ref.Path) {
				t.Errorf("%s: error %q does not name the reference", c.what, err)
			}
		}
		if got := get(t, f, ref); got.Reveal() != "value-two" || got.Version() != v2 {
			t.Fatalf("after refused writes: %q version %q, want value-two version %q", got.Reveal(), got.Version(), v2)
		}
		missing := withKey(f.New(t, name()), "token")
		if _, err := f.Writer.Put(ctx, missing, secrets.New("x", ""), v2); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("update of a secret that does not exist: %v, want Conflict", err)
		}
	})

	t.Run("KeyedUpdateKeepsOtherKeys", func(t *testing.T) {
		f := newFixture(t)
		fields := map[string]string{"username": "app_user", "password": "old-pw-" + name(), "host": "db.internal"}
		base := f.PutFields(t, name(), fields)
		cur := get(t, f, withKey(base, "password"))
		v := put(t, f, withKey(base, "password"), "new-pw-Ω", cur.Version())
		v = put(t, f, withKey(base, "extra"), "added", v)
		fields["password"], fields["extra"] = "new-pw-Ω", "added"
		for k, want := range fields {
			got := get(t, f, withKey(base, k))
			if got.Reveal() != want {
				t.Errorf("field %s = %q, want %q", k, got.Reveal(), want)
			}
			if got.Version() != v {
				t.Errorf("field %s has version %q, want the last write's %q", k, got.Version(), v)
			}
		}
		whole := get(t, f, base)
		for k, want := range fields {
			if got, err := secrets.JSONField(whole.Bytes(), k); err != nil || got != want {
				t.Errorf("whole object: field %s = %q, %v; want %q", k, got, err, want)
			}
		}
	})

	t.Run("KeyOnNonObjectIsMalformed", func(t *testing.T) {
		f := newFixture(t)
		if f.WholeIsObject {
			t.Skip("every secret of this backend is an object")
		}
		ref := f.New(t, name())
		v := put(t, f, ref, "plain text, not JSON", secrets.NoVersion)
		_, err := f.Writer.Put(ctx, withKey(ref, "k"), secrets.New("x", ""), v)
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeMalformedValue {
			t.Fatalf("#key on a non-object: %v, want Invalid %s", err, secrets.CodeMalformedValue)
		}
		if got := get(t, f, ref); got.Reveal() != "plain text, not JSON" {
			t.Fatal("the refused write changed the secret")
		}
	})

	t.Run("ConcurrentPutsOneWins", func(t *testing.T) {
		f := newFixture(t)
		ref := withKey(f.New(t, name()), "token")
		v1 := put(t, f, ref, "start", secrets.NoVersion)
		const n = 6
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won []string
		var errs []error
		for i := range n {
			wg.Go(func() {
				val := fmt.Sprintf("writer-%d", i)
				_, err := f.Writer.Put(ctx, ref, secrets.New(val, ""), v1)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, val)
				case apperr.Is(err, apperr.Conflict):
				default:
					errs = append(errs, err)
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("concurrent writers: unexpected errors: %v", err)
		}
		if len(won) != 1 {
			t.Fatalf("%d of %d writers with the same version succeeded (%v), want exactly 1", len(won), n, won)
		}
		if got := get(t, f, ref); got.Reveal() != won[0] {
			t.Fatalf("Get = %q, want the winner's %q", got.Reveal(), won[0])
		}
	})

	t.Run("RefusesOtherSchemesAndVersions", func(t *testing.T) {
		f := newFixture(t)
		other := secrets.MustParseRef("env:TRADESENSE_CONTRACT_OTHER")
		if _, err := f.Writer.Put(ctx, other, secrets.New("x", ""), secrets.NoVersion); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("Put(%s) on a %s writer: %v, want Invalid", other, f.Scheme, err)
		}
		pinned := withKey(f.New(t, name()), "k")
		pinned.Version = "1"
		if _, err := f.Writer.Put(ctx, pinned, secrets.New("x", ""), secrets.NoVersion); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("Put with a pinned version: %v, want Invalid", err)
		}
	})
}

// RunReadOnly checks a Writer that must refuse every write of ref (env:):
// the error is Invalid secret_backend_read_only, names the reference and
// gives a reason, and quotes no value.
func RunReadOnly(t *testing.T, w secrets.Writer, ref secrets.Ref) {
	t.Helper()
	_, err := w.Put(context.Background(), ref, secrets.New("refused-value-123", ""), secrets.NoVersion)
	if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeReadOnly {
		t.Fatalf("Put(%s) = %v (kind %s), want Invalid %s", ref, err, kindOf(err), secrets.CodeReadOnly)
	}
	msg := err.Error()
	if !strings.Contains(msg, ref.String()) {
		t.Errorf("error %q does not name the reference", msg)
	}
	if _, reason, ok := strings.Cut(msg, ref.String()+": "); !ok || len(reason) < 20 {
		t.Errorf("error %q gives no reason", msg)
	}
	assertNoValue(t, msg, "refused-value-123")
}
