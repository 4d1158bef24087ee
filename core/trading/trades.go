package trading

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
)

// Limits of annotations.
const (
	MaxNotesBytes  = 64 << 10
	MaxTradeTags   = 50
	MaxBulkTrades  = 500
	saveRetries    = 3
	maxManualFills = 100
)

// TradePage is one page of a trade list.
type TradePage struct {
	Items      []Trade
	NextCursor string // "" on the last page
}

// GetTrade returns one of the user's trades with its legs and annotation.
func (s *Service) GetTrade(ctx context.Context, userID, id uuid.UUID) (*Trade, error) {
	return s.d.Trades.Get(ctx, userID, id)
}

// ListTrades returns a page of the trades f selects in s's order. A filter
// without a Location has its date range read in the user's time zone.
func (s *Service) ListTrades(ctx context.Context, userID uuid.UUID, f Filter, srt Sort, p Page) (TradePage, error) {
	// A list uses the zone only for the instants of its date range
	// (Bounds): without one, the user's zone is not read.
	var err error
	if f.From.IsZero() && f.To.IsZero() {
		err = f.Validate()
	} else {
		err = s.PrepareFilter(ctx, userID, &f)
	}
	if err != nil {
		return TradePage{}, err
	}
	if err := srt.Validate(); err != nil {
		return TradePage{}, err
	}
	return s.page(ctx, userID, &f, srt, p)
}

// page reads one page of a validated filter; an empty one is NotFound
// when the filter names another user's account, tag or playbook.
func (s *Service) page(ctx context.Context, userID uuid.UUID, f *Filter, srt Sort, p Page) (TradePage, error) {
	items, next, err := s.d.Trades.List(ctx, userID, *f, srt, p)
	if err == nil && len(items) == 0 {
		err = s.CheckFilterOwner(ctx, userID, f)
	}
	if err != nil {
		return TradePage{}, err
	}
	return TradePage{Items: items, NextCursor: next}, nil
}

// CheckFilterOwner fails with apperr.NotFound (account_not_found,
// tag_not_found, playbook_not_found) unless every account, tag and
// playbook f names is the user's: another user's id in a filter is 404,
// as on every route, not an empty answer. Lists and figures call it only
// when they come out empty (a non-empty answer proves nothing about the
// ids, but costs nothing either: the rows are the user's), so a warm page
// pays nothing for it.
func (s *Service) CheckFilterOwner(ctx context.Context, userID uuid.UUID, f *Filter) error {
	for _, id := range f.AccountIDs {
		if _, err := s.d.Accounts.Get(ctx, userID, id, false); err != nil {
			return err
		}
	}
	if len(f.TagIDs) > 0 {
		if err := s.d.Labels.CheckTags(ctx, userID, f.TagIDs); err != nil {
			return err
		}
	}
	for _, id := range f.PlaybookIDs {
		if _, err := s.d.Labels.PlaybookRules(ctx, userID, id); err != nil {
			return err
		}
	}
	return nil
}

// pagesPrefix starts the keys of Deps.Pages (and names their metrics).
const pagesPrefix = "trades-page:"

// pageKeyVersion changes whenever a page's shape or its selection's rules
// change.
const pageKeyVersion = "v1"

