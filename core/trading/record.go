package trading

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

// RecordFunc records one chunk of executions inside RecordExecutions'
// transaction; see RecordExecutions. It returns, for each input, the ID of
// the stored execution, or uuid.Nil for a duplicate that was skipped. The
// slice is reused by the next call: copy what must outlive it.
type RecordFunc func(ins []ExecutionInput) ([]uuid.UUID, error)

// NewExecutionsInserter is an optional port of an Executions adapter that
// RecordExecutions uses when the adapter has it: InsertNew stores the
// executions of es (one account, fingerprints distinct within es, IDs and
// versions set) whose fingerprint the account does not hold yet, inside
// the transaction ctx carries, and reports for each whether it was stored
// (false: a duplicate, skipped). Without it RecordExecutions looks the
// chunk's fingerprints up (Fingerprinted) and inserts the rest (Insert).
type NewExecutionsInserter interface {
	InsertNew(ctx context.Context, es []*Execution) ([]bool, error)
}

// RecordResult is what RecordExecutions did.
type RecordResult struct {
	// Added and Duplicates count the executions stored and the inputs
	// skipped as duplicates, over every chunk.
	Added, Duplicates int
	// TradesTouched counts the trades created or changed by the rebuild.
	TradesTouched int
}

// RecordExecutions records an import's executions chunk by chunk in one
// transaction, and rebuilds the positions they touch once, at the end of
// it: feed is called (inside the transaction) with record, and calls it
// for each chunk of inputs as it reads them. Nothing of the chunks is kept
// but the affected positions and the fingerprint ordinals of the fills
// without a broker execution ID, so memory does not grow with the number
// of executions.
//
// Each chunk is checked, deduplicated and stored exactly as one
// AddExecutions call over the concatenation of every chunk would: the
// ordinal of Fingerprint counts identical fills over all chunks, a
// fingerprint held by the account or by an earlier chunk (or repeated
// within the chunk) is a duplicate — skipped with SkipDuplicates, else
// apperr.Conflict "execution_duplicate" — and a bad input fails with
// apperr.Invalid naming "executions[i].field", i counted over all chunks.
// The account's write lock is taken with the first chunk and held until
// the transaction ends, so two imports into one account at once add each
// fill once. apperr.NotFound "account_not_found", apperr.Conflict
// "account_archived" as AddExecutions. An error from record or feed rolls
// everything back; o.ImportID is required (imports only), o.Lean is
// implied, o.EachTrade is called during the final rebuild.
func (s *Service) RecordExecutions(ctx context.Context, userID, accountID uuid.UUID, o AddOptions,
	feed func(ctx context.Context, record RecordFunc) error) (*RecordResult, error) {
	if o.ImportID == uuid.Nil {
		return nil, apperr.Validation("no import", map[string]string{"import_id": "required to record executions in chunks"})
	}
	var res *RecordResult
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		r := &recorder{s: s, ctx: ctx, userID: userID, accountID: accountID, o: o,
			insts: map[instrumentKey]resolved{}, positions: map[uuid.UUID]bool{}}
		if err := feed(ctx, r.record); err != nil {
			return err
		}
		if err := r.finish(ch); err != nil {
			return err
		}
		res = &r.res
		return nil
	})
	return res, err
}

// instrumentKey identifies an input's instrument terms (the cache of
// recorder.instrument).
type instrumentKey struct {
	class                AssetClass
	symbol               string
	year                 int
	mult, tick, currency string
}

// recorder is one RecordExecutions call's state.
type recorder struct {
	s                 *Service
	ctx               context.Context
	userID, accountID uuid.UUID
	o                 AddOptions
	account           *Account // locked at the first chunk
	insts             map[instrumentKey]resolved
	// ordinals counts the fills without a broker execution ID by their
	// ordinal-0 fingerprint (its 32 bytes).
	ordinals  map[[32]byte]int
	positions map[uuid.UUID]bool
	// pinned caches the account's multipliers (Service.pin).
	pinned map[uuid.UUID]decimal.Decimal
	n      int // inputs before the current chunk
	res    RecordResult

	// buffers of one chunk, reused
	execs   []Execution
	keep    []*Execution
	fps     []string
	ids     []uuid.UUID
	inChunk map[string]bool
}

// decimalKey is d's text, "" for zero (the common case, without a String).
func decimalKey(d decimal.Decimal) string {
	if d.IsZero() {
		return ""
	}
	return d.String()
}

