package memstore

import (
	"bytes"
	"context"
	"maps"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// EmailTokens is the in-memory identity.EmailTokens.
type EmailTokens struct{ s *Store }

var _ identity.EmailTokens = (*EmailTokens)(nil)

func tokenInvalid() error {
	return apperr.New(apperr.NotFound, identity.CodeTokenInvalid, "token not found")
}

func copyToken(t identity.EmailToken) identity.EmailToken {
	t.Hash = bytes.Clone(t.Hash)
	t.CreatedAt, t.ExpiresAt, t.UsedAt = norm(t.CreatedAt), norm(t.ExpiresAt), normPtr(t.UsedAt)
	return t
}

// Issue implements identity.EmailTokens. The user must exist.
func (r *EmailTokens) Issue(ctx context.Context, in *identity.EmailToken) error {
	row := copyToken(*in)
	key := string(row.Hash)
	return r.s.write(ctx, func(t *txn) error {
		if _, ok := t.users.get(r.s.tab.users, row.UserID); !ok {
			return conflict("email token of an unknown user")
		}
		if _, ok := t.tokens.get(r.s.tab.tokens, key); ok {
			return conflict("email token exists")
		}
		r.remove(t, row.UserID, func(old identity.EmailToken) bool { return old.Purpose == row.Purpose && old.UsedAt == nil })
		t.tokens.put(key, row)
		hashes, _ := t.userTokens.get(r.s.tab.userTokens, row.UserID)
		t.userTokens.put(row.UserID, with(hashes, key))
		return nil
	})
}

// remove deletes the tokens of userID that match.
func (r *EmailTokens) remove(t *txn, userID uuid.UUID, match func(identity.EmailToken) bool) {
	hashes, _ := t.userTokens.get(r.s.tab.userTokens, userID)
	kept := make([]string, 0, len(hashes))
	for _, h := range hashes {
		if tok, ok := t.tokens.get(r.s.tab.tokens, h); ok && match(tok) {
			t.tokens.del(h)
			continue
		}
		kept = append(kept, h)
	}
	if len(kept) != len(hashes) {
		t.userTokens.put(userID, kept)
	}
}

// find returns the token if it has one of the purposes and is unused and
// unexpired at now.
func (r *EmailTokens) find(t *txn, hash []byte, purposes []identity.Purpose, now time.Time) (identity.EmailToken, error) {
	tok, ok := t.tokens.get(r.s.tab.tokens, string(hash))
	if !ok || tok.UsedAt != nil || !now.Before(tok.ExpiresAt) || !slices.Contains(purposes, tok.Purpose) {
		return identity.EmailToken{}, tokenInvalid()
	}
	return copyToken(tok), nil
}

// Get implements identity.EmailTokens.
func (r *EmailTokens) Get(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	var out identity.EmailToken
	err := r.s.read(ctx, func(t *txn) error {
		var err error
		out, err = r.find(t, hash, purposes, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Consume implements identity.EmailTokens: the check and the write happen
// under the write turn, so exactly one concurrent consumer wins.
func (r *EmailTokens) Consume(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	var out identity.EmailToken
	err := r.s.write(ctx, func(t *txn) error {
		tok, err := r.find(t, hash, purposes, now)
		if err != nil {
			return err
		}
		used := norm(now)
		tok.UsedAt = &used
		t.tokens.put(string(hash), tok)
		out = copyToken(tok)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// Revoke implements identity.EmailTokens.
func (r *EmailTokens) Revoke(ctx context.Context, userID uuid.UUID, purposes []identity.Purpose) error {
	return r.s.write(ctx, func(t *txn) error {
		r.remove(t, userID, func(tok identity.EmailToken) bool { return tok.UsedAt == nil && slices.Contains(purposes, tok.Purpose) })
		return nil
	})
}

// PurgeEnded implements identity.EmailTokens.
func (r *EmailTokens) PurgeEnded(ctx context.Context, before time.Time) (int64, error) {
	before = norm(before)
	var n int64
	err := r.s.write(ctx, func(t *txn) error {
		n = 0
		users := map[uuid.UUID]struct{}{}
		t.tokens.each(r.s.tab.tokens, func(_ string, tok identity.EmailToken) bool {
			if tok.ExpiresAt.Before(before) || (tok.UsedAt != nil && tok.UsedAt.Before(before)) {
				users[tok.UserID] = struct{}{}
			}
			return true
		})
		for _, u := range slices.Collect(maps.Keys(users)) {
			r.remove(t, u, func(tok identity.EmailToken) bool {
				ended := tok.ExpiresAt.Before(before) || (tok.UsedAt != nil && tok.UsedAt.Before(before))
				if ended {
					n++
				}
				return ended
			})
		}
		return nil
	})
	return n, err
}

// Events is the in-memory identity.Events: an append-only log per user.
type Events struct{ s *Store }

var _ identity.Events = (*Events)(nil)

func copyEvent(e identity.Event) identity.Event {
	e.At = norm(e.At)
	e.Details = maps.Clone(e.Details)
	return e
}

// Record implements identity.Events.
func (r *Events) Record(ctx context.Context, e *identity.Event) error {
	if e.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return err
		}
		e.ID = id
	}
	if e.At.IsZero() {
		e.At = now()
	}
	e.At = norm(e.At)
	row := copyEvent(*e)
	return r.s.write(ctx, func(t *txn) error {
		if _, dup := r.s.tab.eventIDs[row.ID]; dup || slices.ContainsFunc(t.events, func(p identity.Event) bool { return p.ID == row.ID }) {
			return conflict("event ID taken")
		}
		t.events = append(t.events, row)
		return nil
	})
}

// List implements identity.Events: newest first by ID (UUIDv7).
func (r *Events) List(ctx context.Context, q identity.EventQuery) ([]identity.Event, error) {
	if q.Limit < 1 || q.Limit > 200 {
		return nil, apperr.Validation("invalid event query", map[string]string{"limit": "must be between 1 and 200"})
	}
	var out []identity.Event
	if q.UserID == uuid.Nil { // events without a user are kept, never listed (like SQL's NULL)
		return out, nil
	}
	err := r.s.read(ctx, func(t *txn) error {
		keep := func(e identity.Event) {
			if e.UserID == q.UserID && (q.Before == uuid.Nil || bytes.Compare(e.ID[:], q.Before[:]) < 0) {
				out = append(out, copyEvent(e))
			}
		}
		for _, e := range r.s.tab.events[q.UserID] {
			keep(e)
		}
		for _, e := range t.events {
			keep(e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b identity.Event) int { return bytes.Compare(b.ID[:], a.ID[:]) })
	if len(out) > q.Limit {
		out = out[:q.Limit]
	}
	return out, nil
}
