// Package importstest is the contract suite of the imports repositories,
// run through imports.Service (over a real trading.Service) against every
// adapter.
package importstest

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// Stores are the repositories under test over an empty database.
type Stores struct {
	Trading  tradingtest.Stores
	Imports  imports.Imports
	Mappings imports.Mappings
}

// Factory returns stores over an empty database.
type Factory func(t *testing.T) Stores

// Queue records enqueued jobs, one per ID.
type Queue struct {
	mu   sync.Mutex
	Jobs []string
	// Down makes Enqueue fail as the job store being unreachable does.
	Down bool
}

// Enqueue implements imports.Enqueuer.
func (q *Queue) Enqueue(_ context.Context, kind string, _ any, _ ...jobs.Option) (string, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.Down {
		return "", apperr.New(apperr.Unavailable, jobs.CodeStoreDown, "the job store is unavailable")
	}
	q.Jobs = append(q.Jobs, kind)
	return kind, nil
}

// failingImports fails the update that would mark an import succeeded,
// once: the crash of a worker between adding the executions and
// committing.
type failingImports struct {
	imports.Imports
	mu   sync.Mutex
	fail bool
	// takeover, instead: the update marking the import succeeded finds
	// it changed (another attempt marked it running after this one, as
	// when a paused worker's job is taken over), and that mark is
	// committed before the next Get.
	takeover, marked bool
}

func (f *failingImports) Update(ctx context.Context, imp *imports.Import) error {
	f.mu.Lock()
	fail := f.fail && imp.Status == imports.Succeeded
	if fail {
		f.fail = false
	}
	taken := f.takeover && imp.Status == imports.Succeeded
	if taken {
		f.takeover, f.marked = false, true
	}
	f.mu.Unlock()
	if fail {
		return errors.New("worker killed")
	}
	if taken {
		return apperr.New(apperr.Conflict, trading.CodeVersionMismatch, "the import changed")
	}
	return f.Imports.Update(ctx, imp)
}

func (f *failingImports) Get(ctx context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	f.mu.Lock()
	mark := f.marked
	f.marked = false
	f.mu.Unlock()
	if mark { // the other attempt's running mark, committed
		imp, err := f.Imports.Get(ctx, userID, id)
		if err != nil {
			return nil, err
		}
		imp.Version++
		if err := f.Imports.Update(ctx, imp); err != nil {
			return nil, err
		}
	}
	return f.Imports.Get(ctx, userID, id)
}

// Env is an imports.Service over Stores.
type Env struct {
	St      Stores
	Trading *tradingtest.Env
	Blobs   *blobtest.Mem
	Queue   *Queue
	Events  *tradingtest.Publisher
	Svc     *imports.Service
	crash   *failingImports
	// later moves the service's clock forward (nanoseconds).
	later atomic.Int64
}

// NewEnv builds an Env over st.
func NewEnv(t testing.TB, st Stores) *Env {
	t.Helper()
	te := tradingtest.NewEnv(t, st.Trading)
	e := &Env{St: st, Trading: te, Blobs: blobtest.NewMem(), Queue: &Queue{}, Events: &tradingtest.Publisher{}, crash: &failingImports{Imports: st.Imports}}
	svc, err := imports.NewService(imports.DefaultConfig(), imports.Deps{Imports: e.crash, Mappings: st.Mappings, Trading: te.Svc, Blobs: e.Blobs,
		Jobs: e.Queue, Events: e.Events, Tx: st.Trading.Tx, Now: func() time.Time { return time.Now().Add(time.Duration(e.later.Load())) },
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return te.Zone, nil })})
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e
}

// FlexFile is an IBKR Flex Query export: 8 fills, one ORDER summary row
// (skipped), one bad row (line 14), and one closing fill (line 11) whose
// FifoPnlRealized disagrees with the builder's (30.4 against 29.4).
const FlexFile = `"BOF","U1234567","TradeSense trades","1","20260501","20260531","20260601;080000","TradeSense"
"BOA","U1234567"
"BOS","TRNT","Trades; trade confirmations"
"HEADER","TRNT","ClientAccountID","AssetClass","Symbol","CurrencyPrimary","Multiplier","DateTime","Buy/Sell","Quantity","TradePrice","IBCommission","Taxes","Open/CloseIndicator","FifoPnlRealized","IBExecID","LevelOfDetail"
"DATA","TRNT","U1234567","STK","AAPL","USD","1","20260501;101500","BUY","100","170.50","-1","0","O","0","e1","EXECUTION"
"DATA","TRNT","U1234567","STK","AAPL","USD","1","20260501;103000","SELL","-60","172.00","-0.6","0","C","88.8","e2","EXECUTION"
"DATA","TRNT","U1234567","STK","AAPL","USD","1","20260501;110000","SELL","-40","169.00","-0.4","0","C","-60.8","e3","EXECUTION"
"DATA","TRNT","U1234567","STK","AAPL","USD","1","20260501;110000","SELL","-100","170.07","-1","0","C","0","","ORDER"
"DATA","TRNT","U1234567","STK","TSLA","USD","1","20260501;120000","SELL","-50","250.00","-0.5","0","O","0","e4","EXECUTION"
"DATA","TRNT","U1234567","STK","TSLA","USD","1","20260501;123000","BUY","80","245.00","-0.8","0","C;O","249","e5","EXECUTION"
"DATA","TRNT","U1234567","STK","TSLA","USD","1","20260501;130000","SELL","-30","246.00","-0.3","0","C","30.4","e6","EXECUTION"
"DATA","TRNT","U1234567","FUT","ESM6","USD","50","20260501;140000","BUY","2","5300.25","-4.24","0","O","0","e7","EXECUTION"
"DATA","TRNT","U1234567","FUT","ESM6","USD","50","20260501;141500","SELL","-2","5302.25","-4.24","0","C","191.52","e8","EXECUTION"
"DATA","TRNT","U1234567","STK","AAPL","USD","1","20260501;150000","BUY","abc","170.00","-1","0","O","0","e9","EXECUTION"
"EOS","TRNT","10","20260501","20260531"
"EOA","U1234567"
"EOF","1"
`

// genericRows are fills without broker IDs (deduplicated by
// fingerprint); rows 2 and 3 are identical fills, both genuine.
var genericRows = []string{
	"AAPL,stock,buy,10,100,0.5,0,2026-05-01 10:00:00",
	"AAPL,stock,buy,10,101,0.5,0,2026-05-01 10:01:00",
	"AAPL,stock,buy,10,101,0.5,0,2026-05-01 10:01:00",
	"AAPL,stock,sell,15,103,0.5,0,2026-05-01 10:30:00",
	"AAPL,stock,sell,15,99,0.5,0,2026-05-01 11:00:00",
}

func genericFile(rows ...string) string {
	return "symbol,asset_class,side,quantity,price,commission,fees,executed_at\n" + strings.Join(rows, "\n") + "\n"
}