// instrument resolves and stores the instrument of in, once per distinct
// terms.
func (r *recorder) instrument(in *ExecutionInput) (resolved, error) {
	k := instrumentKey{in.AssetClass, in.Symbol, in.ExecutedAt.Year(), decimalKey(in.Multiplier), decimalKey(in.TickSize), in.Currency}
	if got, ok := r.insts[k]; ok {
		return got, nil
	}
	if r.pinned == nil {
		r.pinned = map[uuid.UUID]decimal.Decimal{}
	}
	got, err := r.s.resolveInstrument(r.ctx, r.account, in, r.pinned, r.o.ImportID)
	if err != nil {
		return resolved{}, err
	}
	r.insts[k] = got
	return got, nil
}

func (r *recorder) record(ins []ExecutionInput) ([]uuid.UUID, error) {
	ctx, s := r.ctx, r.s
	defer func() { r.n += len(ins) }()
	if len(ins) == 0 {
		return r.ids[:0], nil
	}
	if r.account == nil {
		a, err := s.d.Accounts.Get(ctx, r.userID, r.accountID, true)
		if err != nil {
			return nil, err
		}
		if a.Archived {
			return nil, apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to record executions")
		}
		r.account = a
	}
	var fields map[string]string
	one := map[string]string{}
	for i := range ins {
		validateFill("", &ins[i], r.account.Multipliers, one)
		if len(one) > 0 {
			if fields == nil {
				fields = map[string]string{}
			}
			for f, msg := range one {
				fields[fmt.Sprintf("executions[%d].%s", r.n+i, f)] = msg
			}
			clear(one)
		}
	}
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid executions", fields)
	}

	sources, err := r.sources(ins)
	if err != nil {
		return nil, err
	}
	now := s.now()
	if cap(r.execs) < len(ins) {
		r.execs = make([]Execution, len(ins))
	}
	r.execs = r.execs[:len(ins)]
	for i := range ins {
		in := &ins[i]
		got, err := r.instrument(in)
		if err != nil {
			return nil, err
		}
		if got.err != nil {
			field, msg := "symbol", "invalid symbol"
			if e, ok := apperr.As(got.err); ok {
				for k, v := range e.Fields {
					msg = v
					if k == "multiplier" || k == "currency" { // a multiplier refused as another than the account's, a currency not of ISO 4217
						field = k
					}
				}
			}
			if fields == nil {
				fields = map[string]string{}
			}
			fields[fmt.Sprintf("executions[%d].%s", r.n+i, field)] = msg
			continue
		}
		inst := got.in
		e := &r.execs[i]
		*e = Execution{ID: s.d.NewID(), UserID: r.userID, AccountID: r.accountID, InstrumentID: inst.ID, Symbol: inst.Symbol, AssetClass: inst.AssetClass,
			Side: in.Side, Quantity: in.Quantity, Price: in.Price, Commission: in.Commission, Fees: in.Fees,
			ExecutedAt: in.ExecutedAt.UTC(), BrokerExecutionID: strings.TrimSpace(in.BrokerExecutionID), ImportID: r.o.ImportID,
			Version: 1, CreatedAt: now, UpdatedAt: now}
		if fp, ok := sources[in.SourceID]; ok {
			// The account's own export: the execution it came from,
			// whose fingerprint stays that of the row first recorded.
			e.Fingerprint = fp
			continue
		}
		e.Fingerprint = Fingerprint(e, inst.Symbol, inst.AssetClass, 0)
		if e.BrokerExecutionID == "" {
			var k [32]byte
			_, _ = hex.Decode(k[:], []byte(e.Fingerprint))
			if r.ordinals == nil {
				r.ordinals = map[[32]byte]int{}
			}
			n := r.ordinals[k]
			r.ordinals[k] = n + 1
			if n > 0 {
				e.Fingerprint = Fingerprint(e, inst.Symbol, inst.AssetClass, n)
			}
		}
	}
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid executions", fields)
	}
	if r.inChunk == nil {
		r.inChunk = make(map[string]bool, len(ins))
	}
	clear(r.inChunk)
	// A repeat within the chunk is a duplicate; the rest go to the store.
	r.keep, r.ids = r.keep[:0], r.ids[:0]
	for i := range r.execs {
		e := &r.execs[i]
		if r.inChunk[e.Fingerprint] {
			if err := r.duplicate(i); err != nil {
				return nil, err
			}
			r.ids = append(r.ids, uuid.Nil)
			continue
		}
		r.inChunk[e.Fingerprint] = true
		r.keep = append(r.keep, e)
		r.ids = append(r.ids, e.ID)
	}
	stored, err := r.store(r.keep)
	if err != nil {
		return nil, err
	}
	k := 0
	for i, id := range r.ids {
		if id == uuid.Nil {
			continue
		}
		if !stored[k] {
			if err := r.duplicate(i); err != nil {
				return nil, err
			}
			r.ids[i] = uuid.Nil
		} else {
			r.res.Added++
			r.positions[r.keep[k].InstrumentID] = true
		}
		k++
	}
	return r.ids, nil
}

