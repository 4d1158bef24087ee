package vault_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

func TestSecretWriterContractFake(t *testing.T) {
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture {
		f := fakeWithToken(t)
		p := newProvider(t, tokenConfig(f))
		return secretstest.WriterFixture{
			Fixture: secretstest.Fixture{
				Provider:  p,
				Scheme:    secrets.SchemeVault,
				Versioned: true,
				PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
					f.Put("secret", "tradesense/"+name, fieldsToAny(fields))
					return secrets.MustParseRef("vault:secret/tradesense/" + name)
				},
			},
			Writer: p,
			New: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("vault:secret/data/tradesense/" + name)
			},
			WholeIsObject: true,
		}
	})
}

func TestSecretWriteKeepsNonStringFieldsAndSendsCAS(t *testing.T) {
	f := fakeWithToken(t)
	f.Put("secret", "app", map[string]any{"jwt_key": "old", "port": 5432, "nested": map[string]any{"a": true}})
	p := newProvider(t, tokenConfig(f))
	ref := secrets.MustParseRef("vault:secret/app#jwt_key")
	v, err := p.Put(context.Background(), ref, secrets.New("new-key", ""), "1")
	if err != nil || v != "2" {
		t.Fatalf("Put = %q, %v; want version 2", v, err)
	}
	whole, err := get(t, p, "vault:secret/app")
	if err != nil || whole.Reveal() != `{"jwt_key":"new-key","nested":{"a":true},"port":5432}` {
		t.Fatalf("data map after a keyed write: %s, %v", whole.Reveal(), err)
	}
	if f.Count("kv.write") != 1 {
		t.Errorf("%d writes, want 1", f.Count("kv.write"))
	}
	// The server's check-and-set is what refuses a stale write, even when
	// the adapter's own read raced with another writer: simulate that by a
	// direct write after our read would have happened.
	f.Put("secret", "app", map[string]any{"jwt_key": "someone-else"})
	if _, err := p.Put(context.Background(), ref, secrets.New("mine", ""), "2"); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("stale write: %v, want Conflict", err)
	}
}

func TestSecretWriteOnDeniedPathAndKVv1(t *testing.T) {
	f := fakeWithToken(t)
	f.Put("secret", "locked", map[string]any{"k": "v"})
	f.Deny("secret/data/locked")
	p := newProvider(t, tokenConfig(f))
	if _, err := p.Put(context.Background(), secrets.MustParseRef("vault:secret/locked"), secrets.New(`{"k":"x"}`, ""), "1"); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("write to a denied path: %v, want Forbidden", err)
	}
	cfg := tokenConfig(f)
	cfg.KVVersion = 1
	p1 := newProvider(t, cfg)
	_, err := p1.Put(context.Background(), secrets.MustParseRef("vault:kv/app#k"), secrets.New("x", ""), secrets.NoVersion)
	if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeReadOnly || !strings.Contains(err.Error(), "check-and-set") {
		t.Errorf("KV v1 write: %v, want a read-only refusal naming check-and-set", err)
	}
}
