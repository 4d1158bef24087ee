package trading

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

// Bounds of execution instants (int64 nanoseconds since 1970 reach 2262).
var (
	minExecutedAt = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxExecutedAt = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ExecutionInput is a fill to record. Multiplier, TickSize and Currency
// describe the instrument when it is new (zero: the built-in terms).
type ExecutionInput struct {
	Symbol     string
	AssetClass AssetClass
	Multiplier decimal.Decimal
	TickSize   decimal.Decimal
	Currency   string
	// SourceID is the ID of the execution this input was exported from
	// (the executions export's id column), uuid.Nil when unknown: when it
	// names an execution of the account the input is recorded into, the
	// input is that execution, a duplicate of it whatever was corrected
	// since (RecordExecutions).
	SourceID          uuid.UUID
	Side              Side
	Quantity          decimal.Decimal
	Price             decimal.Decimal
	Commission        decimal.Decimal
	Fees              decimal.Decimal
	ExecutedAt        time.Time
	BrokerExecutionID string
}

// InstrumentSpec is the instrument in names (ResolveInstrument's input).
func (in *ExecutionInput) InstrumentSpec() InstrumentSpec {
	return InstrumentSpec{Symbol: in.Symbol, AssetClass: in.AssetClass, Currency: in.Currency, Multiplier: in.Multiplier, TickSize: in.TickSize}
}

// AddOptions say where executions come from.
type AddOptions struct {
	// ImportID marks the executions as added by that import (uuid.Nil:
	// entered by hand, at most MaxBatch per call).
	ImportID uuid.UUID
	// SkipDuplicates skips inputs whose fingerprint the account already
	// holds (or that repeat a broker execution ID within the batch),
	// reporting them in AddResult.Duplicates; without it they fail the
	// whole call with apperr.Conflict "execution_duplicate".
	SkipDuplicates bool
	// Lean leaves AddResult.Executions and AddResult.Trades empty (IDs
	// and TradesTouched still say what was stored and rebuilt), so that
	// a large import holds neither a copy of every execution nor every
	// touched trade with its legs.
	Lean bool
	// EachTrade, when set, is called with each trade the rebuild created
	// or changed, as its position is written (the trade is not the
	// caller's to keep: copy what is needed).
	EachTrade func(*Trade)
}

// AddResult is what AddExecutions did.
type AddResult struct {
	Executions []Execution // stored, in input order
	Duplicates []int       // indexes of skipped inputs
	Trades     []Trade     // trades created or changed by the rebuild
	// IDs of the stored executions, in input order.
	IDs []uuid.UUID
	// TradesTouched counts the trades created or changed by the rebuild.
	TradesTouched int
}

// validateFill checks in alone; roots are its account's multipliers.
func validateFill(prefix string, in *ExecutionInput, roots map[string]decimal.Decimal, fields map[string]string) {
	if !in.Side.Valid() {
		fields[prefix+"side"] = "must be buy or sell"
	}
	if !in.Quantity.IsPositive() {
		fields[prefix+"quantity"] = "must be positive"
	}
	if in.Price.IsNegative() && !MayTradeBelowZero(in, roots) {
		fields[prefix+"price"] = "must not be negative (only futures and CFDs trade below zero)"
	}
	if in.ExecutedAt.Before(minExecutedAt) || !in.ExecutedAt.Before(maxExecutedAt) {
		fields[prefix+"executed_at"] = "must be between 1970 and 2200"
	}
	if len(in.BrokerExecutionID) > 128 || !utf8.ValidString(in.BrokerExecutionID) {
		fields[prefix+"broker_execution_id"] = "must be at most 128 characters"
	}
}

// MayTradeBelowZero: a future (WTI crude's May 2020 contract settled at
// −37.63, calendar spreads trade below zero) or a CFD on one, given or
// inferred from the symbol (a dated contract of one of roots, an
// account's multipliers, included), may be filled at a negative price;
// stocks, ETFs, options, currencies and coins may not.
func MayTradeBelowZero(in *ExecutionInput, roots map[string]decimal.Decimal) bool {
	class := in.AssetClass
	if class == "" {
		class = InferAssetClassIn(in.Symbol, in.ExecutedAt, roots)
	}
	return class == Future || class == CFD
}

type resolved struct {
	in  *Instrument
	err error
}

// resolveInstrument resolves in's instrument in account a (a root outside
// the built-in table may take a's multiplier), stores it
// (Instruments.Ensure) and pins the account's multiplier of it (pin). The
// fill's own faults (a symbol that does not resolve, a multiplier other
// than the account's) are the resolved's err; the error returned is the
// stores'.
func (s *Service) resolveInstrument(ctx context.Context, a *Account, in *ExecutionInput, pinned map[uuid.UUID]decimal.Decimal, importID uuid.UUID) (resolved, error) {
	userID := a.UserID
	spec := in.InstrumentSpec()
	spec.Roots = a.Multipliers
	inst, err := ResolveInstrument(spec, in.ExecutedAt)
	if err != nil {
		return resolved{&inst, err}, nil //nolint:nilerr // the fill's own fault travels in the result
	}
	inst.UserID = userID
	inst.ID = s.d.NewID()
	want := inst.Multiplier
	if err := s.d.Instruments.Ensure(ctx, &inst); err != nil {
		if !apperr.Is(err, apperr.Invalid) {
			return resolved{}, err
		}
		return resolved{&inst, err}, nil
	}
	if given := givenCurrency(in); given != "" && given != inst.Currency {
		conflict, err := s.adoptCurrency(ctx, a, &inst, given, importID)
		if err != nil || conflict != nil {
			return resolved{&inst, conflict}, err
		}
	}
	conflict, err := s.pin(ctx, a, &inst, want, !in.Multiplier.IsZero(), pinned)
	if err != nil {
		return resolved{}, err
	}
	return resolved{&inst, conflict}, nil
}

// instruments resolves and stores the instrument of each input in account
// a, once per distinct symbol.
func (s *Service) instruments(ctx context.Context, a *Account, ins []ExecutionInput) ([]*Instrument, map[string]string, error) {
	out := make([]*Instrument, len(ins))
	cache := map[string]resolved{}
	pinned := map[uuid.UUID]decimal.Decimal{}
	fields := map[string]string{}
	for i := range ins {
		in := &ins[i]
		key := fmt.Sprintf("%s|%s|%d|%s|%s|%s", in.AssetClass, strings.ToUpper(strings.TrimSpace(in.Symbol)), in.ExecutedAt.Year(), in.Multiplier, in.TickSize, in.Currency)
		r, ok := cache[key]
		if !ok {
			var err error
			if r, err = s.resolveInstrument(ctx, a, in, pinned, uuid.Nil); err != nil {
				return nil, nil, err
			}
			cache[key] = r
		}
		if r.err != nil {
			e, ok := apperr.As(r.err)
			if !ok || len(e.Fields) == 0 {
				fields[fmt.Sprintf("executions[%d].symbol", i)] = "invalid symbol"
				continue
			}
			for k, v := range e.Fields { // symbol, asset_class or multiplier
				fields[fmt.Sprintf("executions[%d].%s", i, k)] = v
			}
			continue
		}
		out[i] = r.in
	}
	return out, fields, nil
}

// AddExecutions records fills in one account and rebuilds the positions
// they touch, in one transaction. Inputs are validated together: one bad
// input fails the call with apperr.Invalid naming each bad field as
// "executions[i].field". apperr.NotFound "account_not_found" for an
// account that is not the user's; apperr.Conflict "account_archived" for
// an archived one.
func (s *Service) AddExecutions(ctx context.Context, userID, accountID uuid.UUID, ins []ExecutionInput, o AddOptions) (*AddResult, error) {
	var res *AddResult
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		var err error
		res, err = s.addExecutions(ctx, userID, accountID, ins, o, ch)
		return err
	})
	return res, err
}

