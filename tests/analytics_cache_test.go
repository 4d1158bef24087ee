package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// analyticsEnv is a trading service on a fresh SQLite database and an
// analytics service caching through layer, with the in-process cache of
// encoded answers (Deps.Encoded) in front of it.
type analyticsEnv struct {
	trading   *tradingtest.Env
	analytics *analytics.Service
	users     *sqlstore.Users
	user      uuid.UUID
	account   uuid.UUID
}

func newAnalyticsEnv(t *testing.T, layer *cache.Layer) *analyticsEnv {
	t.Helper()
	db := openStore(t, "sqlite://"+filepath.Join(t.TempDir(), "analytics.db"))
	users := sqlstore.NewUsers(db)
	st := sqlStores(db)
	te := tradingtest.NewEnv(t, st)
	encoded := memoryLayer(t)
	svc, err := analytics.NewService(analytics.Config{CacheTTL: time.Hour},
		analytics.Deps{Trading: te.Svc, Source: sqlstore.NewAnalyticsSource(db), Cache: layer, Encoded: encoded})
	if err != nil {
		t.Fatal(err)
	}
	e := &analyticsEnv{trading: te, analytics: svc, users: users, user: st.NewUser(t)}
	e.account = newAccount(t, te.Svc, e.user, "Cached")
	return e
}

func (e *analyticsEnv) roundTrip(t testing.TB, sym string, i int) {
	addRoundTrip(t, e.trading.Svc, e.user, e.account, sym, i)
}

// addRoundTrip adds the user's i-th round trip of 1 share of sym (its own
// position), bought at 100 and sold at 100 + i, opened at 14:00 UTC on
// 2026-05-04 plus i minutes.
func addRoundTrip(t testing.TB, svc *trading.Service, user, account uuid.UUID, sym string, i int) {
	at := time.Date(2026, 5, 4, 14, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute)
	one := decimal.NewFromInt(1)
	_, err := svc.AddExecutions(context.Background(), user, account, []trading.ExecutionInput{
		{Symbol: sym, AssetClass: trading.Stock, Side: trading.Buy, Quantity: one, Price: decimal.NewFromInt(100), ExecutedAt: at},
		{Symbol: sym, AssetClass: trading.Stock, Side: trading.Sell, Quantity: one, Price: decimal.NewFromInt(int64(100 + i)), ExecutedAt: at.Add(30 * time.Second)},
	}, trading.AddOptions{})
	if err != nil {
		t.Error(err)
	}
}

// summaryJSON is an encoding of the summary as the HTTP answer makes
// one: JSON bytes, kept by the service per data version and filter.
var summaryJSON = analytics.Encoding[[]analytics.Summary]{Name: "test-json", Encode: func(s []analytics.Summary) ([]byte, error) { return json.Marshal(s) }}

// count is the summary's trade count and net P&L as the HTTP answer
// reads them: encoded, through the in-process cache of encoded answers.
func (e *analyticsEnv) count(t testing.TB) (int, decimal.Decimal) {
	b, err := e.analytics.SummaryEncoded(context.Background(), e.user, analytics.Query{}, summaryJSON)
	if err != nil {
		t.Error(err)
		return -1, decimal.Zero
	}
	var s []analytics.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		t.Error(err)
		return -1, decimal.Zero
	}
	return firstSummary(s)
}

// countDecoded is count through Summary: the shared cache's entry,
// decoded.
func (e *analyticsEnv) countDecoded(t testing.TB) (int, decimal.Decimal) {
	s, err := e.analytics.Summary(context.Background(), e.user, analytics.Query{})
	if err != nil {
		t.Error(err)
		return -1, decimal.Zero
	}
	return firstSummary(s)
}

func firstSummary(s []analytics.Summary) (int, decimal.Decimal) {
	if len(s) == 0 {
		return 0, decimal.Zero
	}
	return s[0].Count, s[0].NetPnL
}

