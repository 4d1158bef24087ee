package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/tradesense/tradesense/adapters/vault"
	"github.com/tradesense/tradesense/adapters/vault/vaultfake"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

const testToken = "hvs.test-token-0123456789"

func newProvider(t *testing.T, cfg vault.Config) *vault.Provider {
	t.Helper()
	p, cleanup, err := vault.New(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatalf("vault.New: %v", err)
	}
	t.Cleanup(cleanup)
	return p
}

func fakeWithToken(t *testing.T) *vaultfake.Server {
	f := vaultfake.New(t)
	f.AddToken(testToken, 0, false)
	return f
}

func tokenConfig(f *vaultfake.Server) vault.Config {
	return vault.Config{Addr: f.URL, Token: secrets.New(testToken, ""), Timeout: 5 * time.Second}
}

func fieldsToAny(fields map[string]string) map[string]any {
	m := make(map[string]any, len(fields))
	for k, v := range fields {
		m[k] = v
	}
	return m
}

func TestContractFakeKVv2(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		f := fakeWithToken(t)
		p := newProvider(t, tokenConfig(f))
		return secretstest.Fixture{
			Provider:  p,
			Scheme:    secrets.SchemeVault,
			Versioned: true,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				f.Put("secret", "tradesense/"+name, map[string]any{"value": value})
				return secrets.MustParseRef("vault:secret/tradesense/" + name + "#value")
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				f.Put("secret", "tradesense/"+name, fieldsToAny(fields))
				return secrets.MustParseRef("vault:secret/tradesense/" + name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("vault:secret/tradesense/" + name + "#value")
			},
		}
	})
}

func TestContractFakeKVv1(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		f := fakeWithToken(t)
		cfg := tokenConfig(f)
		cfg.KVVersion = 1
		p := newProvider(t, cfg)
		return secretstest.Fixture{
			Provider: p,
			Scheme:   secrets.SchemeVault,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				f.Put("kv", "tradesense/"+name, map[string]any{"value": value})
				return secrets.MustParseRef("vault:kv/tradesense/" + name + "#value")
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				f.Put("kv", "tradesense/"+name, fieldsToAny(fields))
				return secrets.MustParseRef("vault:kv/tradesense/" + name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("vault:kv/tradesense/" + name + "#value")
			},
		}
	})
}

// realVault is a real Vault or OpenBao dev server for the contract suites,
// read from TEST_VAULT_ADDR directly instead of through tests/testenv.URL
// on purpose: testenv fails under CI=true when the variable is unset, and
// CI provides no Vault; the fake-server suites are what CI relies on. Start
// one with `vault server -dev -dev-root-token-id=root` and set
// TEST_VAULT_ADDR=http://127.0.0.1:8200 TEST_VAULT_TOKEN=root.
type realVault struct {
	addr, token, mount, prefix string
	admin                      *api.Client
}

func newRealVault(t *testing.T) *realVault {
	addr, tok := os.Getenv("TEST_VAULT_ADDR"), os.Getenv("TEST_VAULT_TOKEN")
	if addr == "" || tok == "" {
		t.Skip("TEST_VAULT_ADDR and TEST_VAULT_TOKEN are not set: skipping the real-Vault suite")
	}
	mount := os.Getenv("TEST_VAULT_KV_MOUNT")
	if mount == "" {
		mount = "secret" // the dev server's KV v2 mount
	}
	admin, err := api.NewClient(&api.Config{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	admin.SetToken(tok)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	v := &realVault{addr: addr, token: tok, mount: mount, prefix: "tradesense-test/" + hex.EncodeToString(b), admin: admin}
	t.Cleanup(func() {
		list, err := admin.Logical().List(mount + "/metadata/" + v.prefix)
		if err != nil || list == nil {
			return
		}
		keys, _ := list.Data["keys"].([]any)
		for _, k := range keys {
			_ = admin.KVv2(mount).DeleteMetadata(context.Background(), v.prefix+"/"+k.(string))
		}
	})
	return v
}

func (v *realVault) put(t *testing.T, name string, data map[string]any) {
	if _, err := v.admin.KVv2(v.mount).Put(context.Background(), v.prefix+"/"+name, data); err != nil {
		if strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("TEST_VAULT_ADDR is set but Vault is unreachable: %v", err)
		}
		t.Fatal(err)
	}
}

func (v *realVault) provider(t *testing.T) *vault.Provider {
	return newProvider(t, vault.Config{Addr: v.addr, Token: secrets.New(v.token, ""), Namespace: os.Getenv("TEST_VAULT_NAMESPACE")})
}

func (v *realVault) base() string { return "vault:" + v.mount + "/" + v.prefix + "/" }

// TestContractRealVault runs the provider suite against a real Vault.
func TestContractRealVault(t *testing.T) {
	v := newRealVault(t)
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		p, base := v.provider(t), v.base()
		return secretstest.Fixture{
			Provider:  p,
			Scheme:    secrets.SchemeVault,
			Versioned: true,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				v.put(t, name, map[string]any{"value": value})
				return secrets.MustParseRef(base + name + "#value")
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				v.put(t, name, fieldsToAny(fields))
				return secrets.MustParseRef(base + name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef(base + name + "#value")
			},
		}
	})
}