func (s *Service) addExecutions(ctx context.Context, userID, accountID uuid.UUID, ins []ExecutionInput, o AddOptions, ch *changes) (*AddResult, error) {
	if len(ins) == 0 {
		return nil, apperr.Validation("no executions", map[string]string{"executions": "must not be empty"})
	}
	if o.ImportID == uuid.Nil && len(ins) > MaxBatch {
		return nil, apperr.New(apperr.Invalid, CodeBatchTooLarge, fmt.Sprintf("at most %d executions per request", MaxBatch))
	}
	a, err := s.d.Accounts.Get(ctx, userID, accountID, true)
	if err != nil {
		return nil, err
	}
	if a.Archived {
		return nil, apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to record executions")
	}
	fields := map[string]string{}
	for i := range ins {
		validateFill(fmt.Sprintf("executions[%d].", i), &ins[i], a.Multipliers, fields)
	}
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid executions", fields)
	}
	insts, fields, err := s.instruments(ctx, a, ins)
	if err != nil {
		return nil, err
	}
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid executions", fields)
	}

	now := s.now()
	execs := make([]*Execution, len(ins))
	seen := map[string]int{} // fingerprint of ordinal 0 → occurrences so far
	fps := make([]string, 0, len(ins))
	for i := range ins {
		in, inst := &ins[i], insts[i]
		e := &Execution{ID: s.d.NewID(), UserID: userID, AccountID: accountID, InstrumentID: inst.ID, Symbol: inst.Symbol, AssetClass: inst.AssetClass,
			Side: in.Side, Quantity: in.Quantity, Price: in.Price, Commission: in.Commission, Fees: in.Fees,
			ExecutedAt: in.ExecutedAt.UTC(), BrokerExecutionID: strings.TrimSpace(in.BrokerExecutionID), ImportID: o.ImportID,
			Version: 1, CreatedAt: now, UpdatedAt: now}
		base := Fingerprint(e, inst.Symbol, inst.AssetClass, 0)
		n := seen[base]
		seen[base] = n + 1
		if e.BrokerExecutionID != "" || n == 0 {
			e.Fingerprint = base
		} else {
			e.Fingerprint = Fingerprint(e, inst.Symbol, inst.AssetClass, n)
		}
		execs[i] = e
		fps = append(fps, e.Fingerprint)
	}
	taken, err := s.d.Executions.Fingerprinted(ctx, accountID, fps)
	if err != nil {
		return nil, err
	}
	res := &AddResult{}
	keep := make([]*Execution, 0, len(execs))
	inBatch := map[string]bool{}
	for i, e := range execs {
		if _, dup := taken[e.Fingerprint]; dup || inBatch[e.Fingerprint] {
			if !o.SkipDuplicates {
				e := apperr.Validation("duplicate execution", map[string]string{fmt.Sprintf("executions[%d]", i): "the account already has this execution"})
				e.Kind, e.Code = apperr.Conflict, CodeExecutionDuplicate
				return nil, e
			}
			res.Duplicates = append(res.Duplicates, i)
			continue
		}
		inBatch[e.Fingerprint] = true
		keep = append(keep, e)
	}
	if len(keep) > 0 {
		if err := s.d.Executions.Insert(ctx, keep); err != nil {
			return nil, err
		}
	}
	positions := map[uuid.UUID]bool{}
	res.IDs = make([]uuid.UUID, len(keep))
	for i, e := range keep {
		if !o.Lean {
			res.Executions = append(res.Executions, *e)
		}
		res.IDs[i] = e.ID
		positions[e.InstrumentID] = true
	}
	var plans []*Plan
	err = s.rebuildPositions(ctx, a, sortedIDs(positions), ch, func(p *Plan, _ int) {
		res.TradesTouched += len(p.Created) + len(p.Changed)
		if o.EachTrade != nil {
			for _, i := range p.Created {
				o.EachTrade(&p.Trades[i])
			}
			for _, i := range p.Changed {
				o.EachTrade(&p.Trades[i])
			}
		}
		if !o.Lean {
			plans = append(plans, p)
		}
	})
	if err != nil {
		return nil, err
	}
	res.Trades = touched(plans)
	return res, nil
}

