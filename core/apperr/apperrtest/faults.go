// Package apperrtest is test tooling for the apperr contract: fault
// injection that fails the n-th call of a scenario, and the loop that runs
// the scenario once for every call it makes, checking that each fault
// surfaces as Unavailable. Only tests import it.
package apperrtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
)

// ErrStoreDown is the default fault: a store that is down, already of kind
// Unavailable (what a port's implementation returns for an outage).
var ErrStoreDown = apperr.New(apperr.Unavailable, "store_down", "the store is down (injected)")

// Faults fails the n-th call (counting from 1) made while it is armed,
// and remembers which call that was. It is safe for concurrent use.
type Faults struct {
	err    error
	failAt int

	mu    sync.Mutex
	armed bool
	calls int
	hit   string
}

// NewFaults returns disarmed faults that fail the failAt-th call with err
// (ErrStoreDown when err is nil).
func NewFaults(failAt int, err error) *Faults {
	if err == nil {
		err = ErrStoreDown
	}
	return &Faults{err: err, failAt: failAt}
}

// Arm starts counting calls.
func (f *Faults) Arm() { f.set(true) }

// Disarm stops counting calls: later ones pass.
func (f *Faults) Disarm() { f.set(false) }

func (f *Faults) set(armed bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.armed = armed
}

// Next counts a call named name and returns the fault, wrapped with name,
// when it is the one to fail; nil otherwise.
func (f *Faults) Next(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.armed {
		return nil
	}
	f.calls++
	if f.calls != f.failAt {
		return nil
	}
	f.hit = name
	return fmt.Errorf("%s: %w", name, f.err)
}

// Hit names the call that met the fault, "" while none has.
func (f *Faults) Hit() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hit
}

// Faulted reports whether a call has met the fault.
func (f *Faults) Faulted() bool { return f.Hit() != "" }

// Scenario says how EveryFault runs a scenario and judges its errors.
type Scenario struct {
	// Err is the fault to inject (ErrStoreDown when nil). The error a run
	// returns must wrap it and be of kind Unavailable.
	Err error
	// Allowed are errors a faulted run may end with instead: the visible
	// trace of a fault met where the design swallows it (a mail sent in
	// the background that did not come).
	Allowed []error
	// MinCalls: the run that meets no fault must have made at least this
	// many calls, or the scenario does not reach what it claims to.
	MinCalls int
	// MaxCalls bounds the loop (10000 when zero): a scenario still meeting
	// a fault after that many runs fails.
	MaxCalls int
	// Calls names what is counted in messages ("store calls" when empty).
	Calls string
}

// EveryFault runs run again and again, the n-th call failing in the n-th
// run (n = 1, 2, ...), until a run meets no fault. run gets fresh, disarmed
// faults: it arms them when the part of the scenario under test begins
// (EveryFault disarms them when run returns) and routes its calls through
// Next. A run that meets the fault must return nil (the step was
// best-effort by design), an Allowed error, or an error that wraps the
// fault and is Unavailable: never a panic, nor another kind (NotFound,
// Conflict, Internal, ...) that a client would act on. The run that meets
// no fault must succeed and have made at least MinCalls calls.
func EveryFault(t testing.TB, s Scenario, run func(f *Faults) error) {
	t.Helper()
	fault, most, calls := s.Err, s.MaxCalls, s.Calls
	if fault == nil {
		fault = ErrStoreDown
	}
	if most == 0 {
		most = 10000
	}
	if calls == "" {
		calls = "store calls"
	}
	for n := 1; n <= most+1; n++ {
		f := NewFaults(n, fault)
		err := Safely(func() error {
			defer f.Disarm()
			return run(f)
		})
		if !f.Faulted() {
			if err != nil {
				t.Fatalf("run %d met no fault but failed: %v", n, err)
			}
			if n-1 < s.MinCalls {
				t.Fatalf("the scenario made only %d %s; want at least %d", n-1, calls, s.MinCalls)
			}
			t.Logf("a fault in each of the scenario's %d %s", n-1, calls)
			return
		}
		if err != nil && !isAny(err, s.Allowed) && (!errors.Is(err, fault) || !apperr.Is(err, apperr.Unavailable)) {
			t.Errorf("fault in call %d (%s): %v (kind %v); want the injected fault as Unavailable", n, f.Hit(), err, apperr.KindOf(err))
		}
	}
	t.Fatalf("the scenario still met a fault after %d %s", most, calls)
}

// Safely calls fn and returns its error, or a panic of fn as an error.
func Safely(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errPanic, r)
		}
	}()
	return fn()
}

var errPanic = errors.New("panic")

func isAny(err error, targets []error) bool {
	for _, target := range targets {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}