// ListTradesEncoded is ListTrades encoded by enc, served from Deps.Pages
// when this process encoded the same page already for the user's current
// data version: a warm page is then the stamp's one statement and a
// memory look-up, with no trade read and no encoding. The data version
// moves in the transaction of every write to the user's executions,
// trades and annotations, and is read before the page, so a kept page
// was read at that version or later: never stale. The bytes may be shared
// with other callers: they must not be modified. Without Pages, or when
// Versions are not Stamps, it reads and encodes every time.
func (s *Service) ListTradesEncoded(ctx context.Context, userID uuid.UUID, f Filter, srt Sort, p Page, enc cache.Encoding[TradePage]) ([]byte, error) {
	if s.d.Pages == nil || s.stamps == nil {
		page, err := s.ListTrades(ctx, userID, f, srt, p)
		if err != nil {
			return nil, err
		}
		return enc.Encode(page)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if err := srt.Validate(); err != nil {
		return nil, err
	}
	version, zone, err := s.stamps.Stamp(ctx, userID)
	if err != nil {
		return nil, err
	}
	if f.Location == nil {
		f.Location = ZoneOrUTC(zone)
	}
	key := fmt.Sprintf("%s:%s:%d:%s", pageKeyVersion, userID, version,
		f.Digest(string(srt.Key), strconv.FormatBool(srt.Asc), strconv.Itoa(p.Size()), p.Cursor))
	return cache.GetOrEncode(ctx, s.d.Pages, pagesPrefix, key, s.d.PagesTTL, enc, func(ctx context.Context) (TradePage, error) {
		return s.page(ctx, userID, &f, srt, p)
	})
}

// PrepareFilter validates f and fills in the user's time zone: analytics
// calls it before using the filter the same way.
func (s *Service) PrepareFilter(ctx context.Context, userID uuid.UUID, f *Filter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Location == nil {
		loc, err := s.d.Zones.Location(ctx, userID)
		if err != nil {
			return err
		}
		f.Location = loc
	}
	return nil
}

// AnnotationPatch changes a trade's annotation; nil fields stay. A nil
// inner value (uuid.Nil playbook, invalid NullDecimal, 0 rating) clears.
type AnnotationPatch struct {
	PlaybookID    *uuid.UUID
	TagIDs        *[]uuid.UUID
	Notes         *string
	PlannedStop   *decimal.NullDecimal
	PlannedTarget *decimal.NullDecimal
	InitialRisk   *decimal.NullDecimal
	Rating        *int
	Confidence    *int
	FollowedRules *[]uuid.UUID
}

// apply changes a by p and checks the result against the user's tags and
// playbooks.
func (s *Service) apply(ctx context.Context, userID uuid.UUID, a *Annotation, p *AnnotationPatch) error {
	// Another playbook (or none) starts with no followed rules unless the
	// patch names them: the old ones were rules of the old playbook.
	if p.PlaybookID != nil && *p.PlaybookID != a.PlaybookID && p.FollowedRules == nil {
		a.FollowedRules = nil
	}
	set(&a.PlaybookID, p.PlaybookID)
	if p.TagIDs != nil {
		a.TagIDs = dedupe(*p.TagIDs)
	}
	set(&a.Notes, p.Notes)
	set(&a.PlannedStop, p.PlannedStop)
	set(&a.PlannedTarget, p.PlannedTarget)
	set(&a.InitialRisk, p.InitialRisk)
	set(&a.Rating, p.Rating)
	set(&a.Confidence, p.Confidence)
	if p.FollowedRules != nil {
		a.FollowedRules = dedupe(*p.FollowedRules)
	}
	fields := map[string]string{}
	if len(a.Notes) > MaxNotesBytes || !utf8.ValidString(a.Notes) {
		fields["notes"] = fmt.Sprintf("must be UTF-8 text of at most %d bytes", MaxNotesBytes)
	}
	if len(a.TagIDs) > MaxTradeTags {
		fields["tags"] = fmt.Sprintf("at most %d tags", MaxTradeTags)
	}
	if a.InitialRisk.Valid && !a.InitialRisk.Decimal.IsPositive() {
		fields["initial_risk"] = "must be positive"
	}
	if a.Rating < 0 || a.Rating > 5 {
		fields["rating"] = "must be 1 to 5"
	}
	if a.Confidence < 0 || a.Confidence > 10 {
		fields["confidence"] = "must be 1 to 10"
	}
	if len(a.FollowedRules) > 0 && a.PlaybookID == uuid.Nil {
		fields["followed_rules"] = "need a playbook"
	}
	if len(fields) > 0 {
		return apperr.Validation("invalid annotation", fields)
	}
	if len(a.TagIDs) > 0 && p.TagIDs != nil {
		if err := s.d.Labels.CheckTags(ctx, userID, a.TagIDs); err != nil {
			return err
		}
	}
	if a.PlaybookID != uuid.Nil && (p.PlaybookID != nil || p.FollowedRules != nil) {
		rules, err := s.d.Labels.PlaybookRules(ctx, userID, a.PlaybookID)
		if err != nil {
			return err
		}
		for _, r := range a.FollowedRules {
			if !slices.Contains(rules, r) {
				e := apperr.Validation("unknown playbook rule", map[string]string{"followed_rules": "must be rules of the trade's playbook"})
				e.Code = CodePlaybookRuleUnknown
				return e
			}
		}
	}
	return nil
}

// sameAnnotation reports whether a and b say the same: tags and followed
// rules as sets, amounts by value.
func sameAnnotation(a, b *Annotation) bool {
	sameNull := func(x, y decimal.NullDecimal) bool {
		return x.Valid == y.Valid && (!x.Valid || x.Decimal.Equal(y.Decimal))
	}
	sameSet := func(x, y []uuid.UUID) bool {
		x, y = dedupe(x), dedupe(y)
		return len(x) == len(y) && !slices.ContainsFunc(x, func(id uuid.UUID) bool { return !slices.Contains(y, id) })
	}
	return a.PlaybookID == b.PlaybookID && a.Notes == b.Notes && sameNull(a.PlannedStop, b.PlannedStop) && sameNull(a.PlannedTarget, b.PlannedTarget) &&
		sameNull(a.InitialRisk, b.InitialRisk) && a.Rating == b.Rating && a.Confidence == b.Confidence &&
		sameSet(a.TagIDs, b.TagIDs) && sameSet(a.FollowedRules, b.FollowedRules)
}

func dedupe(ids []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// UpdateAnnotation changes a trade's annotation if its version is still
// ifVersion (0: whatever it is; apperr.Conflict "version_mismatch" when
// stale) and returns the trade.
func (s *Service) UpdateAnnotation(ctx context.Context, userID, tradeID uuid.UUID, p AnnotationPatch, ifVersion int64) (*Trade, error) {
	var out *Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		t, changed, err := s.annotate(ctx, userID, tradeID, ifVersion, &accountLocks{}, func(a *Annotation) error { return s.apply(ctx, userID, a, &p) })
		if err != nil {
			return err
		}
		if changed {
			ch.updated[t.ID] = t.AccountID
		}
		out = t
		return nil
	})
	return out, err
}

