package trading

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
)

// Page sizes of every list.
const (
	DefaultPageSize = 50
	MaxPageSize     = 200
)

// Date is a calendar date (no zone): a journal day, a filter bound.
type Date struct {
	Year  int
	Month time.Month
	Day   int
}

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Date{}, apperr.Validation("not a date", map[string]string{"date": fmt.Sprintf("%.20q is not a date in the form 2026-05-01", s)})
	}
	return DateOf(t), nil
}

// DateOf is the calendar date of t in t's location.
func DateOf(t time.Time) Date {
	y, m, d := t.Date()
	return Date{y, m, d}
}

// IsZero reports whether d is unset.
func (d Date) IsZero() bool { return d == Date{} }

// String is YYYY-MM-DD.
func (d Date) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// Start is the first instant of d in loc.
func (d Date) Start(loc *time.Location) time.Time {
	return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, loc)
}

// AddDays returns d shifted by n days.
func (d Date) AddDays(n int) Date {
	return DateOf(time.Date(d.Year, d.Month, d.Day+n, 12, 0, 0, 0, time.UTC))
}

// Before reports whether d is earlier than e.
func (d Date) Before(e Date) bool { return d.Start(time.UTC).Before(e.Start(time.UTC)) }

// TagMode says how Filter.TagIDs combine.
type TagMode string

// The tag modes.
const (
	AnyTag  TagMode = "any" // a trade with at least one of the tags (default)
	AllTags TagMode = "all" // a trade with every one of the tags
)

// DateField says which instant a date range bounds.
type DateField string

// The date fields.
const (
	ByClose DateField = "closed" // default; open trades never match a close range
	ByOpen  DateField = "opened"
)

// Filter selects trades. It is the one filter of trade lists and of every
// analytics figure. Zero fields select everything; criteria combine with
// AND, values within one criterion with OR.
type Filter struct {
	AccountIDs   []uuid.UUID
	Symbols      []string // canonical symbols (see ResolveInstrument)
	AssetClasses []AssetClass
	Direction    Direction // "" any
	Status       Status    // "" any
	// Outcomes select closed trades by outcome. Each trade is classified
	// with its account's breakeven band, unless BreakevenBand overrides it.
	Outcomes      []Outcome
	BreakevenBand decimal.NullDecimal
	TagIDs        []uuid.UUID
	TagMode       TagMode
	PlaybookIDs   []uuid.UUID
	// From and To bound the calendar date (inclusive) of DateField in
	// Location (the user's time zone; nil is UTC).
	DateField DateField
	From, To  Date
	Location  *time.Location
	// Weekdays and Hours match the opening instant in the account's time
	// zone (Trade.OpenWeekday, Trade.OpenHour).
	Weekdays []time.Weekday
	Hours    []int
	// Holding time, net P&L and R ranges are inclusive; a holding range
	// selects closed trades, an R range trades with a known R.
	MinHolding, MaxHolding time.Duration // 0: unbounded
	MinNetPnL, MaxNetPnL   decimal.NullDecimal
	MinR, MaxR             decimal.NullDecimal
}