// cacheLayers are the cache backends under test: memory always, Redis
// when TEST_REDIS_URL is set (a key prefix of its own per test).
func cacheLayers(t *testing.T) map[string]func(t *testing.T) *cache.Layer {
	layer := func(t *testing.T, c cache.Cache) *cache.Layer {
		l, err := cache.NewLayer(c, cache.Config{Timeout: time.Second}, slog.New(slog.DiscardHandler), metricnoop.NewMeterProvider())
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	return map[string]func(t *testing.T) *cache.Layer{
		"Memory": func(t *testing.T) *cache.Layer {
			c, stop, err := memory.NewCache(memory.CacheConfig{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(stop)
			return layer(t, c)
		},
		"Redis": func(t *testing.T) *cache.Layer {
			url := testenv.URL(t, "TEST_REDIS_URL")
			rc, stop, err := redisstore.Open(context.Background(), redisstore.Config{URL: url, KeyPrefix: "test-analytics-" + uuid.NewString() + ":"},
				slog.New(slog.DiscardHandler), tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
			if err != nil {
				testenv.Unreachable(t, "TEST_REDIS_URL", err)
			}
			t.Cleanup(stop)
			return layer(t, redisstore.NewCache(rc))
		},
	}
}

// TestAnalyticsCacheWriteThenRead: a figure read right after a write
// includes the write, every time, although the figure before it is cached.
func TestAnalyticsCacheWriteThenRead(t *testing.T) {
	for name, newLayer := range cacheLayers(t) {
		t.Run(name, func(t *testing.T) {
			e := newAnalyticsEnv(t, newLayer(t))
			want := decimal.Zero
			for i := 1; i <= 40; i++ {
				if n, _ := e.count(t); n != i-1 { // cached before the write
					t.Fatalf("before write %d: %d trades", i, n)
				}
				e.roundTrip(t, "AAPL", i)
				want = want.Add(decimal.NewFromInt(int64(i)))
				for read, count := range map[string]func(testing.TB) (int, decimal.Decimal){"encoded": e.count, "decoded": e.countDecoded} {
					for range 2 { // computed or cached, then cached
						n, net := count(t)
						if n != i || !net.Equal(want) {
							t.Fatalf("after write %d, %s: %d trades, net %s; want %d, %s (a stale figure)", i, read, n, net, i, want)
						}
					}
				}
			}
		})
	}
}

// TestAnalyticsCacheUnderConcurrentWrites: readers racing writers never see
// a figure older than the writes that had returned before they asked, and
// the figure after the last write is exact. Run it with -race.
func TestAnalyticsCacheUnderConcurrentWrites(t *testing.T) {
	for name, newLayer := range cacheLayers(t) {
		t.Run(name, func(t *testing.T) {
			e := newAnalyticsEnv(t, newLayer(t))
			const writers, perWriter, readers = 3, 8, 4
			var done atomic.Int64
			var wg sync.WaitGroup
			stop := make(chan struct{})
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						e.roundTrip(t, fmt.Sprintf("S%d", w), w*perWriter+i+1)
						done.Add(1)
					}
				}()
			}
			var rg sync.WaitGroup
			var reads atomic.Int64
			for range readers {
				rg.Add(1)
				go func() {
					defer rg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						before := done.Load()
						n, _ := e.count(t)
						if int64(n) < before {
							t.Errorf("read %d trades after %d writes had returned: stale", n, before)
							return
						}
						reads.Add(1)
					}
				}()
			}
			wg.Wait()
			close(stop)
			rg.Wait()
			n, net := e.count(t)
			total := writers * perWriter
			if n != total || !net.Equal(decimal.NewFromInt(int64(total*(total+1)/2))) || reads.Load() == 0 {
				t.Fatalf("after every write: %d trades, net %s, %d reads during the writes", n, net, reads.Load())
			}
		})
	}
}

// TestAnalyticsCacheFollowsTheUserTimeZone: the warm path reads the
// user's time zone with the data version (one statement), and a figure
// cached under the old zone is not served after the user changes it
// (a profile write, which does not move the data version).
func TestAnalyticsCacheFollowsTheUserTimeZone(t *testing.T) {
	for name, newLayer := range cacheLayers(t) {
		t.Run(name, func(t *testing.T) {
			e := newAnalyticsEnv(t, newLayer(t))
			ctx := context.Background()
			e.roundTrip(t, "AAPL", 570) // closes 2026-05-04 23:30:30 UTC, 08:30 on the 5th in Tokyo
			day := func() string {
				c, err := e.analytics.Calendar(ctx, e.user, analytics.Query{})
				if err != nil || len(c) != 1 || len(c[0].Days) != 1 {
					t.Fatalf("calendar %+v, %v", c, err)
				}
				return c[0].Days[0].Date
			}
			setZone := func(zone string) {
				err := e.users.Update(ctx, e.user, func(u *identity.User) (*identity.User, error) {
					u.Timezone = zone
					return u, nil
				})
				if err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []struct{ zone, day string }{
				{"", "2026-05-04"}, {"Asia/Tokyo", "2026-05-05"}, {"America/New_York", "2026-05-04"}, {"Asia/Tokyo", "2026-05-05"},
				{"Not/AZone", "2026-05-04"}, // unknown: UTC, as the trade list
			} {
				setZone(c.zone)
				for range 2 { // computed, then cached
					if got := day(); got != c.day {
						t.Fatalf("zone %q: the trade's day is %s, want %s (a figure of another zone)", c.zone, got, c.day)
					}
				}
			}
		})
	}
}
