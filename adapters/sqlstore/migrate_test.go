package sqlstore_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// TestMigrateUpDownUp applies every migration, rolls them back one by one,
// and applies them again, on both dialects, checking the schema each time.
func TestMigrateUpDownUp(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := open(t, testConfig(dc.url(t)))
			users := sqlstore.NewUsers(db)
			run := func(cmd string) string {
				t.Helper()
				var out bytes.Buffer
				if err := db.Migrate(ctx, cmd, &out); err != nil {
					t.Fatalf("migrate %s: %v", cmd, err)
				}
				return out.String()
			}
			version := func() int64 {
				t.Helper()
				v, err := db.SchemaVersion(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			// Versions may leave gaps (modules reserve ranges, e.g. 00030
			// for MFA): the latest is the highest, and rolling back takes
			// one step per file.
			files := migrationFiles(t, "postgres")
			latest, err := strconv.ParseInt(strings.SplitN(files[len(files)-1], "_", 2)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}

			if st := run("status"); !strings.Contains(st, "pending") || strings.Contains(st, "applied ") {
				t.Fatalf("status before up:\n%s", st)
			}
			if out := run("up"); !strings.Contains(out, "applied 00001_users.sql") {
				t.Fatalf("up output:\n%s", out)
			}
			if v := version(); v != latest {
				t.Fatalf("version after up = %d; want %d", v, latest)
			}
			if err := users.Create(ctx, &identity.User{Email: "a@example.com"}); err != nil {
				t.Fatalf("users table unusable after up: %v", err)
			}
			if out := run("up"); !strings.Contains(out, "no pending migrations") {
				t.Fatalf("second up output:\n%s", out)
			}
			if st := run("status"); strings.Contains(st, "pending") {
				t.Fatalf("status after up still shows pending:\n%s", st)
			}

			for range files {
				if out := run("down"); !strings.Contains(out, "rolled back") {
					t.Fatalf("down output:\n%s", out)
				}
			}
			if v := version(); v != 0 {
				t.Fatalf("version after rolling everything back = %d", v)
			}
			if _, err := users.GetByEmail(ctx, "a@example.com"); apperr.Is(err, apperr.NotFound) || err == nil {
				t.Fatalf("users table still exists after down: %v", err)
			}
			if out := run("down"); !strings.Contains(out, "no migration to roll back") {
				t.Fatalf("down with nothing applied:\n%s", out)
			}

			run("up")
			if v := version(); v != latest {
				t.Fatalf("version after up again = %d", v)
			}
			if err := users.Create(ctx, &identity.User{Email: "a@example.com"}); err != nil {
				t.Fatalf("users table unusable after up, down, up: %v", err)
			}
		})
	}
}

func TestMigrateUnknownCommand(t *testing.T) {
	db := open(t, testConfig(dialects[0].url(t)))
	err := db.Migrate(context.Background(), "sideways", &bytes.Buffer{})
	if !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("Migrate(sideways) = %v; want Invalid", err)
	}
}

// TestMigrationFoldersMatch guards the rule that a schema change is written
// for both dialects under the same version.
func TestMigrationFoldersMatch(t *testing.T) {
	pg, lite := migrationFiles(t, "postgres"), migrationFiles(t, "sqlite")
	if !slices.Equal(pg, lite) {
		t.Fatalf("migrations differ between dialects:\npostgres: %v\nsqlite:   %v", pg, lite)
	}
	if len(pg) == 0 {
		t.Fatal("no migrations found")
	}
}

func migrationFiles(t *testing.T, dialect string) []string {
	t.Helper()
	names, err := fs.Glob(os.DirFS("migrations/"+dialect), "*.sql")
	if err != nil {
		t.Fatal(err)
	}
	return names
}
