package identity

import (
	"context"
	"runtime"
	"testing"
	"time"
)

// TestHashReturnsItsMemory: the argon2id block of a hash at a real cost is
// reclaimed soon after the hash returns, without waiting for the heap to
// double (collect), so that a flood of hashes does not stack their blocks.
func TestHashReturnsItsMemory(t *testing.T) {
	const memKiB = 32 << 10 // 32 MiB, above collectAboveKiB
	h, err := NewPasswordHasher(Argon2Params{MemoryKiB: memKiB, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	enc, err := h.Hash(context.Background(), "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []string{"hash", "verify"} {
		var ms runtime.MemStats
		deadline := time.Now().Add(5 * time.Second)
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc < memKiB<<10/2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after the %s: heap still holds %d MiB", step, ms.HeapAlloc>>20)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if step == "hash" {
			if ok, _, err := h.Verify(context.Background(), "correct horse battery staple", enc); !ok || err != nil {
				t.Fatalf("verify: %v %v", ok, err)
			}
		}
	}
}