// TestSecretWriterContractRealVault runs the writer suite against a real
// Vault: its check-and-set, not the fake's, decides the conflicts.
func TestSecretWriterContractRealVault(t *testing.T) {
	v := newRealVault(t)
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture {
		p, base := v.provider(t), v.base()
		return secretstest.WriterFixture{
			Fixture: secretstest.Fixture{
				Provider:  p,
				Scheme:    secrets.SchemeVault,
				Versioned: true,
				PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
					v.put(t, name, fieldsToAny(fields))
					return secrets.MustParseRef(base + name)
				},
			},
			Writer:        p,
			New:           func(t *testing.T, name string) secrets.Ref { return secrets.MustParseRef(base + name) },
			WholeIsObject: true,
		}
	})
}

func get(t *testing.T, p secrets.Provider, ref string) (secrets.Secret, error) {
	t.Helper()
	return p.Get(context.Background(), secrets.MustParseRef(ref))
}

func TestKVv2VersionsAndPaths(t *testing.T) {
	f := fakeWithToken(t)
	f.AddMount("kv/team-a", 2)
	f.Put("secret", "app", map[string]any{"jwt_key": "v1-key", "n": 42})
	f.Put("secret", "app", map[string]any{"jwt_key": "v2-key", "n": 43})
	f.Put("kv/team-a", "db", map[string]any{"password": "team-pw"})
	p := newProvider(t, tokenConfig(f))

	for ref, want := range map[string]string{
		"vault:secret/app#jwt_key":           "v2-key",
		"vault:secret/data/app#jwt_key":      "v2-key",
		"vault:secret/app?version=1#jwt_key": "v1-key",
		"vault:secret/app#n":                 "43",
		"vault:secret/app":                   `{"jwt_key":"v2-key","n":43}`,
		"vault:kv/team-a/data/db#password":   "team-pw",
		"vault:secret/data/app?version=2#n":  "43",
	} {
		s, err := get(t, p, ref)
		if err != nil {
			t.Errorf("Get(%s): %v", ref, err)
			continue
		}
		if s.Reveal() != want {
			t.Errorf("Get(%s) = %q, want %q", ref, s.Reveal(), want)
		}
	}
	s, err := get(t, p, "vault:secret/app?version=1#jwt_key")
	if err != nil || s.Version() != "1" {
		t.Fatalf("version of ?version=1 = %q, %v; want 1", s.Version(), err)
	}
	if _, err := get(t, p, "vault:secret/app?version=9#jwt_key"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("missing version: %v, want NotFound", err)
	}
}

func TestDeletedVersionIsNotFound(t *testing.T) {
	f := fakeWithToken(t)
	f.Put("secret", "app", map[string]any{"k": "v"})
	f.DeleteLatest("secret", "app")
	_, err := get(t, newProvider(t, tokenConfig(f)), "vault:secret/app#k")
	if !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("deleted version: %v, want NotFound", err)
	}
}

