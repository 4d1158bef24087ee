package sqlstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/trading"
)

// hexUUID writes the canonical form of id into dst (36 bytes).
func hexUUID(dst []byte, id uuid.UUID) {
	const hexdigits = "0123456789abcdef"
	j := 0
	for i, c := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst[j] = '-'
			j++
		}
		dst[j], dst[j+1] = hexdigits[c>>4], hexdigits[c&0xf]
		j += 2
	}
}

// bulkInsert writes rows (values in cols order) into table, inside the
// transaction ctx carries; see bulkInsertFunc.
func (d *DB) bulkInsert(ctx context.Context, g *gorm.DB, table string, cols []string, rows [][]any) (int, error) {
	return d.bulkInsertFunc(ctx, g, table, cols, len(rows), func(i int, _ []any) []any { return rows[i] })
}

// copyChunk is the size past which a COPY stream hands its buffer to the
// connection: the rows are formatted as pgconn reads them, so a COPY of
// any number of rows holds about this much text at a time.
const copyChunk = 64 << 10

// copyReader formats rows in COPY's text form as they are read.
type copyReader struct {
	n, i int
	row  func(i int, dst []any) []any
	dst  []any
	buf  bytes.Buffer
}

func (r *copyReader) Read(p []byte) (int, error) {
	if r.buf.Len() == 0 {
		if r.i >= r.n {
			return 0, io.EOF
		}
		r.buf.Reset()
		for r.i < r.n && r.buf.Len() < copyChunk {
			r.dst = r.row(r.i, r.dst[:0])
			for i, v := range r.dst {
				if i > 0 {
					r.buf.WriteByte('\t')
				}
				copyText(&r.buf, v)
			}
			r.buf.WriteByte('\n')
			r.i++
		}
	}
	return r.buf.Read(p)
}

// bulkInsertFunc writes n rows into table, inside the transaction ctx
// carries; row(i, dst) appends the values of row i (in cols order) to dst
// and returns it (dst is reused: row must not keep it). Rows are built
// only as they are sent, so the caller need not materialise them. On
// PostgreSQL it streams them with COPY on the transaction's connection
// (one round trip, text encoding formatted copyChunk at a time, no
// statement to build); on SQLite it sends multi-row INSERTs of chunk
// rows. It returns the rows written.
func (d *DB) bulkInsertFunc(ctx context.Context, g *gorm.DB, table string, cols []string, n int, row func(i int, dst []any) []any) (int, error) {
	if n == 0 {
		return 0, nil
	}
	if st := d.pgTx(ctx); st != nil {
		return copyFrom(ctx, st, table, cols, "", &copyReader{n: n, row: row, dst: make([]any, 0, len(cols))})
	}
	per := len(cols)
	size := max(1, min(chunk, 30000/per))
	written := 0
	var dst []any
	args := make([]any, 0, size*per)
	for start := 0; start < n; start += size {
		end := min(start+size, n)
		args = args[:0]
		for i := start; i < end; i++ {
			dst = row(i, dst[:0])
			for _, v := range dst {
				args = append(args, sqlValue(v))
			}
		}
		res := g.Exec("INSERT INTO "+table+" ("+strings.Join(cols, ", ")+") VALUES "+placeholders(end-start, per), args...)
		if res.Error != nil {
			return written, fmt.Errorf("insert into %s: %w", table, translate(res.Error))
		}
		written += int(res.RowsAffected)
	}
	return written, nil
}

// pgTx returns the PostgreSQL transaction ctx carries when it has a
// connection of its own (what COPY and the raw pgx reads run on), or nil.
func (d *DB) pgTx(ctx context.Context) *txState {
	if st := txFrom(ctx, d); d.dialect == Postgres && st != nil && st.conn != nil {
		return st
	}
	return nil
}

