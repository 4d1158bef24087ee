package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

func TestRoute(t *testing.T) {
	for kind, want := range map[string]string{
		"email.send": "email", "email.bulk": "email", "reports.monthly": "reports",
		"maintenance.purge_jobs": "maintenance", "imports.csv": "default", "email": "default", "emailx.send": "default", "": "default",
	} {
		if got := jobs.Route(kind); got != want {
			t.Errorf("Route(%q) = %q, want %q", kind, got, want)
		}
	}
}

func TestLinearBackoffIsCeleryCountdown(t *testing.T) {
	b := jobs.LinearBackoff(60 * time.Second)
	for attempt, want := range map[int]time.Duration{1: 60 * time.Second, 2: 120 * time.Second, 3: 180 * time.Second} {
		if got := b(attempt); got != want {
			t.Errorf("attempt %d: %s, want %s", attempt, got, want)
		}
	}
}

func TestErrorClassification(t *testing.T) {
	for name, tc := range map[string]struct {
		err       error
		permanent bool
	}{
		"plain":       {errors.New("boom"), false},
		"unavailable": {apperr.New(apperr.Unavailable, "x", "down"), false},
		"invalid":     {apperr.Validation("bad", nil), true},
		"not found":   {apperr.New(apperr.NotFound, "x", "gone"), true},
		"permanent":   {jobs.Permanent(errors.New("no")), true},
		"retry after": {jobs.RetryAfter(time.Second, errors.New("later")), false},
		"wrapped":     {errors.Join(errors.New("ctx"), jobs.Permanent(errors.New("no"))), true},
	} {
		if got := jobs.IsPermanent(tc.err); got != tc.permanent {
			t.Errorf("%s: IsPermanent = %v", name, got)
		}
	}
}

func TestStates(t *testing.T) {
	for _, s := range jobs.States {
		if !s.Valid() {
			t.Errorf("%s not valid", s)
		}
	}
	if jobs.State("nope").Valid() || !jobs.StateDead.Terminal() || jobs.StateRetrying.Terminal() || !jobs.StateProgress.Running() {
		t.Fatal("state predicates are wrong")
	}
}
