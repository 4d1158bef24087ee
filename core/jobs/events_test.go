package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
	"github.com/tradesense/tradesense/core/uow"
)

// mapStore is just enough of a Backend for PublishEvents: Create and
// Update over a map.
type mapStore struct {
	jobs.Backend
	mu   sync.Mutex
	jobs map[string]*jobs.Job
}

func (s *mapStore) Create(_ context.Context, j *jobs.Job, _ time.Duration) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.jobs[j.ID]; ok {
		return j.ID, false, nil
	}
	s.jobs[j.ID] = j.Clone()
	return j.ID, true, nil
}

func (s *mapStore) Update(_ context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := fn(s.jobs[id].Clone())
	if err != nil {
		return nil, err
	}
	s.jobs[id] = out.Clone()
	return out.Clone(), nil
}

func states(h *realtimetest.Hub) []string {
	var out []string
	for _, e := range h.Published() {
		if e.Type != realtime.TypeJobUpdated {
			continue
		}
		s := e.Payload["state"].(string)
		if p, ok := e.Payload["progress"]; ok {
			b, _ := json.Marshal(p)
			s += string(b)
		}
		out = append(out, s)
	}
	return out
}

func TestPublishEventsOnStateAndProgressChanges(t *testing.T) {
	ctx := context.Background()
	hub := realtimetest.NewHub()
	store := &mapStore{jobs: map[string]*jobs.Job{}}
	b := jobs.PublishEvents(store, hub, nil)
	owner := uuid.New()
	set := func(id string, f func(*jobs.Job)) {
		t.Helper()
		if _, err := b.Update(ctx, id, func(j *jobs.Job) (*jobs.Job, error) { f(j); return j, nil }); err != nil {
			t.Fatal(err)
		}
	}

	id := uuid.NewString()
	if _, created, err := b.Create(ctx, &jobs.Job{ID: id, Kind: "imports.run", Queue: "default", Owner: owner.String(), State: jobs.StateQueued}, 0); err != nil || !created {
		t.Fatal(created, err)
	}
	set(id, func(j *jobs.Job) { j.State, j.Attempt = jobs.StateStarted, 1 })
	set(id, func(j *jobs.Job) { j.Worker = "w2" }) // no state change
	set(id, func(j *jobs.Job) { j.State, j.Progress = jobs.StateProgress, json.RawMessage(`{"rows":10}`) })
	set(id, func(j *jobs.Job) { j.Progress = json.RawMessage(`{"rows":10}`) }) // same report
	set(id, func(j *jobs.Job) { j.Progress = json.RawMessage(`{"rows":20}`) })
	if _, err := b.Update(ctx, id, func(*jobs.Job) (*jobs.Job, error) { return nil, errors.New("refused") }); err == nil {
		t.Fatal("the refused update succeeded")
	}
	set(id, func(j *jobs.Job) { j.State = jobs.StateSucceeded })
	want := []string{"queued", "started", `progress{"rows":10}`, `progress{"rows":20}`, "succeeded"}
	if got := states(hub); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for _, e := range hub.Published() {
		if e.UserID != owner || e.Payload["job_id"] != id || e.Payload["kind"] != "imports.run" {
			t.Fatalf("event %+v", e)
		}
	}

	// A system job is nobody's: nothing is pushed.
	sys := uuid.NewString()
	if _, _, err := b.Create(ctx, &jobs.Job{ID: sys, Kind: "maintenance.purge_jobs", Queue: "maintenance", State: jobs.StateQueued}, 0); err != nil {
		t.Fatal(err)
	}
	set(sys, func(j *jobs.Job) { j.State = jobs.StateSucceeded })
	if n := len(hub.Published()); n != len(want) {
		t.Fatalf("%d events after a system job, want %d", n, len(want))
	}
}

