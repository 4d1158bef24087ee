// Package secretstest holds the contract suite that every secrets.Provider
// passes. Code that uses the Resolver moves its time with testing/synctest.
package secretstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

// Fixture is one provider under test plus the means to store secrets in
// its backend.
type Fixture struct {
	// Provider is the implementation under test.
	Provider secrets.Provider
	// Scheme is the reference scheme Provider serves.
	Scheme string
	// Put stores value under name (a short [a-z0-9] token), replacing any
	// previous value, and returns a reference that reads the value back whole
	// (for Vault: a reference with #key to the field Put wrote).
	Put func(t *testing.T, name, value string) secrets.Ref
	// PutFields stores a JSON object (for Vault: a KV data map) under name and
	// returns a reference to it without a #key.
	PutFields func(t *testing.T, name string, fields map[string]string) secrets.Ref
	// Missing returns a reference of this scheme that names nothing.
	Missing func(t *testing.T, name string) secrets.Ref
	// Versioned is true when the backend reports a new Version on each Put.
	Versioned bool
}

var seq atomic.Int64

func name() string { return fmt.Sprintf("ct%d", seq.Add(1)) }

// Run runs the contract suite. newFixture is called once per subtest, so
// fixtures may be per-test (t.TempDir, an httptest server).
func Run(t *testing.T, newFixture func(t *testing.T) Fixture) {
	t.Run("GetReturnsStoredValue", func(t *testing.T) {
		f := newFixture(t)
		for _, v := range []string{
			"s3cr3t-value-0123456789",
			"pässwörd-✓-ünïcode",
			"line1\nline2",
			`p@ss:w/o?r#d%20&=+"'\`,
			`{"looks":"like json"}`,
		} {
			ref := f.Put(t, name(), v)
			got, err := f.Provider.Get(context.Background(), ref)
			if err != nil {
				t.Fatalf("Get(%s): %v", ref, err)
			}
			if got.Reveal() != v {
				t.Errorf("Get(%s) = %q, want %q", ref, got.Reveal(), v)
			}
			if !got.Equal(secrets.New(v, "")) {
				t.Errorf("Get(%s): Equal reports a difference", ref)
			}
			assertNoValue(t, fmt.Sprintf("%v %+v %#v %s", got, got, got, got), v)
		}
	})

	t.Run("MissingIsNotFound", func(t *testing.T) {
		f := newFixture(t)
		ref := f.Missing(t, name())
		_, err := f.Provider.Get(context.Background(), ref)
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get(%s) error = %v (kind %v), want NotFound", ref, err, kindOf(err))
		}
		if !strings.Contains(err.Error(), ref.Path) {
			t.Errorf("error %q does not name the reference %s", err, ref)
		}
	})

	t.Run("KeySelectsJSONField", func(t *testing.T) {
		f := newFixture(t)
		fields := map[string]string{"username": "app_user", "password": "pw-Ω-" + name(), "host": "db.internal"}
		ref := f.PutFields(t, name(), fields)
		for k, want := range fields {
			kref := ref
			kref.Key = k
			got, err := f.Provider.Get(context.Background(), kref)
			if err != nil {
				t.Fatalf("Get(%s): %v", kref, err)
			}
			if got.Reveal() != want {
				t.Errorf("Get(%s) = %q, want %q", kref, got.Reveal(), want)
			}
		}
		whole, err := f.Provider.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		for k, want := range fields {
			got, err := secrets.JSONField(whole.Bytes(), k)
			if err != nil || got != want {
				t.Errorf("whole value field %q = %q, %v; want %q", k, got, err, want)
			}
		}
	})

	t.Run("MissingKeyIsNotFound", func(t *testing.T) {
		f := newFixture(t)
		ref := f.PutFields(t, name(), map[string]string{"password": "hunter2-" + name()})
		ref.Key = "no_such_key"
		_, err := f.Provider.Get(context.Background(), ref)
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get(%s) error = %v (kind %v), want NotFound", ref, err, kindOf(err))
		}
		assertNoValue(t, err.Error(), "hunter2-")
	})

	t.Run("UpdateIsVisible", func(t *testing.T) {
		f := newFixture(t)
		n := name()
		ref := f.Put(t, n, "first-value-"+n)
		first, err := f.Provider.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		ref2 := f.Put(t, n, "second-value-"+n)
		if ref2 != ref {
			t.Fatalf("Put returned %s then %s for the same name", ref, ref2)
		}
		second, err := f.Provider.Get(context.Background(), ref)
		if err != nil {
			t.Fatalf("Get(%s) after update: %v", ref, err)
		}
		if second.Reveal() != "second-value-"+n {
			t.Errorf("after update Get = %q, want the new value", second.Reveal())
		}
		if f.Versioned {
			if first.Version() == "" || second.Version() == "" || first.Version() == second.Version() {
				t.Errorf("versions %q then %q: want two distinct non-empty versions", first.Version(), second.Version())
			}
		}
	})

	t.Run("WrongSchemeIsInvalid", func(t *testing.T) {
		f := newFixture(t)
		other := secrets.MustParseRef("env:TRADESENSE_CONTRACT_OTHER")
		if f.Scheme == secrets.SchemeEnv {
			other = secrets.MustParseRef("file:/nonexistent/tradesense")
		}
		_, err := f.Provider.Get(context.Background(), other)
		if !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("Get(%s) on a %s provider: error = %v, want Invalid", other, f.Scheme, err)
		}
	})

	t.Run("ConcurrentGets", func(t *testing.T) {
		f := newFixture(t)
		v := "concurrent-" + name()
		ref := f.Put(t, name(), v)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for range 8 {
			wg.Go(func() {
				for range 8 {
					got, err := f.Provider.Get(context.Background(), ref)
					if err != nil {
						errs <- err
						return
					}
					if got.Reveal() != v {
						errs <- fmt.Errorf("got a different value")
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

func kindOf(err error) string {
	if err == nil {
		return "none"
	}
	return apperr.KindOf(err).String()
}

// assertNoValue fails the test when s contains value.
func assertNoValue(t *testing.T, s, value string) {
	t.Helper()
	if value != "" && strings.Contains(s, value) {
		t.Errorf("output leaks the secret value: %q", s)
	}
}
