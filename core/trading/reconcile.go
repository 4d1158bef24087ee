package trading

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Fingerprint identifies a fill for deduplication, unique per account.
// With a broker execution ID it is derived from that ID alone (brokers
// keep it stable across exports that round prices or shift time zones
// differently). Without one it hashes the normalised fields: asset class,
// canonical symbol, side, quantity and price (trailing zeros dropped) and
// the instant to the nanosecond, plus ordinal: the position of this fill
// among identical ones in one batch (0 for the first), so that two genuine
// identical fills of one export are both kept while re-importing the
// export adds neither again. Commission and fees are left out: a
// re-export with corrected fees is the same fill.
func Fingerprint(e *Execution, symbol string, class AssetClass, ordinal int) string {
	h := sha256.New()
	if id := strings.TrimSpace(e.BrokerExecutionID); id != "" {
		h.Write([]byte("v1|id|"))
		h.Write([]byte(id))
	} else {
		var b strings.Builder
		b.WriteString("v1|fill|")
		b.WriteString(string(class))
		b.WriteByte('|')
		b.WriteString(symbol)
		b.WriteByte('|')
		b.WriteString(string(e.Side))
		b.WriteByte('|')
		b.WriteString(e.Quantity.String())
		b.WriteByte('|')
		b.WriteString(e.Price.String())
		b.WriteByte('|')
		b.WriteString(strconv.FormatInt(e.ExecutedAt.UnixNano(), 10))
		b.WriteByte('|')
		b.WriteString(strconv.Itoa(ordinal))
		h.Write([]byte(b.String()))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Plan is what Reconcile decided for one position: the trades as they
// must be stored (IDs and annotations assigned) and the stored ones that
// go away.
type Plan struct {
	// Trades are the position's trades in opening order, each with its ID,
	// annotation and RMultiple.
	Trades []Trade
	// Created are indexes into Trades of trades that get a new ID; Changed
	// those that keep a stored ID but differ from the stored row (figures,
	// legs or annotation).
	Created []int
	Changed []int
	// AnnotationChanged holds the IDs of kept trades whose annotation
	// changed (a merge): their annotation version is bumped.
	AnnotationChanged map[uuid.UUID]bool
	// Deleted are stored trades that no longer exist; Absorbed maps those
	// that merged into a surviving trade to it (their attachments move).
	Deleted  []uuid.UUID
	Absorbed map[uuid.UUID]uuid.UUID
}

// Empty reports whether the plan writes nothing.
func (p *Plan) Empty() bool { return len(p.Created)+len(p.Changed)+len(p.Deleted) == 0 }

// Reconcile gives the trades that Build derived (built) the identities and
// annotations of the stored ones (old, with their legs). The rules,
// applied in this order (docs/journal.md):
//
//  1. A trade opened by the same execution as a stored trade is that
//     trade: same ID, same annotation.
//  2. A trade whose opening execution is new (the old opener was deleted,
//     moved or re-timed) takes the ID of the unclaimed stored trade with
//     which it shares the most executions (ties: the earlier opened).
//  3. Any other trade is new. When a split made it (it shares executions
//     with a stored trade whose ID went to another piece), it inherits that
//     trade's playbook and tags, but not its notes, risk, rating or rules,
//     which described the original decision.
//  4. A stored trade that claimed no new one is deleted. When another
//     trade now holds most of its executions (a merge), its annotation is
//     merged into that survivor: tags united, notes appended below a rule,
//     and each empty field (playbook, stop, target, risk, rating,
//     confidence, followed rules) filled from the absorbed trade; its
//     attachments move to the survivor. Otherwise (all its executions are
//     gone) its annotation goes with it.
//
// newID makes the ID of a new trade.
func Reconcile(old, built []Trade, newID func() uuid.UUID) Plan {
	p := Plan{Trades: built, AnnotationChanged: map[uuid.UUID]bool{}, Absorbed: map[uuid.UUID]uuid.UUID{}}
	// Pointers into old, sorted (a copy of the trades would cost a rebuild
	// of 50,000 stored trades 36 MB of allocation).
	oldSorted := make([]*Trade, len(old))
	for i := range old {
		oldSorted[i] = &old[i]
	}
	slices.SortFunc(oldSorted, func(a, b *Trade) int {
		if c := a.OpenedAt.Compare(b.OpenedAt); c != 0 {
			return c
		}
		return bytes.Compare(a.ID[:], b.ID[:])
	})
	byOpener := make(map[uuid.UUID]int, len(oldSorted))
	for i := range oldSorted {
		byOpener[oldSorted[i].OpeningExecutionID] = i
	}
	// execution → old trades holding it; made when rules 2 and 3 first
	// need it (a rebuild that changes nothing never does).
	var execOwners map[uuid.UUID][]int
	owners := func() map[uuid.UUID][]int {
		if execOwners == nil {
			execOwners = map[uuid.UUID][]int{}
			for i := range oldSorted {
				for _, l := range oldSorted[i].Legs {
					execOwners[l.ExecutionID] = append(execOwners[l.ExecutionID], i)
				}
			}
		}
		return execOwners
	}
	claimed := make([]bool, len(oldSorted))
	source := make([]int, len(built)) // old trade index each built one took, or −1
	for i := range source {
		source[i] = -1
	}

	// Rule 1.
	for i := range built {
		if j, ok := byOpener[built[i].OpeningExecutionID]; ok && !claimed[j] {
			claimed[j], source[i] = true, j
		}
	}
	// shared counts, per old trade, the executions built[i] has in it.
	shared := func(i int) map[int]int {
		n := map[int]int{}
		if len(oldSorted) == 0 {
			return n
		}
		eo := owners()
		for _, l := range built[i].Legs {
			for _, j := range eo[l.ExecutionID] {
				n[j]++
			}
		}
		return n
	}
	best := func(n map[int]int, ok func(int) bool) int {
		bj, bn := -1, 0
		for j, c := range n {
			if ok(j) && (c > bn || (c == bn && j < bj)) {
				bj, bn = j, c
			}
		}
		return bj
	}
	// Rules 2 and 3.
	for i := range built {
		if source[i] >= 0 {
			continue
		}
		n := shared(i)
		if j := best(n, func(j int) bool { return !claimed[j] }); j >= 0 {
			claimed[j], source[i] = true, j
			continue
		}
		t := &built[i]
		t.ID = newID()
		t.Annotation = Annotation{Version: 1}
		if j := best(n, func(int) bool { return true }); j >= 0 {
			a := oldSorted[j].Annotation
			t.Annotation.PlaybookID = a.PlaybookID
			t.Annotation.TagIDs = slices.Clone(a.TagIDs)
		}
		p.Created = append(p.Created, i)
	}
	for i, j := range source {
		if j >= 0 {
			built[i].ID = oldSorted[j].ID
			built[i].Annotation = cloneAnnotation(oldSorted[j].Annotation)
		}
	}
	// Rule 4. builtOwners (execution → built trades holding it) is made
	// for the first unclaimed old trade, if any.
	var builtOwners map[uuid.UUID][]int
	for j := range oldSorted {
		if claimed[j] {
			continue
		}
		if builtOwners == nil {
			builtOwners = map[uuid.UUID][]int{}
			for i := range built {
				for _, l := range built[i].Legs {
					builtOwners[l.ExecutionID] = append(builtOwners[l.ExecutionID], i)
				}
			}
		}
		o := oldSorted[j]
		p.Deleted = append(p.Deleted, o.ID)
		holders := map[int]int{}
		for _, l := range o.Legs {
			for _, i := range builtOwners[l.ExecutionID] {
				holders[i]++
			}
		}
		if i := best(holders, func(int) bool { return true }); i >= 0 {
			mergeAnnotation(&built[i].Annotation, &o.Annotation)
			p.Absorbed[o.ID] = built[i].ID
			if source[i] >= 0 {
				p.AnnotationChanged[built[i].ID] = true
			}
		}
	}
	for i := range built {
		t := &built[i]
		t.RMultiple = RMultiple(t.NetPnL, t.Annotation.InitialRisk)
		t.Digest = Digest(t)
		if j := source[i]; j >= 0 {
			o := oldSorted[j]
			same := o.Digest == t.Digest
			if o.Digest == "" {
				same = SameDerived(t, o)
			}
			if !same || p.AnnotationChanged[t.ID] {
				p.Changed = append(p.Changed, i)
			}
		}
	}
	return p
}

// NeedsStoredLegs reports whether Reconcile(old, built, …) reads the legs
// of old: only when a built trade is not claimed by the stored trade with
// its opening execution (rule 1), or a stored trade is left unclaimed
// (rules 2–4 then count shared executions). When it returns false,
// Reconcile gives the same plan whether old carries its legs or not, so a
// rebuild that finds every stored trade by its opener (nothing changed,
// or only figures) need not read them. It mirrors rule 1 of Reconcile.
func NeedsStoredLegs(old, built []Trade) bool {
	if len(old) == 0 {
		return false // from scratch: every built trade is new
	}
	if len(old) != len(built) {
		return true // one side has a trade rule 1 cannot pair
	}
	byOpener := make(map[uuid.UUID]bool, len(old))
	for i := range old {
		byOpener[old[i].OpeningExecutionID] = false
	}
	for i := range built {
		claimed, ok := byOpener[built[i].OpeningExecutionID]
		if !ok || claimed {
			return true
		}
		byOpener[built[i].OpeningExecutionID] = true
	}
	// As many trades on each side, each built one claimed a distinct
	// stored one: every stored trade is claimed.
	return len(byOpener) != len(old)
}

func cloneAnnotation(a Annotation) Annotation {
	a.TagIDs = slices.Clone(a.TagIDs)
	a.FollowedRules = slices.Clone(a.FollowedRules)
	return a
}

// mergeAnnotation folds the annotation of an absorbed trade into dst (rule
// 4 of Reconcile).
func mergeAnnotation(dst, src *Annotation) {
	dst.TagIDs = unionIDs(dst.TagIDs, src.TagIDs)
	switch {
	case dst.Notes == "":
		dst.Notes = src.Notes
	case src.Notes != "":
		dst.Notes += "\n\n---\n\n" + src.Notes
	}
	switch dst.PlaybookID {
	case uuid.Nil:
		dst.PlaybookID = src.PlaybookID
		if len(dst.FollowedRules) == 0 {
			dst.FollowedRules = slices.Clone(src.FollowedRules)
		}
	case src.PlaybookID:
		dst.FollowedRules = unionIDs(dst.FollowedRules, src.FollowedRules)
	}
	fill := func(d *decimal.NullDecimal, s decimal.NullDecimal) {
		if !d.Valid {
			*d = s
		}
	}
	fill(&dst.PlannedStop, src.PlannedStop)
	fill(&dst.PlannedTarget, src.PlannedTarget)
	fill(&dst.InitialRisk, src.InitialRisk)
	if dst.Rating == 0 {
		dst.Rating = src.Rating
	}
	if dst.Confidence == 0 {
		dst.Confidence = src.Confidence
	}
}

func unionIDs(a, b []uuid.UUID) []uuid.UUID {
	out := slices.Clone(a)
	for _, id := range b {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// Digest fingerprints everything Build and Reconcile derive for a trade
// (figures, legs, RMultiple; not the annotation or storage times): stored
// with the trade, it lets a rebuild tell an unchanged trade without
// reading its legs back.
func Digest(t *Trade) string {
	h := sha256.New()
	var buf [512]byte
	b := buf[:0]
	str := func(s string) { b = append(append(b, s...), 0) }
	id := func(u uuid.UUID) { b = append(appendUUID(b, u), 0) }
	num := func(d decimal.Decimal) { b = append(AppendDecimal(b, d), 0) }
	null := func(d decimal.NullDecimal) {
		if d.Valid {
			num(d.Decimal)
		} else {
			str("-")
		}
	}
	i64 := func(n int64) { b = strconv.AppendInt(b, n, 10); b = append(b, 0) }
	str("v1")
	id(t.AccountID)
	id(t.InstrumentID)
	str(string(t.Direction))
	str(string(t.Status))
	id(t.OpeningExecutionID)
	str(string(t.Outcome))
	str(t.Currency)
	for _, d := range [...]decimal.Decimal{t.Multiplier, t.Quantity, t.MaxPosition, t.OpenQuantity, t.CostBasis, t.AvgEntryPrice, t.GrossPnL, t.Commission, t.Fees, t.NetPnL} {
		num(d)
	}
	null(t.AvgExitPrice)
	null(t.RMultiple)
	i64(t.OpenedAt.UnixNano())
	if t.ClosedAt.IsZero() {
		str("open")
	} else {
		i64(t.ClosedAt.UnixNano())
	}
	i64(int64(t.Holding))
	i64(int64(t.OpenWeekday))
	i64(int64(t.OpenHour))
	h.Write(b)
	for i := range t.Legs {
		l := &t.Legs[i]
		b = b[:0]
		id(l.ExecutionID)
		str(string(l.Role))
		str(string(l.Side))
		for _, d := range [...]decimal.Decimal{l.Quantity, l.Price, l.Commission, l.Fees, l.RealizedPnL} {
			num(d)
		}
		i64(l.ExecutedAt.UnixNano())
		i64(int64(l.Seq))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(buf[:0])[:16])
}

// appendUUID appends the canonical form of u (as u.String()) to b.
func appendUUID(b []byte, u uuid.UUID) []byte {
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], u[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], u[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], u[8:10])
	s[23] = '-'
	hex.Encode(s[24:], u[10:])
	return append(b, s[:]...)
}

// SameDerived reports whether a and b agree on everything Build and
// Reconcile derive (figures, legs and RMultiple), ignoring IDs of the
// trade itself, the annotation and timestamps of storage.
func SameDerived(a, b *Trade) bool {
	if a.Direction != b.Direction || a.Status != b.Status || a.Currency != b.Currency || a.OpeningExecutionID != b.OpeningExecutionID ||
		a.InstrumentID != b.InstrumentID || a.AccountID != b.AccountID ||
		!a.OpenedAt.Equal(b.OpenedAt) || !a.ClosedAt.Equal(b.ClosedAt) || a.Holding != b.Holding || a.Outcome != b.Outcome ||
		a.OpenWeekday != b.OpenWeekday || a.OpenHour != b.OpenHour || len(a.Legs) != len(b.Legs) {
		return false
	}
	for _, p := range [][2]decimal.Decimal{{a.Multiplier, b.Multiplier}, {a.Quantity, b.Quantity}, {a.MaxPosition, b.MaxPosition},
		{a.OpenQuantity, b.OpenQuantity}, {a.CostBasis, b.CostBasis}, {a.AvgEntryPrice, b.AvgEntryPrice}, {a.GrossPnL, b.GrossPnL},
		{a.Commission, b.Commission}, {a.Fees, b.Fees}, {a.NetPnL, b.NetPnL}} {
		if !p[0].Equal(p[1]) {
			return false
		}
	}
	if !sameNull(a.AvgExitPrice, b.AvgExitPrice) || !sameNull(a.RMultiple, b.RMultiple) {
		return false
	}
	for i := range a.Legs {
		if !SameLeg(&a.Legs[i], &b.Legs[i]) {
			return false
		}
	}
	return true
}

// SameLeg reports whether two legs are equal in value.
func SameLeg(x, y *Leg) bool {
	return x.ExecutionID == y.ExecutionID && x.Role == y.Role && x.Side == y.Side && x.Seq == y.Seq && x.ExecutedAt.Equal(y.ExecutedAt) &&
		x.Quantity.Equal(y.Quantity) && x.Price.Equal(y.Price) && x.Commission.Equal(y.Commission) && x.Fees.Equal(y.Fees) &&
		x.RealizedPnL.Equal(y.RealizedPnL)
}

func sameNull(a, b decimal.NullDecimal) bool {
	return a.Valid == b.Valid && (!a.Valid || a.Decimal.Equal(b.Decimal))
}