func sortedIDs(set map[uuid.UUID]bool) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(set))
	for id := range set {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// GetExecution returns one of the user's executions.
func (s *Service) GetExecution(ctx context.Context, userID, id uuid.UUID) (*Execution, error) {
	return s.d.Executions.Get(ctx, userID, id)
}

// ListExecutions returns a page of the user's executions, newest first.
func (s *Service) ListExecutions(ctx context.Context, userID uuid.UUID, f ExecutionFilter, p Page) ([]Execution, string, error) {
	f.Symbols = symbolForms(f.Symbols) // ESZ6, /ESZ26, ES DEC26 find the ESZ26 fills, as in the trade filter
	out, next, err := s.d.Executions.List(ctx, userID, f, p)
	if err == nil && len(out) == 0 {
		err = s.CheckFilterOwner(ctx, userID, &Filter{AccountIDs: f.AccountIDs})
	}
	if err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// ExecutionPatch changes an execution; nil fields stay. Symbol and
// AssetClass move it to another instrument (both positions rebuild). A
// new Symbol without an AssetClass keeps the execution's class unless
// its old symbol implied it (InferAssetClass: a stock ticker, a dated
// future of a known root, an OCC option): then the new symbol implies it
// again, so that AAPL corrected to ESZ6 is a future, and SPY (an ETF)
// corrected to QQQ stays an ETF.
type ExecutionPatch struct {
	Symbol            *string
	AssetClass        *AssetClass
	Side              *Side
	Quantity          *decimal.Decimal
	Price             *decimal.Decimal
	Commission        *decimal.Decimal
	Fees              *decimal.Decimal
	ExecutedAt        *time.Time
	BrokerExecutionID *string
}

// UpdateExecution edits an execution if its version is still ifVersion
// (0: whatever it is) and rebuilds only the position(s) it belongs to. It
// returns the execution and the trades created or changed.
func (s *Service) UpdateExecution(ctx context.Context, userID, id uuid.UUID, p ExecutionPatch, ifVersion int64) (*Execution, []Trade, error) {
	var out *Execution
	var trades []Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		cur, err := s.d.Executions.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		a, err := s.d.Accounts.Get(ctx, userID, cur.AccountID, true)
		if err != nil {
			return err
		}
		if a.Archived {
			return apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to edit executions")
		}
		if cur, err = s.d.Executions.Get(ctx, userID, id); err != nil { // again, under the lock
			return err
		}
		if ifVersion != 0 && cur.Version != ifVersion {
			return stale()
		}
		in := ExecutionInput{Symbol: cur.Symbol, AssetClass: cur.AssetClass, Side: cur.Side, Quantity: cur.Quantity, Price: cur.Price,
			Commission: cur.Commission, Fees: cur.Fees, ExecutedAt: cur.ExecutedAt, BrokerExecutionID: cur.BrokerExecutionID}
		if p.Symbol != nil && p.AssetClass == nil && cur.AssetClass == InferAssetClassIn(cur.Symbol, cur.ExecutedAt, a.Multipliers) {
			in.AssetClass = "" // implied by the old symbol: by the new one now
		}
		set(&in.Symbol, p.Symbol)
		set(&in.AssetClass, p.AssetClass)
		set(&in.Side, p.Side)
		set(&in.Quantity, p.Quantity)
		set(&in.Price, p.Price)
		set(&in.Commission, p.Commission)
		set(&in.Fees, p.Fees)
		set(&in.ExecutedAt, p.ExecutedAt)
		set(&in.BrokerExecutionID, p.BrokerExecutionID)
		fields := map[string]string{}
		validateFill("", &in, a.Multipliers, fields)
		if len(fields) > 0 {
			return apperr.Validation("invalid execution", fields)
		}
		next := *cur
		if p.Symbol != nil || p.AssetClass != nil {
			insts, fields, err := s.instruments(ctx, a, []ExecutionInput{in})
			if err != nil {
				return err
			}
			if len(fields) > 0 {
				named := make(map[string]string, len(fields))
				for k, v := range fields {
					named[strings.TrimPrefix(k, "executions[0].")] = v
				}
				return apperr.Validation("invalid execution", named)
			}
			next.InstrumentID, next.Symbol, next.AssetClass = insts[0].ID, insts[0].Symbol, insts[0].AssetClass
		}
		next.Side, next.Quantity, next.Price, next.Commission, next.Fees = in.Side, in.Quantity, in.Price, in.Commission, in.Fees
		next.ExecutedAt, next.BrokerExecutionID = in.ExecutedAt.UTC(), strings.TrimSpace(in.BrokerExecutionID)
		if sameFill(cur, &next) {
			out, ch.none = cur, true // nothing changes: the version (ETag) stays
			return nil
		}
		if err := s.refingerprint(ctx, cur, &next); err != nil {
			return err
		}
		next.Version = cur.Version + 1
		next.UpdatedAt = s.now()
		if err := s.d.Executions.Update(ctx, &next); err != nil {
			return err
		}
		// The account's lock orders concurrent writers.
		if next.InstrumentID == cur.InstrumentID {
			p, _, err := s.rebuild(ctx, a, cur.InstrumentID, ch)
			if err != nil {
				return err
			}
			out, trades = &next, touched([]*Plan{p})
			return nil
		}
		plans, err := s.rebuildMove(ctx, a, cur.InstrumentID, next.InstrumentID, ch)
		if err != nil {
			return err
		}
		out, trades = &next, touched(plans)
		return nil
	})
	return out, trades, err
}

