package identity

import (
	"context"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
)

func TestHasherProductionParameters(t *testing.T) {
	if testing.Short() {
		t.Skip("argon2id at OWASP cost")
	}
	h, err := NewPasswordHasher(OWASPParams, 0)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("encoded = %s", enc)
	}
	ok, rehash, err := h.Verify(context.Background(), "correct horse battery staple", enc)
	if err != nil || !ok || rehash {
		t.Fatalf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func TestHasherVerifyAndRehash(t *testing.T) {
	ctx := context.Background()
	weak, _ := NewPasswordHasher(TestParams, 1)
	stronger := TestParams
	stronger.Time = 2
	strong, _ := NewPasswordHasher(stronger, 1)
	enc, err := weak.Hash(ctx, "pässwörd-1234")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		h          *PasswordHasher
		pw         string
		ok, rehash bool
	}{
		{weak, "pässwörd-1234", true, false},
		{weak, "pässwörd-1235", false, false},
		{strong, "pässwörd-1234", true, true},
		{strong, "", false, false},
	} {
		ok, rehash, err := tc.h.Verify(ctx, tc.pw, enc)
		if err != nil || ok != tc.ok || rehash != tc.rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v, %v", tc.pw, ok, rehash, err, tc.ok, tc.rehash)
		}
	}
	if ok, _, err := weak.Verify(ctx, "anything", ""); ok || err != nil {
		t.Fatalf("an empty hash verified: %v %v", ok, err)
	}
	for _, bad := range []string{"$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "plain", "$argon2id$v=19$m=64,t=1,p=0$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"} {
		if _, _, err := weak.Verify(ctx, "x", bad); err == nil {
			t.Errorf("Verify accepted malformed hash %q", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	p := NewPasswordPolicy()
	if p.Len() < 9000 {
		t.Fatalf("blocklist has %d entries; want the top 10k", p.Len())
	}
	for _, tc := range []struct{ pw, code string }{
		{"1234567", CodePasswordTooShort},
		{strings.Repeat("a", 129), CodePasswordTooLong},
		{"iloveyou", CodePasswordCommon},
		{"PASSWORD1", CodePasswordCommon},
		{"me@example.com", CodePasswordCommon},
		{"\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8", CodePasswordInvalid},
		{"ｐａｓｓｗｏｒｄ", CodePasswordCommon}, // full-width folds to "password" under NFKC
		{"a perfectly fine passphrase", ""},
		{strings.Repeat("é", 128), ""},
	} {
		_, err := p.Check("password", tc.pw, "me@example.com")
		if got := ""; err != nil {
			got = apperr.CodeOf(err)
			if got != tc.code {
				t.Errorf("Check(%q) = %v; want %s", tc.pw, err, tc.code)
			}
		} else if tc.code != "" {
			t.Errorf("Check(%q) passed; want %s", tc.pw, tc.code)
		}
	}
	// Composed and decomposed forms are the same password.
	a, _ := p.Check("password", "caf\u00e9-au-lait!", "")
	b, _ := p.Check("password", "cafe\u0301-au-lait!", "")
	if a != b {
		t.Fatal("NFKC normalisation does not unify composed and decomposed accents")
	}
}

func TestDeriveSigningKeyIsDeterministic(t *testing.T) {
	s := []byte(strings.Repeat("k", 32))
	a, err := DeriveSigningKey(s)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := DeriveSigningKey(s)
	c, _ := DeriveSigningKey([]byte(strings.Repeat("j", 32)))
	if a.ID != b.ID || !a.Public.Equal(b.Public) || a.ID == c.ID || len(a.ID) != 11 {
		t.Fatalf("kids %s %s %s", a.ID, b.ID, c.ID)
	}
	if _, err := DeriveSigningKey([]byte("short")); err == nil {
		t.Fatal("a short secret was accepted")
	}
}

func TestSealedSuccessor(t *testing.T) {
	prev, h, _ := newSecret()
	next, _, _ := newSecret()
	sealed, err := sealSuccessor(prev, h, next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), next) {
		t.Fatal("successor stored in clear")
	}
	got, err := openSuccessor(prev, h, sealed)
	if err != nil || got != next {
		t.Fatalf("open = %q, %v", got, err)
	}
	other, oh, _ := newSecret()
	if _, err := openSuccessor(other, oh, sealed); err == nil {
		t.Fatal("another token opened the successor")
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"a@example.com", true}, {" a@example.com ", true}, {"Ada <a@example.com>", false}, {"a@localhost", false},
		{"no-at.example.com", false}, {"a b@example.com", false}, {strings.Repeat("a", 250) + "@x.io", false}, {"", false},
		// RFC 6531 addresses with IDNA domains are fine...
		{"jörg@müller.example", true}, {"δοκιμή@παράδειγμα.δοκιμή", true}, {"user@xn--mller-kva.example", true},
		// ...but no bidi controls, other format characters, private-use or
		// unassigned code points (issue 11 item 5), in either part.
		{"admin\u202e@example.com", false}, {"a@exa\u202emple.com", false}, {"a\u200b@example.com", false},
		{"a\u2066b@example.com", false}, {"a\ufeff@example.com", false}, {"a\ue000@example.com", false},
		{"a\U000e0001@example.com", false}, {"a\U0010fffd@example.com", false}, {"a\u0378@example.com", false},
		{"a@ex\u00adample.com", false}, {"a@-example.com", false}, {"a@example-.com", false},
		{"a@xn--zz.example", false}, {"a@exa_mple.com", false}, {"a\u0007@example.com", false},
	} {
		_, err := NormalizeEmail("email", tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("NormalizeEmail(%q) = %v; want ok=%v", tc.in, err, tc.ok)
		}
	}
}

