package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/uow"
)

// PublishEvents returns b with job.updated published (core/realtime) to
// the owner of a job each time a job is stored in a new state, or with a
// new progress report while in state progress. Jobs of the system (no
// owner) publish nothing. The event follows the store's write: once the
// record is stored, and, when ctx carries a unit of work, once that
// commits (uow.AfterCommit). A failed publish is logged and never fails
// the job. The Client and the Worker are given the wrapped backend.
func PublishEvents(b Backend, push realtime.Publisher, log *slog.Logger) Backend {
	if push == nil {
		return b
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &eventsBackend{Backend: b, push: push, log: log}
}

type eventsBackend struct {
	Backend
	push realtime.Publisher
	log  *slog.Logger
}

// Create implements Store.
func (b *eventsBackend) Create(ctx context.Context, j *Job, idemWindow time.Duration) (string, bool, error) {
	id, created, err := b.Backend.Create(ctx, j, idemWindow)
	if err == nil && created {
		b.publish(ctx, j)
	}
	return id, created, err
}

// Update implements Store: it compares the stored job with the one fn was
// given on its last call.
func (b *eventsBackend) Update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	var before State
	var progress json.RawMessage
	out, err := b.Backend.Update(ctx, id, func(j *Job) (*Job, error) {
		before, progress = j.State, nil
		if j.State == StateProgress {
			progress = cloneBytes(j.Progress)
		}
		return fn(j)
	})
	if err == nil && out != nil && (out.State != before || (out.State == StateProgress && !bytes.Equal(out.Progress, progress))) {
		b.publish(ctx, out)
	}
	return out, err
}

func (b *eventsBackend) publish(ctx context.Context, j *Job) {
	owner, err := uuid.Parse(j.Owner)
	if err != nil || owner == uuid.Nil {
		return
	}
	ev := realtime.JobUpdated(owner, time.Now(), j.ID, j.Kind, j.Queue, string(j.State), j.Attempt, j.Progress)
	id, state := j.ID, string(j.State)
	uow.AfterCommit(ctx, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := b.push.Publish(ctx, ev); err != nil {
			b.log.WarnContext(ctx, "jobs: job.updated not published", "job_id", id, "state", state, "error", err)
		}
	})
}
