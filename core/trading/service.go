package trading

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/uow"
	"github.com/tradesense/tradesense/core/zone"
)

// maxTradeEvents bounds the per-trade events one write publishes; a larger
// write (an import, an account rebuild) publishes one bulk trade.updated
// event for its account instead.
const maxTradeEvents = 100

// Deps are the Service's collaborators; every one is required except Log
// and Now.
type Deps struct {
	Accounts    Accounts
	Instruments Instruments
	Executions  Executions
	Ledger      Ledger
	Trades      Trades
	Labels      Labels
	Versions    DataVersions
	Zones       UserZones
	Tx          uow.Runner
	Events      realtime.Publisher
	Log         *slog.Logger
	Now         func() time.Time
	// NewID makes record IDs; nil means uuid.NewV7.
	NewID func() uuid.UUID
	// Pages, optional, is a bounded in-process cache of encoded pages of
	// trades (ListTradesEncoded), keyed by user, data version and request;
	// it is used only when Versions is also Stamps (reads the version and
	// zone in one statement). PagesTTL bounds an entry's life (default 10
	// min); entries are never invalidated: a write moves the user to new
	// keys.
	Pages    *cache.Layer
	PagesTTL time.Duration
}

// Service holds the use cases of accounts, executions and trades. Every
// write runs in one transaction that also bumps the user's data version,
// and publishes its realtime events after the commit.
type Service struct {
	d      Deps
	stamps Stamps // d.Versions', when it has them
	// deleting are the modules' hooks of DeleteAccount (OnAccountDelete).
	deleting []AccountDeleteHook
}

// AccountDeleteHook is a module's part of deleting an account: it runs in
// DeleteAccount's transaction before the account's rows go (what it
// reads is still there), fails the deletion with its error, and defers
// what must outlive the transaction to uow.AfterCommit (a file of the
// account's is deleted only once the deletion has committed).
type AccountDeleteHook func(ctx context.Context, userID, accountID uuid.UUID) error

// OnAccountDelete adds h to what DeleteAccount runs. It is called while
// the program is assembled, before the service serves.
func (s *Service) OnAccountDelete(h AccountDeleteHook) {
	s.deleting = append(s.deleting, h)
}

