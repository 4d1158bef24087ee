package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/mfa"
)

type mfaFactorRow struct {
	UserID           uuid.UUID `gorm:"column:user_id;primaryKey"`
	KeyID            string    `gorm:"column:key_id"`
	SecretCiphertext []byte    `gorm:"column:secret_ciphertext"`
	LastStep         int64     `gorm:"column:last_step"`
	EnabledAt        time.Time `gorm:"column:enabled_at"`
	UpdatedAt        time.Time `gorm:"column:updated_at;autoUpdateTime:false"`
}

func (mfaFactorRow) TableName() string { return "mfa_factors" }

type mfaBackupCodeRow struct {
	UserID    uuid.UUID  `gorm:"column:user_id;primaryKey"`
	Hash      []byte     `gorm:"column:hash;primaryKey"`
	CreatedAt time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UsedAt    *time.Time `gorm:"column:used_at"`
}

func (mfaBackupCodeRow) TableName() string { return "mfa_backup_codes" }

// MFAFactors is the SQL implementation of mfa.Factors.
type MFAFactors struct{ db *DB }

// MFABackupCodes is the SQL implementation of mfa.BackupCodes.
type MFABackupCodes struct{ db *DB }

var (
	_ mfa.Factors     = (*MFAFactors)(nil)
	_ mfa.BackupCodes = (*MFABackupCodes)(nil)
)

// NewMFAFactors returns the MFA factor repository on db.
func NewMFAFactors(db *DB) *MFAFactors { return &MFAFactors{db: db} }

// NewMFABackupCodes returns the backup code repository on db.
func NewMFABackupCodes(db *DB) *MFABackupCodes { return &MFABackupCodes{db: db} }

func mfaNotEnabled(err error) error {
	return apperr.Wrap(err, apperr.NotFound, mfa.CodeNotEnabled, "mfa not enabled")
}

// Create implements mfa.Factors.
func (s *MFAFactors) Create(ctx context.Context, f *mfa.Factor) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := mfaFactorRow{UserID: f.UserID, KeyID: f.Secret.KeyID, SecretCiphertext: f.Secret.Ciphertext, LastStep: f.LastStep,
		EnabledAt: normTime(f.EnabledAt), UpdatedAt: normTime(f.UpdatedAt)}
	if err := g.Create(&row).Error; err != nil {
		if _, dup := uniqueViolation(err); dup {
			return apperr.Wrap(err, apperr.Conflict, mfa.CodeAlreadyEnabled, "mfa already enabled")
		}
		return fmt.Errorf("create mfa factor: %w", translate(err))
	}
	return nil
}

// Get implements mfa.Factors.
func (s *MFAFactors) Get(ctx context.Context, userID uuid.UUID) (*mfa.Factor, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row mfaFactorRow
	if err := g.Where("user_id = ?", userID).Take(&row).Error; err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, mfaNotEnabled(nil)
		}
		return nil, fmt.Errorf("get mfa factor: %w", translate(err))
	}
	return &mfa.Factor{UserID: row.UserID, Secret: mfa.Sealed{KeyID: row.KeyID, Ciphertext: row.SecretCiphertext}, LastStep: row.LastStep,
		EnabledAt: row.EnabledAt.UTC(), UpdatedAt: row.UpdatedAt.UTC()}, nil
}

// AdvanceStep implements mfa.Factors with one conditional UPDATE: the
// database serialises concurrent updates of the row, and the loser's
// WHERE no longer matches.
func (s *MFAFactors) AdvanceStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	res := g.Exec("UPDATE mfa_factors SET last_step = ?, updated_at = ? WHERE user_id = ? AND last_step < ?", step, now(), userID, step)
	if res.Error != nil {
		return false, fmt.Errorf("advance mfa step: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// Reseal implements mfa.Factors (compare-and-swap on the stored secret).
func (s *MFAFactors) Reseal(ctx context.Context, userID uuid.UUID, from, to mfa.Sealed) (bool, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	res := g.Exec("UPDATE mfa_factors SET key_id = ?, secret_ciphertext = ?, updated_at = ? WHERE user_id = ? AND key_id = ? AND secret_ciphertext = ?",
		to.KeyID, to.Ciphertext, now(), userID, from.KeyID, from.Ciphertext)
	if res.Error != nil {
		return false, fmt.Errorf("reseal mfa secret: %w", translate(res.Error))
	}
	return res.RowsAffected == 1, nil
}

// Delete implements mfa.Factors.
func (s *MFAFactors) Delete(ctx context.Context, userID uuid.UUID) (bool, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	res := g.Exec("DELETE FROM mfa_factors WHERE user_id = ?", userID)
	if res.Error != nil {
		return false, fmt.Errorf("delete mfa factor: %w", translate(res.Error))
	}
	return res.RowsAffected > 0, nil
}

// Replace implements mfa.BackupCodes (one transaction).
func (s *MFABackupCodes) Replace(ctx context.Context, userID uuid.UUID, hashes [][]byte, at time.Time) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		if err := g.Exec("DELETE FROM mfa_backup_codes WHERE user_id = ?", userID).Error; err != nil {
			return fmt.Errorf("replace backup codes: %w", translate(err))
		}
		if len(hashes) == 0 {
			return nil
		}
		rows := make([]mfaBackupCodeRow, len(hashes))
		for i, h := range hashes {
			rows[i] = mfaBackupCodeRow{UserID: userID, Hash: h, CreatedAt: normTime(at)}
		}
		if err := g.Create(&rows).Error; err != nil {
			return fmt.Errorf("replace backup codes: %w", translate(err))
		}
		return nil
	})
}

// Unused implements mfa.BackupCodes.
func (s *MFABackupCodes) Unused(ctx context.Context, userID uuid.UUID) ([][]byte, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var hashes [][]byte
	if err := g.Model(&mfaBackupCodeRow{}).Where("user_id = ? AND used_at IS NULL", userID).Pluck("hash", &hashes).Error; err != nil {
		return nil, fmt.Errorf("list backup codes: %w", translate(err))
	}
	return hashes, nil
}

// Consume implements mfa.BackupCodes: a conditional UPDATE (one winner)
// and the count of what remains, in one transaction.
func (s *MFABackupCodes) Consume(ctx context.Context, userID uuid.UUID, hash []byte, at time.Time) (ok bool, remaining int, err error) {
	err = s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		res := g.Exec("UPDATE mfa_backup_codes SET used_at = ? WHERE user_id = ? AND hash = ? AND used_at IS NULL", normTime(at), userID, hash)
		if res.Error != nil {
			return fmt.Errorf("consume backup code: %w", translate(res.Error))
		}
		ok = res.RowsAffected == 1
		var n int64
		if err := g.Model(&mfaBackupCodeRow{}).Where("user_id = ? AND used_at IS NULL", userID).Count(&n).Error; err != nil {
			return fmt.Errorf("count backup codes: %w", translate(err))
		}
		remaining = int(n)
		return nil
	})
	return ok, remaining, err
}

// DeleteAll implements mfa.BackupCodes.
func (s *MFABackupCodes) DeleteAll(ctx context.Context, userID uuid.UUID) error {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	if err := g.Exec("DELETE FROM mfa_backup_codes WHERE user_id = ?", userID).Error; err != nil {
		return fmt.Errorf("delete backup codes: %w", translate(err))
	}
	return nil
}
