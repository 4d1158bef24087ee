package secrets_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

// t0 is the instant the rotation tests name (RotateRequest.Now).
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type rotationEnv struct {
	r     *secrets.Resolver
	store *secretstest.MemoryStore
	logs  *lockedBuffer
}

// newRotationEnv is a Resolver over a MemoryStore serving file: and vault:
// (writable) and a read-only env: backend.
func newRotationEnv(t *testing.T, ttl time.Duration) *rotationEnv {
	t.Helper()
	e := &rotationEnv{store: secretstest.NewMemoryStore(secrets.SchemeFile, secrets.SchemeVault), logs: &lockedBuffer{}}
	env := newBackend()
	env.set("JWT_KEY", "env-key-value-0123456789abcdef0123456789")
	r, cleanup, err := secrets.NewResolver(secrets.ResolverConfig{TTL: ttl},
		secrets.Providers{secrets.SchemeFile: e.store, secrets.SchemeVault: e.store, secrets.SchemeEnv: env},
		slog.New(slog.NewJSONHandler(e.logs, nil)), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	e.r = r
	return e
}

func (e *rotationEnv) setting(t *testing.T, ref string) secrets.Setting {
	t.Helper()
	r := secrets.MustParseRef(ref)
	s, err := e.r.Get(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return secrets.Setting{Var: "JWT_SIGNING_KEY", Ref: r, Value: s}
}

func (e *rotationEnv) history(t *testing.T, ref string) secrets.KeyHistory {
	t.Helper()
	h, err := secrets.HistoryRef(secrets.MustParseRef(ref))
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.store.Get(context.Background(), h)
	if err != nil {
		t.Fatalf("read history %s: %v", h, err)
	}
	kh, err := secrets.ParseKeyHistory(s)
	if err != nil {
		t.Fatal(err)
	}
	return kh
}

var jwtSpec = secrets.KeySpec{Setting: "JWT_SIGNING_KEY", Bytes: 32, Grace: 20 * time.Minute}

func TestRotateKeyedRefKeepsOtherFieldsAndThePreviousKey(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	const old = "old-jwt-key-0123456789abcdef0123456789"
	e.store.Set(secrets.MustParseRef("vault:secret/app"), `{"jwt":"`+old+`","db_password":"pw"}`)
	ctx := secrets.WithWriteInfo(context.Background(), secrets.WriteInfo{Actor: "cli:alice@host"})
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	var checked []byte
	spec := jwtSpec
	spec.Check = func(k []byte) error { checked = k; return nil }

	res, err := secrets.Rotate(ctx, e.r, secrets.RotateRequest{Spec: spec, Setting: e.setting(t, "vault:secret/app#jwt"), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if res.OldVersion != "1" || res.NewVersion != "3" || res.HistoryRef.String() != "vault:secret/app#jwt_previous" || res.Bits != 256 {
		t.Fatalf("result %+v", res)
	}
	cur, err := e.store.Get(ctx, secrets.MustParseRef("vault:secret/app#jwt"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(cur.Reveal())
	if err != nil || len(raw) != 32 || cur.Reveal() == old || string(checked) != cur.Reveal() {
		t.Fatalf("new key: %d random bytes (%v), checked %v", len(raw), err, string(checked) == cur.Reveal())
	}
	if pw, _ := e.store.Get(ctx, secrets.MustParseRef("vault:secret/app#db_password")); pw.Reveal() != "pw" {
		t.Fatal("another field of the secret was lost")
	}
	h := e.history(t, "vault:secret/app#jwt")
	if len(h.Keys) != 1 || h.Keys[0].Value.Reveal() != old || h.Keys[0].Version != "1" ||
		!h.Keys[0].RetiredAt.Equal(now) || !h.Keys[0].Until.Equal(now.Add(20*time.Minute)) {
		t.Fatalf("history %+v", h.Keys)
	}

	// The audit lines: who, which setting, which versions; never a key.
	logs := e.logs.String()
	for _, want := range []string{`"msg":"secret written"`, `"actor":"cli:alice@host"`, `"setting":"JWT_SIGNING_KEY"`,
		`"reason":"rotate"`, `"ref":"vault:secret/app#jwt"`, `"version":"3"`, `"if_version":"2"`, `"ref":"vault:secret/app#jwt_previous"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("audit log lacks %s:\n%s", want, logs)
		}
	}
	if strings.Contains(logs, old) || strings.Contains(logs, cur.Reveal()) {
		t.Fatal("a key reached the logs")
	}

	// A second rotation keeps both previous keys, newest first.
	second, err := secrets.Rotate(ctx, e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: e.setting(t, "vault:secret/app#jwt"), Now: now.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if h := e.history(t, "vault:secret/app#jwt"); len(h.Keys) != 2 || !h.Keys[0].Value.Equal(cur) || h.Keys[1].Value.Reveal() != old || second.Kept != 2 {
		t.Fatalf("after a second rotation: %d keys, kept %d", len(h.Keys), second.Kept)
	}
	// Once the grace period is over, the next rotation drops the key.
	third, err := secrets.Rotate(ctx, e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: e.setting(t, "vault:secret/app#jwt"), Now: now.Add(20*time.Minute + 30*time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	if third.Dropped != 1 || third.Kept != 2 {
		t.Fatalf("third rotation: dropped %d kept %d, want 1 and 2", third.Dropped, third.Kept)
	}
}

func TestRotateWholeFileKeepsHistoryInASibling(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	ref := secrets.MustParseRef("file:/keys/mfa")
	e.store.Set(ref, "old-mfa-key-0123456789abcdef0123456789")
	spec := secrets.KeySpec{Setting: "MFA_ENCRYPTION_KEY", Bytes: 32} // no grace: kept
	res, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: spec, Setting: e.setting(t, "file:/keys/mfa"), Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	if res.HistoryRef.String() != "file:/keys/mfa.previous" || !res.KeptUntil.IsZero() || res.NewVersion != "2" {
		t.Fatalf("result %+v", res)
	}
	h := e.history(t, "file:/keys/mfa")
	if len(h.Keys) != 1 || !h.Keys[0].Until.IsZero() || h.Keys[0].Expired(t0.Add(1000*time.Hour)) {
		t.Fatalf("an MFA key must be kept: %+v", h.Keys)
	}

	// Roll back: the previous key is current again, and the replaced one
	// is kept in its place.
	replaced, _ := e.store.Get(context.Background(), ref)
	rb, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: spec, Setting: e.setting(t, "file:/keys/mfa"), Now: t0.Add(time.Hour), Rollback: true})
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := e.store.Get(context.Background(), ref)
	if cur.Reveal() != "old-mfa-key-0123456789abcdef0123456789" || !rb.Rollback || rb.Bits != 0 {
		t.Fatalf("after rollback the current key is not the previous one (%+v)", rb)
	}
	if h := e.history(t, "file:/keys/mfa"); len(h.Keys) != 1 || !h.Keys[0].Value.Equal(replaced) {
		t.Fatalf("after rollback the history holds %d keys, want the replaced one", len(h.Keys))
	}
}

func TestRotateDryRunWritesNothing(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	e.store.Set(secrets.MustParseRef("file:/k"), "current-key-0123456789abcdef0123456789")
	res, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: e.setting(t, "file:/k"), Now: t0, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, puts := e.store.Counts(); puts != 0 || res.NewVersion != "" || !res.DryRun || res.OldVersion != "1" {
		t.Fatalf("dry run: %d writes, result %+v", puts, res)
	}
}

func TestRotateRefusesWhatCannotBeWritten(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	e.store.Set(secrets.MustParseRef("vault:secret/whole"), `{"a":"b"}`)
	envRef := secrets.MustParseRef("env:JWT_KEY")
	cases := map[string]struct {
		setting secrets.Setting
		want    string
	}{
		"literal":     {secrets.Setting{Var: "JWT_SIGNING_KEY", Literal: true, Value: secrets.New("x", "")}, "literal"},
		"env":         {secrets.Setting{Var: "JWT_SIGNING_KEY", Ref: envRef}, "environment"},
		"unset":       {secrets.Setting{}, "not set"},
		"pinned":      {secrets.Setting{Var: "JWT_SIGNING_KEY", Ref: secrets.MustParseRef("vault:secret/app?version=3#jwt")}, "pins a version"},
		"vault whole": {secrets.Setting{Var: "JWT_SIGNING_KEY", Ref: secrets.MustParseRef("vault:secret/whole")}, "#key"},
	}
	for name, c := range cases {
		_, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: c.setting, Now: t0})
		if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "JWT_SIGNING_KEY: ") {
			t.Errorf("%s: %v, want Invalid naming the setting and %q", name, err, c.want)
		}
	}
	if _, puts := e.store.Counts(); puts != 0 {
		t.Fatalf("%d writes for refused rotations", puts)
	}
}

// TestConcurrentRotationsLoseNoKey: another operator writes between our
// read and our write; the check-and-set makes ours fail, and the history
// still holds every key that was ever current.
func TestConcurrentRotationsLoseNoKey(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	ref := secrets.MustParseRef("vault:secret/app#jwt")
	e.store.Set(ref, `{"jwt":"key-one-0123456789abcdef0123456789"}`)
	setting := e.setting(t, ref.String())
	var once bool
	e.store.BeforePut = func(secrets.Ref) {
		if once {
			return
		}
		once = true
		// The other operator's whole rotation, done while ours is between
		// its read and its first write.
		e.store.BeforePut = nil
		if _, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: setting, Now: t0}); err != nil {
			t.Errorf("the other rotation: %v", err)
		}
	}
	_, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: setting, Now: t0})
	if !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("the rotation that lost the race: %v, want Conflict", err)
	}
	h := e.history(t, ref.String())
	if len(h.Keys) != 1 || h.Keys[0].Value.Reveal() != "key-one-0123456789abcdef0123456789" {
		t.Fatalf("history after the race: %d keys", len(h.Keys))
	}
}

func TestRotateReportsAFailedWriteWithoutTheKey(t *testing.T) {
	e := newRotationEnv(t, time.Minute)
	e.store.Set(secrets.MustParseRef("file:/k"), "current-key-0123456789abcdef0123456789")
	e.store.FailPuts(secrets.WriteUnavailable("memory", secrets.MustParseRef("file:/k.previous"), errors.New("disk on fire")))
	var buf bytes.Buffer
	_, err := secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: e.setting(t, "file:/k"), Now: t0, Rand: &buf})
	if err == nil || !strings.Contains(err.Error(), "generate") {
		t.Fatalf("empty random source: %v", err)
	}
	_, err = secrets.Rotate(context.Background(), e.r, secrets.RotateRequest{Spec: jwtSpec, Setting: e.setting(t, "file:/k"), Now: t0})
	if !apperr.Is(err, apperr.Unavailable) || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("failed history write: %v", err)
	}
	if !strings.Contains(e.logs.String(), `"msg":"secret write failed"`) {
		t.Fatalf("no audit line for the failed write:\n%s", e.logs.String())
	}
	if cur, _ := e.store.Get(context.Background(), secrets.MustParseRef("file:/k")); cur.Reveal() != "current-key-0123456789abcdef0123456789" {
		t.Fatal("the key changed although the history write failed")
	}
}

func TestSecretWriteRefreshesCachedFieldsAndNotifies(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, time.Hour)
		e.store.Set(secrets.MustParseRef("vault:secret/app"), `{"a":"one","b":"two"}`)
		ctx := context.Background()
		refB := secrets.MustParseRef("vault:secret/app#b")
		var notified []string
		cur, cancel, err := e.r.Subscribe(ctx, refB, func(s secrets.Secret) { notified = append(notified, s.Reveal()) })
		if err != nil {
			t.Fatal(err)
		}
		defer cancel()
		if _, err := e.r.Put(ctx, refB, secrets.New("three", ""), cur.Version()); err != nil {
			t.Fatal(err)
		}
		// No time passes in the bubble: the cache was refreshed by the write itself.
		if s, _ := e.r.Get(ctx, refB); s.Reveal() != "three" || len(notified) != 1 || notified[0] != "three" {
			t.Fatalf("after Put: Get %q, notified %v", s.Reveal(), notified)
		}
		if _, err := e.r.Put(ctx, secrets.MustParseRef("env:JWT_KEY"), secrets.New("x", ""), ""); !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeReadOnly {
			t.Fatalf("Put through a provider that cannot write: %v", err)
		}
	})
}

func TestSecretReloadReturnsTheBackendsAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newRotationEnv(t, time.Hour)
		ref := secrets.MustParseRef("file:/k")
		e.store.Set(ref, "v1")
		ctx := context.Background()
		if s, _ := e.r.Get(ctx, ref); s.Reveal() != "v1" {
			t.Fatal(s.Reveal())
		}
		e.store.Set(ref, "v2")
		if s, _ := e.r.Get(ctx, ref); s.Reveal() != "v1" {
			t.Fatal("the cache should still serve v1")
		}
		if s, err := e.r.Reload(ctx, ref); err != nil || s.Reveal() != "v2" {
			t.Fatalf("Reload = %q, %v", s.Reveal(), err)
		}
		if s, _ := e.r.Get(ctx, ref); s.Reveal() != "v2" {
			t.Fatal("Reload did not update the cache")
		}
	})
}