// accountLocks are the accounts of the user whose write lock a write
// holds: all of them (Accounts.LockAll), or those in held.
type accountLocks struct {
	all  bool
	held map[uuid.UUID]bool
}

func (l *accountLocks) has(id uuid.UUID) bool { return l.all || l.held[id] }

func (l *accountLocks) add(id uuid.UUID) {
	if l.held == nil {
		l.held = map[uuid.UUID]bool{}
	}
	l.held[id] = true
}

// annotate loads a trade under its account's lock (serialising with
// rebuilds), changes its annotation with fn and saves it; changed is
// false, and nothing saved, when fn left the annotation as it was.
func (s *Service) annotate(ctx context.Context, userID, tradeID uuid.UUID, ifVersion int64, locked *accountLocks, fn func(*Annotation) error) (*Trade, bool, error) {
	for attempt := 0; ; attempt++ {
		t, err := s.d.Trades.Get(ctx, userID, tradeID)
		if err != nil {
			return nil, false, err
		}
		if !locked.has(t.AccountID) {
			if _, err := s.d.Accounts.Get(ctx, userID, t.AccountID, true); err != nil {
				return nil, false, err
			}
			locked.add(t.AccountID)
			continue // read again under the lock
		}
		if ifVersion != 0 && t.Annotation.Version != ifVersion {
			return nil, false, stale()
		}
		before := cloneAnnotation(t.Annotation)
		if err := fn(&t.Annotation); err != nil {
			return nil, false, err
		}
		if sameAnnotation(&before, &t.Annotation) {
			return t, false, nil // nothing to save: the version (ETag) stays
		}
		t.Annotation.Version++
		t.Annotation.UpdatedAt = s.now()
		t.RMultiple = RMultiple(t.NetPnL, t.Annotation.InitialRisk)
		t.Digest = Digest(t) // R is derived: keep the stored digest true
		err = s.d.Trades.SaveAnnotation(ctx, t)
		if err == nil {
			return t, true, nil
		}
		if !(ifVersion == 0 && apperr.CodeOf(err) == CodeVersionMismatch && attempt < saveRetries) {
			return nil, false, err
		}
	}
}

// BulkAnnotation changes many trades at once.
type BulkAnnotation struct {
	AddTags    []uuid.UUID
	RemoveTags []uuid.UUID
	// PlaybookID, when set, replaces the playbook (uuid.Nil clears it and
	// the followed rules).
	PlaybookID *uuid.UUID
}