func (e *Env) user(t *testing.T) (uuid.UUID, *trading.Account) {
	t.Helper()
	u := e.St.Trading.NewUser(t)
	a, err := e.Trading.Svc.CreateAccount(context.Background(), u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	return u, a
}

// upload creates an import of body and runs its job.
func (e *Env) upload(t *testing.T, u uuid.UUID, a *trading.Account, body string, mod func(*imports.Upload)) *imports.Import {
	t.Helper()
	imp := e.create(t, u, a, body, mod)
	if err := e.Svc.Run(context.Background(), u, imp.ID); err != nil {
		t.Fatalf("run: %v", err)
	}
	got, err := e.Svc.Get(context.Background(), u, imp.ID)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func (e *Env) create(t *testing.T, u uuid.UUID, a *trading.Account, body string, mod func(*imports.Upload)) *imports.Import {
	t.Helper()
	up := imports.Upload{AccountID: a.ID, Filename: "export.csv", Body: strings.NewReader(body), Size: int64(len(body))}
	if mod != nil {
		mod(&up)
	}
	imp, err := e.Svc.Create(context.Background(), u, up)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return imp
}

func (e *Env) freshAccount(t *testing.T, u uuid.UUID) (uuid.UUID, *trading.Account, error) {
	t.Helper()
	a, err := e.Trading.Svc.CreateAccount(context.Background(), u, trading.AccountInput{Name: "Fresh " + uuid.NewString()[:8], Currency: "USD"})
	return u, a, err
}

func (e *Env) executions(t *testing.T, u uuid.UUID, f trading.ExecutionFilter) []trading.Execution {
	t.Helper()
	var out []trading.Execution
	cursor := ""
	for {
		page, next, err := e.Trading.Svc.ListExecutions(context.Background(), u, f, trading.Page{Limit: trading.MaxPageSize, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, page...)
		if next == "" {
			return out
		}
		cursor = next
	}
}

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && (code == "" || e.Code == code)
}

func counts(c imports.Counts) string {
	return fmt.Sprintf("rows=%d added=%d duplicates=%d rejected=%d", c.Rows, c.ExecutionsAdded, c.Duplicates, c.Rejected)
}

// Run runs the suite.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("ImportCommitsFillsRejectsAndMismatches", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		if imp.Status != imports.Queued || imp.Broker != imports.PresetIBKRFlex || imp.Timezone != "America/New_York" {
			t.Fatalf("created = %+v", imp)
		}
		if len(e.Queue.Jobs) != 1 || e.Queue.Jobs[0] != imports.KindRun {
			t.Fatalf("jobs = %v", e.Queue.Jobs)
		}
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
			t.Fatal(err)
		}
		got, err := e.Svc.Get(ctx, u, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != imports.Succeeded || counts(got.Counts) != "rows=9 added=8 duplicates=0 rejected=1" || got.TradesRebuilt != 4 {
			t.Fatalf("import = %s %s trades %d", got.Status, counts(got.Counts), got.TradesRebuilt)
		}
		if len(got.Rejected) != 1 || got.Rejected[0].Line != 14 || !strings.Contains(got.Rejected[0].Raw, `"abc"`) || got.Rejected[0].Reason == "" {
			t.Fatalf("rejected = %+v", got.Rejected)
		}
		if len(got.Mismatches) != 1 || got.Mismatches[0].Line != 11 || !got.Mismatches[0].BrokerPnL.Equal(decimal.RequireFromString("30.4")) ||
			!got.Mismatches[0].ComputedPnL.Equal(decimal.RequireFromString("29.4")) {
			t.Fatalf("mismatches = %+v", got.Mismatches)
		}
		ex := e.executions(t, u, trading.ExecutionFilter{ImportID: imp.ID})
		if len(ex) != 8 {
			t.Fatalf("%d executions carry the import's id, want 8", len(ex))
		}
		finished := 0
		for _, ev := range e.Events.Take() {
			if ev.Type == realtime.TypeImportFinished {
				finished++
				if ev.Payload["status"] != "succeeded" || ev.Payload["executions_imported"] != 8 {
					t.Errorf("import.finished = %v", ev.Payload)
				}
			}
		}
		if finished != 1 {
			t.Errorf("%d import.finished events, want 1", finished)
		}
		// A redelivered job finds the import done.
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
			t.Fatal(err)
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 8 {
			t.Fatalf("%d executions after a redelivery, want 8", n)
		}
	})

	t.Run("ReimportAndOverlapAddNothingTwice", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		first := e.upload(t, u, a, FlexFile, nil)
		again := e.upload(t, u, a, FlexFile, nil)
		if counts(first.Counts) != "rows=9 added=8 duplicates=0 rejected=1" || counts(again.Counts) != "rows=9 added=0 duplicates=8 rejected=1" {
			t.Fatalf("first %s, again %s", counts(first.Counts), counts(again.Counts))
		}
		// Fingerprints: an overlapping export of fills without IDs.
		g1 := e.upload(t, u, a, genericFile(genericRows[:3]...), nil)
		g2 := e.upload(t, u, a, genericFile(genericRows...), nil)
		if counts(g1.Counts) != "rows=3 added=3 duplicates=0 rejected=0" || counts(g2.Counts) != "rows=5 added=2 duplicates=3 rejected=0" {
			t.Fatalf("overlap: %s then %s", counts(g1.Counts), counts(g2.Counts))
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 13 {
			t.Fatalf("%d executions, want 13 (8 + 5)", n)
		}
		// A fill without an ID corrected by hand, then its export imported
		// again: the correction stands and nothing is added beside it.
		sells := e.executions(t, u, trading.ExecutionFilter{ImportID: g2.ID})
		fixed := sells[len(sells)-1]
		price := fixed.Price.Add(decimal.RequireFromString("0.5"))
		if _, _, err := e.Trading.Svc.UpdateExecution(ctx, u, fixed.ID, trading.ExecutionPatch{Price: &price}, 0); err != nil {
			t.Fatal(err)
		}
		g3 := e.upload(t, u, a, genericFile(genericRows...), nil)
		if counts(g3.Counts) != "rows=5 added=0 duplicates=5 rejected=0" {
			t.Fatalf("the export again after a correction: %s", counts(g3.Counts))
		}
		got, err := e.Trading.Svc.GetExecution(ctx, u, fixed.ID)
		if err != nil || !got.Price.Equal(price) {
			t.Fatalf("the corrected fill after the import = %+v, %v; want price %s", got, err, price)
		}
	})

	t.Run("AFileReadInAnotherZoneThanTheLastIsWarnedOf", func(t *testing.T) {
		// The same generic fills read in Berlin instead of New York fall
		// six hours apart: not recognised as the same, they would be added
		// again. The preview and the import say so; the same zone again
		// says nothing.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		body := genericFile(genericRows[:2]...)
		first := e.upload(t, u, a, body, nil)
		if first.Status != imports.Succeeded || len(first.Warnings) != 0 {
			t.Fatalf("first import: %s %v", first.Status, first.Warnings)
		}
		berlin := func(up *imports.Upload) { up.Timezone = "Europe/Berlin" }
		up := imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))}
		berlin(&up)
		p, err := e.Svc.Preview(ctx, u, up)
		if err != nil || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "read them in America/New_York") {
			t.Fatalf("preview in another zone: %v, %q", err, p.Warnings)
		}
		again := e.upload(t, u, a, body, berlin)
		if len(again.Warnings) != 1 || !strings.Contains(again.Warnings[0], "give timezone America/New_York") || again.Counts.ExecutionsAdded != 2 {
			t.Fatalf("import in another zone: %s %v", counts(again.Counts), again.Warnings)
		}
		// Now Berlin is the last: New York again is warned of, Berlin not.
		if same := e.upload(t, u, a, body, berlin); len(same.Warnings) != 0 || same.Counts.Duplicates != 2 {
			t.Fatalf("import in the last import's zone: %s %v", counts(same.Counts), same.Warnings)
		}
		// Times with an offset, or fills with a broker execution ID, do not
		// depend on the zone: nothing to warn of.
		tokyo := func(up *imports.Upload) { up.Timezone = "Asia/Tokyo" }
		exact := genericFile("AAPL,stock,buy,1,100,0,0,2026-05-04T14:00:00Z", "AAPL,stock,sell,1,101,0,0,2026-05-04T15:00:00Z")
		if imp := e.upload(t, u, a, exact, tokyo); imp.Status != imports.Succeeded || len(imp.Warnings) != 0 {
			t.Fatalf("times with an offset in another zone: %s %v", imp.Status, imp.Warnings)
		}
		ids := "symbol,asset_class,side,quantity,price,commission,fees,executed_at,broker_execution_id\n" +
			"MSFT,stock,buy,1,400,0,0,2026-05-04 10:00:00,x1\nMSFT,stock,sell,1,401,0,0,2026-05-04 11:00:00,x2\n"
		if imp := e.upload(t, u, a, ids, tokyo); imp.Status != imports.Succeeded || len(imp.Warnings) != 0 {
			t.Fatalf("fills with IDs in another zone: %s %v", imp.Status, imp.Warnings)
		}
	})

	t.Run("DateOnlySameDayShortsStayShort", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		ny := func(up *imports.Upload) { up.Timezone = "America/New_York" }
		const schwab = `"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"` + "\n"
		short := `"05/07/2026","Sell Short","TSLA","TESLA INC","100","$250.00","","$25,000.00"` + "\n"
		cover := `"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$245.00","","-$12,250.00"` + "\n"
		first := e.upload(t, u, a, schwab+short+cover, ny)
		// A later export of the same day, newest first, with one more cover.
		later := e.upload(t, u, a, schwab+`"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$240.00","","-$12,000.00"`+"\n"+cover+short, ny)
		if first.Broker != imports.PresetSchwab || counts(first.Counts) != "rows=2 added=2 duplicates=0 rejected=0" ||
			counts(later.Counts) != "rows=3 added=1 duplicates=2 rejected=0" {
			t.Fatalf("first %s %s, later %s", first.Broker, counts(first.Counts), counts(later.Counts))
		}
		const rh = `"Activity Date","Process Date","Settle Date","Instrument","Description","Trans Code","Quantity","Price","Amount"` + "\n"
		opt := e.upload(t, u, a, rh+`"5/5/2026","5/5/2026","5/6/2026","SPY","SPY 6/19/2026 Put $500.00","STO","2","$3.00","$600.00"`+"\n"+
			`"5/5/2026","5/5/2026","5/6/2026","SPY","SPY 6/19/2026 Put $500.00","BTC","2","$3.50","($700.00)"`+"\n", ny)
		if opt.Broker != imports.PresetRobinhood || counts(opt.Counts) != "rows=2 added=2 duplicates=0 rejected=0" {
			t.Fatalf("robinhood %s %s", opt.Broker, counts(opt.Counts))
		}
		page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{}, trading.Page{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tr := range page.Items {
			got = append(got, fmt.Sprintf("%s %s %s entry=%s exit=%s net=%s", tr.Symbol, tr.Direction, tr.Status, tr.AvgEntryPrice,
				tr.AvgExitPrice.Decimal, tr.NetPnL))
		}
		slices.Sort(got)
		want := []string{
			"SPY260619P00500000 short closed entry=3 exit=3.5 net=-100", // (3 − 3.5) × 2 × 100
			"TSLA short closed entry=250 exit=242.5 net=750",            // 50 × 5 + 50 × 10
		}
		if !slices.Equal(got, want) {
			t.Fatalf("trades:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
		}
	})

	t.Run("ConcurrentImportsOfOneFile", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		i1 := e.create(t, u, a, genericFile(genericRows...), nil)
		i2 := e.create(t, u, a, genericFile(genericRows...), nil)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for k, id := range []uuid.UUID{i1.ID, i2.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 20 { // a busy database asks for a retry, as the job runner would
					if errs[k] = e.Svc.Run(ctx, u, id); errs[k] == nil || !apperr.Is(errs[k], apperr.Unavailable) {
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		added := 0
		for k, id := range []uuid.UUID{i1.ID, i2.ID} {
			if errs[k] != nil {
				t.Fatalf("run %d: %v", k, errs[k])
			}
			got, err := e.Svc.Get(ctx, u, id)
			if err != nil {
				t.Fatal(err)
			}
			added += got.Counts.ExecutionsAdded
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 5 || added != 5 {
			t.Fatalf("%d executions, %d added in all; want 5 and 5", n, added)
		}
	})

	t.Run("KilledWorkerLeavesNothingAndTheRetryFinishesOnce", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		e.crash.mu.Lock()
		e.crash.fail = true
		e.crash.mu.Unlock()
		if err := e.Svc.Run(ctx, u, imp.ID); err == nil {
			t.Fatal("the killed attempt succeeded")
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 0 {
			t.Fatalf("%d executions left by the killed attempt", n)
		}
		for _, ev := range e.Events.Take() {
			if ev.Type == realtime.TypeImportFinished || ev.Type == realtime.TypeTradeCreated {
				t.Fatalf("the rolled-back attempt published %s", ev.Type)
			}
		}
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Svc.Get(ctx, u, imp.ID)
		if got.Status != imports.Succeeded || counts(got.Counts) != "rows=9 added=8 duplicates=0 rejected=1" {
			t.Fatalf("retry: %s %s", got.Status, counts(got.Counts))
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 8 {
			t.Fatalf("%d executions, want 8", n)
		}
	})

	// A worker paused past its heartbeat (a GC or VM freeze) is taken
	// over: the other attempt marks the import running again, so the
	// paused one's final update conflicts and rolls back. It must leave
	// the import to the attempt that owns it, not fail it.
	t.Run("ATakenOverAttemptLeavesTheImportToItsNewOwner", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		e.crash.mu.Lock()
		e.crash.takeover = true
		e.crash.mu.Unlock()
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
			t.Fatalf("the attempt taken over = %v; want its outcome dropped", err)
		}
		got, _ := e.Svc.Get(ctx, u, imp.ID)
		if got.Status != imports.Running {
			t.Fatalf("after the attempt taken over: %s %q; want running (the new owner's)", got.Status, got.Error)
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 0 {
			t.Fatalf("%d executions left by the attempt taken over", n)
		}
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil { // the new owner
			t.Fatal(err)
		}
		got, _ = e.Svc.Get(ctx, u, imp.ID)
		if got.Status != imports.Succeeded || counts(got.Counts) != "rows=9 added=8 duplicates=0 rejected=1" {
			t.Fatalf("the new owner: %s %s %q", got.Status, counts(got.Counts), got.Error)
		}
	})

	// An import whose job died out of retries (a database outage longer
	// than their backoff) is failed once StaleAfter has passed, recorded
	// so, with import.finished, instead of running for ever.
	t.Run("AnImportWhoseJobDiedFailsAfterAnHour", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		e.later.Store(int64(imports.StaleAfter - time.Minute))
		if got, err := e.Svc.Get(ctx, u, imp.ID); err != nil || got.Status != imports.Queued {
			t.Fatalf("before the hour: %+v, %v; want queued", got, err)
		}
		e.Events.Take()
		e.later.Store(int64(imports.StaleAfter + time.Minute))
		list, err := e.Svc.List(ctx, u, uuid.Nil, time.Time{}, 10)
		if err != nil || len(list) != 1 || list[0].Status != imports.Failed || list[0].Error == "" {
			t.Fatalf("listed after the hour: %+v, %v; want failed with a reason", list, err)
		}
		if stored, err := e.St.Imports.Get(ctx, u, imp.ID); err != nil || stored.Status != imports.Failed {
			t.Fatalf("stored after the hour: %+v, %v; want failed recorded", stored, err)
		}
		finished := 0
		for _, ev := range e.Events.Take() {
			if ev.Type == realtime.TypeImportFinished {
				finished++
			}
		}
		if finished != 1 {
			t.Fatalf("%d import.finished events; want 1", finished)
		}
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil { // a late redelivery does nothing
			t.Fatal(err)
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 0 {
			t.Fatalf("%d executions after the import failed", n)
		}
	})

	t.Run("StrictFailsWithNothingWritten", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		got := e.upload(t, u, a, FlexFile, func(up *imports.Upload) { up.Strict = true })
		if got.Status != imports.Failed || got.Counts.Rejected != 1 || len(got.Rejected) != 1 || got.Rejected[0].Line != 14 || got.Error == "" {
			t.Fatalf("strict import = %s %s %+v %q", got.Status, counts(got.Counts), got.Rejected, got.Error)
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != 0 {
			t.Fatalf("%d executions written by a failed strict import", n)
		}
	})

	t.Run("AFileOfManyChunksIsOneImport", func(t *testing.T) {
		// More fills than the job records at once (5,000): duplicates are
		// counted across chunks, identical fills without IDs keep their
		// ordinals across chunks, and a strict import whose bad row comes
		// after a written chunk leaves nothing.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		const n = 6000
		flex := string(FlexRows(n))
		lines := strings.Split(strings.TrimSuffix(flex, "\n"), "\n")
		body := flex + lines[1] + "\n" // the first fill again, after the first chunk
		got := e.upload(t, u, a, body, func(up *imports.Upload) { up.Timezone = "UTC" })
		if got.Status != imports.Succeeded || counts(got.Counts) != counts(imports.Counts{Rows: n + 1, ExecutionsAdded: n, Duplicates: 1}) {
			t.Fatalf("import = %s %s %q", got.Status, counts(got.Counts), got.Error)
		}
		if k := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); k != n {
			t.Fatalf("%d executions, want %d", k, n)
		}
		// Every closing fill (half of them) reports 49 against the
		// builder's -1 (bought and sold at one price, 0.50 commission
		// each way): each is listed once, in line order.
		if len(got.Mismatches) != n/2 {
			t.Fatalf("%d mismatches, want %d", len(got.Mismatches), n/2)
		}
		for i, m := range got.Mismatches {
			if m.BrokerPnL.String() != "49" || m.ComputedPnL.String() != "-1" || (i > 0 && m.Line <= got.Mismatches[i-1].Line) {
				t.Fatalf("mismatch %d = %+v", i, m)
			}
		}
		again := e.upload(t, u, a, body, func(up *imports.Upload) { up.Timezone = "UTC" })
		if counts(again.Counts) != counts(imports.Counts{Rows: n + 1, Duplicates: n + 1}) || len(again.Mismatches) != 0 {
			t.Fatalf("re-import = %s %s, %d mismatches", again.Status, counts(again.Counts), len(again.Mismatches))
		}

		// Identical fills without an ID, 5,001 rows apart: both genuine.
		rows := make([]string, 0, 5002)
		start := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
		rows = append(rows, "MSFT,stock,buy,1,100,0,0,"+start.Format(time.DateTime))
		for i := 1; i <= 5000; i++ {
			rows = append(rows, "MSFT,stock,buy,1,100,0,0,"+start.Add(time.Duration(i)*time.Second).Format(time.DateTime))
		}
		rows = append(rows, rows[0])
		_, b, err := e.freshAccount(t, u)
		if err != nil {
			t.Fatal(err)
		}
		gen := genericFile(rows...)
		got = e.upload(t, u, b, gen, func(up *imports.Upload) { up.Timezone = "UTC" })
		if counts(got.Counts) != counts(imports.Counts{Rows: 5002, ExecutionsAdded: 5002}) {
			t.Fatalf("generic import = %s %s %q", got.Status, counts(got.Counts), got.Error)
		}
		again = e.upload(t, u, b, gen, func(up *imports.Upload) { up.Timezone = "UTC" })
		if counts(again.Counts) != counts(imports.Counts{Rows: 5002, Duplicates: 5002}) {
			t.Fatalf("generic re-import = %s %s", again.Status, counts(again.Counts))
		}

		_, c, err := e.freshAccount(t, u)
		if err != nil {
			t.Fatal(err)
		}
		bad := flex + `"U1234567","STK","SYM01","USD","20260601;101500","BUY","abc","100","-0.5","bad.1","0"` + "\n"
		got = e.upload(t, u, c, bad, func(up *imports.Upload) { up.Strict = true; up.Timezone = "UTC" })
		if got.Status != imports.Failed || got.Counts.Rejected != 1 || len(got.Rejected) != 1 || got.Rejected[0].Line != n+2 || got.Counts.ExecutionsAdded != 0 {
			t.Fatalf("strict import = %s %s %+v", got.Status, counts(got.Counts), got.Rejected)
		}
		if k := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{c.ID}})); k != 0 {
			t.Fatalf("%d executions written by a failed strict import", k)
		}
	})

	t.Run("AnImportAcknowledgedWhileTheJobStoreIsDownRunsOnceItIsBack", func(t *testing.T) {
		// The upload is committed (row and file) though its job cannot be
		// queued: it stays queued, not failed; a read while the store is
		// still down leaves it so; the first read after enqueues its job,
		// which imports it.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.Queue.Down = true
		imp := e.create(t, u, a, FlexFile, nil)
		if got, err := e.Svc.Get(ctx, u, imp.ID); err != nil || got.Status != imports.Queued || len(e.Queue.Jobs) != 0 {
			t.Fatalf("while the job store is down: %v %v, %d jobs; want queued, none", got.Status, err, len(e.Queue.Jobs))
		}
		if e.Blobs.Len() != 1 {
			t.Fatalf("%d blobs, want the upload kept", e.Blobs.Len())
		}
		e.Queue.Down = false
		if got, err := e.Svc.Get(ctx, u, imp.ID); err != nil || got.Status != imports.Queued || len(e.Queue.Jobs) != 1 || e.Queue.Jobs[0] != imports.KindRun {
			t.Fatalf("once it is back: %v %v, jobs %v; want queued with its job", got.Status, err, e.Queue.Jobs)
		}
		if err := e.Svc.Run(ctx, u, imp.ID); err != nil {
			t.Fatal(err)
		}
		if got, err := e.Svc.Get(ctx, u, imp.ID); err != nil || got.Status != imports.Succeeded || got.Counts.ExecutionsAdded != 8 {
			t.Fatalf("after its job: %+v %v", got, err)
		}
	})

	t.Run("RequeueQueuedEnqueuesTheImportsLeftQueued", func(t *testing.T) {
		// The periodic maintenance.requeue_imports: every user's imports
		// still queued before the instant get their job again, the oldest
		// first; one that ran is not queued any more.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		v, b := e.user(t)
		e.Queue.Down = true
		first := e.create(t, u, a, FlexFile, nil)
		e.create(t, v, b, FlexFile, nil)
		e.Queue.Down = false
		// Earlier tests' imports left queued in a shared database are older
		// than these two: counted before the first, they are the base.
		base, err := e.Svc.RequeueQueued(ctx, first.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		jobs0 := len(e.Queue.Jobs)
		if n, err := e.Svc.RequeueQueued(ctx, time.Now().Add(time.Second)); err != nil || n != base+2 || len(e.Queue.Jobs) != jobs0+base+2 {
			t.Fatalf("requeue: %d (base %d), %v, jobs %v; want both users' imports", n, base, err, e.Queue.Jobs)
		}
		if err := e.Svc.Run(ctx, u, first.ID); err != nil {
			t.Fatal(err)
		}
		if n, err := e.Svc.RequeueQueued(ctx, time.Now().Add(time.Second)); err != nil || n != base+1 {
			t.Fatalf("after the first ran: %d (base %d), %v; want the other only", n, base, err)
		}
		e.Queue.Down = true
		if n, err := e.Svc.RequeueQueued(ctx, time.Now().Add(time.Second)); err == nil || n != 0 {
			t.Fatalf("with the job store down: %d, %v; want its error", n, err)
		}
	})

	t.Run("DeletingTheAccountDeletesItsFiles", func(t *testing.T) {
		// The uploaded files of an account's imports go with the account
		// (cascade), once the deletion commits; a refused deletion and
		// another account's imports keep theirs.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		_, other, err := e.freshAccount(t, u)
		if err != nil {
			t.Fatal(err)
		}
		imp := e.upload(t, u, a, FlexFile, nil)
		e.upload(t, u, a, genericFile(genericRows...), nil)
		kept := e.upload(t, u, other, FlexFile, nil)
		if e.Blobs.Len() != 3 {
			t.Fatalf("%d blobs, want the three uploads", e.Blobs.Len())
		}
		if err := e.Trading.Svc.DeleteAccount(ctx, u, a.ID, false); !isCode(err, apperr.Conflict, trading.CodeAccountHasData) {
			t.Fatalf("delete without cascade = %v", err)
		}
		if e.Blobs.Len() != 3 {
			t.Fatalf("%d blobs after a refused deletion, want 3", e.Blobs.Len())
		}
		if err := e.Trading.Svc.DeleteAccount(ctx, u, a.ID, true); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.Get(ctx, u, imp.ID); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) {
			t.Fatalf("an import of the deleted account: %v", err)
		}
		if e.Blobs.Len() != 1 {
			t.Fatalf("%d blobs after the account's deletion, want the other account's", e.Blobs.Len())
		}
		if got, err := e.Svc.Get(ctx, u, kept.ID); err != nil {
			t.Fatal(err)
		} else if _, err := e.Blobs.Stat(ctx, got.BlobKey); err != nil {
			t.Fatalf("the other account's file: %v", err)
		}
	})

	t.Run("UndoRemovesExactlyItsExecutions", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		manual, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy,
			Quantity: decimal.NewFromInt(5), Price: decimal.NewFromInt(160), ExecutedAt: time.Date(2026, 4, 30, 14, 0, 0, 0, time.UTC)}}, trading.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		imp := e.upload(t, u, a, FlexFile, nil)
		if e.Blobs.Len() != 1 {
			t.Fatalf("%d blobs, want the upload", e.Blobs.Len())
		}
		res, err := e.Svc.Undo(ctx, u, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExecutionsRemoved != 8 || res.TradesRebuilt == 0 {
			t.Fatalf("undo = %+v", res)
		}
		left := e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})
		if len(left) != 1 || left[0].ID != manual.Executions[0].ID {
			t.Fatalf("left %d executions, want the manual one", len(left))
		}
		if _, err := e.Svc.Get(ctx, u, imp.ID); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) {
			t.Fatalf("get undone import: %v", err)
		}
		if e.Blobs.Len() != 0 {
			t.Fatal("the undone import's file is still stored")
		}
		page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{}, trading.Sort{}, trading.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 1 || !page.Items[0].Quantity.Equal(decimal.NewFromInt(5)) {
			t.Fatalf("trades after undo = %d, want the manual one", len(page.Items))
		}
	})

	t.Run("UndoOfALargeImportRebuildsEachPositionOnce", func(t *testing.T) {
		// 2,500 fills in two positions: more than trading.MaxBatch, so a
		// delete in batches rebuilt both positions once per batch (the
		// cost grew with the square of the import's size).
		st := newStores(t)
		loads := &countingLedger{Ledger: st.Trading.Ledger}
		st.Trading.Ledger = loads
		e := NewEnv(t, st)
		u, a := e.user(t)
		at := time.Date(2026, 5, 4, 14, 0, 0, 0, time.UTC)
		manual, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy,
			Quantity: decimal.NewFromInt(5), Price: decimal.NewFromInt(160), ExecutedAt: at.Add(-time.Hour)}}, trading.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		const n = 2_500
		rows := make([]string, 0, n)
		for i := range n {
			sym := "AAPL"
			if i%2 == 1 {
				sym = "MSFT"
			}
			rows = append(rows, fmt.Sprintf("%s,stock,buy,1,%d,0,0,%s", sym, 100+i%7, at.Add(time.Duration(i)*time.Second).Format(time.DateTime)))
		}
		imp := e.upload(t, u, a, genericFile(rows...), nil)
		other := e.upload(t, u, a, genericFile("TSLA,stock,buy,3,200,0,0,2026-05-05 10:00:00"), nil)
		if got, err := e.Svc.Get(ctx, u, imp.ID); err != nil || got.Counts.ExecutionsAdded != n {
			t.Fatalf("import: %v %+v", err, got)
		}
		loads.n.Store(0)
		res, err := e.Svc.Undo(ctx, u, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if res.ExecutionsRemoved != n {
			t.Fatalf("undo removed %d executions, want %d", res.ExecutionsRemoved, n)
		}
		if k := loads.n.Load(); k != 2 {
			t.Fatalf("undo loaded positions %d times, want each of its 2 positions once", k)
		}
		left := e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})
		if len(left) != 2 || left[0].ImportID != other.ID || left[1].ID != manual.Executions[0].ID {
			t.Fatalf("left %d executions, want the other import's and the manual one", len(left))
		}
		page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{}, trading.Page{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Items) != 2 {
			t.Fatalf("%d trades after undo, want AAPL's manual one and TSLA's", len(page.Items))
		}
		for _, tr := range page.Items {
			if q := tr.Quantity.String(); (tr.Symbol == "AAPL" && q != "5") || (tr.Symbol == "TSLA" && q != "3") || tr.Symbol == "MSFT" {
				t.Fatalf("trade after undo: %s quantity %s", tr.Symbol, q)
			}
		}
	})

	t.Run("UndoInAnArchivedAccountIsRefusedAndKeepsEverything", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.upload(t, u, a, FlexFile, nil)
		yes := true
		if _, err := e.Trading.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Archived: &yes}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.Undo(ctx, u, imp.ID); !isCode(err, apperr.Conflict, trading.CodeAccountArchived) {
			t.Fatalf("undo in an archived account: %v", err)
		}
		if k := len(e.executions(t, u, trading.ExecutionFilter{ImportID: imp.ID})); k != 8 {
			t.Fatalf("%d of the import's 8 executions left after a refused undo", k)
		}
		if _, err := e.Svc.Get(ctx, u, imp.ID); err != nil {
			t.Fatalf("the import after a refused undo: %v", err)
		}
	})

	t.Run("UndoWaitsForARunningImport", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		if _, err := e.Svc.Undo(ctx, u, imp.ID); !isCode(err, apperr.Conflict, imports.CodeImportBusy) {
			t.Fatalf("undo of a queued import: %v", err)
		}
		// A job that died long ago leaves the import queued: undo takes it.
		old := *imp
		old.ID, old.CreatedAt, old.BlobKey = uuid.New(), time.Now().Add(-2*imports.StaleAfter), "imports/stale"
		if err := e.St.Imports.Create(ctx, &old); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.Undo(ctx, u, old.ID); err != nil {
			t.Fatalf("undo of a stale import: %v", err)
		}
	})

	t.Run("UndoOfARunningImportAnswersAtOnceWhileItHoldsTheWriteLock", func(t *testing.T) {
		// A running import holds the write lock (SQLite's database lock,
		// PostgreSQL's account lock) in its transaction until it commits:
		// the undo must answer import_in_progress without waiting for it
		// (a state check inside a transaction of its own timed out on
		// SQLite: 503 db_busy after 5 s).
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		imp := e.create(t, u, a, FlexFile, nil)
		imp.Status, imp.StartedAt, imp.Version = imports.Running, time.Now().UTC(), imp.Version+1
		if err := e.St.Imports.Update(ctx, imp); err != nil {
			t.Fatal(err)
		}
		holding, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		go func() {
			done <- e.St.Trading.Tx.Do(ctx, func(ctx context.Context) error {
				if _, err := e.St.Trading.Accounts.Get(ctx, u, a.ID, true); err != nil {
					close(holding)
					return err
				}
				close(holding)
				<-release
				return nil
			})
		}()
		<-holding
		uctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		_, err := e.Svc.Undo(uctx, u, imp.ID)
		cancel()
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("the import's transaction: %v", err)
		}
		if !isCode(err, apperr.Conflict, imports.CodeImportBusy) {
			t.Fatalf("undo of a running import holding the write lock: %v, want 409 import_in_progress", err)
		}
		if _, err := e.Svc.Get(ctx, u, imp.ID); err != nil {
			t.Fatalf("the running import after a refused undo: %v", err)
		}
	})

	t.Run("AnotherUsersImportIsNotFound", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		other, otherAcct := e.user(t)
		imp := e.upload(t, u, a, FlexFile, nil)
		if _, err := e.Svc.Get(ctx, other, imp.ID); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) {
			t.Errorf("get: %v", err)
		}
		if _, err := e.Svc.Undo(ctx, other, imp.ID); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) {
			t.Errorf("undo: %v", err)
		}
		if err := e.Svc.Run(ctx, other, imp.ID); err == nil {
			t.Error("run as another user succeeded")
		}
		up := imports.Upload{AccountID: a.ID, Body: strings.NewReader(FlexFile), Size: int64(len(FlexFile))}
		if _, err := e.Svc.Create(ctx, other, up); !isCode(err, apperr.NotFound, trading.CodeAccountNotFound) {
			t.Errorf("create into another user's account: %v", err)
		}
		if l, err := e.Svc.List(ctx, other, uuid.Nil, time.Time{}, 0); err != nil || len(l) != 0 {
			t.Errorf("list as another user = %d, %v", len(l), err)
		}
		if l, err := e.Svc.List(ctx, u, a.ID, time.Time{}, 0); err != nil || len(l) != 1 || l[0].ID != imp.ID || l[0].Rejected != nil {
			t.Errorf("list = %+v, %v", l, err)
		}
		if _, err := e.Svc.List(ctx, u, otherAcct.ID, time.Time{}, 0); !isCode(err, apperr.NotFound, trading.CodeAccountNotFound) {
			t.Errorf("list of another user's account: %v", err)
		}
		var sink bytes.Buffer
		if err := e.Svc.ExportExecutions(ctx, other, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}, &sink); !isCode(err, apperr.NotFound, trading.CodeAccountNotFound) || sink.Len() != 0 {
			t.Errorf("export of another user's account: %v (%d bytes)", err, sink.Len())
		}
		if err := e.Svc.ExportExecutions(ctx, other, trading.ExecutionFilter{ImportID: imp.ID}, &sink); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) || sink.Len() != 0 {
			t.Errorf("export of another user's import: %v", err)
		}
		if err := e.Svc.ExportTrades(ctx, other, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{}, &sink); !isCode(err, apperr.NotFound, trading.CodeAccountNotFound) || sink.Len() != 0 {
			t.Errorf("trades export of another user's account: %v", err)
		}
		if _, err := e.Svc.Get(ctx, u, imp.ID); err != nil {
			t.Errorf("the owner lost the import: %v", err)
		}
	})

	t.Run("UnknownFormatIsRefusedAndNothingKept", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		body := "foo,bar\n1,2\n"
		_, err := e.Svc.Create(ctx, u, imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if !isCode(err, apperr.Invalid, imports.CodeFormatUnknown) || !strings.Contains(err.Error(), imports.PresetTradovate) {
			t.Fatalf("err = %v", err)
		}
		if e.Blobs.Len() != 0 || len(e.Queue.Jobs) != 0 {
			t.Fatalf("%d blobs and %d jobs left by a refused upload", e.Blobs.Len(), len(e.Queue.Jobs))
		}
		big := imports.Upload{AccountID: a.ID, Body: strings.NewReader("x"), Size: imports.DefaultConfig().MaxBytes + 1}
		if _, err := e.Svc.Create(ctx, u, big); !isCode(err, apperr.Invalid, imports.CodeFileTooLarge) {
			t.Fatalf("too large: %v", err)
		}
		if _, err := e.Svc.Create(ctx, u, imports.Upload{AccountID: a.ID, Broker: "nope", Body: strings.NewReader(body), Size: 3}); !isCode(err, apperr.Invalid, imports.CodePresetUnknown) {
			t.Fatalf("unknown preset: %v", err)
		}
		if _, err := e.Svc.Create(ctx, u, imports.Upload{AccountID: a.ID, Timezone: "Mars/Olympus", Body: strings.NewReader(body), Size: 3}); !isCode(err, apperr.Invalid, imports.CodeTimezoneInvalid) {
			t.Fatalf("bad zone: %v", err)
		}
		// A file given the wrong preset, or a mapping naming a column it
		// lacks, is refused at once with the reason, and nothing is kept.
		generic := genericFile(genericRows...)
		for name, mod := range map[string]func(*imports.Upload){
			"wrong preset": func(up *imports.Upload) { up.Broker = imports.PresetMT5 },
			"mapping": func(up *imports.Upload) {
				up.Mapping = map[string]string{"symbol": "symbol", "side": "side", "quantity": "quantity", "price": "price", "executed_at": "executed_at", "commission": "Nope"}
			},
		} {
			up := imports.Upload{AccountID: a.ID, Body: strings.NewReader(generic), Size: int64(len(generic))}
			mod(&up)
			if _, err := e.Svc.Create(ctx, u, up); !isCode(err, apperr.Invalid, imports.CodeFormatUnknown) || !strings.Contains(err.Error(), map[string]string{"wrong preset": "MetaTrader", "mapping": "commission"}[name]) {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if e.Blobs.Len() != 0 || len(e.Queue.Jobs) != 0 {
			t.Fatalf("%d blobs and %d jobs left by refused uploads", e.Blobs.Len(), len(e.Queue.Jobs))
		}
	})

	t.Run("PreviewWritesNothing", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		var rows []string
		for i := range 200 {
			rows = append(rows, fmt.Sprintf("AAPL,stock,buy,1,%d,0,0,2026-05-01 10:00:00", 100+i))
		}
		body := genericFile(rows...)
		p, err := e.Svc.Preview(ctx, u, imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		if p.Broker != imports.PresetGeneric || len(p.Fills) != 50 || p.Columns["price"] != "price" || p.Timezone != "America/New_York" {
			t.Fatalf("preview = %s, %d fills, columns %v", p.Broker, len(p.Fills), p.Columns)
		}
		if !p.Fills[0].Input.ExecutedAt.Equal(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)) {
			t.Fatalf("first fill at %s", p.Fills[0].Input.ExecutedAt)
		}
		if e.Blobs.Len() != 0 || len(e.Queue.Jobs) != 0 || len(e.executions(t, u, trading.ExecutionFilter{})) != 0 {
			t.Fatal("a preview wrote something")
		}
		if l, _ := e.Svc.List(ctx, u, uuid.Nil, time.Time{}, 0); len(l) != 0 {
			t.Fatal("a preview recorded an import")
		}
	})

	t.Run("TheAccountsMultiplierOfARootOutsideTheTable", func(t *testing.T) {
		// ZQ (30-day Fed Funds) is not in the built-in table: its rows are
		// accepted, previewed and recorded in an account that sets its
		// multiplier, and rejected row by row in one that does not.
		e := NewEnv(t, newStores(t))
		u, plain := e.user(t)
		rates, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Rates", Currency: "USD", Multipliers: map[string]decimal.Decimal{"ZQ": decimal.NewFromInt(4167)}})
		if err != nil {
			t.Fatal(err)
		}
		body := genericFile("ZQZ6,future,buy,2,95.5,0,0,2026-05-04 10:00:00", "ZQZ6,future,sell,2,95.6,0,0,2026-05-04 10:30:00")
		p, err := e.Svc.Preview(ctx, u, imports.Upload{AccountID: rates.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil || len(p.Fills) != 2 || len(p.Rejected) != 0 {
			t.Fatalf("preview in the account = %+v, %v; want 2 fills, none rejected", p, err)
		}
		imp := e.upload(t, u, rates, body, nil)
		if imp.Status != imports.Succeeded || imp.Counts.ExecutionsAdded != 2 || imp.Counts.Rejected != 0 {
			t.Fatalf("import in the account = %s %+v %v", imp.Status, imp.Counts, imp.Rejected)
		}
		tp, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{rates.ID}}, trading.Sort{}, trading.Page{})
		if err != nil || len(tp.Items) != 1 || !tp.Items[0].GrossPnL.Equal(decimal.RequireFromString("833.4")) {
			t.Fatalf("ZQ trades = %+v, %v; want one of gross 833.4", tp.Items, err)
		}
		p, err = e.Svc.Preview(ctx, u, imports.Upload{AccountID: plain.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil || len(p.Fills) != 0 || len(p.Rejected) != 2 || !strings.Contains(p.Rejected[0].Reason, "ZQ") {
			t.Fatalf("preview in another account = %+v, %v; want both rows rejected naming ZQ", p, err)
		}
		imp = e.upload(t, u, plain, body, nil)
		if imp.Counts.ExecutionsAdded != 0 || imp.Counts.Rejected != 2 {
			t.Fatalf("import in another account = %s %+v", imp.Status, imp.Counts)
		}
		// Without an asset class column, a dated contract of the account's
		// root is a future there (a stock elsewhere).
		bare := "symbol,side,quantity,price,executed_at\nZQH7,buy,1,95.5,2026-05-05 10:00:00\nZQH7,sell,1,95.6,2026-05-05 10:30:00\n"
		if imp := e.upload(t, u, rates, bare, nil); imp.Status != imports.Succeeded || imp.Counts.ExecutionsAdded != 2 {
			t.Fatalf("ZQH7 without a class: %s %+v %v", imp.Status, imp.Counts, imp.Rejected)
		}
		ex := e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{rates.ID}, Symbols: []string{"ZQH27"}})
		if len(ex) != 2 || ex[0].AssetClass != trading.Future {
			t.Fatalf("ZQH7 without a class recorded as %+v; want two futures ZQH27", ex)
		}
	})

	t.Run("ACurrencyOtherThanTheInstrumentsFailsTheImport", func(t *testing.T) {
		// AAPL is held without a currency in a USD and a EUR account: a
		// file saying USD for it in a GBP account would move the EUR
		// account's trade. The preview warns, the import fails with the
		// reason and adds nothing; the same file into the USD account is
		// in its currency already and imports.
		e := NewEnv(t, newStores(t))
		u, usd := e.user(t)
		mk := func(name, cur string) *trading.Account {
			a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: name, Currency: cur})
			if err != nil {
				t.Fatal(err)
			}
			return a
		}
		eur, gbp := mk("EUR", "EUR"), mk("GBP", "GBP")
		at := time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)
		for _, a := range []*trading.Account{usd, eur} {
			if _, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy,
				Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(100), ExecutedAt: at}}, trading.AddOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		body := "symbol,side,quantity,price,executed_at,currency\nAAPL,buy,1,100,2026-05-04 10:00:00,USD\nAAPL,sell,1,101,2026-05-04 11:00:00,USD\n"
		p, err := e.Svc.Preview(ctx, u, imports.Upload{AccountID: gbp.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		if w := strings.Join(p.Warnings, "\n"); !strings.Contains(w, "line 2: AAPL is recorded without a currency") || !strings.Contains(w, "importing this file would fail") {
			t.Fatalf("preview warnings %q; want line 2's currency", p.Warnings)
		}
		if imp := e.upload(t, u, gbp, body, nil); imp.Status != imports.Failed || !strings.Contains(imp.Error, "currency") || imp.Counts.ExecutionsAdded != 0 {
			t.Fatalf("import into GBP = %s %q %s; want failed naming the currency", imp.Status, imp.Error, counts(imp.Counts))
		}
		if imp := e.upload(t, u, usd, body, nil); imp.Status != imports.Succeeded || imp.Counts.ExecutionsAdded != 2 {
			t.Fatalf("import into USD = %s %q %s", imp.Status, imp.Error, counts(imp.Counts))
		}
	})

	t.Run("ACurrencyNamedLateInTheFileIsTheFilesWhateverTheChunks", func(t *testing.T) {
		// A new symbol's rows without a currency, then one naming EUR, in a
		// USD account: the file is one batch, so its first 5,001 fills (a
		// chunk of 5,000 recorded before) do not hold the instrument against
		// the 5,002nd: every trade is in EUR, as with three rows.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		var b strings.Builder
		b.WriteString("symbol,side,quantity,price,executed_at,currency\n")
		at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
		for i := range 5002 {
			side, cur := "buy", ""
			if i%2 == 1 {
				side = "sell"
			}
			if i == 5001 {
				cur = "EUR"
			}
			fmt.Fprintf(&b, "BIGX,%s,1,%d,%s,%s\n", side, 100+i%2, at.Add(time.Duration(i)*time.Second).Format(time.RFC3339), cur)
		}
		imp := e.upload(t, u, a, b.String(), nil)
		if imp.Status != imports.Succeeded || imp.Counts.ExecutionsAdded != 5002 {
			t.Fatalf("import = %s %q %s", imp.Status, imp.Error, counts(imp.Counts))
		}
		page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{a.ID}}, trading.Sort{}, trading.Page{Limit: 5})
		if err != nil || len(page.Items) == 0 {
			t.Fatal(err)
		}
		for _, tr := range page.Items {
			if tr.Currency != "EUR" {
				t.Fatalf("trade %s in %s; want EUR", tr.Symbol, tr.Currency)
			}
		}
	})

	t.Run("AnExportGoesToAnAccountOfAnotherCurrencyInItsOwn", func(t *testing.T) {
		// MSFT has no currency of its own: its trades in a GBP account are
		// in GBP. Exported and imported into a JPY account they stay GBP
		// (the export names each fill's currency), not 1 JPY.
		e := NewEnv(t, newStores(t))
		u, _ := e.user(t)
		gbp, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "GBP", Currency: "GBP"})
		if err != nil {
			t.Fatal(err)
		}
		jpy, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "JPY", Currency: "JPY"})
		if err != nil {
			t.Fatal(err)
		}
		e.upload(t, u, gbp, "symbol,side,quantity,price,executed_at\nMSFT,buy,1,400,2026-05-04 10:00:00\nMSFT,sell,1,401,2026-05-04 11:00:00\n", nil)
		var out bytes.Buffer
		if err := e.Svc.ExportExecutions(ctx, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{gbp.ID}}, &out); err != nil {
			t.Fatal(err)
		}
		if imp := e.upload(t, u, jpy, out.String(), nil); imp.Status != imports.Succeeded || imp.Counts.ExecutionsAdded != 2 {
			t.Fatalf("re-import = %s %q %s", imp.Status, imp.Error, counts(imp.Counts))
		}
		page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{jpy.ID}}, trading.Sort{}, trading.Page{})
		if err != nil || len(page.Items) != 1 || page.Items[0].Currency != "GBP" || !page.Items[0].NetPnL.Equal(decimal.NewFromInt(1)) {
			t.Fatalf("trades in the JPY account = %+v, %v; want one of 1 GBP", page.Items, err)
		}
	})

	t.Run("PreviewWarnsOfAMultiplierTheImportWouldRefuse", func(t *testing.T) {
		// The account holds ZZM6 under multiplier 20. A file giving it 10,
		// or giving a contract new to the account two multipliers (its first
		// fill's, given or built in, is the one that holds), would fail when
		// it records: the preview says so, line by line, and the import does
		// fail.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		at := time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)
		held := []trading.ExecutionInput{
			{Symbol: "ZZM6", AssetClass: trading.Future, Side: trading.Buy, Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(100), Multiplier: decimal.NewFromInt(20), ExecutedAt: at},
			{Symbol: "ZZM6", AssetClass: trading.Future, Side: trading.Sell, Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(101), Multiplier: decimal.NewFromInt(20), ExecutedAt: at.Add(time.Minute)},
		}
		if _, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, held, trading.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		body := "symbol,asset_class,side,quantity,price,commission,fees,executed_at,multiplier\n" +
			"ZZM6,future,buy,1,100,0,0,2026-05-04 10:00:00,10\n" + // line 2: the account's is 20
			"ZZM6,future,sell,1,101,0,0,2026-05-04 10:01:00,20\n" +
			"ESM6,future,buy,1,5000,0,0,2026-05-04 10:02:00,\n" + // none given: ES's built-in 50
			"ESM6,future,sell,1,5001,0,0,2026-05-04 10:02:30,5\n" + // line 5: the file's first ES took 50
			"QQM6,future,buy,1,50,0,0,2026-05-04 10:03:00,5\n" +
			"QQM6,future,sell,1,51,0,0,2026-05-04 10:04:00,7\n" // line 7: the file's first QQM6 gave 5
		p, err := e.Svc.Preview(ctx, u, imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, w := range p.Warnings {
			if strings.Contains(w, "multiplier") {
				got = append(got, w)
			}
		}
		if len(got) != 3 || !strings.HasPrefix(got[0], "line 2: ZZM26 is recorded in this account with multiplier 20, not 10") ||
			!strings.HasPrefix(got[1], "line 5: ESM26 is recorded in this account with multiplier 50, not 5") ||
			!strings.HasPrefix(got[2], "line 7: QQM26 is recorded in this account with multiplier 5, not 7") ||
			!strings.HasSuffix(got[2], "importing this file would fail") {
			t.Fatalf("multiplier warnings %q; want lines 2, 5 and 7 only", got)
		}
		if len(p.Fills) != 6 {
			t.Fatalf("%d fills previewed; want 6 (rejected %+v)", len(p.Fills), p.Rejected)
		}
		// A row of two fills (MetaTrader's position: its open and its
		// close) is warned of once: EUR/USD held at 1 here, the file's
		// lots ×100,000.
		eu := []trading.ExecutionInput{{Symbol: "EUR/USD", AssetClass: trading.Forex, Side: trading.Buy, Quantity: decimal.NewFromInt(1000), Price: decimal.RequireFromString("1.08"), ExecutedAt: at}}
		if _, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, eu, trading.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		mt5 := "Positions\nTime,Position,Symbol,Type,Volume,Price,S / L,T / P,Time,Price,Commission,Swap,Profit\n" +
			"2026.05.01 10:15:00,5001,EURUSD,buy,1.00,1.08500,,,2026.05.01 12:30:00,1.08650,-7.00,0.00,150.00\n"
		p, err = e.Svc.Preview(ctx, u, imports.Upload{AccountID: a.ID, Broker: imports.PresetMT5, Body: strings.NewReader(mt5), Size: int64(len(mt5))})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		for _, w := range p.Warnings {
			if strings.Contains(w, "multiplier") {
				got = append(got, w)
			}
		}
		if len(p.Fills) != 2 || len(got) != 1 || !strings.HasPrefix(got[0], "line 3: EUR/USD is recorded in this account with multiplier 1") {
			t.Fatalf("MetaTrader preview: %d fills, multiplier warnings %q; want 2 fills and one warning for line 3", len(p.Fills), got)
		}
		// Another user's account: no figure of it is read (the preview is a 404).
		u2 := e.St.Trading.NewUser(t)
		if _, err := e.Svc.Preview(ctx, u2, imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))}); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's account: %v; want NotFound", err)
		}
		// What the preview warned of is what the run refuses.
		if imp := e.upload(t, u, a, body, nil); imp.Status != imports.Failed || !strings.Contains(imp.Error, "multiplier") {
			t.Fatalf("import = %s %q; want failed on the multiplier", imp.Status, imp.Error)
		}
		// Without the conflicting lines, no warning.
		clean := "symbol,asset_class,side,quantity,price,commission,fees,executed_at,multiplier\n" +
			"ZZM6,future,buy,1,100,0,0,2026-05-04 10:00:00,20\nQQM6,future,buy,1,50,0,0,2026-05-04 10:03:00,5\n"
		p, err = e.Svc.Preview(ctx, u, imports.Upload{AccountID: a.ID, Body: strings.NewReader(clean), Size: int64(len(clean))})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range p.Warnings {
			if strings.Contains(w, "multiplier") {
				t.Fatalf("warning %q for a file that agrees with the account", w)
			}
		}
	})

	t.Run("AnAccountsExportImportsBackIntoItUnderAnOverride", func(t *testing.T) {
		// ES fills recorded at the built-in 50, then the account overrides
		// ES to 5: its export writes 5 (the multiplier it values them at)
		// and imports back into the same account as duplicates, not as a
		// conflict with the 50 they were first recorded under.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.upload(t, u, a, "symbol,asset_class,side,quantity,price,commission,fees,executed_at,broker_execution_id\n"+
			"ESM6,future,buy,1,5300,0,0,2026-05-04 10:00:00,e1\nESM6,future,sell,1,5301,0,0,2026-05-04 10:10:00,e2\n", nil)
		m := map[string]decimal.Decimal{"ES": decimal.NewFromInt(5)}
		if _, err := e.Trading.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Multipliers: &m}, 0); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := e.Svc.ExportExecutions(ctx, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}, &out); err != nil {
			t.Fatal(err)
		}
		back := e.upload(t, u, a, out.String(), nil)
		if back.Status != imports.Succeeded || counts(back.Counts) != "rows=2 added=0 duplicates=2 rejected=0" {
			t.Fatalf("the export back into its account: %s %s %q %v", back.Status, counts(back.Counts), back.Error, back.Warnings)
		}
	})

	t.Run("ExportImportsBackExactly", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.upload(t, u, a, FlexFile, nil)
		body := genericFile(genericRows...) // fills without IDs, two identical
		e.upload(t, u, a, body, nil)
		inj := "MSFT,stock,buy,1,410,0,0,2026-05-01 10:00:00,\"=HYPERLINK(\"\"http://evil.example\"\")\"\n"
		e.upload(t, u, a, "symbol,asset_class,side,quantity,price,commission,fees,executed_at,broker_execution_id\n"+inj, nil)
		// A forex lot of 100,000 and a root outside the built-in table:
		// their multipliers must come back with them.
		e.upload(t, u, a, "symbol,asset_class,side,quantity,price,commission,fees,executed_at,multiplier\n"+
			"EUR/USD,forex,buy,1,1.1,0,0,2026-05-02 10:00:00,100000\nEUR/USD,forex,sell,1,1.101,0,0,2026-05-02 11:00:00,100000\n"+
			"XBTZ26,future,buy,1,100,0,0,2026-05-02 10:00:00,0.5\nXBTZ26,future,sell,1,110,0,0,2026-05-02 11:00:00,0.5\n", nil)
		var out bytes.Buffer
		if err := e.Svc.ExportExecutions(ctx, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}, &out); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "'=HYPERLINK(") {
			t.Fatalf("the formula is not escaped in the export:\n%s", out.String())
		}
		_, fresh, err := e.freshAccount(t, u)
		if err != nil {
			t.Fatal(err)
		}
		back := e.upload(t, u, fresh, out.String(), nil)
		if back.Broker != imports.PresetGeneric || back.Counts.ExecutionsAdded != 18 || back.Counts.Rejected != 0 {
			t.Fatalf("re-import: %s %s %q %+v", back.Broker, counts(back.Counts), back.Error, back.Rejected)
		}
		key := func(x trading.Execution) string {
			return fmt.Sprintf("%s %s %s %s %s %s %s %d %s", x.Symbol, x.AssetClass, x.Side, x.Quantity, x.Price, x.Commission, x.Fees, x.ExecutedAt.UnixNano(), x.BrokerExecutionID)
		}
		var want, got []string
		for _, x := range e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}) {
			want = append(want, key(x))
		}
		for _, x := range e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{fresh.ID}}) {
			got = append(got, key(x))
		}
		slices.Sort(want)
		slices.Sort(got)
		if !slices.Equal(want, got) {
			t.Fatalf("round trip differs:\n got %q\nwant %q", got, want)
		}
		if !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, `=HYPERLINK("http://evil.example")`) }) {
			t.Fatal("the payload did not come back as text")
		}
		pnl := func(acct uuid.UUID) map[string]string {
			page, err := e.Trading.Svc.ListTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{acct}}, trading.Sort{}, trading.Page{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			out := map[string]string{}
			for _, tr := range page.Items {
				out[tr.Symbol+" "+tr.OpenedAt.String()] = tr.Multiplier.String() + " " + tr.GrossPnL.String()
			}
			return out
		}
		lot := func(m map[string]string) bool {
			return slices.ContainsFunc(slices.Collect(maps.Keys(m)), func(k string) bool { return strings.HasPrefix(k, "EUR/USD ") && m[k] == "100000 100" })
		}
		if w, g := pnl(a.ID), pnl(fresh.ID); !maps.Equal(w, g) || !lot(w) {
			t.Fatalf("trades after the round trip:\n got %v\nwant %v", g, w)
		}
		var trades bytes.Buffer
		if err := e.Svc.ExportTrades(ctx, u, trading.Filter{AccountIDs: []uuid.UUID{fresh.ID}}, trading.Sort{}, &trades); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(trades.String(), "\n"); n < 5 || !strings.HasPrefix(trades.String(), "id,account_id,symbol") {
			t.Fatalf("trades export:\n%s", trades.String())
		}
	})

	t.Run("TheAccountsOwnExportIsDuplicates", func(t *testing.T) {
		// An export imported back into its own account adds nothing,
		// also for fills corrected since they were recorded (an imported
		// one and a manual one): each row names the execution it came
		// from. Into a fresh account the same file adds every row.
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		e.upload(t, u, a, genericFile(genericRows...), nil)
		at := time.Date(2026, 5, 4, 15, 0, 0, 0, time.UTC)
		if _, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{{Symbol: "NVDA", AssetClass: trading.Stock, Side: trading.Buy,
			Quantity: decimal.RequireFromString("3"), Price: decimal.RequireFromString("120"), ExecutedAt: at}}, trading.AddOptions{}); err != nil {
			t.Fatal(err)
		}
		before := e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})
		corrected, imported := 0, false
		for _, x := range before {
			if x.Symbol != "NVDA" && (imported || x.ImportID == uuid.Nil) {
				continue
			}
			imported = imported || x.ImportID != uuid.Nil
			p := x.Price.Add(decimal.RequireFromString("1.25"))
			if _, _, err := e.Trading.Svc.UpdateExecution(ctx, u, x.ID, trading.ExecutionPatch{Price: &p}, x.Version); err != nil {
				t.Fatal(err)
			}
			corrected++
		}
		if corrected != 2 {
			t.Fatalf("corrected %d fills, want an imported one and the manual one", corrected)
		}
		var out bytes.Buffer
		if err := e.Svc.ExportExecutions(ctx, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}, &out); err != nil {
			t.Fatal(err)
		}
		back := e.upload(t, u, a, out.String(), nil)
		if back.Status != imports.Succeeded || back.Counts.ExecutionsAdded != 0 || back.Counts.Duplicates != len(before) {
			t.Fatalf("own export into its account: %s %s %+v; want %d duplicates, nothing added", back.Status, counts(back.Counts), back.Rejected, len(before))
		}
		if n := len(e.executions(t, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}})); n != len(before) {
			t.Fatalf("%d executions after the re-import, want %d", n, len(before))
		}
		_, fresh, err := e.freshAccount(t, u)
		if err != nil {
			t.Fatal(err)
		}
		if got := e.upload(t, u, fresh, out.String(), nil); got.Counts.ExecutionsAdded != len(before) {
			t.Fatalf("own export into a fresh account: %s; want %d added", counts(got.Counts), len(before))
		}
	})

	t.Run("ImportsRepository", func(t *testing.T) {
		st := newStores(t)
		e := NewEnv(t, st)
		u, a := e.user(t)
		other := st.Trading.NewUser(t)
		at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
		imp := &imports.Import{ID: uuid.New(), UserID: u, AccountID: a.ID, Broker: imports.PresetGeneric, Filename: "f.csv", BlobKey: "imports/x", Size: 10,
			Timezone: "UTC", Mapping: map[string]string{"symbol": "Ticker"}, Status: imports.Queued, CreatedAt: at, Version: 1}
		if err := st.Imports.Create(ctx, imp); err != nil {
			t.Fatal(err)
		}
		if err := st.Imports.Create(ctx, imp); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("create twice: %v", err)
		}
		imp.Status, imp.Version = imports.Succeeded, 2
		imp.Counts = imports.Counts{Rows: 3, ExecutionsAdded: 1, Duplicates: 1, Rejected: 1}
		imp.Rejected = []imports.RejectedRow{{Line: 2, Raw: "a,\"b\nc\"", Reason: "bad"}, {Line: 9, Raw: "z", Reason: "worse"}}
		imp.Mismatches = []imports.Mismatch{{Line: 4, BrokerPnL: decimal.RequireFromString("-12.345678901234"), ComputedPnL: decimal.RequireFromString("1.5")}}
		imp.Warnings, imp.FinishedAt = []string{"w"}, at.Add(time.Second)
		if err := st.Imports.Update(ctx, imp); err != nil {
			t.Fatal(err)
		}
		stale := *imp
		if err := st.Imports.Update(ctx, &stale); !isCode(err, apperr.Conflict, trading.CodeVersionMismatch) {
			t.Fatalf("stale update: %v", err)
		}
		got, err := st.Imports.Get(ctx, u, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != imports.Succeeded || got.Counts != imp.Counts || got.Mapping["symbol"] != "Ticker" || len(got.Warnings) != 1 ||
			!got.FinishedAt.Equal(imp.FinishedAt) || !got.CreatedAt.Equal(at) || got.Version != 2 {
			t.Fatalf("got %+v", got)
		}
		if len(got.Rejected) != 2 || got.Rejected[0] != imp.Rejected[0] || got.Rejected[1] != imp.Rejected[1] {
			t.Fatalf("rejected = %+v", got.Rejected)
		}
		if len(got.Mismatches) != 1 || !got.Mismatches[0].BrokerPnL.Equal(imp.Mismatches[0].BrokerPnL) || got.Mismatches[0].Line != 4 {
			t.Fatalf("mismatches = %+v", got.Mismatches)
		}
		if _, err := st.Imports.Get(ctx, other, imp.ID); !isCode(err, apperr.NotFound, imports.CodeImportNotFound) {
			t.Fatalf("get as another user: %v", err)
		}
		older := &imports.Import{ID: uuid.New(), UserID: u, AccountID: a.ID, Broker: imports.PresetMT5, BlobKey: "k", Timezone: "UTC", Status: imports.Queued,
			CreatedAt: at.Add(-time.Hour), Version: 1}
		if err := st.Imports.Create(ctx, older); err != nil {
			t.Fatal(err)
		}
		l, err := st.Imports.List(ctx, u, uuid.Nil, time.Time{}, 10)
		if err != nil || len(l) != 2 || l[0].ID != imp.ID || l[1].ID != older.ID {
			t.Fatalf("list = %v, %v", l, err)
		}
		if l, _ := st.Imports.List(ctx, u, uuid.Nil, at, 10); len(l) != 1 || l[0].ID != older.ID {
			t.Fatalf("list before = %v", l)
		}
		if err := st.Imports.Delete(ctx, other, imp.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("delete as another user: %v", err)
		}
		if err := st.Imports.Delete(ctx, u, imp.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Imports.Get(ctx, u, imp.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("get deleted: %v", err)
		}
	})

	t.Run("Mappings", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		other := e.St.Trading.NewUser(t)
		cols := map[string]string{"symbol": "Ticker", "side": "Dir", "quantity": "Shares", "price": "Fill Price", "executed_at": "When"}
		m, err := e.Svc.CreateMapping(ctx, u, imports.MappingInput{Name: "My broker", Columns: cols})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.CreateMapping(ctx, u, imports.MappingInput{Name: "my BROKER ", Columns: cols}); !isCode(err, apperr.Conflict, imports.CodeMappingTaken) {
			t.Fatalf("taken name: %v", err)
		}
		if _, err := e.Svc.CreateMapping(ctx, u, imports.MappingInput{Name: "x", Columns: map[string]string{"symbol": "a"}}); !isCode(err, apperr.Invalid, imports.CodeMappingInvalid) {
			t.Fatalf("bad mapping: %v", err)
		}
		if _, err := e.Svc.GetMapping(ctx, other, m.ID); !isCode(err, apperr.NotFound, imports.CodeMappingNotFound) {
			t.Fatalf("another user's mapping: %v", err)
		}
		cols2 := map[string]string{"symbol": "Ticker", "side": "Dir", "quantity": "Shares", "price": "Fill Price", "date": "Day", "time": "At"}
		m2, err := e.Svc.UpdateMapping(ctx, u, m.ID, imports.MappingInput{Name: "Renamed", Columns: cols2}, 1)
		if err != nil || m2.Version != 2 {
			t.Fatalf("update: %v", err)
		}
		if _, err := e.Svc.UpdateMapping(ctx, u, m.ID, imports.MappingInput{Name: "Again", Columns: cols2}, 1); !isCode(err, apperr.Conflict, "version_mismatch") {
			t.Fatalf("stale update: %v", err)
		}
		if l, err := e.Svc.ListMappings(ctx, u); err != nil || len(l) != 1 || l[0].Name != "Renamed" || l[0].Columns["date"] != "Day" {
			t.Fatalf("list = %+v, %v", l, err)
		}
		body := "Ticker,Dir,Shares,Fill Price,Day,At\nMSFT,B,3,\"1,410.25\",05/01/2026,10:00:00\n"
		// A mapping is one, and for the generic preset: none is silently
		// ignored.
		for name, mod := range map[string]func(*imports.Upload){
			"both":           func(up *imports.Upload) { up.MappingID, up.Mapping = m.ID, cols2 },
			"another preset": func(up *imports.Upload) { up.MappingID, up.Broker = m.ID, imports.PresetSchwab },
		} {
			up := imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body))}
			mod(&up)
			if _, err := e.Svc.Preview(ctx, u, up); !isCode(err, apperr.Invalid, imports.CodeMappingInvalid) {
				t.Fatalf("preview with a mapping given %s: %v", name, err)
			}
		}
		// A column the mapping names that the file does not have is
		// refused, naming the field: an optional one too, which would
		// otherwise lose every fill's commission (or time) silently.
		for field, col := range map[string]string{"commission": "Comm", "time": "Time"} {
			cols := maps.Clone(cols2)
			cols[field] = col
			up := imports.Upload{AccountID: a.ID, Body: strings.NewReader(body), Size: int64(len(body)), Mapping: cols}
			_, err := e.Svc.Preview(ctx, u, up)
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || !strings.Contains(e.Message, field) {
				t.Fatalf("preview with a mapped %s column the file lacks: %v", field, err)
			}
		}
		imp := e.upload(t, u, a, body, func(up *imports.Upload) { up.MappingID = m.ID })
		if imp.Broker != imports.PresetGeneric || imp.Counts.ExecutionsAdded != 1 {
			t.Fatalf("import with a saved mapping: %s %s %q", imp.Broker, counts(imp.Counts), imp.Error)
		}
		ex := e.executions(t, u, trading.ExecutionFilter{ImportID: imp.ID})
		if len(ex) != 1 || !ex[0].Price.Equal(decimal.RequireFromString("1410.25")) || !ex[0].ExecutedAt.Equal(time.Date(2026, 5, 1, 14, 0, 0, 0, time.UTC)) {
			t.Fatalf("executions = %+v", ex)
		}
		if err := e.Svc.DeleteMapping(ctx, other, m.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("delete as another user: %v", err)
		}
		if err := e.Svc.DeleteMapping(ctx, u, m.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.GetMapping(ctx, u, m.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("deleted mapping: %v", err)
		}
	})
}

