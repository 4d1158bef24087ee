package secrets_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/secrets"
)

// keySets records what WatchKey applied.
type keySets struct {
	mu   sync.Mutex
	sets [][]string // current first
	deny func(current string) error
}

func (k *keySets) apply(current []byte, previous [][]byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.deny != nil {
		if err := k.deny(string(current)); err != nil {
			return err
		}
	}
	set := []string{string(current)}
	for _, p := range previous {
		set = append(set, string(p))
	}
	k.sets = append(k.sets, set)
	return nil
}

func (k *keySets) last() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.sets) == 0 {
		return nil
	}
	return k.sets[len(k.sets)-1]
}

const (
	oldKey = "old-key-0123456789abcdef0123456789abcdef"
	watchT = time.Minute // the service's SECRETS_CACHE_TTL
)

// cli is a second Resolver over the same store: the operator's process.
func (e *rotationEnv) cli(t *testing.T) *secrets.Resolver {
	t.Helper()
	r, cleanup, err := secrets.NewResolver(secrets.ResolverConfig{TTL: watchT}, secrets.Providers{
		secrets.SchemeFile: e.store, secrets.SchemeVault: e.store}, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return r
}

func (e *rotationEnv) rotate(t *testing.T, ref string, grace time.Duration) secrets.Secret {
	t.Helper()
	cli := e.cli(t)
	r := secrets.MustParseRef(ref)
	_, err := secrets.Rotate(context.Background(), cli, secrets.RotateRequest{
		Spec:    secrets.KeySpec{Setting: "JWT_SIGNING_KEY", Bytes: 32, Grace: grace},
		Setting: secrets.Setting{Var: "JWT_SIGNING_KEY", Ref: r}, Now: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.store.Get(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (e *rotationEnv) watch(t *testing.T, ref string, k *keySets, grace time.Duration, configured ...secrets.Secret) *secrets.KeyWatch {
	t.Helper()
	r := secrets.MustParseRef(ref)
	cur, err := e.r.Get(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	w, stop, err := secrets.WatchKey(context.Background(), e.r, secrets.KeyWatchConfig{
		Setting: "JWT_SIGNING_KEY", Current: cur, Ref: r, Grace: grace, Configured: configured,
		Apply: k.apply, Log: slog.New(slog.NewJSONHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return w
}

func wantSet(t *testing.T, k *keySets, what string, want ...string) {
	t.Helper()
	if got := k.last(); !slices.Equal(got, want) {
		short := func(ss []string) []string {
			out := make([]string, len(ss))
			for i, s := range ss {
				out[i] = s[:min(8, len(s))]
			}
			return out
		}
		t.Fatalf("%s: key set %v, want %v", what, short(got), short(want))
	}
}

// TestWatchKeyFollowsARotationThenDropsTheOldKey is the running service's
// timeline: the operator rotates from another process; within the cache
// TTL the service signs with the new key and still accepts the old one;
// when the grace period written in the history ends, the old key is gone.
func TestRotationWatchFollowsARotationThenDropsTheOldKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, watchT)
		const ref = "vault:secret/app#jwt"
		e.store.Set(secrets.MustParseRef("vault:secret/app"), `{"jwt":"`+oldKey+`"}`)
		k := &keySets{}
		e.watch(t, ref, k, 40*time.Minute)
		wantSet(t, k, "at start", oldKey)

		rotatedAt := time.Now()
		newKey := e.rotate(t, ref, 10*time.Minute).Reveal()
		synctest.Wait()
		wantSet(t, k, "right after the write (the cache is still fresh)", oldKey)

		time.Sleep(watchT)
		synctest.Wait()
		wantSet(t, k, "one TTL after the rotation", newKey, oldKey)

		// The history's Until (rotation + 10m) wins over the process's own
		// 40 minutes.
		time.Sleep(time.Until(rotatedAt.Add(10*time.Minute)) - time.Second)
		synctest.Wait()
		wantSet(t, k, "just before the grace period ends", newKey, oldKey)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		wantSet(t, k, "after the grace period", newKey)
	})
}

// TestWatchKeyRestartReadsTheHistory: a process started after a rotation
// learns the previous key from the history.
func TestRotationWatchRestartReadsTheHistory(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, watchT)
		const ref = "file:/keys/jwt"
		e.store.Set(secrets.MustParseRef(ref), oldKey)
		newKey := e.rotate(t, ref, 15*time.Minute).Reveal()
		time.Sleep(5 * time.Minute)

		k := &keySets{}
		e.watch(t, ref, k, 0, secrets.New("configured-previous-key-0123456789abcdef", ""))
		wantSet(t, k, "restarted during the grace period", newKey, oldKey, "configured-previous-key-0123456789abcdef")
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		wantSet(t, k, "after the grace period (configured keys stay)", newKey, "configured-previous-key-0123456789abcdef")
	})
}

// TestWatchKeyWithoutGraceKeepsReplacedKeys is the MFA case: a key the
// service saw replaced stays, however long.
func TestRotationWatchWithoutGraceKeepsReplacedKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, watchT)
		const ref = "file:/keys/mfa"
		e.store.Set(secrets.MustParseRef(ref), oldKey)
		k := &keySets{}
		e.watch(t, ref, k, 0)
		newKey := e.rotate(t, ref, 0).Reveal()
		time.Sleep(48 * time.Hour)
		synctest.Wait()
		wantSet(t, k, "long after an MFA rotation", newKey, oldKey)
	})
}

