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
