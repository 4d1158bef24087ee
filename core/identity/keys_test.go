package identity_test

import (
	"errors"
	"strings"
	"testing"

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
