package mfa

import (
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"strings"
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
