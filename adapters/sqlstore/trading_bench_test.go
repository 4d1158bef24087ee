package sqlstore_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// countingLedger counts the rows Apply writes.
type countingLedger struct {
	trading.Ledger
	rows atomic.Int64
}

func (c *countingLedger) Apply(ctx context.Context, key trading.PositionKey, p *trading.Plan) (int, error) {
	n, err := c.Ledger.Apply(ctx, key, p)
	c.rows.Add(int64(n))
	return n, err
}

// peakHeap samples the live heap every millisecond until stop is called
// and returns the highest value seen, in bytes.
func peakHeap() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() uint64 { close(done); wg.Wait(); return peak.Load() }
}

// cpuTime is the CPU time (user + system) this process used so far: with
// the benchmark machine shared, it says what an operation costs here
// better than the wall clock does (the database server's CPU is not in it).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// backendCPU returns the CPU time (user + system) the PostgreSQL backends
// of db's database used so far, by pid, read from /proc: the benchmarks'
// database runs on the same machine, and on a shared machine the
// server's CPU per operation says more than the wall clock. It returns
// nil (no figure) when the server's processes cannot be read.
func backendCPU(ctx context.Context, db *sqlstore.DB) map[int]time.Duration {
	s, err := sqlstore.StringForTest(ctx, db, "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil || s == nil {
		return nil
	}
	out := map[int]time.Duration{}
	for _, f := range strings.Split(*s, ",") {
		pid, err := strconv.Atoi(f)
		if err != nil {
			return nil
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return nil
		}
		// Fields after the command (which ends at the last ')'): utime and
		// stime are the 12th and 13th, in clock ticks (100 per second).
		fs := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fs) < 13 {
			return nil
		}
		u, err1 := strconv.ParseInt(fs[11], 10, 64)
		st, err2 := strconv.ParseInt(fs[12], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		out[pid] = time.Duration(u+st) * 10 * time.Millisecond
	}
	return out
}

// backendCPUSince is the backends' CPU used since before (a backendCPU
// result; a connection opened since counts from zero), and false when
// either reading failed.
func backendCPUSince(ctx context.Context, db *sqlstore.DB, before map[int]time.Duration) (time.Duration, bool) {
	after := backendCPU(ctx, db)
	if before == nil || after == nil {
		return 0, false
	}
	var d time.Duration
	for pid, t := range after {
		d += t - before[pid]
	}
	return d, true
}

// reportCPU adds cpu-ms/op from a cpuTime taken before the loop.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// roundTrips returns n round trips per symbol over symbols symbols, one
// every 10 minutes across the book (≈ a year for 50,000), prices moving
// in cents, a commission of 1.00 per fill.
func roundTrips(symbols, perSymbol int, base time.Time) []trading.ExecutionInput {
	out := make([]trading.ExecutionInput, 0, 2*symbols*perSymbol)
	one := decimal.NewFromInt(1)
	for j := range perSymbol {
		for k := range symbols {
			i := j*symbols + k
			at := base.Add(time.Duration(i) * 10 * time.Minute)
			entry := decimal.New(int64(10000+(i*37)%5000), -2)
			exit := entry.Add(decimal.New(int64((i*53)%401-200), -2))
			side, back := trading.Buy, trading.Sell
			if i%3 == 0 {
				side, back = trading.Sell, trading.Buy
			}
			sym := fmt.Sprintf("S%03d", k)
			out = append(out,
				trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: side, Quantity: decimal.NewFromInt(100), Price: entry, Commission: one, ExecutedAt: at},
				trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: back, Quantity: decimal.NewFromInt(100), Price: exit, Commission: one, ExecutedAt: at.Add(7 * time.Minute)})
		}
	}
	return out
}

