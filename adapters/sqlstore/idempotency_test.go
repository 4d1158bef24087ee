package sqlstore_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/idempotency/idempotencytest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/uow"
)

func TestIdempotencyContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			users := sqlstore.NewUsers(db)
			idempotencytest.Run(t, func(t *testing.T) (idempotency.Store, uow.Runner, func(t *testing.T) uuid.UUID) {
				return sqlstore.NewIdempotencyKeys(db), sqlstore.NewUnitOfWork(db), func(t *testing.T) uuid.UUID {
					u := &identity.User{Email: "idem-" + uuid.NewString() + "@example.com"}
					if err := users.Create(context.Background(), u); err != nil {
						t.Fatal(err)
					}
					return u.ID
				}
			})
		})
	}
}
