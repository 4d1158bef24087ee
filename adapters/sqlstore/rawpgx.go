package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// onPgx runs fn on the pgx connection beneath c: the raw paths (COPY,
// binary rows, a trade page) that skip GORM for speed. It gives them what
// GORM's statements get from the tracing plugin and the logger: a client
// span named op with the statement text (never its parameter values) and
// a warn line when the call is slower than DB_SLOW_QUERY. The error is
// fn's, untranslated.
func (d *DB) onPgx(ctx context.Context, c *sql.Conn, op, query string, fn func(pc *pgx.Conn) error) error {
	start := time.Now()
	_, span := d.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient))
	err := c.Raw(func(dc any) error {
		sc, isPgx := dc.(*stdlib.Conn)
		if !isPgx {
			return errors.New("sqlstore: " + op + " needs a pgx connection")
		}
		return fn(sc.Conn())
	})
	if span.IsRecording() {
		span.SetAttributes(d.trace.attrs...)
		span.SetAttributes(attrDBQuery.String(query))
		if w := firstWord(query); w != "" {
			span.SetAttributes(attrDBOperation.String(w))
		}
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
	}
	span.End()
	if slow := d.cfg.SlowQuery; slow > 0 {
		if elapsed := time.Since(start); elapsed > slow {
			d.log.WarnContext(ctx, "slow sql statement", slog.String("sql", query),
				slog.Duration("duration", elapsed), slog.Duration("threshold", slow))
		}
	}
	return err
}

// pgEachRow runs q with args on the pgx connection beneath c (through
// onPgx, named op) and calls fn with each row's raw values, valid only
// during the call. The error is untranslated.
func (d *DB) pgEachRow(ctx context.Context, c *sql.Conn, op, q string, args []any, fn func(vals [][]byte) error) error {
	return d.onPgx(ctx, c, op, q, func(pc *pgx.Conn) error {
		rows, err := pc.Query(ctx, q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			if err := fn(rows.RawValues()); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
