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
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/shortlived"
)

// Factory returns an empty store and registers its cleanup.
type Factory func(t *testing.T) shortlived.Store

var seq atomic.Int64

func key(name string) string { return fmt.Sprintf("suite:%s:%d", name, seq.Add(1)) }

// Run runs the contract suite on a store whose entries expire by the
// process clock (time.Now): each case runs in a synctest bubble of its
// own, with the store made inside it, and waiting costs nothing.
func Run(t *testing.T, newStore Factory) { run(t, newStore, false) }

// RunRealTime runs the suite on a store whose entries expire by its own
// clock (Redis TTLs): the cases run outside a bubble and wait in real
// time, with TTLs of a few hundred milliseconds.
func RunRealTime(t *testing.T, newStore Factory) { run(t, newStore, true) }

func run(t *testing.T, newStore Factory, realTime bool) {
	ctx := context.Background()
	each := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			if realTime {
				f(t)
				return
			}
			synctest.Test(t, f)
		})
	}

	each("PutGetTakeDelete", func(t *testing.T) {
		s := newStore(t)
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

	each("Expiry", func(t *testing.T) {
		s := newStore(t)
		k := key("ttl")
		ttl := 5 * time.Minute
		if realTime {
			ttl = 300 * time.Millisecond
		}
		if err := s.Put(ctx, k, []byte("v"), ttl); err != nil {
			t.Fatal(err)
		}
		if realTime {
			time.Sleep(ttl / 3)
		} else {
			time.Sleep(ttl - time.Second)
		}
		if _, err := s.Get(ctx, k); err != nil {
			t.Fatalf("Get before the TTL = %v", err)
		}
		if realTime {
			time.Sleep(ttl)
		} else {
			time.Sleep(time.Second)
		}
		if _, err := s.Get(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get at the TTL = %v; want NotFound", err)
		}
		if _, err := s.Take(ctx, k); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Take at the TTL = %v; want NotFound", err)
		}
	})

	each("ConcurrentTakeHasOneWinner", func(t *testing.T) {
		s := newStore(t)
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

	each("Invalid", func(t *testing.T) {
		s := newStore(t)
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
