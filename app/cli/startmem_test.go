package cli

import (
	"context"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

func TestReleaseStartupGarbageWaitsForListening(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseStartupGarbage(ctx, make(chan struct{}), 0) // never listens
	}()
	select {
	case <-done:
		t.Fatal("returned before listening or cancel")
	case <-time.After(20 * time.Millisecond):
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("did not return on cancel")
	}
}

func TestReleaseStartupGarbageReleasesFreeHeap(t *testing.T) {
	garbage := make([][]byte, 0, 64)
	for range 64 {
		garbage = append(garbage, make([]byte, 256<<10))
	}
	sample := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(sample) // while the 16 MiB are live: none of it released
	before := sample[0].Value.Uint64()
	runtime.KeepAlive(garbage)
	listening := make(chan struct{})
	close(listening)
	releaseStartupGarbage(t.Context(), listening, 0)
	metrics.Read(sample)
	if after := sample[0].Value.Uint64(); after < before+8<<20 {
		t.Fatalf("released heap %d → %d bytes: 16 MiB of garbage not returned", before, after)
	}
}

func TestReleaseStartupGarbageCancelledDuringSettle(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	listening := make(chan struct{})
	close(listening)
	done := make(chan struct{})
	go func() {
		defer close(done)
		releaseStartupGarbage(ctx, listening, time.Hour)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("did not return on cancel during the settle time")
	}
}
