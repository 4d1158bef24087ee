package jwtauth_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

var (
	secretA = []byte("0123456789abcdef0123456789abcdef-key-A")
	secretB = []byte("0123456789abcdef0123456789abcdef-key-B")
	cfg     = jwtauth.Config{Issuer: "https://api.tradesense.test", Audience: "tradesense-api"}
)

func setup(t *testing.T, ring *identity.KeyRing) *jwtauth.Tokens {
	t.Helper()
	tok, err := jwtauth.New(cfg, ring)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustRing(t testing.TB, cur []byte, prev ...[]byte) *identity.KeyRing {
	r, err := identity.NewKeyRing(cur, prev...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func claimsAt(now time.Time) identity.AccessClaims {
	return identity.AccessClaims{UserID: uuid.New(), SessionID: uuid.New(), Role: identity.RoleUser, AAL: 1, AMR: []string{"pwd"},
		IssuedAt: now, ExpiresAt: now.Add(15 * time.Minute)}
}

// TestRoundTrip runs in a bubble, whose clock reads whole seconds: the
// claims come back exactly (JWT times have a resolution of a second).
func TestRoundTrip(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tk := setup(t, mustRing(t, secretA))
		in := claimsAt(time.Now())
		raw, err := tk.Issue(in)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tk.Verify(raw)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if out.UserID != in.UserID || out.SessionID != in.SessionID || out.Role != in.Role || out.AAL != 1 || len(out.AMR) != 1 || !out.ExpiresAt.Equal(in.ExpiresAt) {
			t.Fatalf("claims = %+v; want %+v", out, in)
		}
		hdr := decodeSeg(t, raw, 0)
		if hdr["alg"] != "EdDSA" || hdr["kid"] != mustRing(t, secretA).Signing().ID {
			t.Fatalf("header = %v", hdr)
		}
		body := decodeSeg(t, raw, 1)
		for _, k := range []string{"sub", "sid", "role", "aal", "amr", "iat", "exp", "iss", "aud"} {
			if _, ok := body[k]; !ok {
				t.Errorf("claim %s missing from %v", k, body)
			}
		}
	})
}

func decodeSeg(t *testing.T, raw string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func seg(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestRejects(t *testing.T) {
	ring := mustRing(t, secretA)
	tk := setup(t, ring)
	now := time.Now()
	good, _ := tk.Issue(claimsAt(now))
	parts := strings.Split(good, ".")
	body := decodeSeg(t, good, 1)
	kid := ring.Signing().ID
	pub := ring.Signing().Public

	other := setup(t, mustRing(t, secretB))
	foreign, _ := other.Issue(claimsAt(now))

	hs256 := func() string { // the classic confusion: HMAC keyed with the public key
		h := seg(map[string]any{"alg": "HS256", "typ": "JWT", "kid": kid})
		m := hmac.New(sha256.New, pub)
		m.Write([]byte(h + "." + parts[1]))
		return h + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}()
	with := func(k string, v any) string {
		b := map[string]any{}
		for kk, vv := range body {
			b[kk] = vv
		}
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
		return parts[0] + "." + seg(b) + "." + parts[2] // signature no longer matches
	}
	signedWith := func(mut func(*identity.AccessClaims)) string {
		cl := claimsAt(now)
		mut(&cl)
		s, err := tk.Issue(cl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	wrongAud, _ := jwtauth.New(jwtauth.Config{Issuer: cfg.Issuer, Audience: "someone-else"}, ring)
	wrongIss, _ := jwtauth.New(jwtauth.Config{Issuer: "https://evil.test", Audience: cfg.Audience}, ring)
	audTok, _ := wrongAud.Issue(claimsAt(now))
	issTok, _ := wrongIss.Issue(claimsAt(now))

	for _, tc := range []struct {
		name, token, code string
	}{
		{"empty", "", identity.CodeTokenMalformed},
		{"garbage", "not.a.jwt", identity.CodeTokenMalformed},
		{"alg none", seg(map[string]any{"alg": "none", "typ": "JWT", "kid": kid}) + "." + parts[1] + ".", identity.CodeTokenMalformed},
		{"alg none upper", seg(map[string]any{"alg": "NONE", "kid": kid}) + "." + parts[1] + ".", identity.CodeTokenMalformed},
		{"HS256 with the public key", hs256, identity.CodeTokenMalformed},
		{"unknown kid", seg(map[string]any{"alg": "EdDSA", "kid": "nope"}) + "." + parts[1] + "." + parts[2], identity.CodeTokenMalformed},
		{"missing kid", seg(map[string]any{"alg": "EdDSA"}) + "." + parts[1] + "." + parts[2], identity.CodeTokenMalformed},
		{"signed by another key", foreign, identity.CodeTokenMalformed},
		{"tampered role", with("role", "admin"), identity.CodeTokenMalformed},
		{"tampered sub", with("sub", uuid.NewString()), identity.CodeTokenMalformed},
		{"truncated signature", good[:len(good)-4], identity.CodeTokenMalformed},
		{"wrong audience", audTok, identity.CodeTokenMalformed},
		{"wrong issuer", issTok, identity.CodeTokenMalformed},
		{"expired beyond leeway", signedWith(func(c *identity.AccessClaims) {
			c.IssuedAt, c.ExpiresAt = now.Add(-time.Hour), now.Add(-jwtauth.Leeway-time.Second)
		}), identity.CodeTokenExpired},
		{"issued in the future", signedWith(func(c *identity.AccessClaims) { c.IssuedAt = now.Add(time.Hour); c.ExpiresAt = now.Add(2 * time.Hour) }), identity.CodeTokenMalformed},
		{"unknown role", signedWith(func(c *identity.AccessClaims) { c.Role = "root" }), identity.CodeTokenMalformed},
		{"aal 0", signedWith(func(c *identity.AccessClaims) { c.AAL = 0 }), identity.CodeTokenMalformed},
		{"oversized", strings.Repeat("a", jwtauth.MaxTokenLen+1), identity.CodeTokenMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tk.Verify(tc.token)
			e, ok := apperr.As(err)
			if !ok || e.Kind != apperr.Unauthenticated || e.Code != tc.code {
				t.Fatalf("Verify = %v; want Unauthenticated %s", err, tc.code)
			}
		})
	}
}

func TestExpiryLeeway(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tk := setup(t, mustRing(t, secretA))
		raw, _ := tk.Issue(claimsAt(time.Now()))
		time.Sleep(15*time.Minute + jwtauth.Leeway - time.Second)
		if _, err := tk.Verify(raw); err != nil {
			t.Fatalf("within the leeway: %v", err)
		}
		time.Sleep(2 * time.Second)
		if _, err := tk.Verify(raw); apperr.CodeOf(err) != identity.CodeTokenExpired {
			t.Fatalf("past the leeway: %v; want token_expired", err)
		}
	})
}

// TestRotationWithoutDowntime walks a key rotation: tokens signed with the
// old key stay valid while it is listed as previous, new tokens use the
// new key, and dropping the old key ends the old tokens.
func TestRotationWithoutDowntime(t *testing.T) {
	ring := mustRing(t, secretA)
	tk := setup(t, ring)
	oldTok, _ := tk.Issue(claimsAt(time.Now()))
	oldKid := ring.Signing().ID

	if err := ring.Set(secretB, secretA); err != nil {
		t.Fatal(err)
	}
	if ring.Signing().ID == oldKid {
		t.Fatal("signing key did not change")
	}
	newTok, _ := tk.Issue(claimsAt(time.Now()))
	if decodeSeg(t, newTok, 0)["kid"] != ring.Signing().ID {
		t.Fatal("new token not signed with the new key")
	}
	for name, tok := range map[string]string{"old": oldTok, "new": newTok} {
		if _, err := tk.Verify(tok); err != nil {
			t.Fatalf("%s token during the overlap: %v", name, err)
		}
	}
	if keys := ring.PublicKeys(); len(keys) != 2 || keys[0].ID != ring.Signing().ID {
		t.Fatalf("JWKS keys = %v; want the new key first, then the old", keys)
	}
	if err := ring.Set(secretB); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(oldTok); err == nil {
		t.Fatal("old token still valid after its key was retired")
	}
	if _, err := tk.Verify(newTok); err != nil {
		t.Fatalf("new token after retiring the old key: %v", err)
	}
}

func TestConcurrentRotationIsRaceFree(t *testing.T) {
	ring := mustRing(t, secretA)
	tk := setup(t, ring)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 50 {
				raw, err := tk.Issue(claimsAt(time.Now()))
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := tk.Verify(raw); err != nil {
					t.Errorf("token signed during rotation failed: %v", err)
					return
				}
			}
		})
		wg.Go(func() {
			for j := range 50 {
				cur, prev := secretA, secretB
				if (i+j)%2 == 0 {
					cur, prev = secretB, secretA
				}
				if err := ring.Set(cur, prev); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
}

func FuzzVerify(f *testing.F) {
	ring := mustRing(f, secretA)
	tk, _ := jwtauth.New(cfg, ring)
	good, _ := tk.Issue(claimsAt(time.Now()))
	f.Add(good)
	f.Add("")
	f.Add("a.b.c")
	f.Add(seg(map[string]any{"alg": "none"}) + "." + seg(map[string]any{"sub": "x"}) + ".")
	f.Fuzz(func(t *testing.T, raw string) {
		cl, err := tk.Verify(raw)
		if err != nil {
			if !apperr.Is(err, apperr.Unauthenticated) {
				t.Fatalf("Verify error of kind %v; want Unauthenticated", apperr.KindOf(err))
			}
			return
		}
		if raw != good && cl.UserID == uuid.Nil {
			t.Fatalf("accepted a token without a subject")
		}
	})
}

// TestVerifiedTokensAreRemembered covers the in-memory cache of verified
// tokens: a repeat gives the same claims and its own AMR slice, a token
// differing in one byte is verified afresh, and a retired key or the end of
// the lifetime ends a remembered token (see also TestExpiryLeeway and
// TestRotationWithoutDowntime, whose second Verify calls are cache hits).
func TestVerifiedTokensAreRemembered(t *testing.T) {
	ring := mustRing(t, secretA)
	tk := setup(t, ring)
	in := claimsAt(time.Now())
	raw, _ := tk.Issue(in)
	first, err := tk.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	first.AMR[0] = "mutated"
	again, err := tk.Verify(raw)
	if err != nil || again.UserID != in.UserID || again.SessionID != in.SessionID || len(again.AMR) != 1 || again.AMR[0] != "pwd" {
		t.Fatalf("second Verify = %+v, %v; want the same claims with an unshared AMR", again, err)
	}
	tampered := raw[:len(raw)-2] + map[bool]string{true: "A", false: "B"}[raw[len(raw)-2] != 'A'] + raw[len(raw)-1:]
	if _, err := tk.Verify(tampered); apperr.CodeOf(err) != identity.CodeTokenMalformed {
		t.Fatalf("tampered signature after a cached verification: %v; want token_invalid", err)
	}
	// The ring now holds only another key: the remembered token is refused.
	if err := ring.Set(secretB); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(raw); err == nil {
		t.Fatal("remembered token accepted after its key left the ring")
	}
	// Many distinct tokens: the cache stays bounded and keeps working.
	jwtauth.SetVerifiedCacheSize(tk, 8)
	for range 50 {
		r, _ := tk.Issue(claimsAt(time.Now()))
		if _, err := tk.Verify(r); err != nil {
			t.Fatal(err)
		}
		if _, err := tk.Verify(r); err != nil {
			t.Fatal(err)
		}
		if n := jwtauth.VerifiedLen(tk); n > 8 {
			t.Fatalf("%d tokens remembered; want at most 8", n)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	ring := mustRing(b, secretA)
	tk, _ := jwtauth.New(cfg, ring)
	raw, _ := tk.Issue(claimsAt(time.Now()))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}
