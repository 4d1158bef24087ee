package memory

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// Jobs is the memory adapter of jobs.Backend: job records, the timer set,
// counters, heartbeats, leases and done-markers of one process (the local
// profile). It is safe for concurrent use.
type Jobs struct {
	mu        sync.Mutex
	jobs      map[string]*jobs.Job
	idem      map[string]expiring
	beats     map[string]time.Time
	leases    map[string]lease
	marks     map[string]time.Time
	hidden    map[string]time.Time // ClaimDue leases by job ID
	processed map[string]int64
	failed    map[string]int64
}

type expiring struct {
	id  string
	exp time.Time
}

type lease struct {
	holder string
	exp    time.Time
}

var _ jobs.Backend = (*Jobs)(nil)

// NewJobs returns an empty store.
func NewJobs() *Jobs {
	return &Jobs{
		jobs: map[string]*jobs.Job{}, idem: map[string]expiring{}, beats: map[string]time.Time{},
		leases: map[string]lease{}, marks: map[string]time.Time{}, hidden: map[string]time.Time{},
		processed: map[string]int64{}, failed: map[string]int64{},
	}
}

// live returns the job unless it expired (removing it then). Callers hold mu.
func (s *Jobs) live(id string) (*jobs.Job, bool) {
	j, ok := s.jobs[id]
	if !ok {
		return nil, false
	}
	if !j.ExpiresAt.IsZero() && !j.ExpiresAt.After(time.Now()) {
		delete(s.jobs, id)
		return nil, false
	}
	return j, true
}

// Create implements jobs.Store.
// CreateMany implements jobs.Store: Create for each job, in order.
func (s *Jobs) CreateMany(ctx context.Context, js []*jobs.Job, idemWindow time.Duration) ([]jobs.Created, error) {
	out := make([]jobs.Created, len(js))
	for i, j := range js {
		id, created, err := s.Create(ctx, j, idemWindow)
		if err != nil {
			return nil, err
		}
		out[i] = jobs.Created{ID: id, Created: created}
	}
	return out, nil
}

func (s *Jobs) Create(_ context.Context, j *jobs.Job, idemWindow time.Duration) (string, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if j.IdempotencyKey != "" {
		if e, ok := s.idem[j.IdempotencyKey]; ok && e.exp.After(now) {
			return e.id, false, nil
		}
	}
	if _, ok := s.live(j.ID); ok {
		return j.ID, false, nil
	}
	s.jobs[j.ID] = j.Clone()
	if j.IdempotencyKey != "" {
		s.idem[j.IdempotencyKey] = expiring{id: j.ID, exp: now.Add(idemWindow)}
	}
	return j.ID, true, nil
}

// Get implements jobs.Store.
func (s *Jobs) Get(_ context.Context, id string) (*jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.live(id)
	if !ok {
		return nil, jobs.NotFound(id)
	}
	return j.Clone(), nil
}

// Update implements jobs.Store.
func (s *Jobs) Update(_ context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.live(id)
	if !ok {
		return nil, jobs.NotFound(id)
	}
	next, err := fn(old.Clone())
	if err != nil {
		return nil, err
	}
	if next.ID != id {
		return nil, apperr.New(apperr.Invalid, jobs.CodeInvalidJobState, "Update must not change the job ID")
	}
	if !old.State.Terminal() && next.State.Terminal() {
		if next.State == jobs.StateSucceeded {
			s.processed[next.Queue]++
		} else {
			s.failed[next.Queue]++
		}
	}
	if next.TimerAt != old.TimerAt || !next.Scheduled {
		delete(s.hidden, id)
	}
	s.jobs[id] = next.Clone()
	return next, nil
}

// Delete implements jobs.Store.
func (s *Jobs) Delete(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.live(id); !ok {
		return jobs.NotFound(id)
	}
	delete(s.jobs, id)
	delete(s.hidden, id)
	return nil
}

// List implements jobs.Store.
func (s *Jobs) List(_ context.Context, f jobs.Filter) ([]*jobs.Job, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*jobs.Job
	for id := range s.jobs {
		j, ok := s.live(id)
		if !ok || f.State != "" && j.State != f.State || f.Queue != "" && j.Queue != f.Queue || f.Kind != "" && j.Kind != f.Kind {
			continue
		}
		if f.After != nil && f.After.Before(j.UpdatedAt, j.ID) {
			continue
		}
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool {
		if !out[a].UpdatedAt.Equal(out[b].UpdatedAt) {
			return out[a].UpdatedAt.After(out[b].UpdatedAt)
		}
		return out[a].ID > out[b].ID
	})
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	if len(out) > limit {
		out = out[:limit]
	}
	for i, j := range out {
		out[i] = j.Clone()
	}
	return out, nil
}

