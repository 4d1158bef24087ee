package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// Reports is the SQL implementation of analytics.Reports.
type Reports struct{ db *DB }

// ReportSchedules is the SQL implementation of analytics.Schedules.
type ReportSchedules struct{ db *DB }

var (
	_ analytics.Reports   = (*Reports)(nil)
	_ analytics.Schedules = (*ReportSchedules)(nil)
)

// NewReports returns the reports repository on db.
func NewReports(db *DB) *Reports { return &Reports{db: db} }

// NewReportSchedules returns the schedules repository on db.
func NewReportSchedules(db *DB) *ReportSchedules { return &ReportSchedules{db: db} }

const reportCols = "id, user_id, format, period, from_day, to_day, filter, basis, schedule_key, state, blob_key, size_bytes, error, emailed, created_at, finished_at, expires_at, version"

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	n := normTime(t)
	return &n
}

func reportArgs(r *analytics.Report) ([]any, error) {
	f := r.Filter
	f.Location = nil
	fj, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("report filter: %w", err)
	}
	return []any{r.ID, r.UserID, string(r.Format), string(r.Period), r.From.String(), r.To.String(), string(fj), string(r.Basis), r.ScheduleKey,
		string(r.State), r.BlobKey, r.Size, r.Error, r.Emailed, normTime(r.CreatedAt), nullTime(r.FinishedAt), nullTime(r.ExpiresAt), r.Version}, nil
}

func scanReport(rows *sql.Rows) (*analytics.Report, error) {
	var r analytics.Report
	var from, to, filter string
	var finished, expires sql.NullTime
	if err := rows.Scan(&r.ID, &r.UserID, &r.Format, &r.Period, &from, &to, &filter, &r.Basis, &r.ScheduleKey, &r.State, &r.BlobKey, &r.Size,
		&r.Error, &r.Emailed, &r.CreatedAt, &finished, &expires, &r.Version); err != nil {
		return nil, translate(err)
	}
	var err error
	if r.From, err = trading.ParseDate(from); err != nil {
		return nil, fmt.Errorf("report %s from: %w", r.ID, err)
	}
	if r.To, err = trading.ParseDate(to); err != nil {
		return nil, fmt.Errorf("report %s to: %w", r.ID, err)
	}
	if err := json.Unmarshal([]byte(filter), &r.Filter); err != nil {
		return nil, fmt.Errorf("report %s filter: %w", r.ID, err)
	}
	r.CreatedAt = r.CreatedAt.UTC()
	if finished.Valid {
		r.FinishedAt = finished.Time.UTC()
	}
	if expires.Valid {
		r.ExpiresAt = expires.Time.UTC()
	}
	return &r, nil
}

// Create implements analytics.Reports.
func (s *Reports) Create(ctx context.Context, r *analytics.Report) error {
	args, err := reportArgs(r)
	if err != nil {
		return err
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		if err := g.Exec("INSERT INTO reports ("+reportCols+") VALUES "+placeholders(1, 18), args...).Error; err != nil {
			if _, dup := uniqueViolation(err); dup {
				return apperr.Wrap(err, apperr.Conflict, "report_exists", "the report exists")
			}
			return fmt.Errorf("create report: %w", translate(err))
		}
		return nil
	})
}

// Get implements analytics.Reports.
func (s *Reports) Get(ctx context.Context, userID, id uuid.UUID) (*analytics.Report, error) {
	return getOne(ctx, s.db, scanReport, "get report", func() error { return apperr.New(apperr.NotFound, analytics.CodeReportMissing, "report not found") },
		"SELECT "+reportCols+" FROM reports WHERE user_id = ? AND id = ?", userID, id)
}

// Update implements analytics.Reports.
func (s *Reports) Update(ctx context.Context, r *analytics.Report) error {
	args, err := reportArgs(r)
	if err != nil {
		return err
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec(`UPDATE reports SET state = ?, blob_key = ?, size_bytes = ?, error = ?, emailed = ?, finished_at = ?, expires_at = ?, version = ?
			WHERE user_id = ? AND id = ? AND version = ?`, args[9], args[10], args[11], args[12], args[13], args[15], args[16], r.Version, r.UserID, r.ID, r.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update report: %w", translate(res.Error))
		}
		if res.RowsAffected == 1 {
			return nil
		}
		return missingOrStale(g, "reports", "id = ? AND user_id = ?", []any{r.ID, r.UserID}, apperr.New(apperr.NotFound, analytics.CodeReportMissing, "report not found"))
	})
}

