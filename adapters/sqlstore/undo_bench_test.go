package sqlstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/tests/testenv"
)

// BenchmarkUndoImport times imports.Service.Undo of an import of n
// executions (importstest.FlexRows: 50 symbols in one account) on SQLite
// and on PostgreSQL, for n = 2,000, 8,000 and 32,000: each iteration
// imports into a fresh account (not timed) and undoes it (timed). The
// cost should grow linearly with n (ns/exec stays flat). UNDO_BENCH_FULL=1
// adds n = 175,000, about the rows of a file of IMPORT_MAX_BYTES (10 MB).
//
//	TEST_POSTGRES_URL=... go test ./adapters/sqlstore -run '^$' -bench UndoImport -benchtime 1x
func BenchmarkUndoImport(b *testing.B) {
	for _, dialect := range []string{"SQLite", "Postgres"} {
		b.Run(dialect, func(b *testing.B) {
			url := "sqlite://" + filepath.Join(b.TempDir(), "bench.db")
			if dialect == "Postgres" {
				url = testenv.PostgresDB(b)
			}
			db := openMigrated(b, testConfig(url))
			st := importstest.Stores{Trading: tradingStores(db), Imports: sqlstore.NewImports(db), Mappings: sqlstore.NewImportMappings(db)}
			e := importstest.NewEnv(b, st)
			sizes := []int{2_000, 8_000, 32_000}
			if os.Getenv("UNDO_BENCH_FULL") == "1" {
				sizes = append(sizes, 175_000)
			}
			for _, n := range sizes {
				b.Run(strconv.Itoa(n), func(b *testing.B) { benchUndo(b, e, n) })
			}
		})
	}
}

func benchUndo(b *testing.B, e *importstest.Env, n int) {
	data := importstest.FlexRows(n)
	cfg := imports.DefaultConfig()
	cfg.MaxBytes = int64(len(data)) + 1
	svc := e.WithConfig(b, cfg)
	ctx := context.Background()
	u := e.St.Trading.NewUser(b)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: fmt.Sprintf("undo %d %d", n, i), Currency: "USD"})
		if err != nil {
			b.Fatal(err)
		}
		imp, err := svc.Create(ctx, u, imports.Upload{AccountID: a.ID, Body: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			b.Fatal(err)
		}
		if err := svc.Run(ctx, u, imp.ID); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := svc.Undo(ctx, u, imp.ID)
		if err != nil {
			b.Fatal(err)
		}
		if res.ExecutionsRemoved != n {
			b.Fatalf("undo removed %d executions, want %d", res.ExecutionsRemoved, n)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/exec")
}
