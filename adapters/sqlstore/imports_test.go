package sqlstore_test

import (
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/trading"
)

func TestImportsContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			importstest.Run(t, func(t *testing.T) importstest.Stores {
				db := openMigrated(t, testConfig(dc.url(t)))
				return importstest.Stores{Trading: tradingStores(db), Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db)}
			})
		})
	}
	// An Executions adapter without the optional InsertNew: the streamed
	// import looks each chunk's fingerprints up instead.
	t.Run("SQLiteExecutionsPortOnly", func(t *testing.T) {
		importstest.Run(t, func(t *testing.T) importstest.Stores {
			db := openMigrated(t, testConfig(dialects[0].url(t)))
			st := tradingStores(db)
			st.Executions = struct{ trading.Executions }{st.Executions}
			return importstest.Stores{Trading: st, Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db)}
		})
	})
}
