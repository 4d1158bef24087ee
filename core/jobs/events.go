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
	eb := &eventsBackend{Backend: b, push: push, log: log}
	if a, ok := b.(StreamAppender); ok {
		// The Client's one-write enqueue keeps working under the wrapper.
		return &eventsAppender{eventsBackend: eb, app: a}
	}
	return eb
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

// CreateMany implements Store.
func (b *eventsBackend) CreateMany(ctx context.Context, js []*Job, idemWindow time.Duration) ([]Created, error) {
	res, err := b.Backend.CreateMany(ctx, js, idemWindow)
	b.publishCreated(ctx, js, res)
	return res, err
}

func (b *eventsBackend) publishCreated(ctx context.Context, js []*Job, res []Created) {
	for i, r := range res {
		if i < len(js) && r.Created {
			b.publish(ctx, js[i])
		}
	}
}

// eventsAppender is eventsBackend over a StreamAppender.
type eventsAppender struct {
	*eventsBackend
	app StreamAppender
}

var (
	_ StreamAppender = (*eventsAppender)(nil)
	_ RecordUpdater  = (*eventsBackend)(nil)
)

// StreamTarget implements StreamAppender.
func (b *eventsAppender) StreamTarget() any { return b.app.StreamTarget() }

// CreateAppend implements StreamAppender.
func (b *eventsAppender) CreateAppend(ctx context.Context, j *Job, idemWindow time.Duration, e StreamEntry) (string, bool, error) {
	id, created, err := b.app.CreateAppend(ctx, j, idemWindow, e)
	if err == nil && created {
		b.publish(ctx, j)
	}
	return id, created, err
}

// CreateAppendMany implements StreamAppender.
func (b *eventsAppender) CreateAppendMany(ctx context.Context, js []*Job, idemWindow time.Duration, entries []StreamEntry) ([]Created, error) {
	res, err := b.app.CreateAppendMany(ctx, js, idemWindow, entries)
	b.publishCreated(ctx, js, res)
	return res, err
}

// Update implements Store: it compares the stored job with the one fn was
// given on its last call.
func (b *eventsBackend) Update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error) {
	return b.tracked(ctx, fn, func(fn func(*Job) (*Job, error)) (*Job, error) { return b.Backend.Update(ctx, id, fn) })
}

// UpdateFromRecord implements RecordUpdater: the wrapped backend's when
// it has one, else Update.
func (b *eventsBackend) UpdateFromRecord(ctx context.Context, id, record string, fn func(*Job) (*Job, error)) (*Job, error) {
	ru, ok := b.Backend.(RecordUpdater)
	if !ok || record == "" {
		return b.Update(ctx, id, fn)
	}
	return b.tracked(ctx, fn, func(fn func(*Job) (*Job, error)) (*Job, error) { return ru.UpdateFromRecord(ctx, id, record, fn) })
}

// tracked runs update with fn and publishes the stored job when its state
// (or its progress) differs from the job fn was given on its last call.
func (b *eventsBackend) tracked(ctx context.Context, fn func(*Job) (*Job, error), update func(func(*Job) (*Job, error)) (*Job, error)) (*Job, error) {
	var before State
	var progress json.RawMessage
	out, err := update(func(j *Job) (*Job, error) {
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