func FuzzParseOpaqueToken(f *testing.F) {
	tok, _, _ := newSecret()
	f.Add(tok)
	f.Add("")
	f.Add(strings.Repeat("A", 43))
	f.Fuzz(func(t *testing.T, s string) {
		if got, ok := ParseOpaqueToken(s); ok && (got != s || len(s) != 43) {
			t.Fatalf("accepted %q as %q", s, got)
		}
	})
}

func FuzzPolicyCheck(f *testing.F) {
	p := NewPasswordPolicy()
	f.Add("correct horse", "a@b.c")
	f.Add("\u0301\u0301\u0301\u0301\u0301\u0301\u0301\u0301", "")
	f.Fuzz(func(t *testing.T, pw, email string) {
		out, err := p.Check("password", pw, email)
		if err == nil && (len([]rune(out)) < MinPasswordLen || len([]rune(out)) > MaxPasswordLen) {
			t.Fatalf("accepted %d characters", len([]rune(out)))
		}
		if err != nil && !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("error of kind %v; want Invalid", apperr.KindOf(err))
		}
	})
}

// BenchmarkArgon2id measures the hashing cost alone, at OWASP parameters
// and at the test parameters.
func BenchmarkArgon2id(b *testing.B) {
	for _, tc := range []struct {
		name string
		p    Argon2Params
	}{{"OWASP", OWASPParams}, {"Test", TestParams}} {
		b.Run(tc.name, func(b *testing.B) {
			h, err := NewPasswordHasher(tc.p, 0)
			if err != nil {
				b.Fatal(err)
			}
			enc, _ := h.Hash(context.Background(), "correct horse battery staple")
			b.ResetTimer()
			for b.Loop() {
				if ok, _, _ := h.Verify(context.Background(), "correct horse battery staple", enc); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

func TestClientNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"":                          "unknown",
		"203.0.113.7":               "203.0.113.7",
		"::ffff:203.0.113.7":        "203.0.113.7",
		"2001:db8:1:2:aaaa::1":      "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"not-an-ip":                 "not-an-ip",
	} {
		if got := ClientNetwork(in); got != want {
			t.Errorf("ClientNetwork(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzNormalizeEmail: an accepted address is trimmed, stable, and free of
// the code points forbiddenInEmail names.
func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"a@example.com", "jörg@müller.example", "admin\u202e@example.com", "a@xn--mller-kva.example", " a@b.c ", "a@ex\u00adample.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := NormalizeEmail("email", in)
		if err != nil {
			return
		}
		if strings.ContainsFunc(out, forbiddenInEmail) {
			t.Fatalf("accepted %q with a forbidden code point", out)
		}
		if again, err := NormalizeEmail("email", out); err != nil || again != out {
			t.Fatalf("not stable: %q -> %q, %v", out, again, err)
		}
	})
}

// TestPolicyBlocklistIsTheFile checks the sorted blocklist against the
// embedded file line by line: every line (any case) is refused, and the
// list holds nothing else.
func TestPolicyBlocklistIsTheFile(t *testing.T) {
	p := NewPasswordPolicy()
	want := map[string]bool{}
	for line := range strings.Lines(commonPasswordsFile) {
		if w := strings.ToLower(strings.TrimSpace(line)); w != "" {
			want[w] = true
			if !p.isCommon(w) {
				t.Fatalf("line %q of the file is not on the blocklist", w)
			}
		}
	}
	if p.Len() != len(want) {
		t.Fatalf("blocklist has %d entries; the file has %d distinct lines", p.Len(), len(want))
	}
	for _, ok := range []string{"", "a perfectly fine passphrase", "zzzzzzzzzzzzzzzzzzzzzzzzz", "\x00"} {
		if p.isCommon(ok) {
			t.Errorf("%q is on the blocklist", ok)
		}
	}
}
