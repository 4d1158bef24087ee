package identity

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

func TestHashLimitDefaults(t *testing.T) {
	h, err := NewBoundedPasswordHasher(TestParams, HashLimit{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Limit(), (HashLimit{Concurrent: runtime.GOMAXPROCS(0), QueueWait: DefaultHashQueueWait}); got != want {
		t.Fatalf("Limit() = %+v; want %+v (sized to the CPUs)", got, want)
	}
	h, _ = NewBoundedPasswordHasher(TestParams, HashLimit{Concurrent: 3, QueueWait: 250 * time.Millisecond})
	if got := h.Limit(); got.Concurrent != 3 || got.QueueWait != 250*time.Millisecond {
		t.Fatalf("Limit() = %+v; want the configured bound", got)
	}
}

// hashBusy asserts err is the refusal of a full bound, with its Retry-After.
func hashBusy(t *testing.T, err error, after time.Duration) {
	t.Helper()
	if apperr.KindOf(err) != apperr.Unavailable || apperr.CodeOf(err) != CodeHashingBusy {
		t.Fatalf("err = %v (kind %v, code %q); want Unavailable %s", err, apperr.KindOf(err), apperr.CodeOf(err), CodeHashingBusy)
	}
	var busy *HashBusyError
	if !errors.As(err, &busy) || busy.RetryAfter() != after {
		t.Fatalf("err = %v; want a HashBusyError with RetryAfter %s", err, after)
	}
}

// A full bound queues a caller for QueueWait, not a moment more, then
// refuses it; every entry point (Hash, Verify, SpendDummy's Verify) waits.
func TestHashLimitQueuesThenRefuses(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := NewBoundedPasswordHasher(TestParams, HashLimit{Concurrent: 2, QueueWait: time.Second})
		enc, err := h.Hash(t.Context(), "pässwörd-1234")
		if err != nil {
			t.Fatal(err)
		}
		r1, err := h.Hold(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		r2, err := h.Hold(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var hashErr, verifyErr error
		var returned atomic.Int32
		var wg sync.WaitGroup
		wg.Go(func() { _, hashErr = h.Hash(t.Context(), "another-password"); returned.Add(1) })
		wg.Go(func() { _, _, verifyErr = h.Verify(t.Context(), "pässwörd-1234", enc); returned.Add(1) })
		time.Sleep(time.Second - time.Nanosecond)
		synctest.Wait()
		if n := returned.Load(); n != 0 {
			t.Fatalf("%d callers refused before QueueWait", n)
		}
		wg.Wait()
		if waited := time.Since(start); waited != time.Second {
			t.Fatalf("waited %s; want exactly QueueWait", waited)
		}
		hashBusy(t, hashErr, time.Second)
		hashBusy(t, verifyErr, time.Second)
		r1()
		r1() // release is idempotent: the second call must not free r2's slot
		r3, err := h.Hold(t.Context())
		if err != nil {
			t.Fatalf("a released slot is free again: %v", err)
		}
		if _, err := h.Hold(t.Context()); err == nil {
			t.Fatal("a double release freed a slot it did not hold")
		}
		r2()
		r3()
	})
}

// A slot freed while a caller queues is handed to it: queueing briefly is
// the point, a burst is absorbed rather than refused.
func TestHashLimitQueuedCallerGetsTheFreedSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := NewBoundedPasswordHasher(TestParams, HashLimit{Concurrent: 1, QueueWait: time.Second})
		release, _ := h.Hold(t.Context())
		done := make(chan error, 1)
		go func() { _, err := h.Hash(t.Context(), "queued-password"); done <- err }()
		time.Sleep(900 * time.Millisecond)
		release()
		if err := <-done; err != nil {
			t.Fatalf("queued hash: %v", err)
		}
	})
}

// A caller whose context ends while it queues is told so (a client that
// hung up), not that the server is busy.
func TestHashLimitCancelledWhileQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := NewBoundedPasswordHasher(TestParams, HashLimit{Concurrent: 1, QueueWait: time.Minute})
		release, _ := h.Hold(t.Context())
		defer release()
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		_, err := h.Hash(ctx, "cancelled-password")
		if !errors.Is(err, context.DeadlineExceeded) || apperr.CodeOf(err) == CodeHashingBusy {
			t.Fatalf("err = %v; want the context's error, not busy", err)
		}
	})
}

// Under a burst no more than Concurrent holders run at once, and every
// caller is served (nobody is refused while the queue keeps moving).
func TestHashLimitBoundsConcurrentRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, _ := NewBoundedPasswordHasher(TestParams, HashLimit{Concurrent: 2, QueueWait: time.Minute})
		var running, peak, served atomic.Int32
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				release, err := h.Hold(t.Context())
				if err != nil {
					t.Error(err)
					return
				}
				defer release()
				n := running.Add(1)
				for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
				}
				time.Sleep(10 * time.Millisecond) // the cost of one hash
				running.Add(-1)
				served.Add(1)
			})
		}
		wg.Wait()
		if p := peak.Load(); p != 2 {
			t.Fatalf("peak concurrency %d; want the bound, 2", p)
		}
		if s := served.Load(); s != 16 {
			t.Fatalf("served %d of 16", s)
		}
	})
}
