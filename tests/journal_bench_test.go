package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/tests/testenv"
)

// BenchmarkTradeListHTTP measures GET /api/v1/trades over HTTP (the api
// program as wired, on PostgreSQL, a loopback TCP listener, keep-alive
// clients) for one user holding 100,000 executions = 50,000 closed
// trades over 100 symbols (one every 10 minutes, a year), 10 % of them
// tagged: 16 concurrent clients ask for the first page of one quarter
// closed with the tag, the query the issue sets a p99 target for. It
// reports p50, p90, p99 and the maximum of the requests of one run, as
// the program runs by default ("cached": the page is read once per data
// version, then served from the in-process page cache after the stamp's
// statement) and with TRADES_PAGE_CACHE_MAX_BYTES=0 ("uncached": every
// request reads the page from PostgreSQL and encodes it). A database that
// holds the book already (TRADELIST_BENCH_PG_URL, for comparing two
// builds on the same rows, and for tests/loadtest/listhey.sh) is used as
// it is.
//
//	TEST_POSTGRES_URL=… go test ./tests/ -run '^$' -bench BenchmarkTradeListHTTP -benchtime 1x
func BenchmarkTradeListHTTP(b *testing.B) {
	url := os.Getenv("TRADELIST_BENCH_PG_URL")
	if url == "" {
		url = testenv.PostgresDB(b)
	}
	env := map[string]string{"DATABASE_URL": url, "LOG_LEVEL": "warn"}
	st := buildStack(b, stackSpec{hashing: identity.TestParams, env: env})
	ctx := context.Background()
	const email, password = "bench-list@example.com", "bench list passphrase 1"
	var tag uuid.UUID
	if u, err := st.svc.CreateUser(ctx, email, password, identity.RoleUser); err == nil {
		tag = seedTradeList(b, st, u.ID)
		analyze(b, url)
	} else {
		u, err := sqlstore.NewUsers(st.db).GetByEmail(ctx, email)
		if err != nil {
			b.Fatal(err)
		}
		tags, err := st.app.Journal.ListTags(ctx, u.ID, journal.Setup)
		if err != nil || len(tags) != 1 {
			b.Fatalf("the kept book's tags: %+v, %v", tags, err)
		}
		tag = tags[0].ID
	}
	token, _ := st.login(email, password, "")
	for _, c := range []struct{ name, pageCache string }{{"cached", ""}, {"uncached", "0"}} {
		b.Run(c.name, func(b *testing.B) {
			s := st
			if c.pageCache != "" {
				e := maps.Clone(env)
				e["TRADES_PAGE_CACHE_MAX_BYTES"] = c.pageCache
				s = buildStack(b, stackSpec{hashing: identity.TestParams, env: e})
			}
			benchTradeList(b, s, url, token, tag)
		})
	}
}

// benchTradeList is one run of BenchmarkTradeListHTTP against st's
// handler.
func benchTradeList(b *testing.B, st *stack, url, token string, tag uuid.UUID) {
	srv := httptest.NewServer(st.app.Server.Handler())
	b.Cleanup(srv.Close)
	const clients, perClient = 16, 200
	path := fmt.Sprintf("%s/api/v1/trades?from=2025-04-01&to=2025-06-30&tag_id=%s&limit=50", srv.URL, tag)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	get := func() (time.Duration, error) {
		req, _ := http.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		n, _ := io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		if res.StatusCode != 200 || n < 50*500 {
			return 0, fmt.Errorf("status %d, %d bytes", res.StatusCode, n)
		}
		return time.Since(start), nil
	}
	for range 50 { // warm the pool and the plan cache
		if _, err := get(); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	db0 := backendCPU(b, url)
	loadHTTP(b, clients, perClient, get)
	if db0 >= 0 {
		b.ReportMetric(float64(backendCPU(b, url)-db0)/float64(time.Millisecond)/float64(b.N*clients*perClient), "db-cpu-ms/req")
	}
}

// backendCPU is the CPU time (user + system, from /proc/PID/stat) the
// PostgreSQL backends connected to url's database have used so far, or -1
// where it cannot be read (a server on another machine or in a container).
// It is the database server's share of a request, which the process's own
// cpu-ms/req does not include.
func backendCPU(b *testing.B, url string) time.Duration {
	b.Helper()
	ctx := context.Background()
	conn := pgConn(b, url)
	defer func() { _ = conn.Close(ctx) }()
	rows, err := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var total time.Duration
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return -1
		}
		// The fields after the command's closing parenthesis: utime and
		// stime are the 12th and 13th of them, in clock ticks (100 a
		// second on Linux).
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) < 13 {
			return -1
		}
		for _, s := range f[11:13] {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return -1
			}
			total += time.Duration(n) * 10 * time.Millisecond
		}
	}
	return total
}