// Validate checks the filter and normalises it in place (upper-case
// symbols, default tag mode and date field). apperr.Invalid
// "filter_invalid" names the bad field.
func (f *Filter) Validate() error {
	bad := func(field, msg string) error {
		e := apperr.Validation("invalid trade filter", map[string]string{field: msg})
		e.Code = CodeFilterInvalid
		return e
	}
	givenSymbols := len(f.Symbols)
	f.Symbols = symbolForms(f.Symbols)
	for _, c := range f.AssetClasses {
		if !c.Valid() {
			return bad("asset_class", fmt.Sprintf("unknown asset class %.20q", c))
		}
	}
	if f.Direction != "" && f.Direction != Long && f.Direction != Short {
		return bad("direction", "must be long or short")
	}
	if f.Status != "" && f.Status != Open && f.Status != Closed {
		return bad("status", "must be open or closed")
	}
	for _, o := range f.Outcomes {
		if o != Win && o != Loss && o != Breakeven {
			return bad("outcome", "must be win, loss or breakeven")
		}
	}
	if f.BreakevenBand.Valid && f.BreakevenBand.Decimal.IsNegative() {
		return bad("breakeven_band", "must not be negative")
	}
	switch f.TagMode {
	case "":
		f.TagMode = AnyTag
	case AnyTag, AllTags:
	default:
		return bad("tag_mode", "must be any or all")
	}
	switch f.DateField {
	case "":
		f.DateField = ByClose
	case ByClose, ByOpen:
	default:
		return bad("date_field", "must be closed or opened")
	}
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		return bad("to", "must not be before from")
	}
	for _, d := range []Date{f.From, f.To} {
		if !d.IsZero() && (d.Year < 1970 || d.Year > 2200) {
			return bad("from", "must be between 1970 and 2200")
		}
	}
	for _, w := range f.Weekdays {
		if w < time.Sunday || w > time.Saturday {
			return bad("weekday", "must be 0 (Sunday) to 6 (Saturday)")
		}
	}
	for _, h := range f.Hours {
		if h < 0 || h > 23 {
			return bad("hour", "must be 0 to 23")
		}
	}
	if f.MinHolding < 0 || f.MaxHolding < 0 || (f.MaxHolding > 0 && f.MaxHolding < f.MinHolding) {
		return bad("holding", "must be a non-negative range")
	}
	if f.MinNetPnL.Valid && f.MaxNetPnL.Valid && f.MaxNetPnL.Decimal.LessThan(f.MinNetPnL.Decimal) {
		return bad("net_pnl", "max must not be below min")
	}
	if f.MinR.Valid && f.MaxR.Valid && f.MaxR.Decimal.LessThan(f.MinR.Decimal) {
		return bad("r_multiple", "max must not be below min")
	}
	if len(f.AccountIDs) > maxValues || givenSymbols > maxValues || len(f.TagIDs) > maxValues || len(f.PlaybookIDs) > maxValues {
		return bad("filter", fmt.Sprintf("at most %d values per criterion", maxValues))
	}
	return nil
}

