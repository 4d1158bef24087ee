package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	gosqlite "github.com/glebarez/go-sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
)

// Error codes of this adapter's apperr errors.
const (
	CodePoolTimeout = "db_pool_timeout" // no free connection within DB_ACQUIRE_TIMEOUT
	CodeUnavailable = "db_unavailable"  // the server cannot be reached or went away
	CodeTimeout     = "db_timeout"      // the caller's deadline passed
	CodeCanceled    = "db_canceled"     // the caller gave up
	CodeBusy        = "db_busy"         // serialization failure, deadlock or lock timeout: retry
	CodeConflict    = "conflict"        // a constraint the repository did not name
	CodeNotFound    = "not_found"       // a row the repository did not name
	CodeTextInvalid = "text_invalid"    // text the database cannot store (PostgreSQL refuses U+0000)
	CodeInternal    = "db_error"        // anything else: a bug or a schema mismatch
)

// SQLite result codes (primary codes are the low byte of extended ones).
const (
	sqliteBusy             = 5
	sqliteLocked           = 6
	sqliteConstraint       = 19
	sqliteConstraintUnique = 2067
	sqliteConstraintPK     = 1555
)

// translate maps a driver or GORM error to an apperr kind, keeping the
// original as the cause. Repositories refine NotFound and Conflict with
// their own codes (see uniqueViolation).
func translate(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound), errors.Is(err, sql.ErrNoRows):
		return apperr.Wrap(err, apperr.NotFound, CodeNotFound, "not found")
	case errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(err, apperr.Unavailable, CodeTimeout, "the database did not answer in time")
	case errors.Is(err, context.Canceled):
		return apperr.Wrap(err, apperr.Unavailable, CodeCanceled, "the request was canceled")
	}

	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505", pgErr.Code == "23503", pgErr.Code == "23P01":
			return apperr.Wrap(err, apperr.Conflict, CodeConflict, "the change conflicts with existing data")
		case pgErr.Code == "22021": // character_not_in_repertoire: a NUL in text
			return apperr.Wrap(err, apperr.Invalid, CodeTextInvalid, "a text value holds a character that cannot be stored (NUL)")
		case pgErr.Code == "40001", pgErr.Code == "40P01", pgErr.Code == "55P03":
			return apperr.Wrap(err, apperr.Unavailable, CodeBusy, "the database is busy; try again")
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			strings.HasPrefix(pgErr.Code, "57P"), // admin shutdown, crash shutdown, cannot connect now
			pgErr.Code == "53300":                // too many connections
			return apperr.Wrap(err, apperr.Unavailable, CodeUnavailable, "the database is unavailable")
		}
		return apperr.Wrap(err, apperr.Internal, CodeInternal, "database error")
	}

	var sqErr *gosqlite.Error
	if errors.As(err, &sqErr) {
		switch code := sqErr.Code(); {
		case code == sqliteConstraintUnique, code == sqliteConstraintPK, code&0xff == sqliteConstraint:
			return apperr.Wrap(err, apperr.Conflict, CodeConflict, "the change conflicts with existing data")
		case code&0xff == sqliteBusy, code&0xff == sqliteLocked:
			return apperr.Wrap(err, apperr.Unavailable, CodeBusy, "the database is busy; try again")
		}
		return apperr.Wrap(err, apperr.Internal, CodeInternal, "database error")
	}

	var connErr *pgconn.ConnectError
	var netErr net.Error
	if errors.As(err, &connErr) || errors.As(err, &netErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		pgconn.SafeToRetry(err) || pgconn.Timeout(err) {
		return apperr.Wrap(err, apperr.Unavailable, CodeUnavailable, "the database is unavailable")
	}
	return apperr.Wrap(err, apperr.Internal, CodeInternal, "database error")
}

// uniqueViolation reports the constraint a unique (or primary key)
// violation hit: the constraint name on PostgreSQL, "table.column" on
// SQLite.
func uniqueViolation(err error) (string, bool) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return pgErr.ConstraintName, true
	}
	var sqErr *gosqlite.Error
	if errors.As(err, &sqErr) && (sqErr.Code() == sqliteConstraintUnique || sqErr.Code() == sqliteConstraintPK) {
		// "UNIQUE constraint failed: users.email_key (2067)"
		msg := sqErr.Error()
		if _, after, ok := strings.Cut(msg, "failed: "); ok {
			cols, _, _ := strings.Cut(after, " (")
			return cols, true
		}
		return "", true
	}
	return "", false
}
