package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/uow"
)

// UnitOfWork is the SQL implementation of uow.Runner.
type UnitOfWork struct {
	db *DB
}

var _ uow.Runner = (*UnitOfWork)(nil)

// NewUnitOfWork returns the unit of work of db.
func NewUnitOfWork(db *DB) *UnitOfWork { return &UnitOfWork{db: db} }

// Do implements uow.Runner. The transaction uses one connection from
// begin to end, so fn must not use ctx from several goroutines at once.
// Functions registered with uow.AfterCommit run after the outermost
// transaction commits, never after a rollback.
func (u *UnitOfWork) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	return u.db.inTx(ctx, fn)
}

type txKey struct{}

// txState is what a transaction's context carries. db tells transactions
// of different databases apart.
type txState struct {
	db   *DB
	tx   *gorm.DB
	conn *sql.Conn // the connection the transaction runs on (COPY needs it)
}

func txFrom(ctx context.Context, d *DB) *txState {
	st, _ := ctx.Value(txKey{}).(*txState)
	if st == nil || st.db != d {
		return nil
	}
	return st
}

// inTx runs fn in a transaction, or in the one ctx already carries.
func (d *DB) inTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	if txFrom(ctx, d) != nil {
		return fn(ctx)
	}
	conn, err := d.acquire(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return translate(err)
	}
	done := false
	defer func() {
		if !done { // fn failed or panicked; a panic continues after the rollback
			// A cancelled context rolled the transaction back already
			// (database/sql does): a failing Rollback then says only that.
			if rerr := sqlTx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) && ctx.Err() == nil {
				d.log.WarnContext(ctx, "database: rollback failed", "error", rerr)
			}
		}
	}()
	g := d.gorm.WithContext(ctx)
	g.Statement.ConnPool = sqlTx
	txCtx, afterCommit := uow.WithAfterCommit(context.WithValue(ctx, txKey{}, &txState{db: d, tx: g, conn: conn}))
	if err := fn(txCtx); err != nil {
		if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
			// The statements after the cancellation failed with "sql:
			// transaction has already been committed or rolled back": the
			// cause is the cancellation, not the database.
			return fmt.Errorf("%w (then: %w)", translate(cerr), err)
		}
		return err
	}
	if err := uow.MarkCommit(txCtx); err != nil {
		return err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return translate(err)
	}
	// Give the connection back before the hooks run: a hook may use the
	// database, and a pool of one (SQLite in memory) would deadlock.
	_ = conn.Close()
	afterCommit(ctx)
	return nil
}
