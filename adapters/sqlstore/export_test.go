package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/trading"
)

// ExecForTest runs a statement outside any repository, for test set-up. It
// takes part in the transaction ctx carries, like a repository.
func ExecForTest(ctx context.Context, db *DB, sql string, args ...any) error {
	g, release, err := db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	return g.Exec(sql, args...).Error
}

// CountForTest runs a query that returns one integer.
func CountForTest(ctx context.Context, db *DB, sql string, args ...any) (int, error) {
	g, release, err := db.session(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	var n int
	err = g.Raw(sql, args...).Scan(&n).Error
	return n, err
}

// StringForTest runs a query that returns one nullable text.
func StringForTest(ctx context.Context, db *DB, sql string, args ...any) (*string, error) {
	g, release, err := db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var s *string
	err = g.Raw(sql, args...).Row().Scan(&s)
	return s, err
}

// ListQueryForTest returns the statement and arguments Ledger.List runs.
func ListQueryForTest(db *DB, userID uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page) (string, []any, error) {
	if err := f.Validate(); err != nil {
		return "", nil, err
	}
	if err := s.Validate(); err != nil {
		return "", nil, err
	}
	q, args, _, err := NewLedger(db).listQuery(userID, f, s, p)
	return q, args, err
}

// ExplainForTest returns PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of q.
func ExplainForTest(ctx context.Context, db *DB, q string, args ...any) ([]string, error) {
	g, release, err := db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	rows, err := g.Raw("EXPLAIN (ANALYZE, BUFFERS) "+q, args...).Rows()
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return nil, err
		}
		out = append(out, line)
	}
	return out, rows.Err()
}
