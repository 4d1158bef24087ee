package apperrtest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/apperr/apperrtest"
)

// recorder is a testing.TB that records failures; Fatalf stops the
// function under test as the real one does.
type recorder struct {
	testing.TB
	errs, fatals []string
}

type stopped struct{}

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.fatals = append(r.fatals, fmt.Sprintf(format, a...))
	panic(stopped{})
}

func judge(s apperrtest.Scenario, run func(f *apperrtest.Faults) error) (r *recorder) {
	r = &recorder{}
	defer func() {
		if p := recover(); p != nil && p != (stopped{}) {
			panic(p)
		}
	}()
	apperrtest.EveryFault(r, s, run)
	return r
}

var errTrace = errors.New("a mail did not come")

// steps is a scenario of five calls: each step's error is passed through
// mapErr, and the fourth is best-effort (its error is dropped).
func steps(mapErr func(error) error) func(f *apperrtest.Faults) error {
	return func(f *apperrtest.Faults) error {
		f.Arm()
		for i := 1; i <= 5; i++ {
			err := f.Next(fmt.Sprintf("step %d", i))
			if err != nil && i != 4 {
				return mapErr(err)
			}
		}
		return nil
	}
}

func TestEveryFault(t *testing.T) {
	same := func(err error) error { return fmt.Errorf("service: %w", err) }
	for _, c := range []struct {
		name        string
		s           apperrtest.Scenario
		run         func(f *apperrtest.Faults) error
		errs, fatal string
	}{
		{name: "faults surface as Unavailable", s: apperrtest.Scenario{MinCalls: 5}, run: steps(same)},
		{name: "too few calls", s: apperrtest.Scenario{MinCalls: 6}, run: steps(same), fatal: "only 5 store calls"},
		{name: "never armed", run: func(*apperrtest.Faults) error { return nil }, s: apperrtest.Scenario{MinCalls: 1}, fatal: "only 0"},
		{name: "mapped to another kind", run: steps(func(err error) error { return apperr.Wrap(err, apperr.NotFound, "not_found", "gone") }),
			errs: "kind not_found"},
		{name: "replaced by another error", run: steps(func(error) error { return apperr.New(apperr.Unavailable, "other", "other") }),
			errs: "fault in call 1 (step 1)"},
		{name: "a panic", run: steps(func(error) error { panic("boom") }), errs: "panic: boom"},
		{name: "an allowed trace", s: apperrtest.Scenario{Allowed: []error{errTrace}}, run: steps(func(error) error { return errTrace })},
		{name: "a trace not allowed", run: steps(func(error) error { return errTrace }), errs: "a mail did not come"},
		{name: "fails without a fault", run: func(f *apperrtest.Faults) error { return errTrace }, fatal: "met no fault but failed"},
		{name: "own fault", s: apperrtest.Scenario{Err: errTrace}, run: steps(same), errs: "kind internal"},
		{name: "bounded", s: apperrtest.Scenario{MaxCalls: 3, Calls: "statements"}, run: steps(same), fatal: "after 3 statements"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := judge(c.s, c.run)
			check := func(what string, got []string, want string) {
				if want == "" && len(got) > 0 || want != "" && (len(got) == 0 || !strings.Contains(got[0], want)) {
					t.Errorf("%s = %q; want %q", what, got, want)
				}
			}
			check("errors", r.errs, c.errs)
			check("fatal", r.fatals, c.fatal)
		})
	}
}

func TestFaults(t *testing.T) {
	f := apperrtest.NewFaults(2, nil)
	if err := f.Next("before"); err != nil || f.Faulted() {
		t.Fatalf("disarmed: %v", err)
	}
	f.Arm()
	if err := f.Next("a"); err != nil {
		t.Fatal(err)
	}
	err := f.Next("b")
	if !errors.Is(err, apperrtest.ErrStoreDown) || !apperr.Is(err, apperr.Unavailable) || f.Hit() != "b" {
		t.Fatalf("second call: %v, hit %q", err, f.Hit())
	}
	if err := f.Next("c"); err != nil || f.Hit() != "b" {
		t.Fatalf("third call: %v, hit %q", err, f.Hit())
	}
}