// Expired implements analytics.Reports.
func (s *Reports) Expired(ctx context.Context, now time.Time, limit int) ([]analytics.Report, error) {
	var out []analytics.Report
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			rep, err := scanReport(r)
			if err == nil {
				out = append(out, *rep)
			}
			return err
		}, "SELECT "+reportCols+" FROM reports WHERE state = 'ready' AND expires_at <= ? ORDER BY expires_at, id LIMIT ?", normTime(now), limit)
	})
	if err != nil {
		return nil, fmt.Errorf("expired reports: %w", err)
	}
	return out, nil
}

// List implements analytics.Reports.
func (s *Reports) List(ctx context.Context, userID uuid.UUID, after analytics.ReportCursor, limit int) ([]analytics.Report, error) {
	q, args := "SELECT "+reportCols+" FROM reports WHERE user_id = ?", []any{userID}
	if !after.CreatedAt.IsZero() {
		at := normTime(after.CreatedAt)
		q, args = q+" AND (created_at < ? OR (created_at = ? AND id < ?))", append(args, at, at, after.ID)
	}
	out := []analytics.Report{}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			rep, err := scanReport(r)
			if err == nil {
				out = append(out, *rep)
			}
			return err
		}, q+" ORDER BY created_at DESC, id DESC LIMIT ?", append(args, limit)...)
	})
	if err != nil {
		return nil, fmt.Errorf("list reports: %w", err)
	}
	return out, nil
}

// Delete implements analytics.Reports.
func (s *Reports) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("DELETE FROM reports WHERE user_id = ? AND id = ?", userID, id)
		if res.Error != nil {
			return fmt.Errorf("delete report: %w", translate(res.Error))
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, analytics.CodeReportMissing, "report not found")
		}
		return nil
	})
}

// Put implements analytics.Schedules.
func (s *ReportSchedules) Put(ctx context.Context, sc *analytics.Schedule) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec(`INSERT INTO report_schedules (user_id, weekly, monthly, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (user_id) DO UPDATE SET weekly = excluded.weekly, monthly = excluded.monthly, updated_at = excluded.updated_at`,
			sc.UserID, sc.Weekly, sc.Monthly, normTime(sc.UpdatedAt)).Error
		if err != nil {
			return fmt.Errorf("put report schedule: %w", translate(err))
		}
		return nil
	})
}

func scanSchedule(r *sql.Rows) (analytics.Schedule, error) {
	var sc analytics.Schedule
	err := r.Scan(&sc.UserID, &sc.Weekly, &sc.Monthly, &sc.UpdatedAt)
	sc.UpdatedAt = sc.UpdatedAt.UTC()
	return sc, translate(err)
}

// Get implements analytics.Schedules.
func (s *ReportSchedules) Get(ctx context.Context, userID uuid.UUID) (*analytics.Schedule, error) {
	out := &analytics.Schedule{UserID: userID}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			sc, err := scanSchedule(r)
			*out = sc
			return err
		}, "SELECT user_id, weekly, monthly, updated_at FROM report_schedules WHERE user_id = ?", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("get report schedule: %w", err)
	}
	return out, nil
}

// Active implements analytics.Schedules.
func (s *ReportSchedules) Active(ctx context.Context, after uuid.UUID, limit int) ([]analytics.Schedule, error) {
	var out []analytics.Schedule
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			sc, err := scanSchedule(r)
			out = append(out, sc)
			return err
		}, "SELECT user_id, weekly, monthly, updated_at FROM report_schedules WHERE (weekly OR monthly) AND user_id > ? ORDER BY user_id LIMIT ?", after, limit)
	})
	if err != nil {
		return nil, fmt.Errorf("active report schedules: %w", err)
	}
	return out, nil
}
