package awssecrets_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/tradesense/tradesense/adapters/awssecrets"
	"github.com/tradesense/tradesense/adapters/awssecrets/awsfake"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

func TestSecretWriterContract(t *testing.T) {
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture {
		f := awsfake.New(t)
		p := newProvider(t, f)
		return secretstest.WriterFixture{
			Fixture: secretstest.Fixture{
				Provider:  p,
				Scheme:    secrets.SchemeAWS,
				Versioned: true,
				PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
					b, _ := json.Marshal(fields)
					f.PutString("tradesense/"+name, string(b))
					return secrets.MustParseRef("aws:tradesense/" + name)
				},
			},
			Writer: p,
			New:    func(t *testing.T, name string) secrets.Ref { return secrets.MustParseRef("aws:tradesense/" + name) },
		}
	})
}

// TestPutMovesStagesAsARotation checks what the writer leaves in Secrets
// Manager: the new version is AWSCURRENT, the replaced one AWSPREVIOUS
// (readable with ?stage=AWSPREVIOUS), and the pending label is gone.
func TestSecretPutMovesStagesAsARotation(t *testing.T) {
	f := awsfake.New(t)
	v1 := f.PutString("prod/keys", `{"jwt":"old-jwt","mfa":"mfa-key"}`)
	p := newProvider(t, f)
	ctx := context.Background()
	v2, err := p.Put(ctx, secrets.MustParseRef("aws:prod/keys#jwt"), secrets.New("new-jwt", ""), v1)
	if err != nil {
		t.Fatal(err)
	}
	stages := f.Stages("prod/keys")
	if !slices.Equal(stages[v2], []string{awssecrets.StageCurrent}) || !slices.Equal(stages[v1], []string{awssecrets.StagePrevious}) {
		t.Fatalf("stages after Put: %v (new %s, old %s)", stages, v2, v1)
	}
	for ref, want := range map[string]string{
		"aws:prod/keys#jwt":                    "new-jwt",
		"aws:prod/keys#mfa":                    "mfa-key",
		"aws:prod/keys?stage=AWSPREVIOUS#jwt":  "old-jwt",
		"aws:prod/keys?version=" + v2 + "#jwt": "new-jwt",
	} {
		if s, err := get(t, p, ref); err != nil || s.Reveal() != want {
			t.Errorf("Get(%s) = %q, %v; want %q", ref, s.Reveal(), err, want)
		}
	}
	// A stale writer's version is created but never becomes current.
	if _, err := p.Put(ctx, secrets.MustParseRef("aws:prod/keys#jwt"), secrets.New("stale", ""), v1); !apperr.Is(err, apperr.Conflict) {
		t.Fatalf("stale Put: %v, want Conflict", err)
	}
	if s, _ := get(t, p, "aws:prod/keys#jwt"); s.Reveal() != "new-jwt" {
		t.Fatal("a stale Put changed the current value")
	}
	if _, err := p.Put(ctx, secrets.MustParseRef("aws:"+f.ARN("prod/keys")+"#x"), secrets.New("x", ""), secrets.NoVersion); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("creating by ARN: %v, want Invalid", err)
	}
}

func TestSecretPutErrorKinds(t *testing.T) {
	f := awsfake.New(t)
	v := f.PutString("locked", "v")
	f.Deny("locked")
	p := newProvider(t, f)
	if _, err := p.Put(context.Background(), secrets.MustParseRef("aws:locked"), secrets.New("x", ""), v); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("denied: %v, want Forbidden", err)
	}
	f.PutString("ok", "v")
	f.Fail5xx(10)
	if _, err := p.Put(context.Background(), secrets.MustParseRef("aws:ok"), secrets.New("x", ""), "whatever"); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("persistent 500: %v, want Unavailable", err)
	}
}
