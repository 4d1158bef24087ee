package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
)

func TestKeyRingAsksForUnknownKeys(t *testing.T) {
	oldSecret := []byte(strings.Repeat("o", 40))
	newSecret := []byte(strings.Repeat("n", 39) + "x")
	ring, err := identity.NewKeyRing(oldSecret)
	if err != nil {
		t.Fatal(err)
	}
	newKey, _ := identity.DeriveSigningKey(newSecret)
	if _, err := ring.Verifier(newKey.ID); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("without a hook: %v", err)
	}
	var asked []string
	ring.OnUnknownKey(func(kid string) bool {
		asked = append(asked, kid)
		if kid != newKey.ID {
			return false
		}
		return ring.Set(newSecret, oldSecret) == nil
	})
	if k, err := ring.Verifier(newKey.ID); err != nil || !k.Equal(newKey.Public) {
		t.Fatalf("after the hook loaded the key: %v", err)
	}
	if ring.Signing().ID != newKey.ID || len(ring.PublicKeys()) != 2 {
		t.Fatalf("ring after the hook: signing %s, %d keys", ring.Signing().ID, len(ring.PublicKeys()))
	}
	if _, err := ring.Verifier("no-such-kid"); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("a kid the hook cannot find: %v", err)
	}
	if _, err := ring.Verifier(newKey.ID); err != nil || len(asked) != 2 {
		t.Fatalf("a known kid must not call the hook (asked %v)", asked)
	}
	ring.OnUnknownKey(nil)
	if _, err := ring.Verifier("no-such-kid"); !errors.Is(err, identity.ErrUnknownKey) || len(asked) != 2 {
		t.Fatal("the hook was not removed")
	}
}

// TestKeyRingRotation: the ring signs with the current key and verifies
// with the current and the previous ones, published signing key first; a
// rotation swaps the whole ring.
func TestKeyRingRotation(t *testing.T) {
	a, b := []byte(strings.Repeat("a", 32)), []byte(strings.Repeat("b", 32))
	ring, err := identity.NewKeyRing(a)
	if err != nil {
		t.Fatal(err)
	}
	ka := ring.Signing()
	if err := ring.Set(b, a, a); err != nil { // a duplicate previous key is listed once
		t.Fatal(err)
	}
	kb := ring.Signing()
	if kb.ID == ka.ID {
		t.Fatal("the signing key did not change")
	}
	pub := ring.PublicKeys()
	if len(pub) != 2 || pub[0].ID != kb.ID || pub[1].ID != ka.ID || !pub[1].Key.Equal(ka.Public) {
		t.Fatalf("public keys = %+v; want the new one, then the previous", pub)
	}
	for _, k := range []identity.SigningKey{ka, kb} {
		if got, err := ring.Verifier(k.ID); err != nil || !got.Equal(k.Public) {
			t.Fatalf("Verifier(%s) = %v, %v", k.ID, got, err)
		}
	}
	if _, err := ring.Verifier("unknown"); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("Verifier(unknown) = %v", err)
	}
	if err := ring.Set(b); err != nil {
		t.Fatal(err)
	}
	if _, err := ring.Verifier(ka.ID); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatal("a retired key still verifies")
	}
	if err := ring.Set(b, []byte("short")); err == nil || !strings.Contains(err.Error(), "previous key 1") {
		t.Fatalf("a short previous key = %v", err)
	}
	if _, err := identity.NewKeyRing([]byte("short")); err == nil {
		t.Fatal("a short current key was accepted")
	}
	if ring.Signing().ID != kb.ID {
		t.Fatal("a failed Set changed the ring")
	}
}

func TestArgon2ParamsAtLeast(t *testing.T) {
	h, err := identity.NewPasswordHasher(identity.TestParams, 1)
	if err != nil {
		t.Fatal(err)
	}
	if h.Params() != identity.TestParams {
		t.Fatalf("Params = %+v", h.Params())
	}
	if !identity.OWASPParams.AtLeast(identity.TestParams) || identity.TestParams.AtLeast(identity.OWASPParams) {
		t.Fatal("AtLeast does not order OWASP above the test parameters")
	}
	if _, err := identity.NewPasswordHasher(identity.Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 8, SaltLen: 16}, 1); err == nil {
		t.Fatal("an 8-byte key was accepted")
	}
}

func TestPrincipalAndClientMetaTravelInTheContext(t *testing.T) {
	p := identity.Principal{UserID: uuid.New(), Role: identity.RoleAdmin}
	ctx := identity.WithPrincipal(context.Background(), p)
	got, ok := identity.PrincipalFrom(ctx)
	if !ok || got.UserID != p.UserID || !got.IsAdmin() {
		t.Fatalf("PrincipalFrom = %+v, %v", got, ok)
	}
	if _, ok := identity.PrincipalFrom(context.Background()); ok {
		t.Fatal("a principal from an empty context")
	}
	if m := identity.ClientMetaFrom(context.Background()); m != (identity.ClientMeta{}) {
		t.Fatalf("client facts outside a request = %+v", m)
	}
}
