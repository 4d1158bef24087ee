package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// WriteThrough is a Backend whose jobs are also written to a Journal
// from the moment they are accepted until they finish, so that an
// in-process backend (the local profile's memory store) loses no accepted
// job when its process dies without a shutdown: SIGKILL, a crash, the OOM
// killer. The next start takes them back with RestoreSaved.
//
// Create returns only once the job is in the journal: a job the journal
// cannot take is removed again and the enqueue fails (apperr.Unavailable
// "jobs_journal_unavailable"), so no request is acknowledged for work that
// is not durable. A job entering its retry countdown is written again
// (its attempt and due time survive a crash); a finished or deleted job
// leaves the journal. A crash between a job's last write and its removal
// runs it again after the restart: delivery stays at least once, as it is
// on Redis.
type WriteThrough struct {
	Backend
	spill   Spilling // the same backend: its unfinished jobs
	journal WriteThroughJournal
	log     *slog.Logger
}

// WriteThroughJournal is the Journal a WriteThrough writes: Save and Take,
// and Remove of the jobs that finished.
type WriteThroughJournal interface {
	Journal
	// Remove deletes the saved jobs of these IDs; unknown IDs are not an
	// error.
	Remove(ctx context.Context, ids ...string) error
}

// SpillingBackend is an in-process backend (the memory store).
type SpillingBackend interface {
	Backend
	Spilling
}

// NewWriteThrough returns b writing through to j.
func NewWriteThrough(b SpillingBackend, j WriteThroughJournal, log *slog.Logger) *WriteThrough {
	return &WriteThrough{Backend: b, spill: b, journal: j, log: log}
}

// Create implements Store: the job is stored, then journaled, before the
// caller may publish or acknowledge it.
func (w *WriteThrough) Create(ctx context.Context, j *Job, idemWindow time.Duration) (string, bool, error) {
	id, created, err := w.Backend.Create(ctx, j, idemWindow)
	if err != nil || !created {
		return id, created, err
	}
	saved := j.Clone()
	saved.ID = id
	if err := w.journal.Save(ctx, []*Job{saved}); err != nil {
		if derr := w.Backend.Delete(context.WithoutCancel(ctx), id); derr != nil {
			w.log.ErrorContext(ctx, "job journal: a job not journaled could not be withdrawn", "job_id", id, "error", derr)
		}
		return "", false, apperr.Wrap(fmt.Errorf("journal job %s: %w", id, err), apperr.Unavailable, "jobs_journal_unavailable", "The job could not be stored; try again.")
	}
	return id, true, nil
}

// CreateMany implements Store: the jobs stored are journaled in one
// write before any is published; if the journal cannot take them they
// are withdrawn and the call fails.
func (w *WriteThrough) CreateMany(ctx context.Context, js []*Job, idemWindow time.Duration) ([]Created, error) {
	res, err := w.Backend.CreateMany(ctx, js, idemWindow)
	var saved []*Job
	for i, r := range res {
		if r.Created && i < len(js) {
			j := js[i].Clone()
			j.ID = r.ID
			saved = append(saved, j)
		}
	}
	if len(saved) > 0 {
		if jerr := w.journal.Save(ctx, saved); jerr != nil {
			for _, j := range saved {
				if derr := w.Backend.Delete(context.WithoutCancel(ctx), j.ID); derr != nil {
					w.log.ErrorContext(ctx, "job journal: a job not journaled could not be withdrawn", "job_id", j.ID, "error", derr)
				}
			}
			return nil, apperr.Wrap(fmt.Errorf("journal %d jobs: %w", len(saved), jerr), apperr.Unavailable, "jobs_journal_unavailable", "The jobs could not be stored; try again.")
		}
	}
	return res, err
}

// Update implements Store, keeping the journal in step with the job's
// state.
func (w *WriteThrough) Update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	stored, err := w.Backend.Update(ctx, id, fn)
	if err != nil {
		return stored, err
	}
	switch {
	case stored.State.Terminal():
		w.remove(ctx, id)
	case stored.State == StateRetrying:
		if err := w.journal.Save(context.WithoutCancel(ctx), []*Job{stored.Clone()}); err != nil {
			// The job stays journaled as it was accepted: after a crash
			// it runs from its first attempt.
			w.log.WarnContext(ctx, "job journal: retry state not saved", "job_id", id, "error", err)
		}
	}
	return stored, nil
}

// Delete implements Store.
func (w *WriteThrough) Delete(ctx context.Context, id string) error {
	if err := w.Backend.Delete(ctx, id); err != nil {
		return err
	}
	w.remove(ctx, id)
	return nil
}

func (w *WriteThrough) remove(ctx context.Context, id string) {
	if err := w.journal.Remove(context.WithoutCancel(ctx), id); err != nil {
		// Harmless but for a crash before the next shutdown: the
		// finished job would run once more after the restart.
		w.log.WarnContext(ctx, "job journal: finished job not removed", "job_id", id, "error", err)
	}
}

// RestoreSaved takes back the jobs the journal holds (see the function
// RestoreSaved) and journals them again, so that they stay there until
// they finish.
func (w *WriteThrough) RestoreSaved(ctx context.Context, now time.Time) (int, error) {
	n, err := RestoreSaved(ctx, w.spill, w.journal, now)
	if err != nil || n == 0 {
		return n, err
	}
	if err := w.journal.Save(ctx, w.spill.Unfinished()); err != nil {
		return n, fmt.Errorf("journal the %d restored jobs again: %w", n, err)
	}
	return n, nil
}

// SaveUnfinished saves the exact state of the unfinished jobs at a
// graceful exit (the function SaveUnfinished).
func (w *WriteThrough) SaveUnfinished(ctx context.Context) (int, error) {
	return SaveUnfinished(ctx, w.spill, w.journal)
}