// BulkAnnotate applies b to every trade of ids (at most MaxBulkTrades, all
// the user's, else apperr.NotFound and nothing changes) and returns them.
func (s *Service) BulkAnnotate(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, b BulkAnnotation) ([]Trade, error) {
	if len(ids) == 0 || len(ids) > MaxBulkTrades {
		return nil, apperr.Validation("invalid ids", map[string]string{"ids": fmt.Sprintf("1 to %d trade IDs", MaxBulkTrades)})
	}
	var out []Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		// The trades may be of several accounts: their locks are taken
		// in ID order (Accounts.LockAll), before the labels are checked,
		// so that a tag or playbook deleted meanwhile (which takes the
		// same locks) is either gone here or deleted after.
		if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
			return err
		}
		locked := &accountLocks{all: true}
		// Every tag named must be the user's, removed ones too (another
		// user's id answers 404 wherever it appears).
		if named := dedupe(append(slices.Clone(b.AddTags), b.RemoveTags...)); len(named) > 0 {
			if err := s.d.Labels.CheckTags(ctx, userID, named); err != nil {
				return err
			}
		}
		if b.PlaybookID != nil && *b.PlaybookID != uuid.Nil {
			if _, err := s.d.Labels.PlaybookRules(ctx, userID, *b.PlaybookID); err != nil {
				return err
			}
		}
		for _, id := range dedupe(ids) {
			t, changed, err := s.annotate(ctx, userID, id, 0, locked, func(a *Annotation) error {
				tags := unionIDs(a.TagIDs, b.AddTags)
				tags = slices.DeleteFunc(tags, func(t uuid.UUID) bool { return slices.Contains(b.RemoveTags, t) })
				if len(tags) > MaxTradeTags {
					return apperr.Validation("too many tags", map[string]string{"tags": fmt.Sprintf("at most %d tags per trade", MaxTradeTags)})
				}
				a.TagIDs = tags
				if b.PlaybookID != nil && *b.PlaybookID != a.PlaybookID {
					a.PlaybookID, a.FollowedRules = *b.PlaybookID, nil
				}
				return nil
			})
			if err != nil {
				return err
			}
			if changed {
				ch.updated[t.ID] = t.AccountID
			}
			out = append(out, *t)
		}
		return nil
	})
	return out, err
}

// DeleteTrade deletes a trade by deleting every execution linked to it. A
// fill split at zero is shared with the neighbouring trade, which is
// rebuilt without it. It returns the trades created or changed.
func (s *Service) DeleteTrade(ctx context.Context, userID, tradeID uuid.UUID) ([]Trade, error) {
	var out []Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		t, err := s.d.Trades.Get(ctx, userID, tradeID)
		if err != nil {
			return err
		}
		if _, err := s.d.Accounts.Get(ctx, userID, t.AccountID, true); err != nil {
			return err
		}
		if t, err = s.d.Trades.Get(ctx, userID, tradeID); err != nil { // again, under the lock
			return err
		}
		ids := make([]uuid.UUID, 0, len(t.Legs))
		for _, l := range t.Legs {
			ids = append(ids, l.ExecutionID)
		}
		out, err = s.deleteExecutions(ctx, userID, dedupe(ids), []uuid.UUID{t.AccountID}, ch)
		return err
	})
	return out, err
}

// ManualFill is one side of a trade typed in by hand.
type ManualFill struct {
	Price      decimal.Decimal
	Quantity   decimal.Decimal
	At         time.Time
	Commission decimal.Decimal
	Fees       decimal.Decimal
}

// ManualTrade is a trade typed in: its entries and exits become
// executions (buys and sells by Direction), and the trade is what the
// builder makes of them with the position's other executions.
type ManualTrade struct {
	AccountID  uuid.UUID
	Symbol     string
	AssetClass AssetClass
	Multiplier decimal.Decimal // optional, for a new instrument
	Direction  Direction
	Entries    []ManualFill
	Exits      []ManualFill
	Annotation *AnnotationPatch
}

