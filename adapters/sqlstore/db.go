// Package sqlstore is the SQL adapter: GORM on PostgreSQL (pgx) in
// production and on SQLite (pure Go, no CGO) in the local profile, a tuned
// connection pool with statistics, embedded goose migrations per dialect,
// the unit of work, and the repositories.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/health"
)

// sqliteMaxConns caps the SQLite pool: WAL lets readers run beside the one
// writer, and more connections only queue on the database lock.
const sqliteMaxConns = 4

// sqlitePragmas are applied to every SQLite connection: WAL for concurrent
// readers, a busy timeout instead of immediate SQLITE_BUSY, foreign keys on,
// and BEGIN IMMEDIATE so that a transaction takes the write lock up front
// rather than failing when it upgrades from read to write.
const sqlitePragmas = "_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"

// DB is an open database: the GORM handle, its pool and its statistics.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect Dialect
	where   string
	cfg     Config
	log     *slog.Logger
	trace   *tracing     // GORM's tracing plugin, whose attributes onPgx's spans share
	tracer  trace.Tracer // spans of the raw pgx paths (onPgx)

	poolTimeouts    atomic.Int64
	timeoutsCounter metric.Int64Counter
}

// errPoolTimeout is the cause of an acquisition that ran out of
// AcquireTimeout, to tell it from the caller's own deadline.
var errPoolTimeout = errors.New("sqlstore: no free connection within DB_ACQUIRE_TIMEOUT")

// Open connects to the database that cfg.URL selects, pinging with backoff
// until cfg.ConnectTimeout, so that a database that starts after the
// service is waited for and one that never answers gives a clear error
// naming its host (never the password). GORM statements are traced through
// tp (statement text, no parameter values) and the pool statistics are
// exported through mp as db.client.connection.* instruments. The cleanup
// closes the pool.
//
// Open does not migrate: call Migrate (the local profile does at start).
func Open(ctx context.Context, cfg Config, log *slog.Logger, tp trace.TracerProvider, mp metric.MeterProvider) (*DB, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	tgt, err := parseTarget(cfg.URL, cfg.DataDir)
	if err != nil {
		return nil, nil, err
	}

	var (
		sqlDB     *sql.DB
		dialector gorm.Dialector
		secret    string
	)
	switch tgt.dialect {
	case Postgres:
		pg := tgt.pg.Copy()
		secret = pg.Password
		if pg.ConnectTimeout == 0 {
			pg.ConnectTimeout = 5 * time.Second
		}
		if _, ok := pg.RuntimeParams["application_name"]; !ok {
			pg.RuntimeParams["application_name"] = "tradesense"
		}
		// JIT compiles the expressions of every statement the planner
		// costs above jit_above_cost, which a page of trades with a LIMIT
		// can be (its estimate is the whole scan's): 15 ms of compiling
		// for a page that runs in 10 (docs/benchmarks-trading.md). The
		// service's statements are short; a DSN can still set jit=on.
		if _, ok := pg.RuntimeParams["jit"]; !ok {
			pg.RuntimeParams["jit"] = "off"
		}
		pingAfter := cfg.PingIdleAfter
		sqlDB = stdlib.OpenDB(*pg, stdlib.OptionShouldPing(func(_ context.Context, p stdlib.ShouldPingParams) bool {
			return p.IdleDuration > pingAfter
		}), stdlib.OptionBeforeConnect(rotatingCredentials(cfg.CurrentURL, log, tgt.where)))
		sqlDB.SetMaxOpenConns(cfg.MaxOpenConns)
		sqlDB.SetMaxIdleConns(cfg.MaxIdleConns)
		sqlDB.SetConnMaxLifetime(cfg.ConnMaxLifetime)
		sqlDB.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
		dialector = postgres.New(postgres.Config{Conn: sqlDB})
	case SQLite:
		if tgt.sqlitePath != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(tgt.sqlitePath), 0o700); err != nil {
				return nil, nil, fmt.Errorf("sqlstore: create the directory of %s: %w", tgt.sqlitePath, err)
			}
		}
		sqlDB, err = sql.Open(sqlite.DriverName, tgt.sqlitePath+"?"+sqlitePragmas)
		if err != nil {
			return nil, nil, fmt.Errorf("sqlstore: open sqlite %s: %w", tgt.sqlitePath, err)
		}
		if tgt.sqlitePath == ":memory:" {
			// Every connection would be a separate empty database: keep one,
			// forever.
			sqlDB.SetMaxOpenConns(1)
			sqlDB.SetMaxIdleConns(1)
			sqlDB.SetConnMaxLifetime(0)
			sqlDB.SetConnMaxIdleTime(0)
		} else {
			n := min(cfg.MaxOpenConns, sqliteMaxConns)
			sqlDB.SetMaxOpenConns(n)
			sqlDB.SetMaxIdleConns(n)
			sqlDB.SetConnMaxLifetime(cfg.ConnMaxLifetime)
			sqlDB.SetConnMaxIdleTime(cfg.ConnMaxIdleTime)
		}
		dialector = &sqlite.Dialector{Conn: sqlDB}
	}

	if err := pingWithBackoff(ctx, sqlDB, cfg.ConnectTimeout); err != nil {
		_ = sqlDB.Close()
		return nil, nil, &redactedError{
			msg: fmt.Sprintf("sqlstore: %s at %s unreachable within %s: %s", tgt.dialect, tgt.where, cfg.ConnectTimeout, scrub(err.Error(), secret)),
			err: err,
		}
	}

	gdb, err := gorm.Open(dialector, &gorm.Config{
		SkipDefaultTransaction: true, // single statements need no transaction; Do provides one
		DisableAutomaticPing:   true, // pinged above, with retry
		NowFunc:                func() time.Time { return time.Now().UTC().Truncate(time.Microsecond) },
		Logger:                 newGormLogger(log, cfg.SlowQuery),
	})
	if err != nil {
		_ = sqlDB.Close()
		return nil, nil, fmt.Errorf("sqlstore: initialise gorm on %s at %s: %s", tgt.dialect, tgt.where, scrub(err.Error(), secret))
	}
	tr := newTracing(tp, tgt.dialect)
	if err := gdb.Use(tr); err != nil {
		_ = sqlDB.Close()
		return nil, nil, fmt.Errorf("sqlstore: install tracing: %w", err)
	}

	d := &DB{gorm: gdb, sql: sqlDB, dialect: tgt.dialect, where: tgt.where, cfg: cfg, log: log, trace: tr, tracer: tr.tracer}
	reg, err := d.registerMetrics(mp)
	if err != nil {
		_ = sqlDB.Close()
		return nil, nil, err
	}
	log.Info("database connected", slog.String("dialect", string(d.dialect)), slog.String("where", d.where))
	cleanup := func() {
		if reg != nil {
			_ = reg.Unregister()
		}
		if err := sqlDB.Close(); err != nil {
			log.Warn("database: close", slog.String("where", d.where), slog.Any("error", err))
		}
	}
	return d, cleanup, nil
}