// BenchmarkTrading measures the trade builder's persistence on PostgreSQL
// with one user holding 100,000 executions (50,000 trades over 100
// symbols), as docs/benchmarks.md reports.
func BenchmarkTrading(b *testing.B) {
	url := testenv.PostgresDB(b)
	db := openMigrated(b, testConfig(url))
	ctx := context.Background()
	st := tradingStores(db)
	counting := &countingLedger{Ledger: st.Ledger}
	st.Ledger = counting
	env := tradingtest.NewEnv(b, st)
	u := st.NewUser(b)
	acct, err := env.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Bench", Currency: "USD"})
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC)
	seedStart := time.Now()
	if _, err := env.Svc.AddExecutions(ctx, u, acct.ID, roundTrips(100, 500, base), trading.AddOptions{ImportID: uuid.New()}); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded 100,000 executions (import + first build) in %v", time.Since(seedStart).Round(time.Millisecond))
	b.Run("RebuildAccount100k/unchanged", func(b *testing.B) {
		counting.rows.Store(0)
		stop := peakHeap()
		db0 := backendCPU(ctx, db)
		cpu0 := cpuTime()
		for b.Loop() {
			if _, err := env.Svc.RebuildAccount(ctx, u, acct.ID); err != nil {
				b.Fatal(err)
			}
		}
		reportCPU(b, cpu0)
		if d, ok := backendCPUSince(ctx, db, db0); ok {
			b.ReportMetric(float64(d)/float64(time.Millisecond)/float64(b.N), "db-cpu-ms/op")
		}
		b.ReportMetric(float64(stop())/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(counting.rows.Load())/float64(b.N), "rows/op")
	})

	b.Run("RebuildAccount100k/from-scratch", func(b *testing.B) {
		counting.rows.Store(0)
		var peak uint64
		var cpu, dbCPU time.Duration
		dbOK := true
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := sqlstore.ExecForTest(ctx, db, "DELETE FROM trades WHERE account_id = ?", acct.ID); err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			stop := peakHeap()
			db0 := backendCPU(ctx, db)
			cpu0 := cpuTime()
			b.StartTimer()
			st, err := env.Svc.RebuildAccount(ctx, u, acct.ID)
			b.StopTimer()
			cpu += cpuTime() - cpu0
			d, ok := backendCPUSince(ctx, db, db0)
			dbCPU, dbOK = dbCPU+d, dbOK && ok
			peak = max(peak, stop())
			if err != nil || st.Created != 50000 {
				b.Fatalf("rebuild = %+v, %v", st, err)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		b.ReportMetric(float64(counting.rows.Load())/float64(b.N), "rows/op")
		b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
		if dbOK {
			b.ReportMetric(float64(dbCPU)/float64(time.Millisecond)/float64(b.N), "db-cpu-ms/op")
		}
	})

	// One position of 10,000 executions (5,000 round trips of ES).
	pos, err := env.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Futures", Currency: "USD"})
	if err != nil {
		b.Fatal(err)
	}
	var es []trading.ExecutionInput
	for _, in := range roundTrips(1, 5000, base) {
		in.Symbol, in.AssetClass = "ESZ6", trading.Future
		es = append(es, in)
	}
	if _, err := env.Svc.AddExecutions(ctx, u, pos.ID, es, trading.AddOptions{ImportID: uuid.New()}); err != nil {
		b.Fatal(err)
	}
	b.Run("AddOneExecution10k/append", func(b *testing.B) {
		addOneCounted(b, counting, func(i int) time.Time { return base.AddDate(2, 0, 0).Add(time.Duration(i)) }, env, u, pos.ID)
	})
	b.Run("AddOneExecution10k/backdated", func(b *testing.B) {
		addOneCounted(b, counting, func(i int) time.Time { return base.Add(-time.Hour).Add(time.Duration(i)) }, env, u, pos.ID)
	})

	// Tags on 10 % and a third of the trades (after the rebuilds, which
	// replace every trade).
	tagA, tagB := st.NewTag(b, u), st.NewTag(b, u)
	for _, q := range []string{
		fmt.Sprintf("INSERT INTO trade_tags (trade_id, tag_id) SELECT id, '%s' FROM trades WHERE user_id = '%s' AND abs(hashtext(id::text)) %% 10 = 0", tagA, u),
		fmt.Sprintf("INSERT INTO trade_tags (trade_id, tag_id) SELECT id, '%s' FROM trades WHERE user_id = '%s' AND abs(hashtext(id::text)) %% 3 = 0", tagB, u),
		"ANALYZE",
	} {
		if err := sqlstore.ExecForTest(ctx, db, q); err != nil {
			b.Fatal(err)
		}
	}

	// The first page of GET /api/v1/trades with a close-date range (one
	// quarter, in the user's zone) and a tag.
	f := trading.Filter{From: trading.Date{Year: 2025, Month: time.April, Day: 1}, To: trading.Date{Year: 2025, Month: time.June, Day: 30},
		TagIDs: []uuid.UUID{tagA}}
	srt := trading.Sort{Key: trading.SortClosed}
	b.Run("ListTrades50k/quarter+tag/first-page", func(b *testing.B) {
		for b.Loop() {
			page, err := env.Svc.ListTrades(ctx, u, f, srt, trading.Page{Limit: 50})
			if err != nil || len(page.Items) != 50 {
				b.Fatalf("%d items, %v", len(page.Items), err)
			}
		}
	})
	b.Run("ListTrades50k/no-filter/first-page", func(b *testing.B) {
		for b.Loop() {
			if page, err := env.Svc.ListTrades(ctx, u, trading.Filter{}, srt, trading.Page{Limit: 50}); err != nil || len(page.Items) != 50 {
				b.Fatalf("%d items, %v", len(page.Items), err)
			}
		}
	})
	b.Run("ListTrades50k/all-tags+pnl/first-page", func(b *testing.B) {
		g := trading.Filter{TagIDs: []uuid.UUID{tagA, tagB}, TagMode: trading.AllTags, MinNetPnL: decimal.NewNullDecimal(decimal.NewFromInt(50))}
		for b.Loop() {
			if _, err := env.Svc.ListTrades(ctx, u, g, srt, trading.Page{Limit: 50}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if out := os.Getenv("EXPLAIN_OUT"); out != "" {
		f2 := f
		f2.Location = env.Zone
		q, args, err := sqlstore.ListQueryForTest(db, u, f2, srt, trading.Page{Limit: 50})
		if err != nil {
			b.Fatal(err)
		}
		plan, err := sqlstore.ExplainForTest(ctx, db, q, args...)
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(out, []byte(q+"\n\n"+strings.Join(plan, "\n")+"\n"), 0o600); err != nil {
			b.Fatal(err)
		}
	}
}

// addOneCounted adds one execution at at(i) to the position per
// iteration (timed), reporting the rows the rebuild wrote, and deletes it
// again (untimed).
func addOneCounted(b *testing.B, counting *countingLedger, at func(i int) time.Time, env *tradingtest.Env, u, account uuid.UUID) {
	ctx := context.Background()
	var rows int64
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		in := trading.ExecutionInput{Symbol: "ESZ6", AssetClass: trading.Future, Side: trading.Buy, Quantity: decimal.NewFromInt(1),
			Price: decimal.NewFromInt(5000), ExecutedAt: at(i)}
		start, cpu0 := counting.rows.Load(), cpuTime()
		res, err := env.Svc.AddExecutions(ctx, u, account, []trading.ExecutionInput{in}, trading.AddOptions{})
		if err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - cpu0
		rows += counting.rows.Load() - start
		b.StopTimer()
		if _, err := env.Svc.DeleteExecutions(ctx, u, []uuid.UUID{res.Executions[0].ID}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	// + 1 for the execution row itself.
	b.ReportMetric(float64(rows)/float64(b.N)+1, "rows/op")
	b.ReportMetric(float64(cpu)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}
