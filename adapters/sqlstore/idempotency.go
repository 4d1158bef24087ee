package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/idempotency"
)

// IdempotencyKeys is the SQL implementation of idempotency.Store.
type IdempotencyKeys struct{ db *DB }

var _ idempotency.Store = (*IdempotencyKeys)(nil)

// NewIdempotencyKeys returns the idempotency key store on db.
func NewIdempotencyKeys(db *DB) *IdempotencyKeys { return &IdempotencyKeys{db: db} }

// Claim implements idempotency.Store: an INSERT that does nothing on a
// conflict decides the common case; otherwise the existing row is read
// under its lock and replaced only when expired or stale.
func (s *IdempotencyKeys) Claim(ctx context.Context, r idempotency.Record, staleBefore time.Time) (*idempotency.Record, error) {
	var out *idempotency.Record
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			res := g.Exec(`INSERT INTO idempotency_keys (user_id, key, request_hash, state, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)
				ON CONFLICT (user_id, key) DO NOTHING`, r.UserID, r.Key, r.RequestHash, string(idempotency.Pending), normTime(r.CreatedAt), normTime(r.ExpiresAt))
			if res.Error != nil {
				return translate(res.Error)
			}
			if res.RowsAffected == 1 {
				return nil
			}
			var cur idempotency.Record
			found := false
			err := query(g, func(rows *sql.Rows) error {
				found = true
				var state string
				err := rows.Scan(&cur.UserID, &cur.Key, &cur.RequestHash, &state, &cur.Response.Status, &cur.Response.ContentType,
					&cur.Response.Location, &cur.Response.Body, &cur.CreatedAt, &cur.ExpiresAt)
				cur.State = idempotency.State(state)
				return translate(err)
			}, `SELECT user_id, key, request_hash, state, status, content_type, location, body, created_at, expires_at
				FROM idempotency_keys WHERE user_id = ? AND key = ?`+lockClause(s.db.dialect), r.UserID, r.Key)
			if err != nil {
				return err
			}
			live := found && cur.ExpiresAt.After(r.CreatedAt) && !(cur.State == idempotency.Pending && cur.CreatedAt.Before(staleBefore))
			if live {
				cur.CreatedAt, cur.ExpiresAt = cur.CreatedAt.UTC(), cur.ExpiresAt.UTC()
				out = &cur
				return nil
			}
			return translate(g.Exec(`UPDATE idempotency_keys SET request_hash = ?, state = ?, status = 0, content_type = '', location = '', body = NULL,
				created_at = ?, expires_at = ? WHERE user_id = ? AND key = ?`,
				r.RequestHash, string(idempotency.Pending), normTime(r.CreatedAt), normTime(r.ExpiresAt), r.UserID, r.Key).Error)
		})
	})
	if err != nil {
		return nil, fmt.Errorf("claim idempotency key: %w", err)
	}
	return out, nil
}

// MarkApplied implements idempotency.Store.
func (s *IdempotencyKeys) MarkApplied(ctx context.Context, userID uuid.UUID, key string) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec(`UPDATE idempotency_keys SET state = ? WHERE user_id = ? AND key = ? AND state = ?`,
			string(idempotency.Applied), userID, key, string(idempotency.Pending)).Error
		if err != nil {
			return fmt.Errorf("mark idempotency key applied: %w", translate(err))
		}
		return nil
	})
}

// Complete implements idempotency.Store.
func (s *IdempotencyKeys) Complete(ctx context.Context, userID uuid.UUID, key string, resp idempotency.Response) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec(`UPDATE idempotency_keys SET state = ?, status = ?, content_type = ?, location = ?, body = ? WHERE user_id = ? AND key = ? AND state IN (?, ?)`,
			string(idempotency.Done), resp.Status, resp.ContentType, resp.Location, resp.Body, userID, key, string(idempotency.Pending), string(idempotency.Applied)).Error
		if err != nil {
			return fmt.Errorf("complete idempotency key: %w", translate(err))
		}
		return nil
	})
}

// Release implements idempotency.Store.
func (s *IdempotencyKeys) Release(ctx context.Context, userID uuid.UUID, key string) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		if err := g.Exec("DELETE FROM idempotency_keys WHERE user_id = ? AND key = ? AND state = ?", userID, key, string(idempotency.Pending)).Error; err != nil {
			return fmt.Errorf("release idempotency key: %w", translate(err))
		}
		return nil
	})
}

// Purge implements idempotency.Store.
func (s *IdempotencyKeys) Purge(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("DELETE FROM idempotency_keys WHERE expires_at <= ?", normTime(now))
		n = res.RowsAffected
		return translate(res.Error)
	})
	if err != nil {
		return 0, fmt.Errorf("purge idempotency keys: %w", err)
	}
	return n, nil
}
