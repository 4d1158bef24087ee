package health

import (
	"context"
	"errors"
	"testing"
	"time"
)

func check(err error) Check {
	return CheckFunc(func(context.Context) (map[string]any, error) { return nil, err })
}

func TestRunSummarises(t *testing.T) {
	tests := []struct {
		name      string
		regs      []Registration
		draining  bool
		want      Status
		wantReady bool
	}{
		{"no checks", nil, false, StatusUp, true},
		{"all up", []Registration{{Name: "a", Required: true, Check: check(nil)}}, false, StatusUp, true},
		{"optional down", []Registration{{Name: "a", Required: true, Check: check(nil)}, {Name: "b", Check: check(errors.New("x"))}}, false, StatusDegraded, true},
		{"required down", []Registration{{Name: "a", Required: true, Check: check(errors.New("x"))}, {Name: "b", Check: check(errors.New("y"))}}, false, StatusDown, false},
		{"draining", []Registration{{Name: "a", Required: true, Check: check(nil)}}, true, StatusDraining, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRegistry(time.Second)
			for _, reg := range tc.regs {
				r.Register(reg)
			}
			if tc.draining {
				r.SetDraining()
			}
			rep := r.Run(context.Background())
			if rep.Status != tc.want || rep.Ready != tc.wantReady || len(rep.Checks) != len(tc.regs) {
				t.Fatalf("report %+v, want %s ready=%v", rep, tc.want, tc.wantReady)
			}
		})
	}
}

func TestRunBoundsSlowAndPanickingChecks(t *testing.T) {
	r := NewRegistry(30 * time.Millisecond)
	// The slow check ignores ctx on purpose and returns only when the test
	// ends: a Run that waited for it would never return in time, so the
	// bound below can be generous (a loaded CI host) and still tell a cut
	// off check from one that was waited for.
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	r.Register(Registration{Name: "slow", Required: true, Check: CheckFunc(func(ctx context.Context) (map[string]any, error) {
		<-release
		return nil, nil
	})})
	r.Register(Registration{Name: "panics", Check: CheckFunc(func(context.Context) (map[string]any, error) { panic("oops") })})
	start := time.Now()
	ran := make(chan Report, 1)
	go func() { ran <- r.Run(context.Background()) }()
	var rep Report
	select {
	case rep = <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting 10s for a check 30ms past its timeout: a slow check was not cut off")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("run took %s: a slow check was not cut off", elapsed)
	}
	if rep.Ready || rep.Checks[0].Name != "panics" || rep.Checks[0].Status != StatusDown || rep.Checks[1].Status != StatusDown {
		t.Fatalf("report %+v", rep)
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	r := NewRegistry(0)
	r.Register(Registration{Name: "db", Check: check(nil)})
	defer func() {
		if recover() == nil {
			t.Fatal("duplicate name accepted")
		}
	}()
	r.Register(Registration{Name: "db", Check: check(nil)})
}