// pgConn opens one connection to url for backendCPU's and analyze's
// one-off statements; the caller closes it when done, so it is not left
// open (and counted among the backends) for the rest of the benchmark.
func pgConn(b *testing.B, url string) *pgx.Conn {
	b.Helper()
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	return conn
}

// analyze gathers the planner's statistics of the freshly seeded
// database, as autovacuum does within a minute of a bulk write in
// production: a page's plan depends on how wide the date range and how
// rare the tag are, which a table never analysed cannot tell.
func analyze(b *testing.B, url string) {
	b.Helper()
	ctx := context.Background()
	conn := pgConn(b, url)
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// seedTradeList gives userID 100,000 executions (50,000 closed trades)
// through the trading service, and tags every tenth trade; it returns the
// tag.
func seedTradeList(b *testing.B, st *stack, userID uuid.UUID) uuid.UUID {
	b.Helper()
	ctx := context.Background()
	tr, jr := st.app.Trading, st.app.Journal
	acct, err := tr.CreateAccount(ctx, userID, trading.AccountInput{Name: "Bench", Currency: "USD"})
	if err != nil {
		b.Fatal(err)
	}
	base := time.Date(2025, 1, 2, 14, 30, 0, 0, time.UTC)
	fills := make([]trading.ExecutionInput, 0, 100000)
	for i := range 50000 {
		at := base.Add(time.Duration(i) * 10 * time.Minute)
		entry := decimal.New(int64(10000+(i*37)%5000), -2)
		exit := entry.Add(decimal.New(int64((i*53)%401-200), -2))
		sym := fmt.Sprintf("SYM%02d", i%100)
		open, closing := trading.Buy, trading.Sell
		if i%3 == 0 {
			open, closing = trading.Sell, trading.Buy
		}
		fills = append(fills,
			trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: open, Quantity: decimal.NewFromInt(100), Price: entry, Commission: decimal.New(1, 0), ExecutedAt: at},
			trading.ExecutionInput{Symbol: sym, AssetClass: trading.Stock, Side: closing, Quantity: decimal.NewFromInt(100), Price: exit, Commission: decimal.New(1, 0), ExecutedAt: at.Add(5 * time.Minute)})
	}
	if _, err := tr.AddExecutions(ctx, userID, acct.ID, fills, trading.AddOptions{ImportID: uuid.New()}); err != nil {
		b.Fatal(err)
	}
	tag, err := jr.CreateTag(ctx, userID, journal.TagInput{Name: "Breakout", Kind: journal.Setup})
	if err != nil {
		b.Fatal(err)
	}
	var ids []uuid.UUID
	page := trading.Page{Limit: trading.MaxPageSize}
	for n := 0; ; n++ {
		p, err := tr.ListTrades(ctx, userID, trading.Filter{}, trading.Sort{}, page)
		if err != nil {
			b.Fatal(err)
		}
		for i, t := range p.Items {
			if (n*trading.MaxPageSize+i)%10 == 0 {
				ids = append(ids, t.ID)
			}
		}
		if p.NextCursor == "" {
			break
		}
		page.Cursor = p.NextCursor
	}
	for chunk := range slices.Chunk(ids, trading.MaxBulkTrades) {
		if _, err := tr.BulkAnnotate(ctx, userID, chunk, trading.BulkAnnotation{AddTags: []uuid.UUID{tag.ID}}); err != nil {
			b.Fatal(err)
		}
	}
	return tag.ID
}

// loadHTTP runs b.N rounds of clients concurrent clients each calling get
// perClient times, and reports req/s (per round), the process's own CPU per
// request (client and server; the database server's is not in it:
// contention inflates it far less than wall time) and the latency
// percentiles of every call. The caller has warmed up and reset the timer.
func loadHTTP(b *testing.B, clients, perClient int, get func() (time.Duration, error)) {
	b.Helper()
	cpu0 := cpuTime()
	var all []time.Duration
	for range b.N {
		lat := make([][]time.Duration, clients)
		var wg sync.WaitGroup
		start := time.Now()
		for c := range clients {
			wg.Go(func() {
				for range perClient {
					d, err := get()
					if err != nil {
						b.Error(err)
						return
					}
					lat[c] = append(lat[c], d)
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64(clients*perClient)/time.Since(start).Seconds(), "req/s")
		for _, l := range lat {
			all = append(all, l...)
		}
	}
	b.StopTimer()
	if len(all) == 0 {
		b.Fatal("no call succeeded")
	}
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(time.Millisecond)/float64(len(all)), "cpu-ms/req")
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))]) / float64(time.Millisecond) }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.90), "p90-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(q(1), "max-ms")
}
