package jobs

import (
	"context"
	"fmt"
	"time"
)

// An in-process backend (the local profile's memory store) loses its jobs
// with the process. Rather than answering 2xx for work that then vanishes,
// the program saves the unfinished jobs to a Journal when it exits, after
// its worker drained, and puts them back when it starts: the worker of the
// next run runs them. A crash (SIGKILL, power loss) still loses them; a
// shutdown does not.

// Journal keeps the unfinished jobs of an in-process backend across a
// restart (SQLite in the local profile). Both methods may fail with
// apperr.Unavailable.
type Journal interface {
	// Save adds the jobs, replacing saved jobs of the same ID.
	Save(ctx context.Context, js []*Job) error
	// Take returns the saved jobs and removes them, atomically: two
	// processes never both take a job.
	Take(ctx context.Context) ([]*Job, error)
}

// Spilling is an in-process backend whose unfinished jobs can be taken
// out and put back.
type Spilling interface {
	// Unfinished returns copies of the jobs that are not terminal.
	Unfinished() []*Job
	// Restore stores the jobs as they are, replacing jobs of the same ID.
	Restore(js []*Job)
}

// SaveUnfinished saves b's unfinished jobs to j and returns how many.
// Call it once the worker stopped: what it does not run now, the next
// process will.
func SaveUnfinished(ctx context.Context, b Spilling, j Journal) (int, error) {
	js := b.Unfinished()
	if len(js) == 0 {
		return 0, nil
	}
	if err := j.Save(ctx, js); err != nil {
		return 0, fmt.Errorf("save %d unfinished jobs: %w", len(js), err)
	}
	return len(js), nil
}

// RestoreGrace is how long after its restoration a saved job is due: the
// worker of the starting process publishes it then, once its consumers
// have subscribed (an in-process broker drops what nobody listens to; the
// timer set would republish it only after Config.RescueAfter).
const RestoreGrace = time.Second

// RestoreSaved takes the jobs saved by SaveUnfinished and puts them in b,
// due after RestoreGrace: a job that was queued or running is queued again, for its
// attempt to run from the start (its message died with the process), and
// a job waiting for a delay or a retry keeps its time. It returns how many
// it restored.
func RestoreSaved(ctx context.Context, b Spilling, j Journal, now time.Time) (int, error) {
	js, err := j.Take(ctx)
	if err != nil {
		return 0, fmt.Errorf("take saved jobs: %w", err)
	}
	for _, job := range js {
		if job.State.Running() {
			// Started before the exit and not finished: run it again.
			job.State, job.Worker = StateQueued, ""
			job.Attempt = max(job.Attempt-1, 0)
			job.UpdatedAt = now
		}
		if job.State == StateQueued || job.State == StateRetrying {
			due := now.Add(RestoreGrace)
			if job.RunAt.After(due) {
				due = job.RunAt // a delay or a retry countdown not over yet
			}
			job.Scheduled, job.TimerAt = true, due
		}
	}
	b.Restore(js)
	return len(js), nil
}
