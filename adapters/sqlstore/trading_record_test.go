package sqlstore_test

import (
	"testing"

	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

func TestTradingRecordContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			tradingtest.RunRecord(t, func(t *testing.T) tradingtest.Stores { return tradingStores(db) })
		})
	}
}