// CreateManualTrade records m's executions, rebuilds the position and
// returns the trades that hold them (one, unless they fall into or across
// existing trades of the position). The annotation, if any, goes to the
// trade the earliest entry that opens or adds to a position in the
// direction typed goes into; merged into that trade's own when the trade
// was there before.
func (s *Service) CreateManualTrade(ctx context.Context, userID uuid.UUID, m ManualTrade) ([]Trade, error) {
	fields := map[string]string{}
	if m.Direction != Long && m.Direction != Short {
		fields["direction"] = "must be long or short"
	}
	if len(m.Entries) == 0 || len(m.Entries)+len(m.Exits) > maxManualFills {
		fields["entries"] = fmt.Sprintf("1 or more entries, at most %d fills", maxManualFills)
	}
	in, out := decimal.Zero, decimal.Zero
	var first time.Time
	for _, f := range m.Entries {
		in = in.Add(f.Quantity)
		if first.IsZero() || f.At.Before(first) {
			first = f.At
		}
	}
	for i, f := range m.Exits {
		out = out.Add(f.Quantity)
		if f.At.Before(first) {
			fields[fmt.Sprintf("exits[%d].at", i)] = "must not be before the first entry"
		}
	}
	if out.GreaterThan(in) {
		fields["exits"] = "must not exceed the entries' quantity"
	}
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid trade", fields)
	}
	entrySide, exitSide := Buy, Sell
	if m.Direction == Short {
		entrySide, exitSide = Sell, Buy
	}
	ins := make([]ExecutionInput, 0, len(m.Entries)+len(m.Exits))
	add := func(fs []ManualFill, side Side) {
		for _, f := range fs {
			ins = append(ins, ExecutionInput{Symbol: m.Symbol, AssetClass: m.AssetClass, Multiplier: m.Multiplier, Side: side,
				Quantity: f.Quantity, Price: f.Price, Commission: f.Commission, Fees: f.Fees, ExecutedAt: f.At})
		}
	}
	add(m.Entries, entrySide)
	add(m.Exits, exitSide)
	var trades []Trade
	err := s.write(ctx, userID, func(ctx context.Context, ch *changes) error {
		res, err := s.addExecutions(ctx, userID, m.AccountID, ins, AddOptions{}, ch)
		if err != nil {
			return renameFields(err, len(m.Entries))
		}
		mine := map[uuid.UUID]bool{}
		for _, e := range res.Executions {
			mine[e.ID] = true
		}
		// The entries in time order (the first listed of equals); they
		// are the first executions of res, in the order given.
		order := make([]int, len(m.Entries))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int { return m.Entries[a].At.Compare(m.Entries[b].At) })
		rank := make(map[uuid.UUID]int, len(order))
		for r, i := range order {
			rank[res.Executions[i].ID] = r
		}
		// The annotation's trade is the one the earliest entry that opens
		// or adds to a position in the direction typed goes into: entries
		// before it only closed trades of the other direction (a fill
		// split at zero does both). With none such, it is the trade
		// holding the earliest entry.
		var annotated, fallback uuid.UUID
		best := len(order)
		for _, t := range res.Trades {
			holds := false
			for _, l := range t.Legs {
				if !mine[l.ExecutionID] {
					continue
				}
				holds = true
				r, entry := rank[l.ExecutionID]
				switch {
				case !entry:
				case l.Role == Entry && t.Direction == m.Direction && r < best:
					annotated, best = t.ID, r
				case r == 0 && fallback == uuid.Nil:
					fallback = t.ID
				}
			}
			if holds {
				trades = append(trades, t)
			}
		}
		if annotated == uuid.Nil {
			annotated = fallback
		}
		if m.Annotation != nil && annotated != uuid.Nil {
			_, isNew := ch.created[annotated]
			t, _, err := s.annotate(ctx, userID, annotated, 0, &accountLocks{held: map[uuid.UUID]bool{m.AccountID: true}}, func(a *Annotation) error {
				if isNew {
					return s.apply(ctx, userID, a, m.Annotation)
				}
				// The fills fell into a trade that was there before:
				// the annotation given joins its own as a merge does
				// (Reconcile's rule 4: tags united, notes appended,
				// empty fields filled), overwriting nothing it held.
				var given Annotation
				if err := s.apply(ctx, userID, &given, m.Annotation); err != nil {
					return err
				}
				mergeAnnotation(a, &given)
				return s.apply(ctx, userID, a, &AnnotationPatch{}) // the bounds, on the merged whole
			})
			if err != nil {
				return err
			}
			for i := range trades {
				if trades[i].ID == t.ID {
					trades[i] = *t
				}
			}
		}
		return nil
	})
	return trades, err
}

// renameFields maps "executions[i].x" of an error to the entries/exits
// the caller sent.
func renameFields(err error, entries int) error {
	e, ok := apperr.As(err)
	if !ok || len(e.Fields) == 0 {
		return err
	}
	out := map[string]string{}
	for k, v := range e.Fields {
		var i int
		var rest string
		if n, _ := fmt.Sscanf(k, "executions[%d]%s", &i, &rest); n >= 1 {
			if i < entries {
				k = fmt.Sprintf("entries[%d]%s", i, rest)
			} else {
				k = fmt.Sprintf("exits[%d]%s", i-entries, rest)
			}
		}
		out[strings.ReplaceAll(k, ".executed_at", ".at")] = v
	}
	c := *e
	c.Fields = out
	return &c
}