// FlexRows returns an IBKR Flex export of n fills (about 100 bytes each):
// 50 symbols, each bought and sold in turn, one execution ID per fill.
func FlexRows(n int) []byte {
	var b strings.Builder
	b.Grow(n*110 + 512)
	b.WriteString(`"ClientAccountID","AssetClass","Symbol","CurrencyPrimary","DateTime","Buy/Sell","Quantity","TradePrice","IBCommission","IBExecID","FifoPnlRealized"` + "\n")
	start := time.Date(2026, 1, 5, 9, 30, 0, 0, time.UTC)
	for i := range n {
		side, qty, pnl := "BUY", "100", "0"
		if (i/50)%2 == 1 {
			side, qty, pnl = "SELL", "-100", "49"
		}
		at := start.Add(time.Duration(i) * time.Second)
		fmt.Fprintf(&b, `"U1234567","STK","SYM%02d","USD","%s","%s","%s","%d.%02d","-0.5","%010d.%04d.01.01","%s"`+"\n",
			i%50, at.Format("20060102;150405"), side, qty, 100+i%50, (i/100)%2*50, i, i%10000, pnl)
	}
	return []byte(b.String())
}

// WithConfig returns a service like e.Svc with cfg (benchmarks raise
// MaxBytes).
func (e *Env) WithConfig(t testing.TB, cfg imports.Config) *imports.Service {
	t.Helper()
	svc, err := imports.NewService(cfg, imports.Deps{Imports: e.crash, Mappings: e.St.Mappings, Trading: e.Trading.Svc, Blobs: e.Blobs,
		Jobs: e.Queue, Events: e.Events, Tx: e.St.Trading.Tx,
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return e.Trading.Zone, nil })})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// CSVRecords reads data with encoding/csv alone, reusing one record, and
// returns how many records (the header included) it held: the floor the
// import benchmarks compare the parser with.
func CSVRecords(data []byte) (int, error) {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	n := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// countingLedger counts the positions loaded (PositionExecutions calls).
type countingLedger struct {
	trading.Ledger
	n atomic.Int64
}

func (l *countingLedger) PositionExecutions(ctx context.Context, key trading.PositionKey) ([]trading.Execution, error) {
	l.n.Add(1)
	return l.Ledger.PositionExecutions(ctx, key)
}
