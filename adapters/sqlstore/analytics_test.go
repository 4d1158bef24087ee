package sqlstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics/analyticstest"
	"github.com/tradesense/tradesense/core/identity"
)

func TestAnalyticsContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			analyticstest.Run(t, func(t *testing.T) analyticstest.Stores {
				return analyticstest.Stores{Stores: tradingStores(db), Source: sqlstore.NewAnalyticsSource(db)}
			})
		})
	}
}

func TestReportsContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			analyticstest.RunReports(t, func(t *testing.T) analyticstest.ReportStores {
				return analyticstest.ReportStores{
					Stores:  analyticstest.Stores{Stores: tradingStores(db), Source: sqlstore.NewAnalyticsSource(db)},
					Reports: sqlstore.NewReports(db), Schedules: sqlstore.NewReportSchedules(db)}
			})
		})
	}
}

// TestAnalyticsStamp: the warm path's one statement returns the user's
// data version and time zone as they are after each write.
func TestAnalyticsStamp(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			src, users, versions := sqlstore.NewAnalyticsSource(db), sqlstore.NewUsers(db), sqlstore.NewDataVersions(db)
			stamp := func(id uuid.UUID, wantV int64, wantZ string) {
				t.Helper()
				v, z, err := src.Stamp(ctx, id)
				if err != nil || v != wantV || z != wantZ {
					t.Fatalf("Stamp = %d, %q, %v; want %d, %q", v, z, err, wantV, wantZ)
				}
			}
			u := &identity.User{Email: "stamp-" + uuid.NewString() + "@example.com"}
			if err := users.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			stamp(u.ID, 0, "")
			stamp(uuid.New(), 0, "") // no such user
			for want := int64(1); want <= 2; want++ {
				if _, err := versions.Bump(ctx, u.ID); err != nil {
					t.Fatal(err)
				}
				stamp(u.ID, want, "")
			}
			if err := users.Update(ctx, u.ID, func(x *identity.User) (*identity.User, error) { x.Timezone = "Asia/Tokyo"; return x, nil }); err != nil {
				t.Fatal(err)
			}
			stamp(u.ID, 2, "Asia/Tokyo")
			// Inside a transaction it reads that transaction's writes
			// (on PostgreSQL on the transaction's own connection, not a
			// pooled one); after a rollback the
			// version is the committed one, and many calls on the pooled
			// connections reuse the prepared statement.
			errRollback := errors.New("roll back")
			err := sqlstore.NewUnitOfWork(db).Do(ctx, func(ctx context.Context) error {
				if _, err := versions.Bump(ctx, u.ID); err != nil {
					return err
				}
				v, z, err := src.Stamp(ctx, u.ID)
				if err != nil || v != 3 || z != "Asia/Tokyo" {
					t.Errorf("Stamp in the transaction = %d, %q, %v; want 3", v, z, err)
				}
				return errRollback
			})
			if !errors.Is(err, errRollback) {
				t.Fatal(err)
			}
			for range 20 {
				stamp(u.ID, 2, "Asia/Tokyo")
			}
		})
	}
}
