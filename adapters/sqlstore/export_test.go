package sqlstore

import "context"

// ExecForTest runs a statement outside any repository, for test set-up.
func ExecForTest(ctx context.Context, db *DB, sql string, args ...any) error {
	return db.gorm.WithContext(ctx).Exec(sql, args...).Error
}