// A job created inside a unit of work is announced once that commits, and
// never when it rolls back.
func TestPublishEventsWaitsForTheCommit(t *testing.T) {
	hub := realtimetest.NewHub()
	b := jobs.PublishEvents(&mapStore{jobs: map[string]*jobs.Job{}}, hub, nil)
	owner := uuid.New()
	for _, commit := range []bool{false, true} {
		txCtx, afterCommit := uow.WithAfterCommit(context.Background())
		if _, _, err := b.Create(txCtx, &jobs.Job{ID: uuid.NewString(), Kind: "reports.render", Queue: "reports", Owner: owner.String(), State: jobs.StateQueued}, 0); err != nil {
			t.Fatal(err)
		}
		if n := len(hub.Published()); n != 0 && !commit {
			t.Fatalf("published before the commit: %d", n)
		}
		if commit {
			afterCommit(context.Background())
		}
	}
	if got := states(hub); !slices.Equal(got, []string{"queued"}) {
		t.Fatalf("events %v, want one queued (the committed job)", got)
	}
}

// appendStore is a mapStore that also appends (jobs.StreamAppender),
// recording the entries of the jobs it stored.
type appendStore struct {
	mapStore
	appended []jobs.StreamEntry
}

func (s *appendStore) StreamTarget() any { return s }

func (s *appendStore) CreateMany(ctx context.Context, js []*jobs.Job, w time.Duration) ([]jobs.Created, error) {
	return s.CreateAppendMany(ctx, js, w, nil)
}

func (s *appendStore) CreateAppend(ctx context.Context, j *jobs.Job, w time.Duration, e jobs.StreamEntry) (string, bool, error) {
	id, created, err := s.Create(ctx, j, w)
	if created && e.Stream != "" {
		s.appended = append(s.appended, e)
	}
	return id, created, err
}

func (s *appendStore) CreateAppendMany(ctx context.Context, js []*jobs.Job, w time.Duration, es []jobs.StreamEntry) ([]jobs.Created, error) {
	out := make([]jobs.Created, len(js))
	for i, j := range js {
		var e jobs.StreamEntry
		if i < len(es) {
			e = es[i]
		}
		id, created, err := s.CreateAppend(ctx, j, w, e)
		if err != nil {
			return nil, err
		}
		out[i] = jobs.Created{ID: id, Created: created}
	}
	return out, nil
}

// PublishEvents keeps a StreamAppender one (the Client's one-write
// enqueue stays on in production), and announces the jobs stored by every
// create path, the batch ones included.
func TestPublishEventsKeepsTheAppenderAndAnnouncesBatches(t *testing.T) {
	ctx := context.Background()
	hub := realtimetest.NewHub()
	store := &appendStore{mapStore: mapStore{jobs: map[string]*jobs.Job{}}}
	b := jobs.PublishEvents(store, hub, nil)
	a, ok := b.(jobs.StreamAppender)
	if !ok || a.StreamTarget() != any(store) {
		t.Fatalf("the wrapped backend is no StreamAppender of the store: %T", b)
	}
	owner := uuid.NewString()
	job := func() *jobs.Job {
		return &jobs.Job{ID: uuid.NewString(), Kind: "imports.run", Queue: "default", Owner: owner, State: jobs.StateQueued}
	}
	one := job()
	if _, created, err := a.CreateAppend(ctx, one, 0, jobs.StreamEntry{Stream: "s", Fields: []string{"k", "v"}}); err != nil || !created {
		t.Fatal(created, err)
	}
	if _, created, _ := a.CreateAppend(ctx, one, 0, jobs.StreamEntry{Stream: "s", Fields: []string{"k", "v"}}); created {
		t.Fatal("a repeated ID was stored again")
	}
	batch := []*jobs.Job{job(), one, job()}
	if _, err := a.CreateAppendMany(ctx, batch, 0, make([]jobs.StreamEntry, 3)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateMany(ctx, []*jobs.Job{job()}, 0); err != nil {
		t.Fatal(err)
	}
	if got := states(hub); len(got) != 4 {
		t.Fatalf("events %v, want one per stored job (4)", got)
	}
	if len(store.appended) != 1 {
		t.Fatalf("appended %v, want the first job's entry only", store.appended)
	}
	// A backend that cannot append is not made to look like one.
	if _, ok := jobs.PublishEvents(&mapStore{jobs: map[string]*jobs.Job{}}, hub, nil).(jobs.StreamAppender); ok {
		t.Fatal("a plain backend became a StreamAppender")
	}
}
