package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Config configures the database. The zero value of a field selects its
// default (see DefaultConfig); pool settings apply to PostgreSQL, SQLite
// uses a small fixed pool (see sqliteMaxConns).
type Config struct {
	// URL selects the database. Env DATABASE_URL. postgres:// or
	// postgresql:// selects PostgreSQL (any libpq URL parameter, such as
	// sslmode, is honoured); sqlite://PATH selects the SQLite file PATH
	// (sqlite:///abs/path.db for an absolute path, sqlite://:memory: for a
	// throwaway database); empty selects the SQLite file DataDir/tradesense.db.
	// Never logged: errors name the host only.
	URL string
	// DataDir holds the SQLite file when URL is empty; it is created with
	// mode 0700. Env DATA_DIR, default "./data".
	DataDir string
	// MaxOpenConns caps the connections, busy or idle: the plan's pool size
	// plus overflow. Env DB_MAX_OPEN_CONNS, default 60 (20 + 40).
	MaxOpenConns int
	// MaxIdleConns is how many connections are kept open when idle. Env
	// DB_MAX_IDLE_CONNS, default 20.
	MaxIdleConns int
	// ConnMaxLifetime recycles connections older than this (so that
	// server-side changes and load balancers are picked up). Env
	// DB_CONN_MAX_LIFETIME, default 1h.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle for longer. Env
	// DB_CONN_MAX_IDLE_TIME, default 10m.
	ConnMaxIdleTime time.Duration
	// AcquireTimeout bounds the wait for a free connection. A caller waiting
	// longer gets apperr.Unavailable "db_pool_timeout" (a 503), never a hang.
	// Env DB_ACQUIRE_TIMEOUT, default 30s.
	AcquireTimeout time.Duration
	// PingIdleAfter: a PostgreSQL connection idle for longer is pinged before
	// it is handed out, and replaced if dead (after a server restart or a
	// terminated backend). Env DB_PING_IDLE_AFTER, default 1s.
	PingIdleAfter time.Duration
	// ConnectTimeout bounds start-up: Open pings with exponential backoff
	// until it succeeds or this much time has passed. Env DB_CONNECT_TIMEOUT,
	// default 30s.
	ConnectTimeout time.Duration
	// SlowQuery logs statements slower than this at warn level, without
	// their parameter values. Env DB_SLOW_QUERY, default 500ms; negative
	// disables.
	SlowQuery time.Duration
	// CurrentURL, when set, is asked for the current DATABASE_URL before
	// each new PostgreSQL connection; its user name and password replace
	// the ones Open started with, so a rotated password (a secret reference
	// that the secrets resolver refreshes) is used by new connections
	// without a restart. Host, port and database stay as opened. When it
	// fails, the last credentials that resolved are used and a warning logged.
	CurrentURL func(ctx context.Context) (string, error)
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		DataDir:         "./data",
		MaxOpenConns:    60,
		MaxIdleConns:    20,
		ConnMaxLifetime: time.Hour,
		ConnMaxIdleTime: 10 * time.Minute,
		AcquireTimeout:  30 * time.Second,
		PingIdleAfter:   time.Second,
		ConnectTimeout:  30 * time.Second,
		SlowQuery:       500 * time.Millisecond,
	}
}

func (c Config) withDefaults() (Config, error) {
	d := DefaultConfig()
	if c.DataDir == "" {
		c.DataDir = d.DataDir
	}
	if c.MaxOpenConns == 0 {
		c.MaxOpenConns = d.MaxOpenConns
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = min(d.MaxIdleConns, c.MaxOpenConns)
	}
	if c.ConnMaxLifetime == 0 {
		c.ConnMaxLifetime = d.ConnMaxLifetime
	}
	if c.ConnMaxIdleTime == 0 {
		c.ConnMaxIdleTime = d.ConnMaxIdleTime
	}
	if c.AcquireTimeout == 0 {
		c.AcquireTimeout = d.AcquireTimeout
	}
	if c.PingIdleAfter == 0 {
		c.PingIdleAfter = d.PingIdleAfter
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = d.ConnectTimeout
	}
	if c.SlowQuery == 0 {
		c.SlowQuery = d.SlowQuery
	}
	switch {
	case c.MaxOpenConns < 1:
		return c, fmt.Errorf("sqlstore: DB_MAX_OPEN_CONNS must be at least 1, got %d", c.MaxOpenConns)
	case c.MaxIdleConns < 0 || c.MaxIdleConns > c.MaxOpenConns:
		return c, fmt.Errorf("sqlstore: DB_MAX_IDLE_CONNS must be between 0 and DB_MAX_OPEN_CONNS (%d), got %d", c.MaxOpenConns, c.MaxIdleConns)
	case c.ConnMaxLifetime < 0, c.ConnMaxIdleTime < 0, c.AcquireTimeout < 0, c.PingIdleAfter < 0, c.ConnectTimeout < 0:
		return c, errors.New("sqlstore: DB_CONN_MAX_LIFETIME, DB_CONN_MAX_IDLE_TIME, DB_ACQUIRE_TIMEOUT, DB_PING_IDLE_AFTER and DB_CONNECT_TIMEOUT must not be negative")
	}
	return c, nil
}

