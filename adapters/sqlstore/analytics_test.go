package sqlstore_test

import (
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics/analyticstest"
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
