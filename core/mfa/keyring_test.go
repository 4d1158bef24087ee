package mfa_test

import (
	"bytes"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
)

// TestKeyRingRotatesLive: Set swaps the keys of a ring in use; what the
// old key sealed opens (stale, to be re-sealed) while it is previous.
func TestKeyRingRotatesLive(t *testing.T) {
	oldKey, newKey := mfatest.KeyMaterial(1), mfatest.KeyMaterial(2)
	ring, err := mfa.NewKeyRing(oldKey)
	if err != nil {
		t.Fatal(err)
	}
	u := uuid.New()
	secret := []byte("JBSWY3DPEHPK3PXP-totp-secret")
	sealedOld, _ := ring.Seal(u, "factor", secret)
	oldID := ring.CurrentID()

	if err := ring.Set(newKey, oldKey); err != nil {
		t.Fatal(err)
	}
	if ring.CurrentID() == oldID {
		t.Fatal("Set did not change the current key")
	}
	got, stale, err := ring.Open(u, "factor", sealedOld)
	if err != nil || !stale || !bytes.Equal(got, secret) {
		t.Fatalf("Open of a secret sealed before the rotation = stale %v, %v", stale, err)
	}
	sealedNew, _ := ring.Seal(u, "factor", secret)
	if sealedNew.KeyID != ring.CurrentID() {
		t.Fatal("new secrets are not sealed under the new key")
	}
	if err := ring.Set(mfatest.KeyMaterial(9)[:10]); err == nil {
		t.Fatal("Set accepted a short key")
	}
	if ring.CurrentID() != sealedNew.KeyID {
		t.Fatal("a refused Set changed the ring")
	}
}

// TestKeyRingAsksForUnknownKeys: a replica that has not seen a rotation
// yet meets a secret sealed under the new key by another replica.
func TestKeyRingAsksForUnknownKeys(t *testing.T) {
	oldKey, newKey := mfatest.KeyMaterial(1), mfatest.KeyMaterial(2)
	ahead, _ := mfa.NewKeyRing(newKey, oldKey)
	behind, _ := mfa.NewKeyRing(oldKey)
	u := uuid.New()
	sealed, _ := ahead.Seal(u, "pending", []byte("pending-secret"))
	if _, _, err := behind.Open(u, "pending", sealed); err == nil {
		t.Fatal("opened under a key the ring does not hold")
	}
	var asked []string
	behind.OnUnknownKey(func(id string) bool {
		asked = append(asked, id)
		return behind.Set(newKey, oldKey) == nil
	})
	got, stale, err := behind.Open(u, "pending", sealed)
	if err != nil || stale || string(got) != "pending-secret" || len(asked) != 1 || asked[0] != sealed.KeyID {
		t.Fatalf("Open with the hook: %q stale %v, %v; asked %v", got, stale, err, asked)
	}
	// A tampered ciphertext under a known key does not call the hook.
	bad := sealed
	bad.Ciphertext = bytes.Clone(sealed.Ciphertext)
	bad.Ciphertext[len(bad.Ciphertext)-1] ^= 1
	if _, _, err := behind.Open(u, "pending", bad); err == nil || len(asked) != 1 {
		t.Fatalf("tampered: %v, asked %d times", err, len(asked))
	}
}

func TestKeyRingSetWhileInUse(t *testing.T) {
	ring, _ := mfa.NewKeyRing(mfatest.KeyMaterial(1))
	u := uuid.New()
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 200 {
				s, err := ring.Seal(u, "factor", []byte("x"))
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := ring.Open(u, "factor", s); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for j := range 50 {
				_ = ring.Set(mfatest.KeyMaterial(byte(2+(i+j)%2)), mfatest.KeyMaterial(1), mfatest.KeyMaterial(2), mfatest.KeyMaterial(3))
			}
		})
	}
	wg.Wait()
}
