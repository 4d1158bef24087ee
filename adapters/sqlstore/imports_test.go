package sqlstore_test

import (
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/imports/importstest"
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
}
