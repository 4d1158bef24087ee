package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm/clause"

	"github.com/tradesense/tradesense/core/jobs"
)

// JobJournal is the SQL implementation of jobs.Journal (table
// job_journal): where the local profile keeps its unfinished jobs across
// a restart.
type JobJournal struct{ db *DB }

var _ jobs.WriteThroughJournal = (*JobJournal)(nil)

// NewJobJournal returns the journal on db.
func NewJobJournal(db *DB) *JobJournal { return &JobJournal{db: db} }

type journalRow struct {
	ID      string    `gorm:"column:id;primaryKey"`
	Body    string    `gorm:"column:body"`
	SavedAt time.Time `gorm:"column:saved_at"`
}

func (journalRow) TableName() string { return "job_journal" }

// journalJob is the stored form of a jobs.Job.
type journalJob struct {
	ID             string            `json:"id"`
	Kind           string            `json:"kind"`
	Queue          string            `json:"queue"`
	Payload        json.RawMessage   `json:"payload,omitempty"`
	Owner          string            `json:"owner,omitempty"`
	IdempotencyKey string            `json:"idem,omitempty"`
	State          string            `json:"state"`
	Attempt        int               `json:"attempt"`
	MaxRetries     int               `json:"max_retries"`
	Seq            int               `json:"seq"`
	SoftTimeout    time.Duration     `json:"soft_timeout"`
	HardTimeout    time.Duration     `json:"hard_timeout"`
	RunAt          time.Time         `json:"run_at"`
	Scheduled      bool              `json:"scheduled,omitempty"`
	TimerAt        time.Time         `json:"timer_at"`
	CreatedAt      time.Time         `json:"created_at"`
	UpdatedAt      time.Time         `json:"updated_at"`
	StartedAt      time.Time         `json:"started_at"`
	Worker         string            `json:"worker,omitempty"`
	Error          string            `json:"error,omitempty"`
	Errors         []journalError    `json:"errors,omitempty"`
	Progress       json.RawMessage   `json:"progress,omitempty"`
	Trace          map[string]string `json:"trace,omitempty"`
}

type journalError struct {
	Attempt int       `json:"attempt"`
	At      time.Time `json:"at"`
	Error   string    `json:"error"`
}

func toJournal(j *jobs.Job) journalJob {
	out := journalJob{ID: j.ID, Kind: j.Kind, Queue: j.Queue, Payload: j.Payload, Owner: j.Owner, IdempotencyKey: j.IdempotencyKey,
		State: string(j.State), Attempt: j.Attempt, MaxRetries: j.MaxRetries, Seq: j.Seq, SoftTimeout: j.SoftTimeout, HardTimeout: j.HardTimeout,
		RunAt: j.RunAt, Scheduled: j.Scheduled, TimerAt: j.TimerAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt, StartedAt: j.StartedAt,
		Worker: j.Worker, Error: j.Error, Progress: j.Progress, Trace: j.Trace}
	for _, e := range j.Errors {
		out.Errors = append(out.Errors, journalError(e))
	}
	return out
}

func (r journalJob) toJob() *jobs.Job {
	j := &jobs.Job{ID: r.ID, Kind: r.Kind, Queue: r.Queue, Payload: r.Payload, Owner: r.Owner, IdempotencyKey: r.IdempotencyKey,
		State: jobs.State(r.State), Attempt: r.Attempt, MaxRetries: r.MaxRetries, Seq: r.Seq, SoftTimeout: r.SoftTimeout, HardTimeout: r.HardTimeout,
		RunAt: r.RunAt, Scheduled: r.Scheduled, TimerAt: r.TimerAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, StartedAt: r.StartedAt,
		Worker: r.Worker, Error: r.Error, Progress: r.Progress, Trace: r.Trace}
	for _, e := range r.Errors {
		j.Errors = append(j.Errors, jobs.AttemptError(e))
	}
	return j
}

// Save implements jobs.Journal.
func (s *JobJournal) Save(ctx context.Context, js []*jobs.Job) error {
	rows := make([]journalRow, 0, len(js))
	now := normTime(time.Now())
	for _, j := range js {
		b, err := json.Marshal(toJournal(j))
		if err != nil {
			return fmt.Errorf("encode job %s: %w", j.ID, err)
		}
		rows = append(rows, journalRow{ID: j.ID, Body: string(b), SavedAt: now})
	}
	return s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		err = g.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "id"}}, DoUpdates: clause.AssignmentColumns([]string{"body", "saved_at"})}).
			CreateInBatches(rows, 100).Error
		if err != nil {
			return fmt.Errorf("save jobs: %w", translate(err))
		}
		return nil
	})
}

// Take implements jobs.Journal: one DELETE ... RETURNING, so concurrent
// takers get disjoint sets.
func (s *JobJournal) Take(ctx context.Context) ([]*jobs.Job, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var rows []journalRow
	if err := g.Clauses(clause.Returning{}).Where("1 = 1").Delete(&rows).Error; err != nil {
		return nil, fmt.Errorf("take saved jobs: %w", translate(err))
	}
	sort.Slice(rows, func(a, b int) bool { return rows[a].ID < rows[b].ID })
	out := make([]*jobs.Job, 0, len(rows))
	for _, r := range rows {
		var jj journalJob
		if err := json.Unmarshal([]byte(r.Body), &jj); err != nil {
			// Unreadable (written by an incompatible version): it cannot
			// run; say so rather than block every later start.
			s.db.log.WarnContext(ctx, "job journal: dropping a saved job that does not decode", "job_id", r.ID, "error", err)
			continue
		}
		out = append(out, jj.toJob())
	}
	return out, nil
}

// Remove implements jobs.WriteThroughJournal.
func (s *JobJournal) Remove(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := g.Where("id IN ?", ids).Delete(&journalRow{}).Error; err != nil {
		return fmt.Errorf("remove saved jobs: %w", translate(err))
	}
	return nil
}