// ClaimDue implements jobs.Timers.
func (s *Jobs) ClaimDue(_ context.Context, now time.Time, leaseFor time.Duration, limit int) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	type due struct {
		id string
		at time.Time
	}
	var ds []due
	for id := range s.jobs {
		j, ok := s.live(id)
		if !ok || !j.Scheduled || j.TimerAt.After(now) {
			continue
		}
		if h, ok := s.hidden[id]; ok && h.After(now) {
			continue
		}
		ds = append(ds, due{id, j.TimerAt})
	}
	sort.Slice(ds, func(a, b int) bool { return ds[a].at.Before(ds[b].at) })
	if len(ds) > limit {
		ds = ds[:limit]
	}
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.id
		s.hidden[d.id] = now.Add(leaseFor)
	}
	return out, nil
}

// Counts implements jobs.Stats.
func (s *Jobs) Counts(_ context.Context, queue string) (jobs.QueueCounts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := jobs.QueueCounts{ByState: map[jobs.State]int64{}, Processed: s.processed[queue], Failed: s.failed[queue]}
	for _, st := range jobs.States {
		c.ByState[st] = 0
	}
	for id := range s.jobs {
		if j, ok := s.live(id); ok && j.Queue == queue {
			c.ByState[j.State]++
		}
	}
	return c, nil
}

// PurgeExpired implements jobs.Stats.
func (s *Jobs) PurgeExpired(_ context.Context, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, j := range s.jobs {
		if !j.ExpiresAt.IsZero() && !j.ExpiresAt.After(now) {
			delete(s.jobs, id)
			delete(s.hidden, id)
			n++
		}
	}
	for k, e := range s.idem {
		if !e.exp.After(now) {
			delete(s.idem, k)
		}
	}
	for k, exp := range s.marks {
		if !exp.After(now) {
			delete(s.marks, k)
		}
	}
	for k, exp := range s.beats {
		if !exp.After(now) {
			delete(s.beats, k)
		}
	}
	return n, nil
}

// Heartbeat implements jobs.Coordinator.
func (s *Jobs) Heartbeat(_ context.Context, worker string, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ttl <= 0 {
		delete(s.beats, worker)
		return nil
	}
	s.beats[worker] = time.Now().Add(ttl)
	return nil
}

// Alive implements jobs.Coordinator.
func (s *Jobs) Alive(_ context.Context, worker string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.beats[worker]
	return ok && exp.After(time.Now()), nil
}

// AcquireLease implements jobs.Coordinator.
func (s *Jobs) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if l, ok := s.leases[name]; ok && l.exp.After(now) && l.holder != holder {
		return false, nil
	}
	s.leases[name] = lease{holder: holder, exp: now.Add(ttl)}
	return true, nil
}

// ReleaseLease implements jobs.Coordinator.
func (s *Jobs) ReleaseLease(_ context.Context, name, holder string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.leases[name]; ok && l.holder == holder {
		delete(s.leases, name)
	}
	return nil
}

// Mark implements jobs.Markers.
func (s *Jobs) Mark(_ context.Context, key string, ttl time.Duration) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if exp, ok := s.marks[key]; ok && exp.After(now) {
		return false, nil
	}
	s.marks[key] = now.Add(ttl)
	return true, nil
}

// Marked implements jobs.Markers.
func (s *Jobs) Marked(_ context.Context, key string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.marks[key]
	return ok && exp.After(time.Now()), nil
}

var _ jobs.Spilling = (*Jobs)(nil)

// Unfinished implements jobs.Spilling: copies of the jobs not yet
// succeeded, failed or dead.
func (s *Jobs) Unfinished() []*jobs.Job {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*jobs.Job
	for id := range s.jobs {
		if j, ok := s.live(id); ok && !j.State.Terminal() {
			out = append(out, j.Clone())
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].CreatedAt.Before(out[b].CreatedAt) })
	return out
}

// Restore implements jobs.Spilling. The jobs' idempotency keys are taken
// again, for the idempotency window counted from now.
func (s *Jobs) Restore(js []*jobs.Job) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for _, j := range js {
		s.jobs[j.ID] = j.Clone()
		delete(s.hidden, j.ID)
		if j.IdempotencyKey != "" {
			s.idem[j.IdempotencyKey] = expiring{id: j.ID, exp: now.Add(jobs.DefaultConfig().IdempotencyWindow)}
		}
	}
}