// sameFill reports whether a and b are the same fill in every field an
// edit can change (decimals by value: a price of "10.00" for 10 is no
// change).
func sameFill(a, b *Execution) bool {
	return a.InstrumentID == b.InstrumentID && a.Side == b.Side && a.Quantity.Equal(b.Quantity) && a.Price.Equal(b.Price) &&
		a.Commission.Equal(b.Commission) && a.Fees.Equal(b.Fees) && a.ExecutedAt.Equal(b.ExecutedAt) && a.BrokerExecutionID == b.BrokerExecutionID
}

// refingerprint gives next its fingerprint and refuses an edit that makes
// it a duplicate of another execution of the account, as AddExecutions
// refuses a manual fill whose fingerprint (ordinal 0, or its broker
// execution id) the account holds: Conflict "execution_duplicate". When
// the fields the fingerprint covers did not change, next keeps its own
// (an identical fill's ordinal included) and nothing is checked. A fill
// entered by hand takes its new fields' fingerprint, so that the broker's
// export of the corrected fill finds it. An imported fill keeps its own:
// it names the export's row the fill came from, which the trader
// corrected, so that importing that export again does not add the
// uncorrected row beside the correction; the check is the same.
func (s *Service) refingerprint(ctx context.Context, cur, next *Execution) error {
	fp := Fingerprint(next, next.Symbol, next.AssetClass, 0)
	if Fingerprint(cur, cur.Symbol, cur.AssetClass, 0) == fp && cur.InstrumentID == next.InstrumentID {
		return nil
	}
	taken, err := s.d.Executions.Fingerprinted(ctx, next.AccountID, []string{fp})
	if err != nil {
		return err
	}
	if owner, ok := taken[fp]; ok && owner != cur.ID {
		e := apperr.Validation("duplicate execution", map[string]string{"execution": "the account already has this execution"})
		e.Kind, e.Code = apperr.Conflict, CodeExecutionDuplicate
		return e
	}
	if cur.ImportID == uuid.Nil {
		next.Fingerprint = fp
	}
	return nil
}

