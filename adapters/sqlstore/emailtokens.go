package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

type emailTokenRow struct {
	Hash      []byte     `gorm:"column:hash;primaryKey"`
	UserID    uuid.UUID  `gorm:"column:user_id"`
	Purpose   string     `gorm:"column:purpose"`
	Email     string     `gorm:"column:email"`
	CreatedAt time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	ExpiresAt time.Time  `gorm:"column:expires_at"`
	UsedAt    *time.Time `gorm:"column:used_at"`
}

func (emailTokenRow) TableName() string { return "email_tokens" }

// EmailTokens is the SQL implementation of identity.EmailTokens.
type EmailTokens struct{ db *DB }

var _ identity.EmailTokens = (*EmailTokens)(nil)

// NewEmailTokens returns the email-token repository on db.
func NewEmailTokens(db *DB) *EmailTokens { return &EmailTokens{db: db} }

// Issue implements identity.EmailTokens: the delete of older unused tokens
// and the insert happen in one transaction.
func (s *EmailTokens) Issue(ctx context.Context, t *identity.EmailToken) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		if err := g.Where("user_id = ? AND purpose = ? AND used_at IS NULL", t.UserID, string(t.Purpose)).Delete(&emailTokenRow{}).Error; err != nil {
			return fmt.Errorf("supersede email tokens: %w", translate(err))
		}
		row := emailTokenRow{Hash: t.Hash, UserID: t.UserID, Purpose: string(t.Purpose), Email: t.Email,
			CreatedAt: normTime(t.CreatedAt), ExpiresAt: normTime(t.ExpiresAt), UsedAt: normTimePtr(t.UsedAt)}
		if err := g.Create(&row).Error; err != nil {
			return fmt.Errorf("issue email token: %w", translate(err))
		}
		return nil
	})
}

func tokenInvalid(err error) error {
	return apperr.Wrap(err, apperr.NotFound, identity.CodeTokenInvalid, "token not found")
}

// Get implements identity.EmailTokens.
func (s *EmailTokens) Get(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row emailTokenRow
	if err := g.Where("hash = ?", hash).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, tokenInvalid(err)
		}
		return nil, fmt.Errorf("get email token: %w", translate(err))
	}
	if row.UsedAt != nil || !now.Before(row.ExpiresAt) || !slices.Contains(purposes, identity.Purpose(row.Purpose)) {
		return nil, tokenInvalid(nil)
	}
	return &identity.EmailToken{Hash: row.Hash, UserID: row.UserID, Purpose: identity.Purpose(row.Purpose), Email: row.Email,
		CreatedAt: row.CreatedAt.UTC(), ExpiresAt: row.ExpiresAt.UTC()}, nil
}

// Consume implements identity.EmailTokens: Get, then a conditional UPDATE
// that only the first of concurrent consumers wins.
func (s *EmailTokens) Consume(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	t, err := s.Get(ctx, hash, purposes, now)
	if err != nil {
		return nil, err
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	res := g.Model(&emailTokenRow{}).Where("hash = ? AND used_at IS NULL", hash).Update("used_at", normTime(now))
	if res.Error != nil {
		return nil, fmt.Errorf("consume email token: %w", translate(res.Error))
	}
	if res.RowsAffected != 1 {
		return nil, tokenInvalid(nil)
	}
	used := normTime(now)
	t.UsedAt = &used
	return t, nil
}

// Revoke implements identity.EmailTokens.
func (s *EmailTokens) Revoke(ctx context.Context, userID uuid.UUID, purposes []identity.Purpose) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	ps := make([]string, len(purposes))
	for i, p := range purposes {
		ps[i] = string(p)
	}
	if err := g.Where("user_id = ? AND purpose IN ? AND used_at IS NULL", userID, ps).Delete(&emailTokenRow{}).Error; err != nil {
		return fmt.Errorf("revoke email tokens of %s: %w", userID, translate(err))
	}
	return nil
}

// PurgeEnded implements identity.EmailTokens.
func (s *EmailTokens) PurgeEnded(ctx context.Context, before time.Time) (int64, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	cut := normTime(before)
	res := g.Where("expires_at < ? OR used_at < ?", cut, cut).Delete(&emailTokenRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge email tokens: %w", translate(res.Error))
	}
	return res.RowsAffected, nil
}
