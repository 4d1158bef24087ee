package sqlstore_test

import (
	"context"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

func TestIdentityStoresContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			identitytest.RunStores(t, func(t *testing.T) identitytest.Stores {
				for _, table := range []string{"security_events", "email_tokens", "refresh_tokens", "sessions", "users"} {
					if err := sqlstore.ExecForTest(context.Background(), db, "DELETE FROM "+table); err != nil {
						t.Fatalf("empty %s: %v", table, err)
					}
				}
				return identitytest.Stores{
					Users: sqlstore.NewUsers(db), Sessions: sqlstore.NewSessions(db), RefreshTokens: sqlstore.NewRefreshTokens(db),
					EmailTokens: sqlstore.NewEmailTokens(db), Events: sqlstore.NewEvents(db), Tx: sqlstore.NewUnitOfWork(db),
				}
			})
		})
	}
}
