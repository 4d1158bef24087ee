package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// countedTrades counts the page reads that reach the database.
type countedTrades struct {
	trading.Trades
	lists atomic.Int64
}

func (c *countedTrades) List(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page) ([]trading.Trade, string, error) {
	c.lists.Add(1)
	return c.Trades.List(ctx, userID, f, s, p)
}

// pagesEnv is a trading service keeping encoded trade pages in a bounded
// in-process cache, over a fresh database, with one user and account.
type pagesEnv struct {
	svc     *trading.Service
	trades  *countedTrades
	users   *sqlstore.Users
	tags    *sqlstore.Tags
	newUser func(t testing.TB) uuid.UUID
	user    uuid.UUID
	account uuid.UUID
}

// pageDatabases are the databases the page cache is tested on: SQLite
// always, PostgreSQL when TEST_POSTGRES_URL is set (required in CI): the
// stamp has its own statement path there.
func pageDatabases() map[string]func(t *testing.T) string {
	return map[string]func(t *testing.T) string{
		"SQLite":     func(t *testing.T) string { return "sqlite://" + filepath.Join(t.TempDir(), "pages.db") },
		"PostgreSQL": func(t *testing.T) string { return testenv.PostgresDB(t) },
	}
}

func newPagesEnv(t *testing.T, url string) *pagesEnv {
	t.Helper()
	db := openStore(t, url)
	pages := memoryLayer(t)
	st := sqlStores(db)
	trades := &countedTrades{Trades: st.Trades}
	st.Trades, st.Pages = trades, pages
	te := tradingtest.NewEnv(t, st)
	e := &pagesEnv{svc: te.Svc, trades: trades, users: sqlstore.NewUsers(db), tags: sqlstore.NewTags(db), newUser: st.NewUser, user: st.NewUser(t)}
	e.account = newAccount(t, e.svc, e.user, "Paged")
	return e
}

func (e *pagesEnv) roundTrip(t testing.TB, sym string, i int) {
	addRoundTrip(t, e.svc, e.user, e.account, sym, i)
}

// pageJSON encodes a page as JSON, as the HTTP answer does.
var pageJSON = cache.Encoding[trading.TradePage]{Name: "test-json", Encode: func(p trading.TradePage) ([]byte, error) { return json.Marshal(p) }}

// list is the user's page for f, s, p through the cache, decoded.
func (e *pagesEnv) list(t testing.TB, user uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page) trading.TradePage {
	t.Helper()
	b, err := e.svc.ListTradesEncoded(context.Background(), user, f, s, p, pageJSON)
	if err != nil {
		t.Fatal(err)
	}
	var page trading.TradePage
	if err := json.Unmarshal(b, &page); err != nil {
		t.Fatal(err)
	}
	return page
}

// TestTradePagesWriteThenRead: a page read right after a write includes
// the write, every time, though the page before it is cached; a page read
// twice without a write between is read from the database once.
func TestTradePagesWriteThenRead(t *testing.T) {
	for name, db := range pageDatabases() {
		t.Run(name, func(t *testing.T) {
			e := newPagesEnv(t, db(t))
			ctx := context.Background()
			first := trading.Page{Limit: 5}
			for i := 1; i <= 25; i++ {
				if got := len(e.list(t, e.user, trading.Filter{}, trading.Sort{}, trading.Page{Limit: 200}).Items); got != i-1 {
					t.Fatalf("before write %d: %d trades", i, got)
				}
				e.roundTrip(t, "AAPL", i)
				reads := e.trades.lists.Load()
				for n := range 2 { // read, then kept
					all := e.list(t, e.user, trading.Filter{}, trading.Sort{}, trading.Page{Limit: 200})
					if len(all.Items) != i {
						t.Fatalf("after write %d, read %d: %d trades (a stale page)", i, n, len(all.Items))
					}
					top := e.list(t, e.user, trading.Filter{}, trading.Sort{}, first)
					if want := decimal.NewFromInt(int64(i)); len(top.Items) == 0 || !top.Items[0].NetPnL.Equal(want) {
						t.Fatalf("after write %d: newest trade %+v, want net %s", i, top.Items, want)
					}
				}
				if got := e.trades.lists.Load() - reads; got != 2 {
					t.Fatalf("after write %d: %d page reads reached the database for two pages read twice, want 2", i, got)
				}
			}
			// An annotation is a write too: the tag filter's page follows it.
			tag := uuid.New()
			if err := insertTag(ctx, e, tag); err != nil {
				t.Fatal(err)
			}
			byTag := trading.Filter{TagIDs: []uuid.UUID{tag}}
			if got := e.list(t, e.user, byTag, trading.Sort{}, trading.Page{}); len(got.Items) != 0 {
				t.Fatalf("tag page before tagging: %d trades", len(got.Items))
			}
			top := e.list(t, e.user, trading.Filter{}, trading.Sort{}, first).Items[0]
			tags := []uuid.UUID{tag}
			if _, err := e.svc.UpdateAnnotation(ctx, e.user, top.ID, trading.AnnotationPatch{TagIDs: &tags}, top.Annotation.Version); err != nil {
				t.Fatal(err)
			}
			if got := e.list(t, e.user, byTag, trading.Sort{}, trading.Page{}); len(got.Items) != 1 || got.Items[0].ID != top.ID {
				t.Fatalf("tag page after tagging %s: %+v (a stale page)", top.ID, got.Items)
			}
			// The next page is kept under its own cursor, and stays right.
			p1 := e.list(t, e.user, trading.Filter{}, trading.Sort{Key: trading.SortNetPnL}, first)
			p2 := e.list(t, e.user, trading.Filter{}, trading.Sort{Key: trading.SortNetPnL}, trading.Page{Limit: 5, Cursor: p1.NextCursor})
			if len(p1.Items) != 5 || len(p2.Items) != 5 || !p1.Items[4].NetPnL.GreaterThan(p2.Items[0].NetPnL) {
				t.Fatalf("pages by net P&L: %d then %d trades", len(p1.Items), len(p2.Items))
			}
		})
	}
}

