package sqlstore_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/tradesense/tradesense/adapters/sqlstore"
)

// TestNewConnectionsUseRotatedCredentials switches the credentials that
// CurrentURL returns while the pool is open: the next new connection logs in
// with them, with no restart. (The test server trusts local connections, so
// the switch is observed through current_user rather than a password check.)
func TestNewConnectionsUseRotatedCredentials(t *testing.T) {
	admin := dialects[1].url(t)
	ctx := context.Background()
	role := "rot_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")

	var current atomic.Value
	current.Store(admin)
	var failSource atomic.Bool
	cfg := testConfig(admin)
	cfg.ConnMaxLifetime = time.Millisecond // every query after a pause opens a new connection
	cfg.CurrentURL = func(context.Context) (string, error) {
		if failSource.Load() {
			return "", errors.New("vault sealed")
		}
		return current.Load().(string), nil
	}
	db := open(t, cfg)
	for _, stmt := range []string{
		"CREATE ROLE " + role + " LOGIN",
		"CREATE TABLE who (u text)",
		"GRANT INSERT ON who TO " + role,
	} {
		if err := sqlstore.ExecForTest(ctx, db, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, admin)
		if err == nil {
			_, _ = conn.Exec(ctx, "DROP TABLE IF EXISTS who")
			_, _ = conn.Exec(ctx, "DROP ROLE IF EXISTS "+role)
			_ = conn.Close(ctx)
		}
	})

	u, _ := url.Parse(admin)
	u.User = url.UserPassword(role, "rotated-password")
	current.Store(u.String())
	time.Sleep(5 * time.Millisecond)
	if err := sqlstore.ExecForTest(ctx, db, "INSERT INTO who SELECT current_user"); err != nil {
		t.Fatalf("insert after rotation: %v", err)
	}
	failSource.Store(true) // a failing source keeps the last credentials
	time.Sleep(5 * time.Millisecond)
	if err := sqlstore.ExecForTest(ctx, db, "INSERT INTO who SELECT current_user"); err != nil {
		t.Fatalf("insert with a failing source: %v", err)
	}

	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT u FROM who")
	if err != nil {
		t.Fatal(err)
	}
	users, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0] != role || users[1] != role {
		t.Fatalf("connections logged in as %v, want %s", users, role)
	}
}