// Digest is a digest of what f selects, for cache keys, with extra (what
// else the cached value depends on): the same for filters that differ
// only in the order of their ID and symbol lists, different for any other
// difference (the location by name).
func (f *Filter) Digest(extra ...string) string {
	c := *f
	loc := "UTC"
	if c.Location != nil {
		loc = c.Location.String()
	}
	c.Location = nil
	sortIDs := func(v []uuid.UUID) []uuid.UUID {
		v = slices.Clone(v)
		slices.SortFunc(v, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
		return v
	}
	c.AccountIDs, c.TagIDs, c.PlaybookIDs = sortIDs(c.AccountIDs), sortIDs(c.TagIDs), sortIDs(c.PlaybookIDs)
	c.Symbols = slices.Clone(c.Symbols)
	slices.Sort(c.Symbols)
	b, _ := json.Marshal(struct {
		F     Filter
		Loc   string
		Extra []string
	}{c, loc, extra})
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}

// maxValues bounds the values of one filter criterion.
const maxValues = 200

// symbolForms normalises the symbols of a filter in place (upper case,
// runs of spaces as one) and, for at most maxValues of them (more is
// refused by Filter.Validate), adds the canonical form of each
// (withCanonicalSymbols, a one-digit year read against today): what the
// trade filter and the execution list both match, so that a symbol finds
// the same fills in one as the trades in the other.
func symbolForms(symbols []string) []string {
	for i, s := range symbols {
		symbols[i] = strings.Join(strings.Fields(strings.ToUpper(s)), " ")
	}
	if len(symbols) > maxValues {
		return symbols
	}
	return withCanonicalSymbols(symbols, time.Now())
}

// withCanonicalSymbols adds to symbols the canonical form of each that
// is written another way than the instruments store it: a dated futures
// contract of a known root (MNQM6, /ESZ26, ES DEC26 as MNQM26, ESZ26) and
// a padded OCC option symbol, a currency pair (EURUSD as EUR/USD), so
// that a trader filtering by the symbol
// their broker prints finds the trades. The symbol as given stays (an
// instrument stored under it, a stock named so, still matches); ref
// dates a one-digit futures year, as the trade's date does on input.
func withCanonicalSymbols(symbols []string, ref time.Time) []string {
	out := slices.Clip(symbols) // the first append copies: the caller's array is not written
	for _, s := range symbols {
		if c, ok := canonicalOf(s, ref); ok && c != s && !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// CanonicalSymbols is symbols each in its canonical form (the forms
// withCanonicalSymbols adds, in place of the broker's spelling), once,
// in order: how a filter is shown back (ESZ6 and ESZ26 as ESZ26).
func CanonicalSymbols(symbols []string, ref time.Time) []string {
	var out []string
	for _, s := range symbols {
		c, ok := canonicalOf(s, ref)
		if !ok {
			c = s
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// canonicalOf is the canonical form of a symbol written as brokers print
// it: a dated future of a known root or an OCC option (datedDerivative),
// or a currency pair; ok is false for any other symbol.
func canonicalOf(s string, ref time.Time) (string, bool) {
	if _, c, ok := datedDerivative(s, ref); ok {
		return c, true
	}
	return currencyPair(s)
}

// currencyPair is the canonical form of a currency pair written another
// way (EURUSD, EUR.USD, eur-usd as EUR/USD): two ISO 4217 currencies.
func currencyPair(s string) (string, bool) {
	m := reForex.FindStringSubmatch(s)
	if m == nil || !isoCurrency(m[1]) || !isoCurrency(m[2]) {
		return "", false
	}
	return m[1] + "/" + m[2], true
}

// Bounds returns the instants [from, to) that From and To mean in
// Location; a zero time for an open end.
func (f *Filter) Bounds() (from, to time.Time) {
	loc := f.Location
	if loc == nil {
		loc = time.UTC
	}
	if !f.From.IsZero() {
		from = f.From.Start(loc)
	}
	if !f.To.IsZero() {
		to = f.To.AddDays(1).Start(loc)
	}
	return from, to
}

// SortKey orders trade lists.
type SortKey string

// The sort keys. Trades without the key's value (open trades for closed, no
// R for r) come last in either direction.
const (
	SortOpened SortKey = "opened"
	SortClosed SortKey = "closed"
	SortNetPnL SortKey = "net_pnl"
	SortR      SortKey = "r"
)

// Sort is a sort key and direction; the zero value is newest opened first.
type Sort struct {
	Key SortKey
	Asc bool
}

// Validate checks s and fills in the default key.
func (s *Sort) Validate() error {
	switch s.Key {
	case "":
		s.Key = SortOpened
	case SortOpened, SortClosed, SortNetPnL, SortR:
	default:
		e := apperr.Validation("invalid sort", map[string]string{"sort": "must be opened, closed, net_pnl or r"})
		e.Code = CodeFilterInvalid
		return e
	}
	return nil
}

// Page asks for one page of a list: at most Limit items (0: the default,
// at most MaxPageSize) after Cursor ("" from the start).
type Page struct {
	Limit  int
	Cursor string
}

// Size is the page size Limit asks for, bounded.
func (p Page) Size() int {
	switch {
	case p.Limit <= 0:
		return DefaultPageSize
	case p.Limit > MaxPageSize:
		return MaxPageSize
	}
	return p.Limit
}

// Cursor is the position after the last item of a page: the sort key's
// value there and the item's ID (the tie-break). Keyset pagination on it
// is stable under inserts: a new row appears on a later page or not at all,
// never twice and never shifting the rows after it. Adapters encode their
// own Value; callers see only the opaque string.
type Cursor struct {
	Key   string
	Asc   bool
	Value string
	ID    uuid.UUID
}

// cursorWire is the encoded form of a Cursor (kept short: it travels in
// URLs).
type cursorWire struct {
	K string    `json:"k"`
	A bool      `json:"a,omitempty"`
	V string    `json:"v"`
	I uuid.UUID `json:"i"`
}

// Encode returns the opaque cursor string.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(cursorWire{c.Key, c.Asc, c.Value, c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor decodes s and checks that it was made for the sort key and
// direction given; apperr.Invalid "cursor_invalid" otherwise.
func DecodeCursor(s, key string, asc bool) (Cursor, error) {
	bad := apperr.Validation("invalid cursor", map[string]string{"cursor": "is not a cursor of this list and sort: start again without it"})
	bad.Code = CodeCursorInvalid
	if len(s) > 512 {
		return Cursor{}, bad
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Cursor{}, bad
	}
	var w cursorWire
	if err := json.Unmarshal(b, &w); err != nil || w.K != key || w.A != asc || w.I == uuid.Nil {
		return Cursor{}, bad
	}
	return Cursor{Key: w.K, Asc: w.A, Value: w.V, ID: w.I}, nil
}

// ExecutionFilter selects executions.
type ExecutionFilter struct {
	AccountIDs    []uuid.UUID
	InstrumentIDs []uuid.UUID
	Symbols       []string
	ImportID      uuid.UUID // uuid.Nil: any source
	From, To      time.Time // executed in [From, To); zero: unbounded
}

// ContainsID is slices.Contains for IDs.
func ContainsID(ids []uuid.UUID, id uuid.UUID) bool { return slices.Contains(ids, id) }