func TestErrorKinds(t *testing.T) {
	f := fakeWithToken(t)
	f.Put("secret", "app", map[string]any{"k": "the-value"})
	f.Put("secret", "locked", map[string]any{"k": "locked-value"})
	f.Deny("secret/data/locked")
	cfg := tokenConfig(f)
	cfg.MaxRetries = -1 // no retries: the 503 and the dead server answer at once
	p := newProvider(t, cfg)

	_, err := get(t, p, "vault:secret/locked#k")
	if !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("denied path: %v, want Forbidden", err)
	}
	f.SetSealed(true)
	_, err = get(t, p, "vault:secret/app#k")
	if !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("sealed: %v, want Unavailable", err)
	}
	if err != nil && (!strings.Contains(err.Error(), "vault") || !strings.Contains(err.Error(), "secret/app")) {
		t.Errorf("error %q does not name the backend and reference", err)
	}
	f.SetSealed(false)
	f.Close()
	_, err = get(t, p, "vault:secret/app#k")
	if !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("server down: %v, want Unavailable", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := p.Get(ctx, secrets.MustParseRef("vault:secret/app#k")); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("canceled context: %v, want Unavailable", err)
	}
}

func TestKVv1RejectsVersion(t *testing.T) {
	f := fakeWithToken(t)
	cfg := tokenConfig(f)
	cfg.KVVersion = 1
	_, err := get(t, newProvider(t, cfg), "vault:kv/app?version=2#k")
	if !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("?version on KV v1: %v, want Invalid", err)
	}
}

func TestNamespace(t *testing.T) {
	f := fakeWithToken(t)
	f.SetNamespace("team-a")
	f.Put("secret", "app", map[string]any{"k": "ns-value"})
	// A namespace in the process environment must not leak into the client:
	// Config is the only input.
	t.Setenv("VAULT_NAMESPACE", "wrong")
	t.Setenv("VAULT_TOKEN", "hvs.from-the-environment")

	cfg := tokenConfig(f)
	cfg.Namespace = "team-a"
	s, err := get(t, newProvider(t, cfg), "vault:secret/app#k")
	if err != nil || s.Reveal() != "ns-value" {
		t.Fatalf("with namespace: %q, %v", s.Reveal(), err)
	}
	cfg.Namespace = ""
	if _, _, err := vault.New(context.Background(), cfg, nil, nil); err == nil {
		t.Fatal("New without the namespace Vault requires: want the token lookup to fail")
	}
}

func TestTokenAuthFailsFast(t *testing.T) {
	f := fakeWithToken(t)
	cfg := tokenConfig(f)
	cfg.Token = secrets.New("hvs.wrong-token-value", "")
	_, _, err := vault.New(context.Background(), cfg, nil, nil)
	if err == nil {
		t.Fatal("New accepted a token Vault does not know")
	}
	if strings.Contains(err.Error(), "hvs.wrong-token-value") {
		t.Fatalf("error leaks the token: %v", err)
	}
}

func TestTokenRenewal(t *testing.T) {
	f := vaultfake.New(t)
	f.AddToken(testToken, 3600, true)
	newProvider(t, tokenConfig(f))
	waitFor(t, "a token renewal", func() bool { return f.Count("token.renew") >= 1 })
}

