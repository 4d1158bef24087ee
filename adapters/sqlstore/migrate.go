package sqlstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tradesense/tradesense/core/apperr"
)

// migrations holds the versioned SQL files, one folder per dialect. Both
// folders must carry the same versions: a schema change is written twice.
//
//go:embed migrations/postgres/*.sql migrations/sqlite/*.sql
var migrations embed.FS

// The commands Migrate accepts.
const (
	MigrateUp     = "up"     // apply every pending migration
	MigrateDown   = "down"   // roll the latest applied migration back
	MigrateStatus = "status" // list migrations and whether each is applied
)

// Migrate runs a migration command ("up", "down" or "status", as in
// `tradesense migrate up`) and writes a human-readable account of what it
// did to w. On PostgreSQL it holds an advisory lock meanwhile, so that
// replicas or jobs started together do not migrate concurrently. An unknown
// command is an apperr.Invalid error.
func (d *DB) Migrate(ctx context.Context, command string, w io.Writer) error {
	p, err := d.migrator()
	if err != nil {
		return err
	}
	switch command {
	case MigrateUp:
		res, err := p.Up(ctx)
		for _, r := range res {
			fmt.Fprintf(w, "applied %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
			d.log.InfoContext(ctx, "migration applied", slog.String("migration", r.Source.Path), slog.Duration("duration", r.Duration))
		}
		if err != nil {
			return fmt.Errorf("sqlstore: migrate up: %w", err)
		}
		if len(res) == 0 {
			fmt.Fprintln(w, "no pending migrations")
		}
		return nil
	case MigrateDown:
		r, err := p.Down(ctx)
		if errors.Is(err, goose.ErrNoNextVersion) {
			fmt.Fprintln(w, "no migration to roll back")
			return nil
		}
		if err != nil {
			return fmt.Errorf("sqlstore: migrate down: %w", err)
		}
		fmt.Fprintf(w, "rolled back %s (%s)\n", r.Source.Path, r.Duration.Round(1e6))
		d.log.InfoContext(ctx, "migration rolled back", slog.String("migration", r.Source.Path))
		return nil
	case MigrateStatus:
		st, err := p.Status(ctx)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate status: %w", err)
		}
		fmt.Fprintf(w, "%-8s %-10s %-25s %s\n", "VERSION", "STATE", "APPLIED AT", "FILE")
		for _, s := range st {
			applied := "-"
			if !s.AppliedAt.IsZero() {
				applied = s.AppliedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(w, "%-8d %-10s %-25s %s\n", s.Source.Version, s.State, applied, s.Source.Path)
		}
		return nil
	default:
		return apperr.New(apperr.Invalid, "migrate_command_invalid",
			fmt.Sprintf("unknown migrate command %q: want up, down or status", command))
	}
}

// SchemaVersion returns the latest applied migration version (0 when none).
func (d *DB) SchemaVersion(ctx context.Context) (int64, error) {
	p, err := d.migrator()
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlstore: schema version: %w", err)
	}
	return v, nil
}

func (d *DB) migrator() (*goose.Provider, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if d.dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return nil, fmt.Errorf("sqlstore: migration lock: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	fsys, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	opts = append(opts, goose.WithDisableGlobalRegistry(true))
	p, err := goose.NewProvider(dialect, d.sql, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations: %w", err)
	}
	return p, nil
}