// rotatingCredentials returns the hook that gives each new connection the
// current user name and password, or the last ones that resolved when the
// source fails.
func rotatingCredentials(current func(context.Context) (string, error), log *slog.Logger, where string) func(context.Context, *pgx.ConnConfig) error {
	var mu sync.Mutex
	var lastUser, lastPassword string
	return func(ctx context.Context, cc *pgx.ConnConfig) error {
		if current == nil {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		raw, err := current(ctx)
		var next *pgx.ConnConfig
		if err == nil {
			next, err = pgx.ParseConfig(raw)
			if err != nil {
				err = errors.New("the current DATABASE_URL does not parse")
			}
		}
		if err != nil {
			log.WarnContext(ctx, "database credentials: keeping the last ones that resolved", slog.String("where", where), slog.Any("error", err))
			if lastUser != "" {
				cc.User, cc.Password = lastUser, lastPassword
			}
			return nil
		}
		lastUser, lastPassword = next.User, next.Password
		cc.User, cc.Password = next.User, next.Password
		return nil
	}
}

func pingWithBackoff(ctx context.Context, db *sql.DB, budget time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	backoff := 100 * time.Millisecond
	for {
		err := db.PingContext(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 3*time.Second)
	}
}

// redactedError shows a message from which the password was removed while
// keeping the original error in the chain for errors.Is.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// scrub removes secret from msg. Drivers do not put passwords in their
// errors today; this keeps it that way whatever a future version does.
func scrub(msg, secret string) string {
	if secret == "" {
		return msg
	}
	return strings.ReplaceAll(msg, secret, "xxxxx")
}

// Dialect reports which database is open.
func (d *DB) Dialect() Dialect { return d.dialect }

// Where names the database without credentials: host:port/name for
// PostgreSQL, the file for SQLite. For start-up logs.
func (d *DB) Where() string { return d.where }

// acquire takes a connection from the pool, waiting at most AcquireTimeout.
// The caller must Close it (which returns it to the pool).
func (d *DB) acquire(ctx context.Context) (*sql.Conn, error) {
	actx, cancel := context.WithTimeoutCause(ctx, d.cfg.AcquireTimeout, errPoolTimeout)
	defer cancel()
	conn, err := d.sql.Conn(actx)
	if err == nil {
		return conn, nil
	}
	if ctx.Err() == nil && errors.Is(context.Cause(actx), errPoolTimeout) {
		d.poolTimeouts.Add(1)
		d.timeoutsCounter.Add(ctx, 1)
		return nil, apperr.Wrap(err, apperr.Unavailable, CodePoolTimeout, "the database is busy; try again shortly")
	}
	return nil, translate(err)
}

// session returns a GORM handle bound to ctx: the transaction that ctx
// carries, or a connection of its own that release returns to the pool.
func (d *DB) session(ctx context.Context) (g *gorm.DB, release func(), err error) {
	if st := txFrom(ctx, d); st != nil {
		return st.tx.WithContext(ctx), func() {}, nil
	}
	conn, err := d.acquire(ctx)
	if err != nil {
		return nil, nil, err
	}
	g = d.gorm.WithContext(ctx)
	g.Statement.ConnPool = conn
	return g, func() { _ = conn.Close() }, nil
}

// PoolStats are the connection pool's statistics, as shown in readiness.
type PoolStats struct {
	MaxOpen            int
	Open               int
	InUse              int
	Idle               int
	WaitCount          int64
	WaitDuration       time.Duration
	MaxLifetimeClosed  int64
	MaxIdleTimeClosed  int64
	MaxIdleConnsClosed int64
	AcquireTimeouts    int64
}

// Stats returns the pool statistics.
func (d *DB) Stats() PoolStats {
	s := d.sql.Stats()
	return PoolStats{
		MaxOpen:            s.MaxOpenConnections,
		Open:               s.OpenConnections,
		InUse:              s.InUse,
		Idle:               s.Idle,
		WaitCount:          s.WaitCount,
		WaitDuration:       s.WaitDuration,
		MaxLifetimeClosed:  s.MaxLifetimeClosed,
		MaxIdleTimeClosed:  s.MaxIdleTimeClosed,
		MaxIdleConnsClosed: s.MaxIdleClosed,
		AcquireTimeouts:    d.poolTimeouts.Load(),
	}
}

// Health returns the readiness check named "database" (always required): a
// ping through the pool, with the pool statistics as details.
func (d *DB) Health() health.Registration {
	return health.Registration{
		Name:     "database",
		Required: true,
		Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
			s := d.Stats()
			details := map[string]any{
				"dialect":              string(d.dialect),
				"max_open":             s.MaxOpen,
				"open":                 s.Open,
				"in_use":               s.InUse,
				"idle":                 s.Idle,
				"wait_count":           s.WaitCount,
				"wait_duration_ms":     s.WaitDuration.Milliseconds(),
				"max_lifetime_closed":  s.MaxLifetimeClosed,
				"max_idle_time_closed": s.MaxIdleTimeClosed,
				"acquire_timeouts":     s.AcquireTimeouts,
			}
			if err := d.sql.PingContext(ctx); err != nil {
				return details, fmt.Errorf("%s at %s: ping: %w", d.dialect, d.where, translate(err))
			}
			return details, nil
		}),
	}
}

