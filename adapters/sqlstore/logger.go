package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// gormLogger sends GORM's messages to slog. It logs slow statements at warn
// level, with their SQL text but never their parameter values, and failed
// statements at debug level only: the adapter returns every error to its
// caller, who decides whether it deserves a log line (a unique violation is
// an answer, not an incident).
type gormLogger struct {
	log  *slog.Logger
	slow time.Duration
}

func newGormLogger(log *slog.Logger, slow time.Duration) gormLogger {
	return gormLogger{log: log, slow: slow}
}

func (l gormLogger) LogMode(gormlogger.LogLevel) gormlogger.Interface { return l }

func (l gormLogger) Info(ctx context.Context, msg string, args ...any) {
	l.log.DebugContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Warn(ctx context.Context, msg string, args ...any) {
	l.log.WarnContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Error(ctx context.Context, msg string, args ...any) {
	l.log.ErrorContext(ctx, "gorm: "+fmt.Sprintf(msg, args...))
}

func (l gormLogger) Trace(ctx context.Context, begin time.Time, fc func() (string, int64), err error) {
	elapsed := time.Since(begin)
	switch {
	case err != nil && !errors.Is(err, gorm.ErrRecordNotFound):
		if l.log.Enabled(ctx, slog.LevelDebug) {
			sql, rows := fc()
			l.log.DebugContext(ctx, "sql statement failed", slog.String("sql", sql), slog.Int64("rows", rows),
				slog.Duration("duration", elapsed), slog.Any("error", err))
		}
	case l.slow > 0 && elapsed > l.slow:
		sql, rows := fc()
		l.log.WarnContext(ctx, "slow sql statement", slog.String("sql", sql), slog.Int64("rows", rows),
			slog.Duration("duration", elapsed), slog.Duration("threshold", l.slow))
	}
}

// ParamsFilter drops the parameter values from the SQL that GORM renders
// for Trace, so that no log line ever carries them.
func (l gormLogger) ParamsFilter(_ context.Context, sql string, _ ...any) (string, []any) {
	return sql, nil
}
