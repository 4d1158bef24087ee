package sqlstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

type identityRow struct {
	ID            uuid.UUID `gorm:"column:id;primaryKey"`
	UserID        uuid.UUID `gorm:"column:user_id"`
	Provider      string    `gorm:"column:provider"`
	Issuer        string    `gorm:"column:issuer"`
	Subject       string    `gorm:"column:subject"`
	Email         string    `gorm:"column:email"`
	EmailVerified bool      `gorm:"column:email_verified"`
	DisplayName   string    `gorm:"column:display_name"`
	AvatarURL     string    `gorm:"column:avatar_url"`
	Claims        string    `gorm:"column:claims"`
	Confirmed     bool      `gorm:"column:confirmed"`
	CreatedAt     time.Time `gorm:"column:created_at;autoCreateTime:false"`
	LastLoginAt   time.Time `gorm:"column:last_login_at"`
}

func (identityRow) TableName() string { return "identities" }

func (r identityRow) toIdentity() (*oauth.Identity, error) {
	var claims map[string]string
	if err := json.Unmarshal([]byte(r.Claims), &claims); err != nil {
		return nil, fmt.Errorf("identity %s: claims: %w", r.ID, err)
	}
	if claims == nil {
		claims = map[string]string{}
	}
	return &oauth.Identity{ID: r.ID, UserID: r.UserID, Provider: r.Provider, Issuer: r.Issuer, Subject: r.Subject,
		Profile:   oauth.Profile{Email: r.Email, EmailVerified: r.EmailVerified, DisplayName: r.DisplayName, AvatarURL: r.AvatarURL, Claims: claims},
		Confirmed: r.Confirmed, CreatedAt: r.CreatedAt.UTC(), LastLoginAt: r.LastLoginAt.UTC()}, nil
}

func claimsText(c map[string]string) (string, error) {
	if len(c) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("identity claims: %w", err)
	}
	return string(b), nil
}

// Identities is the SQL implementation of oauth.Identities (the
// identities table).
type Identities struct{ db *DB }

var _ oauth.Identities = (*Identities)(nil)

// NewIdentities returns the identities repository on db.
func NewIdentities(db *DB) *Identities { return &Identities{db: db} }

func identityNotFound(err error) error {
	return apperr.Wrap(err, apperr.NotFound, oauth.CodeIdentityNotFound, "identity not found")
}

// Create implements oauth.Identities; the unique constraints name the
// conflict.
func (s *Identities) Create(ctx context.Context, i *oauth.Identity) error {
	if i.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("create identity: new id: %w", err)
		}
		i.ID = id
	}
	i.CreatedAt, i.LastLoginAt = normTime(i.CreatedAt), normTime(i.LastLoginAt)
	claims, err := claimsText(i.Claims)
	if err != nil {
		return err
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := identityRow{ID: i.ID, UserID: i.UserID, Provider: i.Provider, Issuer: i.Issuer, Subject: i.Subject, Email: i.Email,
		EmailVerified: i.EmailVerified, DisplayName: i.DisplayName, AvatarURL: i.AvatarURL, Claims: claims, Confirmed: i.Confirmed,
		CreatedAt: i.CreatedAt, LastLoginAt: i.LastLoginAt}
	if err := g.Create(&row).Error; err != nil {
		if c, ok := uniqueViolation(err); ok {
			switch {
			case strings.Contains(c, "issuer"):
				return apperr.Wrap(err, apperr.Conflict, oauth.CodeIdentityTaken, "identity linked already")
			case strings.Contains(c, "provider"):
				return apperr.Wrap(err, apperr.Conflict, oauth.CodeProviderAlreadyLinked, "provider linked already")
			}
			return apperr.Wrap(err, apperr.Conflict, oauth.CodeIdentityExists, "identity id taken")
		}
		return fmt.Errorf("create identity: %w", translate(err))
	}
	return nil
}

// GetBySubject implements oauth.Identities through the unique index on
// (issuer, subject).
func (s *Identities) GetBySubject(ctx context.Context, issuer, subject string) (*oauth.Identity, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row identityRow
	if err := g.Where("issuer = ? AND subject = ?", issuer, subject).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, identityNotFound(nil)
		}
		return nil, fmt.Errorf("get identity: %w", translate(err))
	}
	return row.toIdentity()
}

// ListByUser implements oauth.Identities.
func (s *Identities) ListByUser(ctx context.Context, userID uuid.UUID) ([]oauth.Identity, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var rows []identityRow
	if err := g.Where("user_id = ?", userID).Order("created_at, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list identities: %w", translate(err))
	}
	out := make([]oauth.Identity, 0, len(rows))
	for _, r := range rows {
		i, err := r.toIdentity()
		if err != nil {
			return nil, err
		}
		out = append(out, *i)
	}
	return out, nil
}

// Update implements oauth.Identities.
func (s *Identities) Update(ctx context.Context, i *oauth.Identity) error {
	claims, err := claimsText(i.Claims)
	if err != nil {
		return err
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	res := g.Model(&identityRow{}).Where("id = ?", i.ID).Updates(map[string]any{
		"email":          i.Email,
		"email_verified": i.EmailVerified,
		"display_name":   i.DisplayName,
		"avatar_url":     i.AvatarURL,
		"claims":         claims,
		"confirmed":      i.Confirmed,
		"last_login_at":  normTime(i.LastLoginAt),
	})
	if res.Error != nil {
		return fmt.Errorf("update identity: %w", translate(res.Error))
	}
	if res.RowsAffected != 1 {
		return identityNotFound(nil)
	}
	return nil
}

// Delete implements oauth.Identities; the user ID is part of the WHERE,
// so another user's identity is never touched.
func (s *Identities) Delete(ctx context.Context, userID, id uuid.UUID) (bool, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	res := g.Exec("DELETE FROM identities WHERE id = ? AND user_id = ?", id, userID)
	if res.Error != nil {
		return false, fmt.Errorf("delete identity: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}
