package mfa

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// BackupCodeBytes is the entropy of a backup code: 80 bits, 16 base32
// characters shown as xxxx-xxxx-xxxx-xxxx.
const BackupCodeBytes = 10

const backupCodeChars = 16

// newBackupCodes returns n fresh codes as shown to the user and their
// canonical forms (upper-case base32, no dashes).
func newBackupCodes(n int) (shown []string, canonical [][]byte, err error) {
	raw := make([]byte, BackupCodeBytes)
	for range n {
		if _, err := rand.Read(raw); err != nil {
			return nil, nil, fmt.Errorf("mfa: backup code: %w", err)
		}
		c := b32.EncodeToString(raw) // 16 characters, no padding
		canonical = append(canonical, []byte(c))
		lc := strings.ToLower(c)
		shown = append(shown, lc[0:4]+"-"+lc[4:8]+"-"+lc[8:12]+"-"+lc[12:16])
	}
	return shown, canonical, nil
}

// ParseBackupCode normalises a typed backup code: case is ignored; spaces,
// tabs and dashes anywhere go; what remains must be 16 base32 characters
// (A-Z, 2-7). It returns the canonical form that is hashed.
func ParseBackupCode(in string) ([]byte, bool) {
	if len(in) > MaxInputLen {
		return nil, false
	}
	out := make([]byte, 0, backupCodeChars)
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch {
		case c >= 'a' && c <= 'z':
			c -= 'a' - 'A'
		case c >= 'A' && c <= 'Z', c >= '2' && c <= '7':
		case c == ' ' || c == '-' || c == '\t':
			continue
		default:
			return nil, false
		}
		if len(out) == backupCodeChars {
			return nil, false
		}
		out = append(out, c)
	}
	if len(out) != backupCodeChars {
		return nil, false
	}
	return out, true
}

// findHash returns which of stored equals one of candidates, comparing
// every pair in constant time (no early exit), or nil.
func findHash(stored, candidates [][]byte) []byte {
	var hit []byte
	for _, s := range stored {
		for _, c := range candidates {
			if subtle.ConstantTimeCompare(s, c) == 1 {
				hit = s
			}
		}
	}
	return hit
}

// newCodes returns fresh backup codes and their hashes under the current
// key.
func (s *Service) newCodes(userID uuid.UUID) ([]string, [][]byte, error) {
	shown, canon, err := newBackupCodes(s.cfg.BackupCodeCount)
	if err != nil {
		return nil, nil, err
	}
	hashes := make([][]byte, len(canon))
	for i, c := range canon {
		hashes[i] = s.d.Keys.backupHashes(userID, c)[0]
	}
	return shown, hashes, nil
}

// RegenerateBackupCodes replaces the user's backup codes after a current
// TOTP code; the old ones stop working. The new codes are shown once.
func (s *Service) RegenerateBackupCodes(ctx context.Context, userID uuid.UUID, code string) ([]string, error) {
	u, err := s.d.Users.Get(ctx, userID)
	if err != nil {
		return nil, err
	}
	if _, err := s.verify(ctx, u, Answer{Code: code}, "regenerate", true); err != nil {
		return nil, err
	}
	shown, hashes, err := s.newCodes(userID)
	if err != nil {
		return nil, err
	}
	err = s.d.Tx.Do(ctx, func(ctx context.Context) error {
		if err := s.d.BackupCodes.Replace(ctx, userID, hashes, s.now()); err != nil {
			return err
		}
		s.changed(ctx, userID, "backup_codes_regenerated")
		return s.audit.Record(ctx, EventBackupCodesRegenerated, userID, uuid.Nil, map[string]string{"count": fmt.Sprint(len(shown))})
	})
	if err != nil {
		return nil, err
	}
	return shown, nil
}
