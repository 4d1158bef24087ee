package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

type sessionRow struct {
	ID            uuid.UUID  `gorm:"column:id;primaryKey"`
	UserID        uuid.UUID  `gorm:"column:user_id"`
	CreatedAt     time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	LastUsedAt    time.Time  `gorm:"column:last_used_at"`
	ExpiresAt     time.Time  `gorm:"column:expires_at"`
	IP            string     `gorm:"column:ip"`
	UserAgent     string     `gorm:"column:user_agent"`
	AAL           int        `gorm:"column:aal"`
	AMR           string     `gorm:"column:amr"`
	RevokedAt     *time.Time `gorm:"column:revoked_at"`
	RevokedReason string     `gorm:"column:revoked_reason"`
}

func (sessionRow) TableName() string { return "sessions" }

func (r sessionRow) toSession() identity.Session {
	var amr []string
	if r.AMR != "" {
		amr = strings.Split(r.AMR, ",")
	}
	return identity.Session{ID: r.ID, UserID: r.UserID, CreatedAt: r.CreatedAt.UTC(), LastUsedAt: r.LastUsedAt.UTC(), ExpiresAt: r.ExpiresAt.UTC(),
		IP: r.IP, UserAgent: r.UserAgent, AAL: r.AAL, AMR: amr, RevokedAt: utcPtr(r.RevokedAt), RevokedReason: r.RevokedReason}
}

// Sessions is the SQL implementation of identity.Sessions.
type Sessions struct{ db *DB }

var _ identity.Sessions = (*Sessions)(nil)

// NewSessions returns the sessions repository on db.
func NewSessions(db *DB) *Sessions { return &Sessions{db: db} }

func sessionNotFound(err error) error {
	return apperr.Wrap(err, apperr.NotFound, identity.CodeSessionNotFound, "session not found")
}

// Create implements identity.Sessions.
func (s *Sessions) Create(ctx context.Context, in *identity.Session) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := sessionRow{ID: in.ID, UserID: in.UserID, CreatedAt: normTime(in.CreatedAt), LastUsedAt: normTime(in.LastUsedAt), ExpiresAt: normTime(in.ExpiresAt),
		IP: in.IP, UserAgent: in.UserAgent, AAL: in.AAL, AMR: strings.Join(in.AMR, ","), RevokedAt: normTimePtr(in.RevokedAt), RevokedReason: in.RevokedReason}
	if err := g.Create(&row).Error; err != nil {
		return fmt.Errorf("create session: %w", translate(err))
	}
	return nil
}

// Get implements identity.Sessions.
func (s *Sessions) Get(ctx context.Context, id uuid.UUID) (*identity.Session, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row sessionRow
	if err := g.Where("id = ?", id).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, sessionNotFound(err)
		}
		return nil, fmt.Errorf("get session: %w", translate(err))
	}
	out := row.toSession()
	return &out, nil
}

// ListActive implements identity.Sessions. Expiry is compared in Go: the
// query uses the partial index on unrevoked sessions, and SQLite stores
// times as text.
func (s *Sessions) ListActive(ctx context.Context, userID uuid.UUID, now time.Time) ([]identity.Session, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var rows []sessionRow
	if err := g.Where("user_id = ? AND revoked_at IS NULL", userID).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list sessions: %w", translate(err))
	}
	out := make([]identity.Session, 0, len(rows))
	for _, r := range rows {
		if now.Before(r.ExpiresAt) {
			out = append(out, r.toSession())
		}
	}
	slices.SortFunc(out, func(a, b identity.Session) int {
		if c := b.LastUsedAt.Compare(a.LastUsedAt); c != 0 {
			return c
		}
		return bytes.Compare(b.ID[:], a.ID[:])
	})
	return out, nil
}

// Touch implements identity.Sessions.
func (s *Sessions) Touch(ctx context.Context, id uuid.UUID, at time.Time) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	res := g.Model(&sessionRow{}).Where("id = ?", id).Update("last_used_at", normTime(at))
	if res.Error != nil {
		return fmt.Errorf("touch session: %w", translate(res.Error))
	}
	if res.RowsAffected == 0 {
		return sessionNotFound(nil)
	}
	return nil
}

