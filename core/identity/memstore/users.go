package memstore

import (
	"bytes"
	"context"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// Users is the in-memory identity.Users.
type Users struct{ s *Store }

var _ identity.Users = (*Users)(nil)

func userNotFound() error {
	return apperr.New(apperr.NotFound, identity.CodeUserNotFound, "user not found")
}

func emailTaken() error {
	return apperr.New(apperr.Conflict, identity.CodeEmailTaken, "this email address is already registered")
}

func roleInvalid() error { return apperr.New(apperr.Invalid, "role_invalid", "unknown role") }

// copyUser returns u with its own time values.
func copyUser(u identity.User) identity.User {
	u.EmailVerifiedAt, u.DisabledAt, u.EmailChangeUntil = normPtr(u.EmailVerifiedAt), normPtr(u.DisabledAt), normPtr(u.EmailChangeUntil)
	return u
}

// Create implements identity.Users.
func (r *Users) Create(ctx context.Context, u *identity.User) error {
	if u.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		u.ID = id
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = norm(u.CreatedAt), norm(u.UpdatedAt)
	u.EmailVerifiedAt, u.DisabledAt = normPtr(u.EmailVerifiedAt), normPtr(u.DisabledAt)
	if u.Role == "" {
		u.Role = identity.RoleUser
	}
	if !u.Role.Valid() {
		return roleInvalid()
	}
	row := copyUser(*u)
	return r.s.write(ctx, func(t *txn) error {
		if _, ok := t.users.get(r.s.tab.users, row.ID); ok {
			return apperr.New(apperr.Conflict, identity.CodeUserExists, "a user with this ID already exists")
		}
		key := identity.EmailKey(row.Email)
		if _, ok := t.emails.get(r.s.tab.emails, key); ok {
			return emailTaken()
		}
		t.users.put(row.ID, row)
		t.emails.put(key, row.ID)
		return nil
	})
}

// Get implements identity.Users.
func (r *Users) Get(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	var out identity.User
	err := r.s.read(ctx, func(t *txn) error {
		u, ok := t.users.get(r.s.tab.users, id)
		if !ok {
			return userNotFound()
		}
		out = copyUser(u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// GetByEmail implements identity.Users.
func (r *Users) GetByEmail(ctx context.Context, email string) (*identity.User, error) {
	var out identity.User
	err := r.s.read(ctx, func(t *txn) error {
		id, ok := t.emails.get(r.s.tab.emails, identity.EmailKey(email))
		if !ok {
			return userNotFound()
		}
		u, ok := t.users.get(r.s.tab.users, id)
		if !ok {
			return userNotFound()
		}
		out = copyUser(u)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Update implements identity.Users: the read, fn and the write happen in
// one transaction, which holds the write turn, so concurrent updates of a
// user apply one after the other.
func (r *Users) Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	return r.s.write(ctx, func(t *txn) error {
		cur, ok := t.users.get(r.s.tab.users, id)
		if !ok {
			return userNotFound()
		}
		in := copyUser(cur)
		next, err := fn(&in)
		if err != nil {
			return err
		}
		if next == nil {
			return apperr.New(apperr.Invalid, "user_update_invalid", "the update returned no user")
		}
		if next.ID != id {
			return apperr.New(apperr.Invalid, "user_id_immutable", "a user's ID cannot change")
		}
		row := copyUser(*next)
		if row.Role == "" {
			row.Role = identity.RoleUser
		}
		if !row.Role.Valid() {
			return roleInvalid()
		}
		row.CreatedAt, row.UpdatedAt = norm(row.CreatedAt), now()
		oldKey, newKey := identity.EmailKey(cur.Email), identity.EmailKey(row.Email)
		if newKey != oldKey {
			if _, taken := t.emails.get(r.s.tab.emails, newKey); taken {
				return emailTaken()
			}
			t.emails.del(oldKey)
			t.emails.put(newKey, id)
		}
		t.users.put(id, row)
		return nil
	})
}

// maxListLimit bounds UserQuery.Limit.
const maxListLimit = 200

// List implements identity.Users: the matching users sorted by ID (UUIDv7:
// creation order), from after q.After.
func (r *Users) List(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	if q.Limit < 1 || q.Limit > maxListLimit {
		return nil, apperr.Validation("invalid user query", map[string]string{"limit": "must be between 1 and 200"})
	}
	needle := identity.EmailKey(q.EmailContains)
	var out []identity.User
	err := r.s.read(ctx, func(t *txn) error {
		t.users.each(r.s.tab.users, func(id uuid.UUID, u identity.User) bool {
			if bytes.Compare(id[:], q.After[:]) > 0 && strings.Contains(identity.EmailKey(u.Email), needle) {
				out = append(out, copyUser(u))
			}
			return true
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b identity.User) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