func TestKubernetesAuth(t *testing.T) {
	f := vaultfake.New(t)
	jwtPath := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtPath, []byte("eyJ.pod-jwt.sig\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.AddKubernetesRole("tradesense", "eyJ.pod-jwt.sig")
	f.Put("secret", "app", map[string]any{"k": "k8s-value"})
	cfg := vault.Config{Addr: f.URL, AuthMethod: vault.AuthKubernetes, K8sRole: "tradesense", K8sTokenPath: jwtPath}
	p, cleanup, err := vault.New(context.Background(), cfg, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := get(t, p, "vault:secret/app#k")
	if err != nil || s.Reveal() != "k8s-value" {
		t.Fatalf("Get after kubernetes login: %q, %v", s.Reveal(), err)
	}
	cleanup()
	if f.Count("token.revoke") != 1 {
		t.Errorf("cleanup revoked %d tokens, want 1 (tokens from logins are revoked)", f.Count("token.revoke"))
	}

	cfg.K8sRole = "other"
	if _, _, err := vault.New(context.Background(), cfg, nil, nil); !strings.Contains(fmtErr(err), "kubernetes") {
		t.Fatalf("wrong role: %v, want a kubernetes login error", err)
	}
}

func TestAppRoleAuthAndReloginAfterRevocation(t *testing.T) {
	f := vaultfake.New(t)
	f.AddAppRole("role-1", "secret-id-0123456789")
	f.Put("secret", "app", map[string]any{"k": "approle-value"})
	cfg := vault.Config{
		Addr: f.URL, AuthMethod: vault.AuthAppRole, RoleID: "role-1",
		SecretID: secrets.New("secret-id-0123456789", ""), MinReloginInterval: time.Millisecond,
	}
	p := newProvider(t, cfg)
	if s, err := get(t, p, "vault:secret/app#k"); err != nil || s.Reveal() != "approle-value" {
		t.Fatalf("Get after approle login: %q, %v", s.Reveal(), err)
	}
	time.Sleep(5 * time.Millisecond)
	f.RevokeAll()
	if s, err := get(t, p, "vault:secret/app#k"); err != nil || s.Reveal() != "approle-value" {
		t.Fatalf("Get after the token was revoked: %q, %v (want a fresh login and a retry)", s.Reveal(), err)
	}
	if n := f.Count("login"); n != 2 {
		t.Errorf("%d logins, want 2", n)
	}

	cfg.SecretID = secrets.New("wrong-secret-id-value", "")
	_, _, err := vault.New(context.Background(), cfg, nil, nil)
	if err == nil || strings.Contains(err.Error(), "wrong-secret-id-value") {
		t.Fatalf("bad secret id: err = %v; want an error that does not quote the secret id", err)
	}
}

func TestReloginWhenLeaseEnds(t *testing.T) {
	f := vaultfake.New(t)
	f.AddAppRole("role-1", "sid")
	f.SetLoginLease(1, false, 0) // non-renewable, one second
	cfg := vault.Config{
		Addr: f.URL, AuthMethod: vault.AuthAppRole, RoleID: "role-1",
		SecretID: secrets.New("sid", ""), MinReloginInterval: 10 * time.Millisecond,
	}
	newProvider(t, cfg)
	waitFor(t, "a second login when the lease ends", func() bool { return f.Count("login") >= 2 })
}

// TestLogsCarryNoCredentialsOrValues drives login, reads, a failed read, a
// re-login and shutdown with debug logging, then scans the logs.
func TestLogsCarryNoCredentialsOrValues(t *testing.T) {
	f := vaultfake.New(t)
	f.AddAppRole("role-1", "secret-id-SENSITIVE")
	f.Put("secret", "app", map[string]any{"k": "value-SENSITIVE"})
	f.Deny("secret/data/locked")
	var buf lockedBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := vault.Config{
		Addr: f.URL, AuthMethod: vault.AuthAppRole, RoleID: "role-1",
		SecretID: secrets.New("secret-id-SENSITIVE", ""), MinReloginInterval: time.Millisecond,
	}
	p, cleanup, err := vault.New(context.Background(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("config", "vault", cfg)
	if _, err := get(t, p, "vault:secret/app#k"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Millisecond)
	_, err = get(t, p, "vault:secret/locked#k") // 403: re-login, retry, still 403
	log.Error("read failed", "error", err)
	cleanup()

	logs := buf.String()
	if !strings.Contains(logs, "vault secrets provider ready") {
		t.Fatalf("expected start-up logs, got:\n%s", logs)
	}
	leaks := append([]string{"SENSITIVE"}, f.Tokens()...)
	for _, l := range leaks {
		if strings.Contains(logs, l) {
			t.Errorf("logs contain %q:\n%s", l, logs)
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

func TestConfigValidation(t *testing.T) {
	for name, cfg := range map[string]vault.Config{
		"no address":       {Token: secrets.New("t", "")},
		"bad address":      {Addr: "vault:8200", Token: secrets.New("t", "")},
		"no token":         {Addr: "http://vault:8200"},
		"bad method":       {Addr: "http://vault:8200", AuthMethod: "ldap"},
		"k8s without role": {Addr: "http://vault:8200", AuthMethod: vault.AuthKubernetes},
		"approle no sid":   {Addr: "http://vault:8200", AuthMethod: vault.AuthAppRole, RoleID: "r"},
		"kv version 3":     {Addr: "http://vault:8200", Token: secrets.New("t", ""), KVVersion: 3},
	} {
		if _, _, err := vault.New(context.Background(), cfg, nil, nil); err == nil {
			t.Errorf("%s: New accepted the config", name)
		}
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
