// Package shortlivedtest is the contract suite of shortlived.Store, run
// against every adapter.
package shortlivedtest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/shortlived"
)

// Clock is a settable clock for adapters that take one; adapters bound to
// real time (Redis TTLs) ignore it and the suite sleeps instead.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at a fixed instant.
func NewClock() *Clock { return &Clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Factory returns an empty store reading time from clock. realTime tells
// the suite the store ignores clock (it then waits for real TTLs).
type Factory func(t *testing.T, clock *Clock) (s shortlived.Store, realTime bool)

var seq atomic.Int64

func key(name string) string { return fmt.Sprintf("suite:%s:%d", name, seq.Add(1)) }

// Run runs the contract suite.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()

	t.Run("PutGetTakeDelete", func(t *testing.T) {
		s, _ := newStore(t, NewClock())
		k := key("basic")
		if _, err := s.Get(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get of a missing key = %v; want NotFound", err)
		}
		v := []byte("value-1")
		if err := s.Put(ctx, k, v, time.Minute); err != nil {
			t.Fatal(err)
		}
		v[0] = 'X' // the store must have copied it
		got, err := s.Get(ctx, k)
		if err != nil || string(got) != "value-1" {
			t.Fatalf("Get = %q, %v", got, err)
		}
		if err := s.Put(ctx, k, []byte("value-2"), time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, err = s.Take(ctx, k); err != nil || string(got) != "value-2" {
			t.Fatalf("Take = %q, %v; want the replaced value", got, err)
		}
		if _, err := s.Take(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second Take = %v; want NotFound", err)
		}
		if err := s.Put(ctx, k, []byte{1, 2, 3, 0, 255}, time.Minute); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, k); !bytes.Equal(got, []byte{1, 2, 3, 0, 255}) {
			t.Fatalf("binary value = %v", got)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete of a missing key = %v", err)
		}
		if _, err := s.Get(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		c := NewClock()
		s, real := newStore(t, c)
		k := key("ttl")
		ttl := 5 * time.Minute
		if real {
			ttl = 300 * time.Millisecond
		}
		if err := s.Put(ctx, k, []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
		if real {
			time.Sleep(ttl / 3)
		} else {
			c.Advance(ttl - time.Second)
		}
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Get before the TTL = %v", err)
		}
		if real {
			time.Sleep(ttl)
		} else {
			c.Advance(time.Second)
		}
		if _, err := s.Get(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get at the TTL = %v; want NotFound", err)
		}
		if _, err := s.Take(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Take at the TTL = %v; want NotFound", err)
		}
	})

	t.Run("ConcurrentTakeHasOneWinner", func(t *testing.T) {
		s, _ := newStore(t, NewClock())
		for round := range 5 {
			k := key(fmt.Sprint("race", round))
			if err := s.Put(ctx, k, []byte("prize"), time.Minute); err != nil {
				t.Fatal(err)
			}
			var wins, misses atomic.Int32
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					_, err := s.Take(ctx, k)
					switch {
					case err == nil:
						wins.Add(1)
					case apperr.Is(err, apperr.NotFound):
						misses.Add(1)
					default:
						t.Errorf("Take: %v", err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 || misses.Load() != 7 {
				t.Fatalf("round %d: %d winners, %d misses; want exactly 1 and 7", round, wins.Load(), misses.Load())
			}
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		s, _ := newStore(t, NewClock())
		long := string(make([]byte, shortlived.MaxKeyLen+1))
		for name, err := range map[string]error{
			"empty key":    s.Put(ctx, "", []byte("v"), time.Minute),
			"long key":     s.Put(ctx, long, []byte("v"), time.Minute),
			"zero ttl":     s.Put(ctx, key("z"), []byte("v"), 0),
			"huge value":   s.Put(ctx, key("h"), make([]byte, shortlived.MaxValueLen+1), time.Minute),
			"get empty":    func() error { _, err := s.Get(ctx, ""); return err }(),
			"take empty":   func() error { _, err := s.Take(ctx, ""); return err }(),
			"delete empty": s.Delete(ctx, ""),
		} {
			if !apperr.Is(err, apperr.Invalid) {
				t.Errorf("%s: %v; want Invalid", name, err)
			}
		}
	})
}
