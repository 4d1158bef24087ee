package tradingtest

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// RunRecord runs the contract cases of trading.Service.RecordExecutions
// (an import's executions recorded chunk by chunk in one transaction).
func RunRecord(t *testing.T, newStores Factory) {
	ctx := context.Background()
	imp := trading.AddOptions{ImportID: uuid.New(), SkipDuplicates: true}
	chunks := func(cs ...[]trading.ExecutionInput) func(context.Context, trading.RecordFunc) error {
		return func(_ context.Context, record trading.RecordFunc) error {
			for _, c := range cs {
				if _, err := record(c); err != nil {
					return err
				}
			}
			return nil
		}
	}

	t.Run("ChunksAreOneWriteRebuiltOnce", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		id := stock(0, trading.Buy, "10", "100", "1")
		id.BrokerExecutionID = "x1"
		same := stock(5, trading.Buy, "1", "100") // identical fills without an ID: both kept
		var ids [][]uuid.UUID
		var seen []uuid.UUID
		o := imp
		o.EachTrade = func(tr *trading.Trade) { seen = append(seen, tr.ID) }
		res, err := e.Svc.RecordExecutions(ctx, u, a.ID, o, func(_ context.Context, record trading.RecordFunc) error {
			for _, c := range [][]trading.ExecutionInput{
				{id, same, stock(10, trading.Sell, "5", "110", "1")},
				{same, id, stock(20, trading.Sell, "7", "120", "1"), id}, // id: a duplicate of the first chunk
			} {
				got, err := record(c)
				if err != nil {
					return err
				}
				ids = append(ids, append([]uuid.UUID(nil), got...))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Added != 5 || res.Duplicates != 2 || res.TradesTouched != 1 || len(seen) != 1 {
			t.Fatalf("result %+v, %d trades seen; want 5 added, 2 duplicates, 1 trade", res, len(seen))
		}
		nils := 0
		for _, c := range ids {
			for _, x := range c {
				if x == uuid.Nil {
					nils++
				}
			}
		}
		if len(ids) != 2 || len(ids[0]) != 3 || len(ids[1]) != 4 || nils != 2 || ids[1][1] != uuid.Nil || ids[1][3] != uuid.Nil {
			t.Fatalf("ids %v", ids)
		}
		trs := e.trades(t, u, trading.Filter{}, trading.Sort{})
		if len(trs) != 1 || !trs[0].Quantity.Equal(d("12")) {
			t.Fatalf("trades %+v; want one of 12", trs)
		}
		execs, _, err := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{ImportID: imp.ImportID}, trading.Page{Limit: 100})
		if err != nil || len(execs) != 5 {
			t.Fatalf("%d executions of the import (%v)", len(execs), err)
		}
	})

	t.Run("AFailingChunkLeavesNothing", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		bad := stock(30, trading.Buy, "0", "100")
		_, err := e.Svc.RecordExecutions(ctx, u, a.ID, imp, chunks(
			[]trading.ExecutionInput{stock(0, trading.Buy, "1", "100"), stock(1, trading.Buy, "1", "100")},
			[]trading.ExecutionInput{stock(2, trading.Buy, "1", "100"), bad}))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Fields["executions[3].quantity"] == "" {
			t.Fatalf("err = %v; want Invalid naming executions[3].quantity", err)
		}
		strict := trading.AddOptions{ImportID: uuid.New()}
		dup := stock(0, trading.Buy, "1", "100")
		dup.BrokerExecutionID = "d1"
		_, err = e.Svc.RecordExecutions(ctx, u, a.ID, strict, chunks([]trading.ExecutionInput{dup}, []trading.ExecutionInput{stock(9, trading.Buy, "1", "1"), dup}))
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Conflict || e.Code != trading.CodeExecutionDuplicate || e.Fields["executions[2]"] == "" {
			t.Fatalf("err = %v; want Conflict execution_duplicate naming executions[2]", err)
		}
		execs, _, err := e.Svc.ListExecutions(ctx, u, trading.ExecutionFilter{AccountIDs: []uuid.UUID{a.ID}}, trading.Page{Limit: 100})
		if err != nil || len(execs) != 0 {
			t.Fatalf("%d executions after failed recordings (%v)", len(execs), err)
		}
		if _, err := e.Svc.RecordExecutions(ctx, u, a.ID, trading.AddOptions{}, chunks()); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("without an import: %v", err)
		}
	})

	t.Run("MultiplierPerAccount", func(t *testing.T) {
		// An import's multiplier is its account's (see the contract suite's
		// MultipliersPerAccount): another account's first import does not
		// fix it, and one against the account's executions is refused.
		e := NewEnv(t, newStores(t))
		u, a1 := e.user(t)
		a2, fx := e.account(t, u, "Second"), eurusd
		if _, err := e.Svc.RecordExecutions(ctx, u, a1.ID, imp, chunks([]trading.ExecutionInput{fx(0, trading.Buy, "1", "1.085", "100000"), fx(60, trading.Sell, "1", "1.0865", "100000")})); err != nil {
			t.Fatal(err)
		}
		flex := trading.AddOptions{ImportID: uuid.New(), SkipDuplicates: true}
		if _, err := e.Svc.RecordExecutions(ctx, u, a2.ID, flex, chunks([]trading.ExecutionInput{fx(0, trading.Buy, "20000", "1.085", "1")}, []trading.ExecutionInput{fx(60, trading.Sell, "20000", "1.086", "1")})); err != nil {
			t.Fatal(err)
		}
		trs := e.trades(t, u, trading.Filter{AccountIDs: []uuid.UUID{a2.ID}}, trading.Sort{})
		if len(trs) != 1 {
			t.Fatalf("%d trades in the second account", len(trs))
		}
		eqD(t, "second account's multiplier", trs[0].Multiplier, "1")
		eqD(t, "second account's gross", trs[0].GrossPnL, "20")
		_, err := e.Svc.RecordExecutions(ctx, u, a2.ID, trading.AddOptions{ImportID: uuid.New(), SkipDuplicates: true},
			chunks([]trading.ExecutionInput{fx(120, trading.Buy, "1", "1.085", "1")}, []trading.ExecutionInput{fx(180, trading.Buy, "1", "1.085", "100000")}))
		if ae, ok := apperr.As(err); !ok || ae.Kind != apperr.Invalid || ae.Fields["executions[1].multiplier"] == "" {
			t.Fatalf("an import against the account's multiplier: %v; want Invalid naming executions[1].multiplier", err)
		}
	})

	t.Run("AccountRules", func(t *testing.T) {
		e := NewEnv(t, newStores(t))
		u, a := e.user(t)
		other, _ := e.user(t)
		one := chunks([]trading.ExecutionInput{stock(0, trading.Buy, "1", "100")})
		if _, err := e.Svc.RecordExecutions(ctx, other, a.ID, imp, one); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's account: %v", err)
		}
		yes := true
		if _, err := e.Svc.UpdateAccount(ctx, u, a.ID, trading.AccountPatch{Archived: &yes}, a.Version); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.RecordExecutions(ctx, u, a.ID, imp, one); !isCode(err, apperr.Conflict, trading.CodeAccountArchived) {
			t.Fatalf("archived account: %v", err)
		}
		// Nothing to record touches nothing, archived or not.
		if res, err := e.Svc.RecordExecutions(ctx, u, a.ID, imp, chunks()); err != nil || res.Added != 0 {
			t.Fatalf("empty recording: %+v %v", res, err)
		}
	})
}