// Dialect names the SQL database behind a DB.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// target is a parsed DATABASE_URL.
type target struct {
	dialect Dialect
	// where is safe to show: host:port/database for PostgreSQL, the file
	// path for SQLite. Never a user name or password.
	where string
	// pg is the parsed PostgreSQL configuration.
	pg *pgx.ConnConfig
	// sqlitePath is the SQLite file, or ":memory:".
	sqlitePath string
}

// parseTarget interprets DATABASE_URL (see Config.URL). Its errors never
// contain the URL, which may carry a password.
func parseTarget(raw, dataDir string) (target, error) {
	if raw == "" {
		return target{dialect: SQLite, sqlitePath: filepath.Join(dataDir, "tradesense.db"), where: filepath.Join(dataDir, "tradesense.db")}, nil
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return target{}, errors.New("sqlstore: DATABASE_URL must start with postgres://, postgresql:// or sqlite://")
	}
	switch strings.ToLower(scheme) {
	case "postgres", "postgresql":
		cfg, err := pgx.ParseConfig(raw)
		if err != nil {
			// pgconn's parse errors redact the password, but may quote the
			// rest of the URL; name the failure without them.
			return target{}, errors.New("sqlstore: DATABASE_URL is not a valid PostgreSQL URL (check host, port, escaping and parameters)")
		}
		return target{dialect: Postgres, pg: cfg, where: pgWhere(cfg)}, nil
	case "sqlite":
		if u, err := url.Parse(raw); err == nil && u.User != nil {
			return target{}, errors.New("sqlstore: a sqlite:// DATABASE_URL takes no user or password")
		}
		path, err := sqlitePath(rest)
		if err != nil {
			return target{}, err
		}
		return target{dialect: SQLite, sqlitePath: path, where: path}, nil
	default:
		return target{}, errors.New("sqlstore: DATABASE_URL has an unsupported scheme (want postgres://, postgresql:// or sqlite://)")
	}
}

// sqlitePath decodes the part of a sqlite:// URL after the scheme. Query
// parameters are refused rather than ignored: the adapter sets the pragmas
// itself (WAL, busy timeout, foreign keys).
func sqlitePath(rest string) (string, error) {
	if strings.ContainsAny(rest, "?#") {
		return "", errors.New("sqlstore: a sqlite:// DATABASE_URL takes no query or fragment: the adapter sets the pragmas itself")
	}
	path, err := url.PathUnescape(rest)
	if err != nil {
		return "", errors.New("sqlstore: a sqlite:// DATABASE_URL has a malformed %-escape")
	}
	if path == "" || path == "/" {
		return "", errors.New("sqlstore: a sqlite:// DATABASE_URL needs a file path, as in sqlite://data/tradesense.db")
	}
	if strings.ContainsRune(path, 0) {
		return "", errors.New("sqlstore: a sqlite:// DATABASE_URL path contains a NUL byte")
	}
	if path == ":memory:" {
		return path, nil
	}
	return filepath.Clean(path), nil
}

// pgWhere names the first host, its port and the database: enough to find
// the server in an error message, without credentials.
func pgWhere(cfg *pgx.ConnConfig) string {
	host := cfg.Host
	if strings.HasPrefix(host, "/") { // Unix socket directory
		return host + "/" + cfg.Database
	}
	return net.JoinHostPort(host, fmt.Sprint(cfg.Port)) + "/" + cfg.Database
}
