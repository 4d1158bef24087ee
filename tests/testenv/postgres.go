package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresDB creates an empty throwaway database on the server that
// TEST_POSTGRES_URL names, returns a URL for it, and drops it when the test
// and its subtests end. Test packages run in parallel against one server:
// a database of one's own keeps migrations and connection counts apart.
// It skips or fails like URL when the variable is unset, and fails when the
// server does not answer.
func PostgresDB(t testing.TB) string {
	t.Helper()
	admin := URL(t, "TEST_POSTGRES_URL")
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("TEST_POSTGRES_URL is not a URL")
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := "test_" + hex.EncodeToString(b)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Unreachable(t, "TEST_POSTGRES_URL", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create test database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(context.Background())
		// FORCE terminates connections a leaky test left behind.
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}
