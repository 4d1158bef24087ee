package jobs_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/jobs"
)

type sliceJournal struct{ saved []*jobs.Job }

func (j *sliceJournal) Save(_ context.Context, js []*jobs.Job) error {
	j.saved = append(j.saved, js...)
	return nil
}

func (j *sliceJournal) Take(context.Context) ([]*jobs.Job, error) {
	out := j.saved
	j.saved = nil
	return out, nil
}

type mapBackend map[string]*jobs.Job

func (m mapBackend) Unfinished() []*jobs.Job {
	var out []*jobs.Job
	for _, j := range m {
		if !j.State.Terminal() {
			out = append(out, j.Clone())
		}
	}
	return out
}

func (m mapBackend) Restore(js []*jobs.Job) {
	for _, j := range js {
		m[j.ID] = j.Clone()
	}
}

// Saved jobs come back due: queued and interrupted ones RestoreGrace after
// the start (an interrupted attempt not counted), delayed and retrying ones
// at their own time; finished ones are not saved.
func TestSaveAndRestoreUnfinishedJobs(t *testing.T) {
	ctx := context.Background()
	exit := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	start := exit.Add(time.Minute)
	old := mapBackend{
		"queued":   {ID: "queued", State: jobs.StateQueued, RunAt: exit},
		"running":  {ID: "running", State: jobs.StateStarted, Attempt: 2, Worker: "w-old", RunAt: exit},
		"delayed":  {ID: "delayed", State: jobs.StateQueued, RunAt: start.Add(time.Hour), Scheduled: true, TimerAt: start.Add(time.Hour)},
		"retrying": {ID: "retrying", State: jobs.StateRetrying, Attempt: 1, RunAt: exit.Add(30 * time.Second), Scheduled: true},
		"done":     {ID: "done", State: jobs.StateSucceeded},
	}
	journal := &sliceJournal{}
	if n, err := jobs.SaveUnfinished(ctx, old, journal); err != nil || n != 4 {
		t.Fatalf("saved %d, %v; want the 4 unfinished jobs", n, err)
	}
	fresh := mapBackend{}
	if n, err := jobs.RestoreSaved(ctx, fresh, journal, start); err != nil || n != 4 {
		t.Fatalf("restored %d, %v", n, err)
	}
	due := start.Add(jobs.RestoreGrace)
	for id, want := range map[string]struct {
		state   jobs.State
		attempt int
		timer   time.Time
	}{
		"queued":   {jobs.StateQueued, 0, due},
		"running":  {jobs.StateQueued, 1, due},
		"delayed":  {jobs.StateQueued, 0, start.Add(time.Hour)},
		"retrying": {jobs.StateRetrying, 1, due}, // its countdown ended while nothing ran
	} {
		j := fresh[id]
		if j == nil || j.State != want.state || j.Attempt != want.attempt || !j.Scheduled || !j.TimerAt.Equal(want.timer) || j.Worker != "" {
			t.Errorf("%s restored as %+v; want %s, attempt %d, due %s", id, j, want.state, want.attempt, want.timer)
		}
	}
	if again, _ := jobs.RestoreSaved(ctx, mapBackend{}, journal, start); again != 0 {
		t.Fatalf("restored %d jobs twice", again)
	}
}
