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