// TestWatchKeyReloadOnUnknownKey: a consumer that meets a key ID it does
// not know gets the rotated key at once instead of after the TTL; reloads
// are rate limited.
func TestRotationWatchReloadOnUnknownKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, watchT)
		const ref = "vault:secret/app#jwt"
		e.store.Set(secrets.MustParseRef("vault:secret/app"), `{"jwt":"`+oldKey+`"}`)
		k := &keySets{}
		w := e.watch(t, ref, k, time.Hour)
		newKey := e.rotate(t, ref, time.Hour).Reveal()

		var wg sync.WaitGroup
		results := make([]bool, 4)
		for i := range results {
			wg.Go(func() { results[i] = w.Reload(context.Background()) })
		}
		wg.Wait()
		wantSet(t, k, "after Reload", newKey, oldKey)
		if slices.Contains(results, false) {
			t.Fatalf("concurrent Reloads %v: each should learn of the one that found the new key", results)
		}
		gets, _ := e.store.Counts()
		if !w.Reload(context.Background()) {
			t.Fatal("a Reload just after the one that found the new key must say so")
		}
		if g, _ := e.store.Counts(); g != gets {
			t.Fatalf("a Reload within the interval reached the backend (%d reads)", g-gets)
		}
		time.Sleep(secrets.DefaultMinReloadInterval)
		if w.Reload(context.Background()) {
			t.Fatal("a Reload with nothing new reported a change")
		}
	})
}

func TestRotationWatchRefusedKeyKeepsTheSet(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, watchT)
		ref := secrets.MustParseRef("file:/keys/jwt")
		e.store.Set(ref, oldKey)
		k := &keySets{deny: func(cur string) error {
			if strings.HasPrefix(cur, "short") {
				return errors.New("key too short")
			}
			return nil
		}}
		e.watch(t, ref.String(), k, time.Hour)
		e.store.Set(ref, "short")
		time.Sleep(watchT)
		synctest.Wait()
		wantSet(t, k, "after a refused key", oldKey)
		if !strings.Contains(e.logs.String(), "rotated key refused") {
			t.Fatalf("no log of the refusal:\n%s", e.logs.String())
		}

		// At start, a refused key fails WatchKey.
		_, _, err := secrets.WatchKey(context.Background(), e.r, secrets.KeyWatchConfig{
			Setting: "JWT_SIGNING_KEY", Current: secrets.New("short", ""), Ref: ref, Apply: k.apply})
		if err == nil {
			t.Fatal("WatchKey accepted a key Apply refuses")
		}
	})
}

func TestRotationWatchLiteralIsAppliedOnce(t *testing.T) {
	k := &keySets{}
	w, stop, err := secrets.WatchKey(context.Background(), nil, secrets.KeyWatchConfig{
		Setting: "JWT_SIGNING_KEY", Current: secrets.New(oldKey, ""), Apply: k.apply})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	wantSet(t, k, "literal", oldKey)
	if w.Reload(context.Background()) {
		t.Fatal("a literal reloaded")
	}
}
