package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

type eventRow struct {
	ID        uuid.UUID     `gorm:"column:id;primaryKey"`
	UserID    uuid.NullUUID `gorm:"column:user_id"`
	Type      string        `gorm:"column:type"`
	At        time.Time     `gorm:"column:at"`
	IP        string        `gorm:"column:ip"`
	UserAgent string        `gorm:"column:user_agent"`
	SessionID uuid.NullUUID `gorm:"column:session_id"`
	Details   string        `gorm:"column:details"`
}

func (eventRow) TableName() string { return "security_events" }

// Events is the SQL implementation of identity.Events (the
// security_events table).
type Events struct{ db *DB }

var _ identity.Events = (*Events)(nil)

// NewEvents returns the audit log on db.
func NewEvents(db *DB) *Events { return &Events{db: db} }

func nullID(id uuid.UUID) uuid.NullUUID { return uuid.NullUUID{UUID: id, Valid: id != uuid.Nil} }

// Record implements identity.Events.
func (s *Events) Record(ctx context.Context, e *identity.Event) error {
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		e.ID = id
	}
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = normTime(e.At)
	details := "{}"
	if len(e.Details) > 0 {
		b, err := json.Marshal(e.Details)
		if err != nil {
			return fmt.Errorf("event details: %w", err)
		}
		details = string(b)
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := eventRow{ID: e.ID, UserID: nullID(e.UserID), Type: string(e.Type), At: e.At, IP: e.IP, UserAgent: e.UserAgent,
		SessionID: nullID(e.SessionID), Details: details}
	if err := g.Create(&row).Error; err != nil {
		return fmt.Errorf("record event: %w", translate(err))
	}
	return nil
}

// List implements identity.Events: newest first by ID (UUIDv7).
func (s *Events) List(ctx context.Context, q identity.EventQuery) ([]identity.Event, error) {
	if q.Limit < 1 || q.Limit > 200 {
		return nil, apperr.Validation("invalid event query", map[string]string{"limit": "must be between 1 and 200"})
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	tx := g.Where("user_id = ?", q.UserID)
	if q.Before != uuid.Nil {
		tx = tx.Where("id < ?", q.Before)
	}
	var rows []eventRow
	if err := tx.Order("id DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list events: %w", translate(err))
	}
	out := make([]identity.Event, len(rows))
	for i, r := range rows {
		var details map[string]string
		if r.Details != "" && r.Details != "{}" {
			_ = json.Unmarshal([]byte(r.Details), &details)
		}
		out[i] = identity.Event{ID: r.ID, UserID: r.UserID.UUID, Type: identity.EventType(r.Type), At: r.At.UTC(), IP: r.IP,
			UserAgent: r.UserAgent, SessionID: r.SessionID.UUID, Details: details}
	}
	return out, nil
}
