package secrets_test

import (
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

func TestParseRefValid(t *testing.T) {
	for in, want := range map[string]secrets.Ref{
		"env:JWT_KEY":                            {Scheme: "env", Path: "JWT_KEY"},
		"env:DB#password":                        {Scheme: "env", Path: "DB", Key: "password"},
		"file:/run/secrets/jwt_key":              {Scheme: "file", Path: "/run/secrets/jwt_key"},
		"file:/run//secrets/./x":                 {Scheme: "file", Path: "/run/secrets/x"},
		"file:jwt_key":                           {Scheme: "file", Path: "jwt_key"},
		"file:db.json#password":                  {Scheme: "file", Path: "db.json", Key: "password"},
		"vault:secret/data/tradesense#jwt_key":   {Scheme: "vault", Path: "secret/data/tradesense", Key: "jwt_key"},
		"vault:secret/app?version=3#k":           {Scheme: "vault", Path: "secret/app", Key: "k", Version: "3"},
		"vault:kv/a/b/c":                         {Scheme: "vault", Path: "kv/a/b/c"},
		"aws:tradesense/prod#db_password":        {Scheme: "aws", Path: "tradesense/prod", Key: "db_password"},
		"aws:prod/db?stage=AWSPREVIOUS#password": {Scheme: "aws", Path: "prod/db", Key: "password", Stage: "AWSPREVIOUS"},
		"aws:arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf?version=3f2a-11&stage=AWSCURRENT": {
			Scheme: "aws", Path: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf", Version: "3f2a-11", Stage: "AWSCURRENT"},
		"env:X#key with spaces": {Scheme: "env", Path: "X", Key: "key with spaces"},
	} {
		got, err := secrets.ParseRef(in)
		if err != nil {
			t.Errorf("ParseRef(%q): %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("ParseRef(%q) = %+v, want %+v", in, got, want)
		}
		again, err := secrets.ParseRef(got.String())
		if err != nil || again != got {
			t.Errorf("round trip of %q via %q: %+v, %v", in, got.String(), again, err)
		}
	}
}

func TestParseRefInvalid(t *testing.T) {
	for _, in := range []string{
		"env:", "env:1ABC", "env:A-B", "env:A?version=1", "env:A#", "env:A#k#j", "env:A#k?version=1",
		"file:", "file:../etc/passwd", "file:a/../../b", "file:a\x00b",
		"vault:", "vault:secret", "vault:/secret/app", "vault:secret/app/", "vault:secret//app",
		"vault:secret/../app", "vault:secret/app?version=0", "vault:secret/app?version=-1",
		"vault:secret/app?version=x", "vault:secret/app?stage=AWSCURRENT", "vault:secret/app?version=1&version=2",
		"vault:secret/my app", "aws:", "aws:a b", "aws:x?stage=", "aws:x?stage=a/b", "aws:x?foo=1",
		"aws:x?version=not%20a%20version", "env:\xff",
		"vault:" + strings.Repeat("a/", 3000) + "b",
	} {
		_, err := secrets.ParseRef(in)
		if !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ParseRef(%q) = %v, want an Invalid error", in, err)
		}
	}
}

func TestParseRefErrorsDoNotQuoteTheInput(t *testing.T) {
	// A literal password that happens to look like a reference must not be
	// echoed into logs by the error.
	in := "vault:correct horse battery staple"
	_, err := secrets.ParseRef(in)
	if err == nil || strings.Contains(err.Error(), "horse") {
		t.Fatalf("ParseRef error = %v: want an error without the input", err)
	}
}

func TestIsRefAndLiteral(t *testing.T) {
	for in, want := range map[string]struct {
		isRef bool
		lit   string
	}{
		"env:X":                         {isRef: true},
		"vault:secret/app#k":            {isRef: true},
		"plain-password":                {lit: "plain-password"},
		"postgres://u:p@h/db":           {lit: "postgres://u:p@h/db"},
		"literal:env:NOT_A_REF":         {lit: "env:NOT_A_REF"},
		"ENV:X":                         {lit: "ENV:X"},
		"":                              {lit: ""},
		"https://example.com/?a=b#frag": {lit: "https://example.com/?a=b#frag"},
	} {
		if got := secrets.IsRef(in); got != want.isRef {
			t.Errorf("IsRef(%q) = %v", in, got)
		}
		lit, ok := secrets.Literal(in)
		if ok == want.isRef || lit != want.lit {
			t.Errorf("Literal(%q) = %q, %v", in, lit, ok)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"env:JWT_KEY", "file:/run/secrets/x#k", "file:a/b", "vault:secret/data/app?version=2#k",
		"aws:arn:aws:secretsmanager:us-east-1:1:secret:x?stage=AWSPREVIOUS&version=v1#k",
		"aws:x?version=%41", "vault:a/b?", "env:A#%", "literal:x", "plain",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := secrets.ParseRef(s)
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("ParseRef(%q) error kind %v, want Invalid", s, apperr.KindOf(err))
			}
			return
		}
		if !secrets.IsRef(s) {
			t.Fatalf("ParseRef accepted %q, which IsRef rejects", s)
		}
		canon := r.String()
		again, err := secrets.ParseRef(canon)
		if err != nil {
			t.Fatalf("canonical form %q of %q does not parse: %v", canon, s, err)
		}
		if again != r {
			t.Fatalf("round trip %q -> %+v -> %q -> %+v", s, r, canon, again)
		}
		if again.String() != canon {
			t.Fatalf("String is not stable: %q then %q", canon, again.String())
		}
	})
}
