package oauthtest

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

// Identities is an in-memory oauth.Identities. It ignores transactions:
// each call is atomic on its own.
type Identities struct {
	mu   sync.Mutex
	byID map[uuid.UUID]oauth.Identity
}

var _ oauth.Identities = (*Identities)(nil)

// NewIdentities returns an empty store.
func NewIdentities() *Identities { return &Identities{byID: map[uuid.UUID]oauth.Identity{}} }

func clone(i oauth.Identity) oauth.Identity {
	i.Claims = maps.Clone(i.Claims)
	return i
}

// Create implements oauth.Identities.
func (m *Identities) Create(_ context.Context, i *oauth.Identity) error {
	if i.ID == uuid.Nil {
		i.ID = uuid.Must(uuid.NewV7())
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.byID[i.ID]; ok {
		return apperr.New(apperr.Conflict, oauth.CodeIdentityExists, "identity id taken")
	}
	for _, o := range m.byID {
		if o.Issuer == i.Issuer && o.Subject == i.Subject {
			return apperr.New(apperr.Conflict, oauth.CodeIdentityTaken, "identity linked already")
		}
		if o.UserID == i.UserID && o.Provider == i.Provider {
			return apperr.New(apperr.Conflict, oauth.CodeProviderAlreadyLinked, "provider linked already")
		}
	}
	m.byID[i.ID] = clone(*i)
	return nil
}

// GetBySubject implements oauth.Identities.
func (m *Identities) GetBySubject(_ context.Context, issuer, subject string) (*oauth.Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, o := range m.byID {
		if o.Issuer == issuer && o.Subject == subject {
			c := clone(o)
			return &c, nil
		}
	}
	return nil, apperr.New(apperr.NotFound, oauth.CodeIdentityNotFound, "identity not found")
}

// ListByUser implements oauth.Identities.
func (m *Identities) ListByUser(_ context.Context, userID uuid.UUID) ([]oauth.Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []oauth.Identity
	for _, o := range m.byID {
		if o.UserID == userID {
			out = append(out, clone(o))
		}
	}
	slices.SortFunc(out, func(a, b oauth.Identity) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
	return out, nil
}

// Update implements oauth.Identities.
func (m *Identities) Update(_ context.Context, i *oauth.Identity) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.byID[i.ID]
	if !ok {
		return apperr.New(apperr.NotFound, oauth.CodeIdentityNotFound, "identity not found")
	}
	o.Profile, o.Confirmed, o.LastLoginAt = i.Profile, i.Confirmed, i.LastLoginAt
	m.byID[i.ID] = clone(o)
	return nil
}

// Delete implements oauth.Identities.
func (m *Identities) Delete(_ context.Context, userID, id uuid.UUID) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.byID[id]
	if !ok || o.UserID != userID {
		return false, nil
	}
	delete(m.byID, id)
	return true, nil
}
