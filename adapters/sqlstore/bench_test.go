package sqlstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/tests/testenv"
)

// BenchmarkUserByEmail compares, in one run on one database, the indexed
// lookup of a user by email through the repository (GORM, pool gate,
// tracing plugin with a no-op provider, error translation) with the same
// query issued directly with a pgx pool. Target: within 1.5x.
func BenchmarkUserByEmail(b *testing.B) {
	url := testenv.PostgresDB(b)
	db := openMigrated(b, testConfig(url))
	users := sqlstore.NewUsers(db)
	ctx := context.Background()
	for i := range 1000 {
		if err := users.Create(ctx, &identity.User{Email: fmt.Sprintf("user%d@example.com", i)}); err != nil {
			b.Fatal(err)
		}
	}
	const email = "User500@Example.com"

	b.Run("repository", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			u, err := users.GetByEmail(ctx, email)
			if err != nil || u.Email != "user500@example.com" {
				b.Fatal(u, err)
			}
		}
	})

	b.Run("pgx-direct", func(b *testing.B) {
		pool, err := pgxpool.New(ctx, url)
		if err != nil {
			b.Fatal(err)
		}
		defer pool.Close()
		b.ReportAllocs()
		for b.Loop() {
			var (
				id                   uuid.UUID
				gotEmail, key        string
				createdAt, updatedAt time.Time
			)
			err := pool.QueryRow(ctx, `SELECT id, email, email_key, created_at, updated_at FROM users WHERE email_key = $1 LIMIT 1`,
				identity.EmailKey(email)).Scan(&id, &gotEmail, &key, &createdAt, &updatedAt)
			if err != nil || gotEmail != "user500@example.com" {
				b.Fatal(gotEmail, err)
			}
		}
	})
}