// DeleteExecutions deletes the user's executions among ids (unknown IDs are
// reported as apperr.NotFound before anything is deleted) and rebuilds the
// positions they belonged to. It returns the trades created or changed.
func (s *Service) DeleteExecutions(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]Trade, error) {
	if len(ids) == 0 || len(ids) > MaxBatch {
		return nil, apperr.Validation("invalid ids", map[string]string{"ids": fmt.Sprintf("1 to %d execution IDs", MaxBatch)})
	}
	var out []Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		var err error
		out, err = s.deleteExecutions(ctx, userID, ids, nil, ch)
		return err
	})
	return out, err
}

// deleteExecutions deletes ids; accounts, when the caller knows them, are
// the accounts the executions belong to (else each execution is read
// first, to take the accounts' locks before deleting anything).
func (s *Service) deleteExecutions(ctx context.Context, userID uuid.UUID, ids, knownAccounts []uuid.UUID, ch *changes) ([]Trade, error) {
	accounts := map[uuid.UUID]bool{}
	for _, id := range knownAccounts {
		accounts[id] = true
	}
	for _, id := range ids {
		if knownAccounts != nil {
			break
		}
		e, err := s.d.Executions.Get(ctx, userID, id)
		if err != nil {
			return nil, err
		}
		accounts[e.AccountID] = true
	}
	locked := map[uuid.UUID]*Account{}
	for _, id := range sortedIDs(accounts) {
		a, err := s.d.Accounts.Get(ctx, userID, id, true)
		if err != nil {
			return nil, err
		}
		if a.Archived {
			return nil, apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to delete executions")
		}
		locked[id] = a
	}
	gone, err := s.d.Executions.Delete(ctx, userID, ids)
	if err != nil {
		return nil, err
	}
	if knownAccounts == nil && len(gone) < len(dedupe(ids)) {
		// Read before the locks, deleted by a concurrent write before
		// they were taken: as if it had not been found (the transaction
		// rolls back the others).
		return nil, apperr.New(apperr.NotFound, CodeExecutionNotFound, "execution not found")
	}
	type pos struct{ account, instrument uuid.UUID }
	positions := map[pos]bool{}
	for _, e := range gone {
		positions[pos{e.AccountID, e.InstrumentID}] = true
	}
	keys := make([]pos, 0, len(positions))
	for k := range positions {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b pos) int {
		if c := bytes.Compare(a.account[:], b.account[:]); c != 0 {
			return c
		}
		return bytes.Compare(a.instrument[:], b.instrument[:])
	})
	var plans []*Plan
	for _, k := range keys {
		p, _, err := s.rebuild(ctx, locked[k.account], k.instrument, ch)
		if err != nil {
			return nil, err
		}
		plans = append(plans, p)
	}
	return touched(plans), nil
}

