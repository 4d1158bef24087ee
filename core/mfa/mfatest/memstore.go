// Package mfatest holds the contract suite of the mfa repositories and an
// in-memory implementation of them that the core tests use (the SQL
// adapter is the production one; the suite runs against both).
package mfatest

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/mfa"
)

// MemStore implements mfa.Factors and mfa.BackupCodes in memory, with the
// same atomicity (one mutex); it ignores transactions.
type MemStore struct {
	mu      sync.Mutex
	factors map[uuid.UUID]mfa.Factor
	codes   map[uuid.UUID][]memCode
}

type memCode struct {
	hash []byte
	used bool
}

var (
	_ mfa.Factors     = (*MemStore)(nil)
	_ mfa.BackupCodes = (*MemStore)(nil)
)

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{factors: map[uuid.UUID]mfa.Factor{}, codes: map[uuid.UUID][]memCode{}}
}

func cloneFactor(f mfa.Factor) mfa.Factor {
	f.Secret.Ciphertext = bytes.Clone(f.Secret.Ciphertext)
	return f
}

// Create implements mfa.Factors.
func (m *MemStore) Create(_ context.Context, f *mfa.Factor) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.factors[f.UserID]; ok {
		return apperr.New(apperr.Conflict, mfa.CodeAlreadyEnabled, "mfa already enabled")
	}
	m.factors[f.UserID] = cloneFactor(*f)
	return nil
}

// Get implements mfa.Factors.
func (m *MemStore) Get(_ context.Context, userID uuid.UUID) (*mfa.Factor, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.factors[userID]
	if !ok {
		return nil, apperr.New(apperr.NotFound, mfa.CodeNotEnabled, "mfa not enabled")
	}
	f = cloneFactor(f)
	return &f, nil
}

// AdvanceStep implements mfa.Factors.
func (m *MemStore) AdvanceStep(_ context.Context, userID uuid.UUID, step int64) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.factors[userID]
	if !ok || f.LastStep >= step {
		return false, nil
	}
	f.LastStep = step
	m.factors[userID] = f
	return true, nil
}

// Reseal implements mfa.Factors.
func (m *MemStore) Reseal(_ context.Context, userID uuid.UUID, from, to mfa.Sealed) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.factors[userID]
	if !ok || f.Secret.KeyID != from.KeyID || !bytes.Equal(f.Secret.Ciphertext, from.Ciphertext) {
		return false, nil
	}
	f.Secret = mfa.Sealed{KeyID: to.KeyID, Ciphertext: bytes.Clone(to.Ciphertext)}
	m.factors[userID] = f
	return true, nil
}

// Delete implements mfa.Factors.
func (m *MemStore) Delete(_ context.Context, userID uuid.UUID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.factors[userID]
	delete(m.factors, userID)
	return ok, nil
}

// Replace implements mfa.BackupCodes.
func (m *MemStore) Replace(_ context.Context, userID uuid.UUID, hashes [][]byte, _ time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cs := make([]memCode, len(hashes))
	for i, h := range hashes {
		cs[i] = memCode{hash: bytes.Clone(h)}
	}
	m.codes[userID] = cs
	return nil
}

// Unused implements mfa.BackupCodes.
func (m *MemStore) Unused(_ context.Context, userID uuid.UUID) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for _, c := range m.codes[userID] {
		if !c.used {
			out = append(out, bytes.Clone(c.hash))
		}
	}
	return out, nil
}

// Consume implements mfa.BackupCodes.
func (m *MemStore) Consume(_ context.Context, userID uuid.UUID, hash []byte, _ time.Time) (bool, int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ok, remaining := false, 0
	cs := m.codes[userID]
	for i := range cs {
		if !cs[i].used && !ok && bytes.Equal(cs[i].hash, hash) {
			cs[i].used, ok = true, true
			continue
		}
		if !cs[i].used {
			remaining++
		}
	}
	return ok, remaining, nil
}

// DeleteAll implements mfa.BackupCodes.
func (m *MemStore) DeleteAll(_ context.Context, userID uuid.UUID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.codes, userID)
	return nil
}
