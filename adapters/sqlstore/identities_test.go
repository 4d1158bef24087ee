package sqlstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth/oauthtest"
)

func TestIdentitiesContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			oauthtest.Run(t, func(t *testing.T) oauthtest.Stores {
				for _, table := range []string{"identities", "users"} {
					if err := sqlstore.ExecForTest(context.Background(), db, "DELETE FROM "+table); err != nil {
						t.Fatalf("empty %s: %v", table, err)
					}
				}
				users := sqlstore.NewUsers(db)
				return oauthtest.Stores{Identities: sqlstore.NewIdentities(db), NewUser: func(t *testing.T, email string) uuid.UUID {
					u := &identity.User{Email: email}
					if err := users.Create(context.Background(), u); err != nil {
						t.Fatal(err)
					}
					return u.ID
				}}
			})
		})
	}
}