// sources returns the fingerprints of the account's executions that ins
// name as their SourceID (nil when none names one).
func (r *recorder) sources(ins []ExecutionInput) (map[uuid.UUID]string, error) {
	var ids []uuid.UUID
	for i := range ins {
		if ins[i].SourceID != uuid.Nil {
			ids = append(ids, ins[i].SourceID)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	return r.s.d.Executions.FingerprintsOf(r.ctx, r.userID, r.accountID, ids)
}

// duplicate counts input i of the chunk as a duplicate, or fails without
// SkipDuplicates.
func (r *recorder) duplicate(i int) error {
	if !r.o.SkipDuplicates {
		e := apperr.Validation("duplicate execution", map[string]string{fmt.Sprintf("executions[%d]", r.n+i): "the account already has this execution"})
		e.Kind, e.Code = apperr.Conflict, CodeExecutionDuplicate
		return e
	}
	r.res.Duplicates++
	return nil
}

// store stores the executions of es whose fingerprint the account does not
// hold, and says which were stored.
func (r *recorder) store(es []*Execution) ([]bool, error) {
	if len(es) == 0 {
		return nil, nil
	}
	if ins, ok := r.s.d.Executions.(NewExecutionsInserter); ok {
		return ins.InsertNew(r.ctx, es)
	}
	r.fps = r.fps[:0]
	for _, e := range es {
		r.fps = append(r.fps, e.Fingerprint)
	}
	taken, err := r.s.d.Executions.Fingerprinted(r.ctx, r.accountID, r.fps)
	if err != nil {
		return nil, err
	}
	stored := make([]bool, len(es))
	keep := make([]*Execution, 0, len(es))
	for i, e := range es {
		if _, dup := taken[e.Fingerprint]; !dup {
			stored[i] = true
			keep = append(keep, e)
		}
	}
	if len(keep) > 0 {
		if err := r.s.d.Executions.Insert(r.ctx, keep); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

// finish rebuilds every position the chunks touched, once.
func (r *recorder) finish(ch *changes) error {
	r.execs, r.keep, r.fps, r.inChunk, r.ordinals = nil, nil, nil, nil, nil
	if r.account == nil || len(r.positions) == 0 {
		return nil
	}
	// The positions record their trades in sub, merged into ch only up to
	// one past maxTradeEvents: beyond that the write publishes one bulk
	// event for its account (every trade here is of one account), so the
	// IDs of an import's 50,000 trades are not kept for it.
	sub := newChanges()
	return r.s.rebuildPositions(r.ctx, r.account, sortedIDs(r.positions), sub, func(p *Plan, _ int) {
		mergeCapped(ch, sub)
		r.res.TradesTouched += len(p.Created) + len(p.Changed)
		if r.o.EachTrade != nil {
			for _, i := range p.Created {
				r.o.EachTrade(&p.Trades[i])
			}
			for _, i := range p.Changed {
				r.o.EachTrade(&p.Trades[i])
			}
		}
	})
}

// mergeCapped moves sub's changes into ch while ch holds at most
// maxTradeEvents of them, then empties sub.
func mergeCapped(ch, sub *changes) {
	for _, pair := range [][2]map[uuid.UUID]uuid.UUID{{ch.created, sub.created}, {ch.updated, sub.updated}, {ch.deleted, sub.deleted}} {
		for id, a := range pair[1] {
			if len(ch.created)+len(ch.updated)+len(ch.deleted) > maxTradeEvents {
				break
			}
			pair[0][id] = a
		}
	}
	for a := range sub.bulkAccounts {
		ch.bulkAccounts[a] = true
	}
	clear(sub.created)
	clear(sub.updated)
	clear(sub.deleted)
	clear(sub.bulkAccounts)
}
