package imports

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// norm is a header name as presets match it: lower case, spaces
// collapsed, a stray BOM and surrounding spaces dropped.
func norm(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// header indexes a header record. A repeated name is indexed as
// "name#2", "name#3" (MetaTrader's open and close Time and Price).
type header struct {
	raw []string
	idx map[string]int
}

func newHeader(fields []string) *header {
	h := &header{raw: fields, idx: make(map[string]int, len(fields))}
	for i, f := range fields {
		n := norm(f)
		if n == "" {
			continue
		}
		key := n
		for k := 2; ; k++ {
			if _, taken := h.idx[key]; !taken {
				break
			}
			key = fmt.Sprintf("%s#%d", n, k)
		}
		h.idx[key] = i
	}
	return h
}

// has reports whether every name is a column.
func (h *header) has(names ...string) bool {
	for _, n := range names {
		if _, ok := h.idx[n]; !ok {
			return false
		}
	}
	return true
}

// field keys of a binding.
const (
	fSymbol     = "symbol"
	fAssetClass = "asset_class"
	fSide       = "side"
	fQuantity   = "quantity"
	fPrice      = "price"
	fCommission = "commission"
	fFees       = "fees"
	fExecutedAt = "executed_at"
	fDate       = "date"
	fTime       = "time"
	fExecID     = "broker_execution_id"
	fPnL        = "pnl"
	fCurrency   = "currency"
	fMultiplier = "multiplier"
	fStatus     = "status"
	fDetail     = "level_of_detail"
)

// binding is a header bound to a preset's fields.
type binding struct {
	h     *header
	col   map[string]int // field → column
	names map[string]string
	times map[string]*timeParser
	loc   *time.Location
	warn  func(line int, msg string)
	line  int
	f     []string
	// local: a time of the current row was read in loc (Fill.Local).
	local bool
	roots map[string]decimal.Decimal // Options.Roots
	cur   string                     // Options.Currency
	noted map[string]bool            // the warnings given once per file (once)
	// classes memoises classOf per symbol for this file (symbols repeat
	// row after row; the inference runs up to three regular expressions).
	classes map[string]trading.AssetClass
}

// bind finds each field's column among its aliases (normalized names);
// required fields missing are an error naming them.
func bind(h *header, aliases map[string][]string, required []string) (*binding, error) {
	b := &binding{h: h, col: map[string]int{}, names: map[string]string{}, times: map[string]*timeParser{}}
	for field, as := range aliases {
		for _, a := range as {
			if i, ok := h.idx[a]; ok {
				b.col[field] = i
				b.names[field] = strings.TrimSpace(strings.TrimPrefix(h.raw[i], "\ufeff"))
				break
			}
		}
	}
	var missing []string
	for _, r := range required {
		alts := strings.Split(r, "|")
		ok := false
		for _, a := range alts {
			if _, found := b.col[a]; found {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, strings.ReplaceAll(r, "|", " or "))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("the header has no column for %s", strings.Join(missing, ", "))
	}
	return b, nil
}

func (b *binding) has(field string) bool { _, ok := b.col[field]; return ok }

// get returns the field's trimmed value in the current row ("" when the
// column is absent or the row is short).
func (b *binding) get(field string) string {
	i, ok := b.col[field]
	if !ok || i >= len(b.f) {
		return ""
	}
	return strings.TrimSpace(b.f[i])
}

// once gives the warning msg on the current line the first time key is
// noted in the binding.
func (b *binding) once(key, msg string) {
	if b.noted[key] {
		return
	}
	if b.noted == nil {
		b.noted = map[string]bool{}
	}
	b.noted[key] = true
	b.warn(b.line, msg)
}

// getCol is get by header name (normalized).
func (b *binding) getCol(name string) string {
	i, ok := b.h.idx[name]
	if !ok || i >= len(b.f) {
		return ""
	}
	return strings.TrimSpace(b.f[i])
}

func (b *binding) amount(field string) (decimal.Decimal, error) {
	v := b.get(field)
	d, err := ParseAmount(v)
	if err != nil {
		return d, fmt.Errorf("%s: %w", b.label(field), err)
	}
	return d, nil
}

// colAmount is amount by header name, its errors named label.
func (b *binding) colAmount(col, label string) (decimal.Decimal, error) {
	d, err := ParseAmount(b.getCol(col))
	if err != nil {
		return d, fmt.Errorf("%s: %w", label, err)
	}
	return d, nil
}

func (b *binding) optAmount(field string) (decimal.Decimal, error) {
	d, err := optAmount(b.get(field))
	if err != nil {
		return d, fmt.Errorf("%s: %w", b.label(field), err)
	}
	return d, nil
}

func (b *binding) label(field string) string {
	if n := b.names[field]; n != "" {
		return n
	}
	return field
}

// when reads a date-time from value (of the column named key), placing
// wall times in the file's zone and warning about DST.
func (b *binding) when(key, value string) (time.Time, bool, error) {
	tp := b.times[key]
	if tp == nil {
		tp = &timeParser{}
		b.times[key] = tp
	}
	t, dst, dateOnly, err := tp.parse(value, b.loc)
	if err != nil {
		return t, false, fmt.Errorf("%s: %w", b.label(key), err)
	}
	b.local = b.local || tp.local
	if dateOnly {
		// A date without a time: noon in the file's zone, which no DST
		// transition touches (docs/imports.md, limits).
		y, m, d := t.In(b.loc).Date()
		t = time.Date(y, m, d, 12, 0, 0, 0, b.loc).UTC()
	}
	switch dst {
	case DSTAmbiguous:
		b.warn(b.line, fmt.Sprintf("%s happens twice in %s (the clocks went back): read as the first, daylight-time occurrence, %s",
			strings.TrimSpace(value), b.loc, t.Format(time.RFC3339)))
	case DSTGap:
		b.warn(b.line, fmt.Sprintf("%s does not exist in %s (the clocks went forward): read as %s", strings.TrimSpace(value), b.loc, t.Format(time.RFC3339)))
	}
	return t.UTC(), dateOnly, nil
}

// executedAt reads the fill instant from executed_at, or date and time,
// a short sale placed before the other fills of its instant by the side
// column's action (shortFirst).
func (b *binding) executedAt() (time.Time, error) {
	if b.has(fExecutedAt) && b.get(fExecutedAt) != "" {
		return b.fillAt(fExecutedAt, b.get(fExecutedAt), b.get(fSide))
	}
	if b.has(fDate) {
		v := b.get(fDate)
		if b.has(fTime) && b.get(fTime) != "" {
			v += " " + b.get(fTime)
		}
		return b.fillAt(fDate, v, b.get(fSide))
	}
	return time.Time{}, errors.New("no date and time")
}

// frameKind says what a record is to a preset.
type frameKind int

const (
	frameSkip frameKind = iota
	frameHeader
	frameData
	frameEnd // the section ended: records up to the next header are skipped
	// frameNotHeader: a record where a header may be, without the
	// signature of one; it is skipped, and when no header is found the
	// one nearest to a header names the columns it lacks (nearest).
	frameNotHeader
)

// framer classifies records; haveHeader says whether a header is bound.
type framer func(rec *Record, haveHeader bool) (frameKind, []string)

// rowFunc turns one data row into fills; skip ("", nil) means a row that
// is not a fill, with the reason.
type rowFunc func(b *binding) (fills []Fill, skip string, err error)

// spec is a preset built on the tabular engine.
type spec struct {
	id, name string
	// variants are the layouts of the preset's exports; the first whose
	// signature the header has is used.
	variants []variant
	// frame finds headers and data (plainFrame when nil); skip notes a
	// record that is not the preset's data (Sink.Skip, a no-op while
	// detecting).
	frame  func(skip func(line int, reason string)) framer
	detect func(head []*Record) bool
	// sections: the file has further sections after the one read, so a
	// title row ends it (MetaTrader); otherwise every row after the
	// header is data, and a stray row is rejected, never dropped.
	sections bool
}

type variant struct {
	name      string
	signature []string // normalized header names that must all be present
	aliases   map[string][]string
	required  []string
	row       rowFunc
	// mapped is a generic mapping's field → header name as given, so a
	// missing column is named as the mapping spells it.
	mapped map[string]string
}

// column names a header column of the variant's for a problem: as its
// mapping spells it, with the field, or as the preset matches it.
func (v *variant) column(name string) string {
	for f, col := range v.mapped {
		if norm(col) == name {
			return fmt.Sprintf("%.100q (the mapping's %s)", strings.TrimSpace(col), f)
		}
	}
	return fmt.Sprintf("%q", name)
}

// nearest is the record nearest to a header of the preset while none is
// found: the one with the largest share of a variant's signature, at
// least half of it. When the file has no header, the problem names the
// columns that record lacks (a mapping's column the file does not have, a
// preset's column a broker's export left out) instead of saying only that
// no header was found. It keeps one record's missing names.
type nearest struct {
	line             int
	missing          []string // the variant's names of the columns lacking
	matched, columns int      // of the best variant's signature
}

func (n *nearest) consider(line int, fields []string, variants []variant) {
	h := newHeader(fields)
	for i := range variants {
		v := &variants[i]
		var missing []string
		for _, c := range v.signature {
			if _, ok := h.idx[c]; !ok {
				missing = append(missing, v.column(c))
			}
		}
		matched := len(v.signature) - len(missing)
		if len(missing) == 0 || matched*2 < len(v.signature) {
			continue // a header (framed out for another reason), or too far from one
		}
		if n.columns == 0 || matched*n.columns > n.matched*len(v.signature) {
			n.line, n.missing, n.matched, n.columns = line, missing, matched, len(v.signature)
		}
	}
}

// reason is why no header was found.
func (n *nearest) reason() string {
	if n.columns == 0 {
		return "no header row of this format was found"
	}
	cols := "column"
	if len(n.missing) > 1 {
		cols = "columns"
	}
	return fmt.Sprintf("no header row of this format was found: the nearest, on line %d, has no %s %s", n.line, cols, strings.Join(n.missing, ", "))
}

func (s *spec) ID() string   { return s.id }
func (s *spec) Name() string { return s.name }

// Detect implements Parser.
func (s *spec) Detect(head []*Record) bool {
	if s.detect != nil && s.detect(head) {
		return true
	}
	fr := s.framer(func(int, string) {})
	for _, rec := range head {
		if k, f := fr(rec, false); k == frameHeader {
			return s.variantOf(newHeader(f)) != nil
		}
	}
	return false
}

func (s *spec) framer(skip func(line int, reason string)) framer {
	if s.frame != nil {
		return s.frame(skip)
	}
	return plainFrame(s.signatures(), s.sections)
}

func (s *spec) signatures() [][]string {
	out := make([][]string, len(s.variants))
	for i, v := range s.variants {
		out[i] = v.signature
	}
	return out
}

func (s *spec) variantOf(h *header) *variant {
	for i := range s.variants {
		if h.has(s.variants[i].signature...) {
			return &s.variants[i]
		}
	}
	return nil
}

// plainFrame: records before a header with one of the signatures are a
// preamble; after it, every record is data; blank rows are skipped, and
// with sections a title row (one non-empty field, the next section's
// name) ends the data.
func plainFrame(sigs [][]string, sections bool) framer {
	return func(rec *Record, haveHeader bool) (frameKind, []string) {
		if rec.Blank() {
			return frameSkip, nil
		}
		if !haveHeader {
			h := newHeader(rec.Fields)
			for _, sig := range sigs {
				if h.has(sig...) {
					return frameHeader, rec.Fields
				}
			}
			return frameNotHeader, rec.Fields
		}
		if sections && isTitle(rec) {
			return frameEnd, nil
		}
		return frameData, rec.Fields
	}
}

// isTitle reports whether rec is a section title: one non-empty field,
// the first (encoding/csv drops blank lines, so a title is how a
// multi-section export shows that a section ended).
func isTitle(rec *Record) bool {
	return nonEmpty(rec.Fields) == 1 && strings.TrimSpace(rec.Fields[0]) != ""
}

func nonEmpty(fs []string) int {
	n := 0
	for _, f := range fs {
		if strings.TrimSpace(f) != "" {
			n++
		}
	}
	return n
}

// checkEvery is how many records pass between context checks.
const checkEvery = 1024

// Parse implements Parser.
func (s *spec) Parse(ctx context.Context, r *Reader, o Options, sink Sink) error {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	fr := s.framer(sink.Skip)
	var b *binding
	var v *variant
	width := 0 // the header's fields, up to its last named one
	headers := 0
	var near nearest
	n := 0
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if n++; n%checkEvery == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		var re *RecordError
		if errors.As(err, &re) {
			if b != nil {
				sink.Reject(RejectedRow{Line: rec.Line, Raw: rec.Raw, Reason: re.Reason})
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		kind, fields := fr(rec, b != nil)
		if b != nil && (kind == frameData || kind == frameEnd) && cutOff(rec, fields, width) {
			sink.Reject(RejectedRow{Line: rec.Line, Raw: clip(rec.Raw),
				Reason: fmt.Sprintf("the file ends inside this row: it has %d of the header's %d fields (the file was cut off?)", fieldCount(rec, fields), width)})
			continue
		}
		switch kind {
		case frameNotHeader:
			if headers == 0 {
				near.consider(rec.Line, fields, s.variants)
			}
		case frameHeader:
			h := newHeader(fields)
			nv := s.variantOf(h)
			if nv == nil {
				if headers == 0 {
					near.consider(rec.Line, fields, s.variants)
				}
				b = nil
				continue
			}
			nb, err := bind(h, nv.aliases, nv.required)
			if err != nil {
				return formatError(s.name, err.Error())
			}
			nb.loc, nb.warn, nb.roots, nb.cur = loc, sink.Warn, o.Roots, o.Currency
			b, v = nb, nv
			width = named(fields)
			headers++
			sink.Columns(b.names)
		case frameEnd:
			b = nil
		case frameData:
			if b == nil {
				continue
			}
			if nonEmpty(fields) < 2 {
				sink.Skip(rec.Line, "a note or blank row")
				continue
			}
			b.f, b.line, b.local = fields, rec.Line, false
			fills, skip, err := safeRow(v.row, b)
			switch {
			case err != nil:
				sink.Reject(RejectedRow{Line: rec.Line, Raw: clip(rec.Raw), Reason: err.Error()})
			case skip != "":
				sink.Skip(rec.Line, skip)
			default:
				for _, f := range fills {
					f.Line, f.Raw, f.Local = rec.Line, clip(rec.Raw), b.local
					sink.Fill(f)
				}
			}
		}
	}
	if headers == 0 {
		return formatError(s.name, near.reason())
	}
	return nil
}

// cutOff reports whether rec, a data row (fields) or a title that ends
// a section, is where the file was cut off: no line end follows it and
// it has fewer fields than its header's width. A complete last line
// without a final newline is read as usual.
func cutOff(rec *Record, fields []string, width int) bool {
	return rec.Unended && !rec.Blank() && fieldCount(rec, fields) < width
}

// fieldCount is the fields of a data row, or of a title's record.
func fieldCount(rec *Record, fields []string) int {
	if fields == nil {
		return len(rec.Fields)
	}
	return len(fields)
}

// named is the number of fields up to the last non-empty one (a header
// may end with empty columns).
func named(fields []string) int {
	n := len(fields)
	for n > 0 && strings.TrimSpace(fields[n-1]) == "" {
		n--
	}
	return n
}

// safeRow runs a row function; a panic (a bug on some odd input) rejects
// the row instead of failing the import.
func safeRow(fn rowFunc, b *binding) (fills []Fill, skip string, err error) {
	defer func() {
		if p := recover(); p != nil {
			fills, skip, err = nil, "", errors.New("the row could not be read")
		}
	}()
	return fn(b)
}

// FormatError says a file is not in a preset's format.
type FormatError struct {
	Preset string
	Reason string
}

func (e *FormatError) Error() string { return fmt.Sprintf("not a %s file: %s", e.Preset, e.Reason) }

func formatError(preset, reason string) error { return &FormatError{Preset: preset, Reason: reason} }

// side reads a side word as the brokers write it.
func sideOf(v string) (trading.Side, bool) {
	switch strings.ToUpper(strings.Join(strings.Fields(v), " ")) {
	case "BUY", "B", "BOT", "BOUGHT", "BC", "BUY TO COVER", "BUY TO OPEN", "BUY TO CLOSE", "BTO", "BTC", "LONG", "BUY_TO_COVER", "COVER", "IN BUY",
		"BUYTOCOVER": // NinjaTrader's OrderAction names
		return trading.Buy, true
	case "SELL", "S", "SLD", "SOLD", "SS", "SELL SHORT", "SHORT", "SELL TO OPEN", "SELL TO CLOSE", "STO", "STC", "SELL_SHORT", "SHORT SELL",
		"SELLSHORT":
		return trading.Sell, true
	}
	return "", false
}

// opensShort reports whether a side word opens a short position: a short
// sale or a sell to open.
func opensShort(v string) bool {
	switch strings.ToUpper(strings.Join(strings.Fields(v), " ")) {
	case "SS", "SELL SHORT", "SHORT", "SELL TO OPEN", "STO", "SELL_SHORT", "SHORT SELL", "SELLSHORT":
		return true
	}
	return false
}

// fillAt reads a fill's instant from value, the text of the column key
// (when), placing a short sale before the other fills of its instant by
// the fill's action (shortFirst).
func (b *binding) fillAt(key, value, action string) (time.Time, error) {
	t, _, err := b.when(key, value)
	return shortFirst(t, action), err
}

// shortFirst orders the fills of one instant by what their action says:
// a fill that opens a short (SS, Sell Short, Short, STO …) is placed 1 ns
// before the instant its row gives, every other fill at it. The trade
// builder takes the fills of one instant that reduce the open position
// first and, from flat, buys before sells; so from flat a short sale and
// its cover at the same instant would open a long that the short sale
// closes. One instant earlier, the short sale opens a short that the
// cover then reduces, as the file says.
//
// Such instants are common: a date-only export (Schwab, Robinhood)
// places every fill of a day at its noon, and an export to the second
// (TradeZero, Webull, NinjaTrader) gives a same-second sale and cover one
// time. Only an instant on a whole second moves (noon is one): 1 ns before
// it no fill of a file to the second can be, so the move reorders the
// fills of that instant alone, while a time with a fraction of a second
// (the executions export's, to the nanosecond) is taken as it is. The
// instant depends on the row alone, never on its place in the file, so an
// overlapping export places (and fingerprints) the same fill the same way.
func shortFirst(at time.Time, action string) time.Time {
	if at.Nanosecond() == 0 && opensShort(action) {
		return at.Add(-time.Nanosecond)
	}
	return at
}

// sideAndQty reads the side column (when bound and set) and the quantity,
// whose sign gives the side when there is no side column.
func sideAndQty(b *binding) (trading.Side, decimal.Decimal, error) {
	q, err := b.amount(fQuantity)
	if err != nil {
		return "", q, err
	}
	var side trading.Side
	if v := b.get(fSide); v != "" {
		s, ok := sideOf(v)
		if !ok {
			return "", q, fmt.Errorf("%s: %.40q is not buy or sell", b.label(fSide), v)
		}
		if s == trading.Buy && q.IsNegative() {
			// A sell's quantity may be signed (IBKR writes SELL with
			// -100); a buy of a negative quantity contradicts itself.
			return "", q, fmt.Errorf("%s %.40q with a negative %s (%s): give the quantity without its sign, or the side sell", b.label(fSide), v, b.label(fQuantity), q)
		}
		side = s
	} else if q.IsNegative() {
		side = trading.Sell
	} else if q.IsPositive() {
		side = trading.Buy
	}
	q = q.Abs()
	if !q.IsPositive() {
		return "", q, fmt.Errorf("%s: must not be zero", b.label(fQuantity))
	}
	return side, q, nil
}

// maxMemoClasses bounds a file's memo of symbol classes: a file of
// mostly distinct symbols stops memoising rather than growing it.
const maxMemoClasses = 4096

// classOf is the asset class of a symbol a broker's file gives without
// one: trading.InferAssetClass, the rule manual entry uses too (an OCC
// option, a dated future of a known root, else a stock), so that an
// imported ESZ6 is the same future with the same multiplier as a typed
// one. The class does not depend on the reference date (only the year of
// a one-digit futures code does), so the memo is keyed by symbol.
func (b *binding) classOf(sym string) trading.AssetClass {
	if c, ok := b.classes[sym]; ok {
		return c
	}
	c := trading.InferAssetClassIn(sym, time.Now(), b.roots)
	if b.classes == nil {
		b.classes = make(map[string]trading.AssetClass)
	}
	if len(b.classes) < maxMemoClasses {
		b.classes[sym] = c
	}
	return c
}

// occ builds an OCC symbol from its parts.
func occ(underlying string, expiry time.Time, right string, strike decimal.Decimal) string {
	k := strike.Shift(3)
	if !k.Equal(k.Truncate(0)) {
		// A strike the symbol cannot carry (more than three decimal
		// places): truncated, 2.5005 would be the 2.5 contract, merging
		// two. A symbol that does not parse has the row rejected instead.
		return fmt.Sprintf("%s %s %s %s", strings.ToUpper(underlying), expiry.Format("060102"), right, strike)
	}
	return fmt.Sprintf("%s%s%s%08d", strings.ToUpper(underlying), expiry.Format("060102"), right, k.IntPart())
}
