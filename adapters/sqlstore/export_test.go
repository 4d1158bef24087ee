package sqlstore

import "context"

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