// copyFrom runs COPY table (cols) FROM STDIN opts with src on the connection
// of the transaction st and returns the rows written.
func copyFrom(ctx context.Context, st *txState, table string, cols []string, opts string, src io.Reader) (int, error) {
	var written int64
	stmt := "COPY " + table + " (" + strings.Join(cols, ", ") + ") FROM STDIN" + opts
	err := st.db.onPgx(ctx, st.conn, "sqlstore.Copy", stmt, func(pc *pgx.Conn) error {
		tag, err := pc.PgConn().CopyFrom(ctx, src, stmt)
		written = tag.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copy into %s: %w", table, translate(err))
	}
	return int(written), nil
}

// copyLines streams n rows into table with COPY, inside the PostgreSQL
// transaction ctx carries: line(i, b) appends row i's fields (cols order,
// COPY text form, tab-separated, no newline) to b and returns it. It is
// bulkInsertFunc for a hot path: no field is boxed into an interface and
// formatted through a type switch (an import's 100,000 executions are 1.6
// million fields). The text is handed over copyChunk at a time.
func (d *DB) copyLines(ctx context.Context, table string, cols []string, n int, line func(i int, b []byte) []byte) (int, error) {
	return d.copyRows(ctx, "copyLines", table, cols, n, false, line)
}

// copyBinary is copyLines in COPY's binary format: row(i, b) appends row
// i's field count and fields (copy_binary.go) to b and returns it.
func (d *DB) copyBinary(ctx context.Context, table string, cols []string, n int, row func(i int, b []byte) []byte) (int, error) {
	return d.copyRows(ctx, "copyBinary", table, cols, n, true, row)
}

// copyRows streams n rows (text lines, or binary rows when bin) into
// table through the PostgreSQL transaction ctx carries; op names the
// caller in its error.
func (d *DB) copyRows(ctx context.Context, op, table string, cols []string, n int, bin bool, row func(i int, b []byte) []byte) (int, error) {
	st := d.pgTx(ctx)
	if st == nil {
		return 0, errors.New("sqlstore: " + op + " needs a PostgreSQL transaction")
	}
	if n == 0 {
		return 0, nil
	}
	format := ""
	if bin {
		format = " (FORMAT binary)"
	}
	return copyFrom(ctx, st, table, cols, format, &rowReader{n: n, bin: bin, row: row})
}

// appendCopyString appends s in COPY's text form (backslash escapes for
// the backslash, tab, newline and carriage return).
func appendCopyString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, '\\', '\\')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendCopyUUID appends id's canonical form, or \N for uuid.Nil when
// nilIsNull.
func appendCopyUUID(b []byte, id uuid.UUID, nilIsNull bool) []byte {
	if nilIsNull && id == uuid.Nil {
		return append(b, '\\', 'N')
	}
	var s [36]byte
	hexUUID(s[:], id)
	return append(b, s[:]...)
}

// copyText writes v in COPY's text format: \N for NULL, backslash
// escapes for the delimiter, newlines and backslashes.
func copyText(b *bytes.Buffer, v any) {
	switch x := v.(type) {
	case decimal.Decimal:
		b.Write(trading.AppendDecimal(b.AvailableBuffer(), x))
		return
	case decimal.NullDecimal:
		if x.Valid {
			b.Write(trading.AppendDecimal(b.AvailableBuffer(), x.Decimal))
		} else {
			b.WriteString(`\N`)
		}
		return
	case uuid.UUID:
		var s [36]byte
		hexUUID(s[:], x)
		b.Write(s[:])
		return
	case int64:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), x, 10))
		return
	case int:
		b.Write(strconv.AppendInt(b.AvailableBuffer(), int64(x), 10))
		return
	case time.Time:
		b.Write(normTime(x).AppendFormat(b.AvailableBuffer(), "2006-01-02 15:04:05.999999Z07:00"))
		return
	}
	switch x := sqlValue(v).(type) {
	case nil:
		b.WriteString(`\N`)
	case string:
		for i := 0; i < len(x); i++ {
			switch c := x[i]; c {
			case '\\':
				b.WriteString(`\\`)
			case '\t':
				b.WriteString(`\t`)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			default:
				b.WriteByte(c)
			}
		}
	case int:
		b.WriteString(strconv.Itoa(x))
	case int64:
		b.WriteString(strconv.FormatInt(x, 10))
	case bool:
		if x {
			b.WriteByte('t')
		} else {
			b.WriteByte('f')
		}
	case time.Time:
		b.WriteString(normTime(x).Format("2006-01-02 15:04:05.999999Z07:00"))
	default:
		copyText(b, fmt.Sprint(x))
	}
}

// sqlValue converts a value to a plain driver value, which the drivers
// encode far faster than a driver.Valuer (for PostgreSQL, pgx plans the
// encoding of a Valuer's result anew for every parameter).
func sqlValue(v any) any {
	switch x := v.(type) {
	case decimal.Decimal:
		return x.String()
	case decimal.NullDecimal:
		if !x.Valid {
			return nil
		}
		return x.Decimal.String()
	case uuid.UUID:
		return x.String()
	case uuid.NullUUID:
		if !x.Valid {
			return nil
		}
		return x.UUID.String()
	}
	return v
}

// pgRows runs q (PostgreSQL placeholders $1 ...) on the connection of the
// transaction ctx carries and calls fn with each row's raw text values,
// skipping database/sql's per-value conversions (a rebuild reads 100,000
// executions). ok is false, with nothing run, outside PostgreSQL or a
// transaction: the caller then takes the portable path. fn gets each
// value's bytes as they arrive, in the format pgx asked for: text for
// text columns and ::text casts, binary for the types pgx knows (uuid,
// numeric, integers: binUUID, numericText, binInt read them).
func (d *DB) pgRows(ctx context.Context, q string, args []any, fn func(vals [][]byte) error) (ok bool, err error) {
	st := d.pgTx(ctx)
	if st == nil {
		return false, nil
	}
	if err := d.pgEachRow(ctx, st.conn, "sqlstore.Rows", q, args, fn); err != nil {
		return true, translate(err)
	}
	return true, nil
}

// rawUUID, rawInt and rawDec parse pgRows values.
func rawUUID(b []byte) (uuid.UUID, error) {
	if b == nil {
		return uuid.Nil, nil
	}
	return uuid.ParseBytes(b)
}

func rawInt(b []byte) (int64, error) { return strconv.ParseInt(string(b), 10, 64) }