// Revoke implements identity.Sessions: one UPDATE scoped to the user and
// to unrevoked sessions, after a SELECT of the IDs it will end (in one
// transaction, so the list is exact).
func (s *Sessions) Revoke(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, except uuid.UUID, at time.Time, reason string) ([]uuid.UUID, error) {
	var ended []uuid.UUID
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		scope := func() *gorm.DB {
			q := g.Model(&sessionRow{}).Where("user_id = ? AND revoked_at IS NULL", userID)
			if len(ids) > 0 {
				q = q.Where("id IN ?", ids)
			}
			if except != uuid.Nil {
				q = q.Where("id <> ?", except)
			}
			return q
		}
		if err := scope().Pluck("id", &ended).Error; err != nil {
			return fmt.Errorf("revoke sessions: %w", translate(err))
		}
		if len(ended) == 0 {
			return nil
		}
		if err := scope().Where("id IN ?", ended).Updates(map[string]any{"revoked_at": normTime(at), "revoked_reason": reason}).Error; err != nil {
			return fmt.Errorf("revoke sessions: %w", translate(err))
		}
		return nil
	})
	return ended, err
}

type refreshRow struct {
	Hash      []byte     `gorm:"column:hash;primaryKey"`
	SessionID uuid.UUID  `gorm:"column:session_id"`
	CreatedAt time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	RotatedAt *time.Time `gorm:"column:rotated_at"`
	Successor []byte     `gorm:"column:successor"`
}

func (refreshRow) TableName() string { return "refresh_tokens" }

// RefreshTokens is the SQL implementation of identity.RefreshTokens.
type RefreshTokens struct{ db *DB }

var _ identity.RefreshTokens = (*RefreshTokens)(nil)

// NewRefreshTokens returns the refresh-token repository on db.
func NewRefreshTokens(db *DB) *RefreshTokens { return &RefreshTokens{db: db} }

// Create implements identity.RefreshTokens.
func (s *RefreshTokens) Create(ctx context.Context, t *identity.RefreshToken) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := refreshRow{Hash: t.Hash, SessionID: t.SessionID, CreatedAt: normTime(t.CreatedAt), RotatedAt: normTimePtr(t.RotatedAt), Successor: t.Successor}
	if err := g.Create(&row).Error; err != nil {
		return fmt.Errorf("create refresh token: %w", translate(err))
	}
	return nil
}

// Get implements identity.RefreshTokens.
func (s *RefreshTokens) Get(ctx context.Context, hash []byte) (*identity.RefreshToken, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row refreshRow
	if err := g.Where("hash = ?", hash).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, apperr.Wrap(err, apperr.NotFound, identity.CodeRefreshTokenInvalid, "refresh token not found")
		}
		return nil, fmt.Errorf("get refresh token: %w", translate(err))
	}
	return &identity.RefreshToken{Hash: row.Hash, SessionID: row.SessionID, CreatedAt: row.CreatedAt.UTC(), RotatedAt: utcPtr(row.RotatedAt), Successor: row.Successor}, nil
}

// Rotate implements identity.RefreshTokens with a conditional UPDATE: the
// row lock (PostgreSQL) or the write lock (SQLite) serialises concurrent
// rotations, and only the first finds rotated_at still NULL.
func (s *RefreshTokens) Rotate(ctx context.Context, hash []byte, at time.Time, successor []byte) (bool, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	res := g.Model(&refreshRow{}).Where("hash = ? AND rotated_at IS NULL", hash).
		Updates(map[string]any{"rotated_at": normTime(at), "successor": successor})
	if res.Error != nil {
		return false, fmt.Errorf("rotate refresh token: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// PurgeEnded implements identity.Sessions: the refresh tokens first, then
// the sessions, in one transaction (SQLite enforces the ON DELETE CASCADE
// only with foreign keys on; this does not depend on it).
func (s *Sessions) PurgeEnded(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		cut := normTime(before)
		ended := g.Model(&sessionRow{}).Select("id").Where("expires_at < ? OR revoked_at < ?", cut, cut)
		if err := g.Where("session_id IN (?)", ended).Delete(&refreshRow{}).Error; err != nil {
			return fmt.Errorf("purge refresh tokens: %w", translate(err))
		}
		res := g.Where("expires_at < ? OR revoked_at < ?", cut, cut).Delete(&sessionRow{})
		if res.Error != nil {
			return fmt.Errorf("purge sessions: %w", translate(res.Error))
		}
		n = res.RowsAffected
		return nil
	})
	return n, err
}
