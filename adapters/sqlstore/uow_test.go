package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/uow"
)

// TestAfterCommit: hooks run once after the outermost commit, with the
// write visible outside the transaction, and never after a rollback or a
// panic; a nested Do's hooks wait for the outer commit.
func TestAfterCommit(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			tx := sqlstore.NewUnitOfWork(db)
			if err := sqlstore.ExecForTest(ctx, db, "CREATE TABLE hook_probe (n INTEGER NOT NULL)"); err != nil {
				t.Fatal(err)
			}
			count := func() int {
				n, err := sqlstore.CountForTest(ctx, db, "SELECT COUNT(*) FROM hook_probe")
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			insert := func(ctx context.Context) error {
				return sqlstore.ExecForTest(ctx, db, "INSERT INTO hook_probe (n) VALUES (1)")
			}

			// Commit: the hook sees the committed row from outside.
			seen := -1
			err := tx.Do(ctx, func(ctx context.Context) error {
				if err := insert(ctx); err != nil {
					return err
				}
				uow.AfterCommit(ctx, func(context.Context) { seen = count() })
				if seen != -1 {
					t.Error("hook ran inside the transaction")
				}
				return nil
			})
			if err != nil || seen != 1 {
				t.Fatalf("Do = %v, hook saw %d rows; want nil and 1", err, seen)
			}

			// Rollback by error, and by panic: no hook.
			ran := false
			boom := errors.New("boom")
			if err := tx.Do(ctx, func(ctx context.Context) error {
				_ = insert(ctx)
				uow.AfterCommit(ctx, func(context.Context) { ran = true })
				return boom
			}); !errors.Is(err, boom) {
				t.Fatalf("Do = %v; want boom", err)
			}
			func() {
				defer func() { _ = recover() }()
				_ = tx.Do(ctx, func(ctx context.Context) error {
					uow.AfterCommit(ctx, func(context.Context) { ran = true })
					panic("boom")
				})
			}()
			if ran || count() != 1 {
				t.Fatalf("after rollbacks: hook ran %v, rows %d; want false, 1", ran, count())
			}

			// Nested: the inner hook waits for the outer commit; an outer
			// rollback drops it even though the inner Do returned nil.
			order := []string{}
			err = tx.Do(ctx, func(ctx context.Context) error {
				if err := tx.Do(ctx, func(ctx context.Context) error {
					uow.AfterCommit(ctx, func(context.Context) { order = append(order, "inner") })
					return insert(ctx)
				}); err != nil {
					return err
				}
				order = append(order, "outer body done")
				return nil
			})
			if err != nil || len(order) != 2 || order[1] != "inner" {
				t.Fatalf("nested commit: %v, order %v", err, order)
			}
			ran = false
			_ = tx.Do(ctx, func(ctx context.Context) error {
				_ = tx.Do(ctx, func(ctx context.Context) error {
					uow.AfterCommit(ctx, func(context.Context) { ran = true })
					return insert(ctx)
				})
				return boom
			})
			if ran || count() != 2 {
				t.Fatalf("nested rollback: hook ran %v, rows %d; want false, 2", ran, count())
			}
		})
	}
}