// NewService checks d and returns the service.
func NewService(d Deps) (*Service, error) {
	if d.Accounts == nil || d.Instruments == nil || d.Executions == nil || d.Ledger == nil || d.Trades == nil ||
		d.Labels == nil || d.Versions == nil || d.Zones == nil || d.Tx == nil || d.Events == nil {
		return nil, errors.New("trading: NewService: a required dependency is nil")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.PagesTTL <= 0 {
		d.PagesTTL = 10 * time.Minute
	}
	if d.NewID == nil {
		d.NewID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	st, _ := d.Versions.(Stamps)
	return &Service{d: d, stamps: st}, nil
}

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// DataVersion returns the user's data version: it changes with every
// write to the user's accounts, executions, trades or annotations.
func (s *Service) DataVersion(ctx context.Context, userID uuid.UUID) (int64, error) {
	return s.d.Versions.Get(ctx, userID)
}

// changes collects what one write did, for its events.
type changes struct {
	created, updated, deleted map[uuid.UUID]uuid.UUID // trade → account
	bulkAccounts              map[uuid.UUID]bool
	// none is set by a write that found nothing to change and wrote
	// nothing: the data version stays and no event goes out.
	none bool
}

func newChanges() *changes {
	return &changes{created: map[uuid.UUID]uuid.UUID{}, updated: map[uuid.UUID]uuid.UUID{}, deleted: map[uuid.UUID]uuid.UUID{},
		bulkAccounts: map[uuid.UUID]bool{}}
}

func (c *changes) record(accountID uuid.UUID, p *Plan) {
	for _, i := range p.Created {
		c.created[p.Trades[i].ID] = accountID
	}
	for _, i := range p.Changed {
		if _, ok := c.created[p.Trades[i].ID]; !ok {
			c.updated[p.Trades[i].ID] = accountID
		}
	}
	for _, id := range p.Deleted {
		delete(c.created, id)
		delete(c.updated, id)
		c.deleted[id] = accountID
	}
}

// write runs fn in a transaction with the user's data version bump, and
// publishes the recorded changes after the commit.
func (s *Service) write(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context, ch *changes) error) error {
	return s.d.Tx.Do(ctx, func(ctx context.Context) error {
		ch := newChanges()
		if err := fn(ctx, ch); err != nil || ch.none {
			return err
		}
		v, err := s.d.Versions.Bump(ctx, userID)
		if err != nil {
			return err
		}
		uow.AfterCommit(ctx, func(ctx context.Context) { s.publish(ctx, userID, v, ch) })
		return nil
	})
}

func (s *Service) publish(ctx context.Context, userID uuid.UUID, version int64, ch *changes) {
	at := s.now()
	send := func(typ string, c realtime.TradeChange) {
		c.DataVersion = version
		e := realtime.TradeChanged(typ, userID, at, c)
		if err := s.d.Events.Publish(ctx, e); err != nil {
			s.d.Log.WarnContext(ctx, "trading: publish event", slog.String("type", typ), slog.Any("error", err))
		}
	}
	if len(ch.created)+len(ch.updated)+len(ch.deleted) > maxTradeEvents {
		for _, m := range []map[uuid.UUID]uuid.UUID{ch.created, ch.updated, ch.deleted} {
			for _, a := range m {
				ch.bulkAccounts[a] = true
			}
		}
		for a := range ch.bulkAccounts {
			send(realtime.TypeTradeUpdated, realtime.TradeChange{AccountID: a, Bulk: true})
		}
		return
	}
	for a := range ch.bulkAccounts {
		send(realtime.TypeTradeDeleted, realtime.TradeChange{AccountID: a, Bulk: true})
	}
	for typ, m := range map[string]map[uuid.UUID]uuid.UUID{realtime.TypeTradeCreated: ch.created, realtime.TypeTradeUpdated: ch.updated, realtime.TypeTradeDeleted: ch.deleted} {
		for id, a := range m {
			send(typ, realtime.TradeChange{TradeID: id, AccountID: a})
		}
	}
}

// location is the time zone of an account's session dates.
func (s *Service) location(ctx context.Context, a *Account) (*time.Location, error) {
	if a.Timezone != "" {
		loc, err := zone.Load(a.Timezone)
		if err == nil {
			return loc, nil
		}
		s.d.Log.WarnContext(ctx, "trading: stored account time zone does not load; using the user's", slog.String("timezone", a.Timezone))
	}
	return s.d.Zones.Location(ctx, a.UserID)
}

// position is one position's rebuild in its three steps: load (database),
// derive (CPU only: Build and Reconcile) and store (database). When
// Reconcile needs the stored trades' legs (NeedsStoredLegs), derive stops
// after Build and store reads them and reconciles.
type position struct {
	key      PositionKey
	params   BuildParams
	execs    []Execution
	old      []Trade
	built    []Trade // Build's trades while needLegs
	needLegs bool
	plan     Plan
}

// load reads one position of a; loc is the account's zone (location).
func (s *Service) load(ctx context.Context, a *Account, loc *time.Location, instrumentID uuid.UUID) (*position, error) {
	in, err := s.d.Instruments.InAccount(ctx, a.UserID, a.ID, instrumentID)
	if err != nil {
		return nil, err
	}
	p := &position{key: PositionKey{UserID: a.UserID, AccountID: a.ID, InstrumentID: instrumentID},
		params: BuildParams{Multiplier: EffectiveMultiplier(a, in), Location: loc, BreakevenBand: OutcomeBand(a, in), Currency: TradeCurrency(a, in)}}
	if p.execs, err = s.d.Ledger.PositionExecutions(ctx, p.key); err != nil {
		return nil, err
	}
	for i := range p.execs {
		p.execs[i].Symbol, p.execs[i].AssetClass = in.Symbol, in.AssetClass
	}
	if p.old, err = s.d.Ledger.PositionTrades(ctx, p.key); err != nil {
		return nil, err
	}
	return p, nil
}

func (s *Service) derive(p *position) {
	built := Build(p.execs, p.params)
	p.execs = nil
	if NeedsStoredLegs(p.old, built) {
		p.built, p.needLegs = built, true
		return
	}
	s.reconcile(p, built)
}

func (s *Service) reconcile(p *position, built []Trade) {
	p.plan = Reconcile(p.old, built, s.d.NewID)
	p.old, p.built, p.needLegs = nil, nil, false
	s.reconcileTimes(p)
}

// reconcileTimes stamps the new and changed trades of p's plan (and the
// annotations a merge changed) with the time of the write.
func (s *Service) reconcileTimes(p *position) {
	now := s.now()
	for _, i := range p.plan.Created {
		p.plan.Trades[i].UpdatedAt = now
		p.plan.Trades[i].Annotation.UpdatedAt = now
	}
	for _, i := range p.plan.Changed {
		p.plan.Trades[i].UpdatedAt = now
		if p.plan.AnnotationChanged[p.plan.Trades[i].ID] {
			p.plan.Trades[i].Annotation.Version++
			p.plan.Trades[i].Annotation.UpdatedAt = now
		}
	}
}

func (s *Service) store(ctx context.Context, p *position, ch *changes) (int, error) {
	if p.needLegs {
		if err := s.d.Ledger.PositionLegKeys(ctx, p.key, p.old); err != nil {
			return 0, err
		}
		s.reconcile(p, p.built)
	}
	if p.plan.Empty() {
		return 0, nil
	}
	rows, err := s.d.Ledger.Apply(ctx, p.key, &p.plan)
	if err != nil {
		return 0, err
	}
	ch.record(p.key.AccountID, &p.plan)
	return rows, nil
}

// rebuild derives the trades of one position again and writes what
// changed. The caller holds the account's lock.
func (s *Service) rebuild(ctx context.Context, a *Account, instrumentID uuid.UUID, ch *changes) (*Plan, int, error) {
	loc, err := s.location(ctx, a)
	if err != nil {
		return nil, 0, err
	}
	p, err := s.load(ctx, a, loc, instrumentID)
	if err != nil {
		return nil, 0, err
	}
	s.derive(p)
	rows, err := s.store(ctx, p, ch)
	if err != nil {
		return nil, 0, err
	}
	return &p.plan, rows, nil
}

// rebuildMove rebuilds the two positions an execution moved between
// (from, the one it left, and to) as one: their stored trades are
// reconciled with both positions' derived trades together, so the rules
// of Reconcile hold across the move (docs/journal.md). A trade follows
// its opening execution into the other position (rule 1: same ID, same
// annotation, its row moves), a piece left behind is a split of it, and
// a trade whose executions all moved merges into the trade now holding
// them: correcting a fill's symbol or asset class keeps the trade's
// journal. The caller holds the account's lock.
func (s *Service) rebuildMove(ctx context.Context, a *Account, from, to uuid.UUID, ch *changes) ([]*Plan, error) {
	loc, err := s.location(ctx, a)
	if err != nil {
		return nil, err
	}
	ps := make([]*position, 2)
	// Both positions' derived trades (from's first: all[:n]) and stored
	// ones (from's first: old[:nOld]).
	var all, old []Trade
	n, nOld := 0, 0
	for i, inst := range []uuid.UUID{from, to} {
		if ps[i], err = s.load(ctx, a, loc, inst); err != nil {
			return nil, err
		}
		all = append(all, Build(ps[i].execs, ps[i].params)...)
		old = append(old, ps[i].old...)
		ps[i].execs, ps[i].old = nil, nil
		if i == 0 {
			n, nOld = len(all), len(old)
		}
	}
	if NeedsStoredLegs(old, all) {
		// The legs fill old's trades in place, each position's part.
		for i, part := range [][]Trade{old[:nOld], old[nOld:]} {
			if err := s.d.Ledger.PositionLegKeys(ctx, ps[i].key, part); err != nil {
				return nil, err
			}
		}
	}
	joint := &position{plan: Reconcile(old, all, s.d.NewID)}
	s.reconcileTimes(joint)
	// Split the joint plan by position. The stored trades that go (and
	// the moves of their attachments) are written with the second
	// position, after both positions' new and changed trades exist; no
	// new or changed trade takes the opener of a stored one (rule 1), so
	// the order keeps every unique key.
	for i, p := range ps {
		p.needLegs = false
		p.plan = Plan{AnnotationChanged: joint.plan.AnnotationChanged, Absorbed: map[uuid.UUID]uuid.UUID{}}
		if i == 0 {
			p.plan.Trades = joint.plan.Trades[:n:n]
		} else {
			p.plan.Trades = joint.plan.Trades[n:]
			p.plan.Deleted, p.plan.Absorbed = joint.plan.Deleted, joint.plan.Absorbed
		}
		for _, lists := range [][2]*[]int{{&joint.plan.Created, &p.plan.Created}, {&joint.plan.Changed, &p.plan.Changed}} {
			for _, j := range *lists[0] {
				if k := j - i*n; k >= 0 && k < len(p.plan.Trades) {
					*lists[1] = append(*lists[1], k)
				}
			}
		}
	}
	plans := make([]*Plan, 0, 2)
	for _, p := range ps {
		if _, err := s.store(ctx, p, ch); err != nil {
			return nil, err
		}
		plans = append(plans, &p.plan)
	}
	return plans, nil
}

// rebuildPositions rebuilds many positions of one account, deriving each
// on another goroutine while the transaction's connection writes the
// previous one and loads the next (the database work stays sequential, on
// one connection): position i is derived while i−1 is written and i+1
// read. At most three positions are in memory at once.
func (s *Service) rebuildPositions(ctx context.Context, a *Account, ids []uuid.UUID, ch *changes, each func(*Plan, int)) error {
	if len(ids) == 0 {
		return nil
	}
	// The zone once for every position (it may cost a read of the user).
	loc, err := s.location(ctx, a)
	if err != nil {
		return err
	}
	var prev *position
	var prevDerived chan struct{}
	for i := 0; i <= len(ids); i++ {
		var next *position
		var nextDerived chan struct{}
		if i < len(ids) {
			var err error
			if next, err = s.load(ctx, a, loc, ids[i]); err != nil {
				if prevDerived != nil {
					<-prevDerived
				}
				return err
			}
			nextDerived = make(chan struct{})
			go func(p *position, done chan struct{}) {
				defer close(done)
				s.derive(p)
			}(next, nextDerived)
		}
		if prev != nil {
			<-prevDerived
			rows, err := s.store(ctx, prev, ch)
			if err != nil {
				if nextDerived != nil {
					<-nextDerived
				}
				return err
			}
			each(&prev.plan, rows)
		}
		prev, prevDerived = next, nextDerived
	}
	return nil
}

// ExecutionTerms returns the multiplier one of the user's accounts values
// its executions of an instrument at (EffectiveMultiplier) and the
// currency its trades of it are in (TradeCurrency: the instrument's, else
// the account's): what an export writes beside each fill, so that it
// imports back into a fresh account exactly, in its currency whatever
// that account's.
func (s *Service) ExecutionTerms(ctx context.Context, userID, accountID, instrumentID uuid.UUID) (decimal.Decimal, string, error) {
	a, err := s.d.Accounts.Get(ctx, userID, accountID, false)
	if err != nil {
		return decimal.Decimal{}, "", err
	}
	in, err := s.d.Instruments.InAccount(ctx, userID, accountID, instrumentID)
	if err != nil {
		return decimal.Decimal{}, "", err
	}
	return EffectiveMultiplier(a, in), TradeCurrency(a, in), nil
}

// TradeCurrency is the currency of a's trades of in: the instrument's
// when it names one, else the account's.
func TradeCurrency(a *Account, in *Instrument) string {
	if in.Currency != "" {
		return in.Currency
	}
	return a.Currency
}

// OutcomeBand is the breakeven band a's trades of in are classified with:
// the account's, an amount in its currency, for an instrument priced in
// it, and 0 for one priced in another currency (as the analytics book
// it: docs/analytics.md), so that the outcome a trade is listed and
// filtered with is the one its figures count.
func OutcomeBand(a *Account, in *Instrument) decimal.Decimal {
	if TradeCurrency(a, in) != a.Currency {
		return decimal.Decimal{}
	}
	return a.BreakevenBand
}

// EffectiveMultiplier is the account's override for the instrument's root,
// else the instrument's multiplier (the account's: Instruments.InAccount).
func EffectiveMultiplier(a *Account, in *Instrument) decimal.Decimal {
	if m, ok := override(a.Multipliers, in); ok {
		return m
	}
	return in.Multiplier
}

// override is the multiplier of roots (an account's Multipliers) for
// in's root, when one applies (futures and options).
func override(roots map[string]decimal.Decimal, in *Instrument) (decimal.Decimal, bool) {
	m, ok := rootMultiplier(roots, in.Root)
	return m, ok && (in.AssetClass == Future || in.AssetClass == Option)
}

// pin makes inst.Multiplier the account's multiplier of the instrument:
// want, what the fill resolved to (its own or the built-in one), unless the
// account's executions of it are recorded under another (Instruments.Pin).
// A fill that gave its multiplier (explicit) and differs from the one in
// force fails with apperr.Invalid naming the field "multiplier" (the
// returned conflict, not the call's error); a fill that gave none takes the
// account's. pinned caches the answers of one call.
func (s *Service) pin(ctx context.Context, a *Account, inst *Instrument, want decimal.Decimal, explicit bool, pinned map[uuid.UUID]decimal.Decimal) (conflict, err error) {
	got, ok := pinned[inst.ID]
	if !ok {
		if got, err = s.d.Instruments.Pin(ctx, a.UserID, a.ID, inst.ID, want); err != nil {
			return nil, err
		}
		pinned[inst.ID] = got
	}
	if msg := multiplierConflict(inst.Symbol, got, want, explicit, a.Multipliers, inst); msg != "" {
		return apperr.Validation("multiplier conflict", map[string]string{"multiplier": msg}), nil
	}
	inst.Multiplier = got
	return nil, nil
}

// givenCurrency is the currency a fill names ("": none).
func givenCurrency(in *ExecutionInput) string { return normCurrency(in.Currency) }

// normCurrency is a currency code as instruments store it.
func normCurrency(s string) string { return strings.ToUpper(strings.TrimSpace(s)) }

// adoptCurrency checks a fill naming currency given of the stored
// instrument inst in account a (currencyConflict), and gives the
// instrument that currency when it may adopt it.
func (s *Service) adoptCurrency(ctx context.Context, a *Account, inst *Instrument, given string, importID uuid.UUID) (conflict, err error) {
	cur, holders, _, err := s.d.Instruments.CurrencyTerms(ctx, a.UserID, inst.AssetClass, inst.Symbol, importID)
	if err != nil {
		return nil, err
	}
	adopt, msg := currencyConflict(inst.Symbol, given, cur, a.Currency, holders)
	if adopt {
		ok, err := s.d.Instruments.AdoptCurrency(ctx, a.UserID, inst.ID, given, importID)
		if err != nil {
			return nil, err
		}
		if ok {
			inst.Currency = given
			return nil, nil
		}
		msg = fmt.Sprintf("%s is recorded without a currency, in each account's own, and another account now holds it: it cannot take %s", inst.Symbol, given)
	}
	if msg == "" {
		return nil, nil
	}
	return apperr.Validation("currency conflict", map[string]string{"currency": msg}), nil
}

// currencyConflict is why a fill naming currency given is refused for an
// instrument of symbol stored with currency cur ("": none, so each
// account's own) in an account of currency acct, with holders the
// currencies of the accounts that hold executions of it ("" when it is
// not); adopt says the instrument takes given: it has no currency and
// every account holding it is in given, so no trade's currency changes
// (naming the account's own currency records it too). A fill naming the
// currency its trades are in already (or none) never conflicts.
func currencyConflict(symbol, given, cur, acct string, holders []string) (adopt bool, msg string) {
	if given == "" || given == cur {
		return false, ""
	}
	if cur != "" {
		return false, fmt.Sprintf("%s is recorded in %s, not %s: its trades are in %s in every account", symbol, cur, given, cur)
	}
	for _, h := range holders {
		if h != given {
			if given == acct {
				return false, "" // its trades here are in given already; the other accounts' keep theirs
			}
			return false, fmt.Sprintf("%s is recorded without a currency, so its trades are in the currency of each account that holds it (%s in one), not %s",
				symbol, h, given)
		}
	}
	return true, ""
}

// multiplierConflict is why a fill of symbol resolving to multiplier want
// is refused in an account whose executions of it are recorded under got
// (or whose batch pinned got first), "" when it is not: only a fill that
// gave its multiplier (explicit) can conflict; one that gave none takes
// the account's.
//
// With an account's override for the root (roots, EffectiveMultiplier),
// the fill is valued at the override whatever it was recorded under: a
// fill giving the override is the account's (its executions export writes
// it), one giving another multiplier conflicts, and the one to give is the
// override.
func multiplierConflict(symbol string, got, want decimal.Decimal, explicit bool, roots map[string]decimal.Decimal, in *Instrument) string {
	if !explicit {
		return ""
	}
	if m, ok := override(roots, in); ok {
		got = m
	}
	if got.Equal(want) {
		return ""
	}
	return fmt.Sprintf("%s is recorded in this account with multiplier %s, not %s: give %s, or record the other contract in another account",
		symbol, got, want, got)
}

// TermsConflicts says, writing nothing, which of ins recording them
// in the account (in this order, in one batch) would refuse for a
// multiplier other than the account's, by index, with the message
// AddExecutions would give: the rule of pin, read through
// Instruments.Recorded (an import's preview warns of what its run would
// refuse). A fill whose symbol does not resolve is left to the checks
// that report it. A root outside the built-in table takes the account's
// multiplier as recording does. Another user's account has no executions
// or multipliers to conflict with. A fill naming another currency than the
// instrument's trades are in (currencyConflict) is listed the same way.
func (s *Service) TermsConflicts(ctx context.Context, userID, accountID uuid.UUID, ins []ExecutionInput) (map[int]string, error) {
	type key struct {
		class  AssetClass
		symbol string
	}
	var roots map[string]decimal.Decimal // another user's account: none
	acct := ""
	if a, err := s.d.Accounts.Get(ctx, userID, accountID, false); err == nil {
		roots, acct = a.Multipliers, a.Currency
	} else if !apperr.Is(err, apperr.NotFound) {
		return nil, err
	}
	type terms struct {
		cur     string
		holders []string
	}
	currencies := map[key]*terms{}
	pinned := map[key]decimal.Decimal{}
	var out map[int]string
	for i := range ins {
		in := &ins[i]
		spec := in.InstrumentSpec()
		spec.Roots = roots
		inst, err := ResolveInstrument(spec, in.ExecutedAt)
		if err != nil {
			continue
		}
		k := key{inst.AssetClass, inst.Symbol}
		got, ok := pinned[k]
		if !ok {
			m, found, err := s.d.Instruments.Recorded(ctx, userID, accountID, inst.AssetClass, inst.Symbol)
			if err != nil {
				return nil, err
			}
			// None recorded: the batch's first fill of it pins its own.
			got = inst.Multiplier
			if found {
				got = m
			}
			pinned[k] = got
		}
		msg := multiplierConflict(inst.Symbol, got, inst.Multiplier, !in.Multiplier.IsZero(), roots, &inst)
		if given := givenCurrency(in); msg == "" && given != "" && acct != "" {
			tm := currencies[k]
			if tm == nil {
				cur, holders, found, err := s.d.Instruments.CurrencyTerms(ctx, userID, inst.AssetClass, inst.Symbol, uuid.Nil)
				if err != nil {
					return nil, err
				}
				if !found { // the batch's first fill creates it with its currency
					cur = inst.Currency
				}
				tm = &terms{cur: cur, holders: holders}
				currencies[k] = tm
			}
			var adopt bool
			if adopt, msg = currencyConflict(inst.Symbol, given, tm.cur, acct, tm.holders); adopt {
				tm.cur = given
			}
		}
		if msg != "" {
			if out == nil {
				out = map[int]string{}
			}
			out[i] = msg
		}
	}
	return out, nil
}

// touched returns the created and changed trades of plans.
func touched(plans []*Plan) []Trade {
	var out []Trade
	for _, p := range plans {
		for _, i := range p.Created {
			out = append(out, p.Trades[i])
		}
		for _, i := range p.Changed {
			out = append(out, p.Trades[i])
		}
	}
	return out
}

func stale() error {
	return apperr.New(apperr.Conflict, CodeVersionMismatch, "the record changed since it was read: reload it and try again")
}