// UndoImportResult is what DeleteImportExecutions did.
type UndoImportResult struct {
	// Removed counts the executions deleted.
	Removed int
	// TradesTouched counts the trades created or changed by the rebuild.
	TradesTouched int
}

// DeleteImportExecutions deletes exactly the executions of the account
// that import importID added and rebuilds each position they were in
// once, in one transaction (the caller's, when ctx carries one), under
// the account's write lock: its cost grows linearly with the number of
// executions (a fixed number of statements to delete them, one rebuild
// per position), unlike DeleteExecutions in batches, which rebuilds every
// touched position again for each batch. apperr.NotFound
// "account_not_found"; apperr.Conflict "account_archived" when the
// account is archived and the import has executions left (nothing is
// deleted).
func (s *Service) DeleteImportExecutions(ctx context.Context, userID, accountID, importID uuid.UUID) (*UndoImportResult, error) {
	if importID == uuid.Nil {
		return nil, apperr.Validation("no import", map[string]string{"import_id": "required"})
	}
	res := &UndoImportResult{}
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		a, err := s.d.Accounts.Get(ctx, userID, accountID, true)
		if err != nil {
			return err
		}
		removed, insts, err := s.d.Executions.DeleteImported(ctx, userID, accountID, importID)
		if err != nil {
			return err
		}
		if removed > 0 && a.Archived {
			// The write is rolled back with the error.
			return apperr.New(apperr.Conflict, CodeAccountArchived, "the account is archived: unarchive it to delete executions")
		}
		res.Removed = removed
		slices.SortFunc(insts, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		return s.rebuildPositions(ctx, a, insts, ch, func(p *Plan, _ int) {
			res.TradesTouched += len(p.Created) + len(p.Changed)
		})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}
