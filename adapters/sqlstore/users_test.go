package sqlstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/uuid"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/uow"
)

func TestUsersContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			// One database per dialect; each case starts from an empty table.
			db := openMigrated(t, testConfig(dc.url(t)))
			identitytest.RunUsers(t, func(t *testing.T) (identity.Users, uow.Runner) {
				truncateUsers(t, db)
				return sqlstore.NewUsers(db), sqlstore.NewUnitOfWork(db)
			})
		})
	}
}

func truncateUsers(t *testing.T, db *sqlstore.DB) {
	t.Helper()
	if err := sqlstore.ExecForTest(context.Background(), db, "DELETE FROM users"); err != nil {
		t.Fatalf("empty users: %v", err)
	}
}

// TestNoParameterValuesInSpansOrLogs checks the tracing and slow-query
// logging contract: statement text with placeholders, never the values.
func TestNoParameterValuesInSpansOrLogs(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			var logs bytes.Buffer
			cfg := testConfig(dc.url(t))
			cfg.SlowQuery = 1 // every statement is "slow", so every one is logged
			db := openWith(t, cfg, slog.New(slog.NewTextHandler(&logs, nil)), tp)
			if err := db.Migrate(context.Background(), sqlstore.MigrateUp, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			users := sqlstore.NewUsers(db)
			const secret = "very-private-address@example.com"
			if err := users.Create(context.Background(), &identity.User{Email: secret}); err != nil {
				t.Fatal(err)
			}
			u, err := users.GetByEmail(context.Background(), secret)
			if err != nil {
				t.Fatal(err)
			}
			// On PostgreSQL the zone is read on the raw pgx path (onPgx),
			// which must keep the same contract as GORM's statements.
			if _, err := users.TimeZone(context.Background(), u.ID); err != nil {
				t.Fatal(err)
			}
			_ = tp.ForceFlush(context.Background())

			var sawQuery, sawRaw bool
			for _, s := range rec.Ended() {
				for _, a := range s.Attributes() {
					if strings.Contains(a.Value.String(), "very-private") || strings.Contains(a.Value.String(), u.ID.String()) {
						t.Fatalf("span %s attribute %s leaks a parameter value: %s", s.Name(), a.Key, a.Value.String())
					}
					if s.Name() == "gorm.Query" && a.Key == "db.query.text" && strings.Contains(a.Value.AsString(), "email_key = ") {
						sawQuery = true
					}
					if s.Name() == "sqlstore.UserTimeZone" && a.Key == "db.query.text" && strings.Contains(a.Value.AsString(), "SELECT timezone FROM users WHERE id = $1") {
						sawRaw = true
					}
				}
			}
			if !sawQuery {
				t.Fatalf("no gorm.Query span with the statement text among %d spans", len(rec.Ended()))
			}
			if dc.name == "Postgres" && !sawRaw {
				t.Fatalf("no sqlstore.UserTimeZone span with the statement text among %d spans", len(rec.Ended()))
			}
			out := logs.String()
			if !strings.Contains(out, "slow sql statement") {
				t.Fatalf("slow statements were not logged:\n%s", out)
			}
			if dc.name == "Postgres" && !strings.Contains(out, "SELECT timezone FROM users") {
				t.Fatalf("the raw pgx statement was not logged as slow:\n%s", out)
			}
			if strings.Contains(out, u.ID.String()) {
				t.Fatalf("log leaks a parameter value:\n%s", out)
			}
			if strings.Contains(out, "very-private") {
				t.Fatalf("log leaks a parameter value:\n%s", out)
			}
		})
	}
}

func TestUserErrorsAreTranslated(t *testing.T) {
	db := openMigrated(t, testConfig(dialects[0].url(t)))
	users := sqlstore.NewUsers(db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := users.Get(ctx, [16]byte{1})
	if !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Get with a canceled context = %v; want Unavailable", err)
	}
}

// TestUsersTimeZone: TimeZone reads the profile's zone as Get does ("" when
// none is set), and an unknown user is NotFound, on both dialects.
func TestUsersTimeZone(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			users := sqlstore.NewUsers(openMigrated(t, testConfig(dc.url(t))))
			zoned := &identity.User{Email: "zoned@example.com", Timezone: "Europe/Berlin"}
			plain := &identity.User{Email: "plain@example.com"}
			for _, u := range []*identity.User{zoned, plain} {
				if err := users.Create(ctx, u); err != nil {
					t.Fatal(err)
				}
				got, err := users.TimeZone(ctx, u.ID)
				if err != nil || got != u.Timezone {
					t.Fatalf("%s: TimeZone = %q, %v; want %q", u.Email, got, err, u.Timezone)
				}
			}
			if _, err := users.TimeZone(ctx, uuid.New()); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("unknown user: %v, want NotFound", err)
			}
		})
	}
}