// insertTag stores a tag of the user (the journal's table).
func insertTag(ctx context.Context, e *pagesEnv, id uuid.UUID) error {
	now := time.Now().UTC()
	return e.tags.Create(ctx, &journal.Tag{ID: id, UserID: e.user, Name: "Breakout " + id.String()[:8], Kind: journal.Setup, Version: 1, CreatedAt: now, UpdatedAt: now})
}

// TestTradePagesAreTheirOwners: another user at the same data version
// asking the same page gets their own trades, never the first user's kept
// bytes.
func TestTradePagesAreTheirOwners(t *testing.T) {
	ctx := context.Background()
	e := newPagesEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "owners.db"))
	e.roundTrip(t, "MSFT", 1)
	mine := e.list(t, e.user, trading.Filter{}, trading.Sort{}, trading.Page{})
	if len(mine.Items) != 1 || e.list(t, e.user, trading.Filter{}, trading.Sort{}, trading.Page{}).Items[0].ID != mine.Items[0].ID {
		t.Fatalf("owner: %+v", mine.Items)
	}
	other := *e
	other.user = e.newUser(t)
	other.account = newAccount(t, e.svc, other.user, "Paged")
	other.roundTrip(t, "MSFT", 1)
	v1, err1 := e.svc.DataVersion(ctx, e.user)
	v2, err2 := e.svc.DataVersion(ctx, other.user)
	if err1 != nil || err2 != nil || v1 != v2 {
		t.Fatalf("data versions %d, %d (%v, %v): the test needs them equal", v1, v2, err1, err2)
	}
	theirs := e.list(t, other.user, trading.Filter{}, trading.Sort{}, trading.Page{})
	if len(theirs.Items) != 1 || theirs.Items[0].ID == mine.Items[0].ID || theirs.Items[0].UserID != other.user {
		t.Fatalf("another user was served %+v; the owner's trade is %s", theirs.Items, mine.Items[0].ID)
	}
}

// TestTradePagesFollowTheUserTimeZone: a date range is read in the user's
// zone, which the stamp reads with the data version; a page kept under
// the old zone is not served after the user changes it (a profile write,
// which does not move the data version).
func TestTradePagesFollowTheUserTimeZone(t *testing.T) {
	e := newPagesEnv(t, "sqlite://"+filepath.Join(t.TempDir(), "zones.db"))
	ctx := context.Background()
	e.roundTrip(t, "AAPL", 570) // closes 2026-05-04 23:30:30 UTC, 08:30 on the 5th in Tokyo
	may5 := trading.Filter{From: trading.Date{Year: 2026, Month: 5, Day: 5}, To: trading.Date{Year: 2026, Month: 5, Day: 5}}
	for _, c := range []struct {
		zone string
		n    int
	}{{"", 0}, {"Asia/Tokyo", 1}, {"America/New_York", 0}, {"Asia/Tokyo", 1}, {"Not/AZone", 0}} {
		err := e.users.Update(ctx, e.user, func(u *identity.User) (*identity.User, error) {
			u.Timezone = c.zone
			return u, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // read, then kept
			if got := len(e.list(t, e.user, may5, trading.Sort{}, trading.Page{}).Items); got != c.n {
				t.Fatalf("zone %q: %d trades closed on 2026-05-05, want %d (a page of another zone)", c.zone, got, c.n)
			}
		}
	}
}

// TestTradePagesUnderConcurrentWrites: readers racing writers never see a
// page older than the writes that had returned before they asked, and the
// page after the last write is exact. Run it with -race.
func TestTradePagesUnderConcurrentWrites(t *testing.T) {
	for name, db := range pageDatabases() {
		t.Run(name, func(t *testing.T) {
			e := newPagesEnv(t, db(t))
			const writers, perWriter, readers = 3, 6, 3
			var done atomic.Int64
			var wg sync.WaitGroup
			for w := range writers {
				wg.Go(func() {
					for i := range perWriter {
						e.roundTrip(t, fmt.Sprintf("S%d", w), w*perWriter+i+1)
						done.Add(1)
					}
				})
			}
			stop := make(chan struct{})
			var rg sync.WaitGroup
			var reads atomic.Int64
			for range readers {
				rg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						before := done.Load()
						b, err := e.svc.ListTradesEncoded(context.Background(), e.user, trading.Filter{}, trading.Sort{}, trading.Page{Limit: 200}, pageJSON)
						var page trading.TradePage
						if err == nil {
							err = json.Unmarshal(b, &page)
						}
						if err != nil {
							t.Error(err)
							return
						}
						if int64(len(page.Items)) < before {
							t.Errorf("read %d trades after %d writes had returned: stale", len(page.Items), before)
							return
						}
						reads.Add(1)
					}
				})
			}
			wg.Wait()
			close(stop)
			rg.Wait()
			if got := len(e.list(t, e.user, trading.Filter{}, trading.Sort{}, trading.Page{Limit: 200}).Items); got != writers*perWriter || reads.Load() == 0 {
				t.Fatalf("after every write: %d trades, %d reads during the writes", got, reads.Load())
			}
		})
	}
}
