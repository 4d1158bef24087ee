package memstore

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// Sessions is the in-memory identity.Sessions.
type Sessions struct{ s *Store }

var _ identity.Sessions = (*Sessions)(nil)

func sessionNotFound() error {
	return apperr.New(apperr.NotFound, identity.CodeSessionNotFound, "session not found")
}

func copySession(s identity.Session) identity.Session {
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = norm(s.CreatedAt), norm(s.LastUsedAt), norm(s.ExpiresAt)
	s.RevokedAt = normPtr(s.RevokedAt)
	s.AMR = slices.Clone(s.AMR)
	return s
}

// Create implements identity.Sessions. The user must exist (as the SQL
// foreign key requires), and the ID must be new.
func (r *Sessions) Create(ctx context.Context, in *identity.Session) error {
	row := copySession(*in)
	return r.s.write(ctx, func(t *txn) error {
		if _, ok := t.users.get(r.s.tab.users, row.UserID); !ok {
			return conflict("session of an unknown user")
		}
		if _, ok := t.sessions.get(r.s.tab.sessions, row.ID); ok {
			return conflict("session ID taken")
		}
		t.sessions.put(row.ID, row)
		ids, _ := t.userSessions.get(r.s.tab.userSessions, row.UserID)
		t.userSessions.put(row.UserID, with(ids, row.ID))
		return nil
	})
}

// Get implements identity.Sessions.
func (r *Sessions) Get(ctx context.Context, id uuid.UUID) (*identity.Session, error) {
	var out identity.Session
	err := r.s.read(ctx, func(t *txn) error {
		s, ok := t.sessions.get(r.s.tab.sessions, id)
		if !ok {
			return sessionNotFound()
		}
		out = copySession(s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ListActive implements identity.Sessions.
func (r *Sessions) ListActive(ctx context.Context, userID uuid.UUID, now time.Time) ([]identity.Session, error) {
	out := []identity.Session{}
	err := r.s.read(ctx, func(t *txn) error {
		ids, _ := t.userSessions.get(r.s.tab.userSessions, userID)
		for _, id := range ids {
			if s, ok := t.sessions.get(r.s.tab.sessions, id); ok && s.RevokedAt == nil && now.Before(s.ExpiresAt) {
				out = append(out, copySession(s))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
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
func (r *Sessions) Touch(ctx context.Context, id uuid.UUID, at time.Time) error {
	return r.s.write(ctx, func(t *txn) error {
		s, ok := t.sessions.get(r.s.tab.sessions, id)
		if !ok {
			return sessionNotFound()
		}
		s = copySession(s)
		s.LastUsedAt = norm(at)
		t.sessions.put(id, s)
		return nil
	})
}

// Revoke implements identity.Sessions.
func (r *Sessions) Revoke(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, except uuid.UUID, at time.Time, reason string) ([]uuid.UUID, error) {
	var ended []uuid.UUID
	err := r.s.write(ctx, func(t *txn) error {
		ended = nil
		own, _ := t.userSessions.get(r.s.tab.userSessions, userID)
		for _, id := range own {
			if id == except || (len(ids) > 0 && !slices.Contains(ids, id)) {
				continue
			}
			s, ok := t.sessions.get(r.s.tab.sessions, id)
			if !ok || s.RevokedAt != nil {
				continue
			}
			s = copySession(s)
			at := norm(at)
			s.RevokedAt, s.RevokedReason = &at, reason
			t.sessions.put(id, s)
			ended = append(ended, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ended, nil
}

// PurgeEnded implements identity.Sessions: the sessions that expired or
// were revoked before before, with their refresh tokens.
func (r *Sessions) PurgeEnded(ctx context.Context, before time.Time) (int64, error) {
	before = norm(before)
	var n int64
	err := r.s.write(ctx, func(t *txn) error {
		n = 0
		var doomed []identity.Session
		t.sessions.each(r.s.tab.sessions, func(_ uuid.UUID, s identity.Session) bool {
			if s.ExpiresAt.Before(before) || (s.RevokedAt != nil && s.RevokedAt.Before(before)) {
				doomed = append(doomed, s)
			}
			return true
		})
		for _, s := range doomed {
			hashes, _ := t.sessionRefresh.get(r.s.tab.sessionRefresh, s.ID)
			for _, h := range hashes {
				t.refresh.del(h)
			}
			t.sessionRefresh.del(s.ID)
			t.sessions.del(s.ID)
			ids, _ := t.userSessions.get(r.s.tab.userSessions, s.UserID)
			if rest := without(ids, s.ID); len(rest) > 0 {
				t.userSessions.put(s.UserID, rest)
			} else {
				t.userSessions.del(s.UserID)
			}
			n++
		}
		return nil
	})
	return n, err
}

// RefreshTokens is the in-memory identity.RefreshTokens.
type RefreshTokens struct{ s *Store }

var _ identity.RefreshTokens = (*RefreshTokens)(nil)

func copyRefresh(t identity.RefreshToken) identity.RefreshToken {
	t.Hash, t.Successor = bytes.Clone(t.Hash), bytes.Clone(t.Successor)
	t.CreatedAt, t.RotatedAt = norm(t.CreatedAt), normPtr(t.RotatedAt)
	return t
}

// Create implements identity.RefreshTokens. The session must exist.
func (r *RefreshTokens) Create(ctx context.Context, in *identity.RefreshToken) error {
	row := copyRefresh(*in)
	key := string(row.Hash)
	return r.s.write(ctx, func(t *txn) error {
		if _, ok := t.sessions.get(r.s.tab.sessions, row.SessionID); !ok {
			return conflict("refresh token of an unknown session")
		}
		if _, ok := t.refresh.get(r.s.tab.refresh, key); ok {
			return conflict("refresh token exists")
		}
		t.refresh.put(key, row)
		hashes, _ := t.sessionRefresh.get(r.s.tab.sessionRefresh, row.SessionID)
		t.sessionRefresh.put(row.SessionID, with(hashes, key))
		return nil
	})
}

// Get implements identity.RefreshTokens.
func (r *RefreshTokens) Get(ctx context.Context, hash []byte) (*identity.RefreshToken, error) {
	var out identity.RefreshToken
	err := r.s.read(ctx, func(t *txn) error {
		rt, ok := t.refresh.get(r.s.tab.refresh, string(hash))
		if !ok {
			return apperr.New(apperr.NotFound, identity.CodeRefreshTokenInvalid, "refresh token not found")
		}
		out = copyRefresh(rt)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Rotate implements identity.RefreshTokens: the check and the write happen
// under the write turn, so exactly one concurrent rotation wins.
func (r *RefreshTokens) Rotate(ctx context.Context, hash []byte, at time.Time, successor []byte) (bool, error) {
	won := false
	err := r.s.write(ctx, func(t *txn) error {
		won = false
		rt, ok := t.refresh.get(r.s.tab.refresh, string(hash))
		if !ok || rt.RotatedAt != nil {
			return nil
		}
		rt = copyRefresh(rt)
		at := norm(at)
		rt.RotatedAt, rt.Successor = &at, bytes.Clone(successor)
		t.refresh.put(string(hash), rt)
		won = true
		return nil
	})
	return won, err
}