// registerMetrics exports the pool statistics, named after the OpenTelemetry
// database semantic conventions where they have a name for them.
func (d *DB) registerMetrics(mp metric.MeterProvider) (metric.Registration, error) {
	m := mp.Meter("github.com/tradesense/tradesense/adapters/sqlstore")
	pool := attribute.String("db.client.connection.pool.name", string(d.dialect))
	var err error
	d.timeoutsCounter, err = m.Int64Counter("db.client.connection.timeouts",
		metric.WithDescription("Acquisitions that waited longer than DB_ACQUIRE_TIMEOUT."), metric.WithUnit("{timeout}"))
	if err != nil {
		return nil, fmt.Errorf("sqlstore: metrics: %w", err)
	}
	count, err1 := m.Int64ObservableUpDownCounter("db.client.connection.count",
		metric.WithDescription("Connections by state (idle, used)."), metric.WithUnit("{connection}"))
	maxConns, err2 := m.Int64ObservableUpDownCounter("db.client.connection.max",
		metric.WithDescription("Maximum open connections allowed."), metric.WithUnit("{connection}"))
	waits, err3 := m.Int64ObservableCounter("db.client.connection.wait_count",
		metric.WithDescription("Acquisitions that had to wait for a free connection."), metric.WithUnit("{wait}"))
	waitTime, err4 := m.Float64ObservableCounter("db.client.connection.wait_duration",
		metric.WithDescription("Total time spent waiting for a free connection."), metric.WithUnit("s"))
	closed, err5 := m.Int64ObservableCounter("db.client.connection.closed",
		metric.WithDescription("Connections closed by the pool, by reason (max_lifetime, max_idle_time, max_idle_conns)."), metric.WithUnit("{connection}"))
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return nil, fmt.Errorf("sqlstore: metrics: %w", err)
	}
	idle := metric.WithAttributes(pool, attribute.String("db.client.connection.state", "idle"))
	used := metric.WithAttributes(pool, attribute.String("db.client.connection.state", "used"))
	poolOnly := metric.WithAttributes(pool)
	byReason := func(r string) metric.ObserveOption {
		return metric.WithAttributes(pool, attribute.String("reason", r))
	}
	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := d.sql.Stats()
		o.ObserveInt64(count, int64(s.Idle), idle)
		o.ObserveInt64(count, int64(s.InUse), used)
		o.ObserveInt64(maxConns, int64(s.MaxOpenConnections), poolOnly)
		o.ObserveInt64(waits, s.WaitCount, poolOnly)
		o.ObserveFloat64(waitTime, s.WaitDuration.Seconds(), poolOnly)
		o.ObserveInt64(closed, s.MaxLifetimeClosed, byReason("max_lifetime"))
		o.ObserveInt64(closed, s.MaxIdleTimeClosed, byReason("max_idle_time"))
		o.ObserveInt64(closed, s.MaxIdleClosed, byReason("max_idle_conns"))
		return nil
	}, count, maxConns, waits, waitTime, closed)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: metrics: %w", err)
	}
	return reg, nil
}
