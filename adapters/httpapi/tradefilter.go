package httpapi

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// The query parameters of the trade filter (GET /api/v1/trades and every
// analytics figure), as openapi.yaml's TradeFilter parameters name them.
// A multi-valued criterion takes repeated parameters, comma-separated
// values, or both (`tag_id=a&tag_id=b` = `tag_id=a,b`); values of one
// criterion are ORed, criteria ANDed (trading.Filter).
const (
	qAccountID     = "account_id"
	qSymbol        = "symbol"
	qAssetClass    = "asset_class"
	qDirection     = "direction"
	qStatus        = "status"
	qOutcome       = "outcome"
	qBreakevenBand = "breakeven_band"
	qTagID         = "tag_id"
	qTagMode       = "tag_mode"
	qPlaybookID    = "playbook_id"
	qDateField     = "date_field"
	qFrom          = "from"
	qTo            = "to"
	qWeekday       = "weekday"
	qHour          = "hour"
	qMinHolding    = "min_holding_seconds"
	qMaxHolding    = "max_holding_seconds"
	qMinNetPnL     = "min_net_pnl"
	qMaxNetPnL     = "max_net_pnl"
	qMinR          = "min_r"
	qMaxR          = "max_r"

	qSort   = "sort"
	qOrder  = "order"
	qCursor = "cursor"
	qLimit  = "limit"
)

// Bounds on what one query may ask for: the filter's own bound on values
// per criterion, and a length per value so that no query costs more than a
// few allocations per parameter.
const (
	maxFilterValues   = 200
	maxFilterValueLen = 64
	// maxHoldingSeconds is a century: any longer bound means "unbounded"
	// and would overflow time.Duration.
	maxHoldingSeconds = 100 * 365 * 24 * 3600
)

// tradeListQuery is a parsed GET /api/v1/trades query.
type tradeListQuery struct {
	Filter trading.Filter
	Sort   trading.Sort
	Page   trading.Page
}

// parseTradeFilter reads the trade filter from a query. It checks syntax
// and ranges (Filter.Validate's rules included); the zone of the date
// range is left nil for Service.PrepareFilter to fill in with the user's.
// Parameters it does not know are ignored (they belong to the operation:
// sort, cursor, an analytics figure's own). errs maps each bad parameter
// to a message that never echoes the value; nil when the query is good.
func parseTradeFilter(q url.Values) (f trading.Filter, errs map[string]string) {
	p := queryParser{q: q}
	f.AccountIDs = p.uuids(qAccountID)
	f.Symbols = list(&p, qSymbol, func(s string) (string, string) {
		s = strings.Join(strings.Fields(strings.ToUpper(s)), " ")
		if s == "" {
			return "", "must not be empty"
		}
		return s, ""
	})
	f.AssetClasses = list(&p, qAssetClass, func(s string) (trading.AssetClass, string) {
		if c := trading.AssetClass(s); c.Valid() {
			return c, ""
		}
		return "", "must be one of stock, etf, option, future, forex, crypto, cfd"
	})
	f.Direction = oneOf(&p, qDirection, trading.Long, trading.Short)
	f.Status = oneOf(&p, qStatus, trading.Open, trading.Closed)
	f.Outcomes = list(&p, qOutcome, func(s string) (trading.Outcome, string) {
		switch o := trading.Outcome(s); o {
		case trading.Win, trading.Loss, trading.Breakeven:
			return o, ""
		}
		return "", "must be win, loss or breakeven"
	})
	f.BreakevenBand = p.decimal(qBreakevenBand)
	if f.BreakevenBand.Valid && f.BreakevenBand.Decimal.IsNegative() {
		p.fail(qBreakevenBand, "must not be negative")
	}
	f.TagIDs = p.uuids(qTagID)
	f.TagMode = oneOf(&p, qTagMode, trading.AnyTag, trading.AllTags)
	f.PlaybookIDs = p.uuids(qPlaybookID)
	f.DateField = oneOf(&p, qDateField, trading.ByClose, trading.ByOpen)
	f.From = p.date(qFrom)
	f.To = p.date(qTo)
	if !f.From.IsZero() && !f.To.IsZero() && f.To.Before(f.From) {
		p.fail(qTo, "must not be before from")
	}
	f.Weekdays = list(&p, qWeekday, func(s string) (time.Weekday, string) {
		n, ok := smallInt(s, 0, 6)
		if !ok {
			return 0, "must be 0 (Sunday) to 6 (Saturday)"
		}
		return time.Weekday(n), ""
	})
	f.Hours = list(&p, qHour, func(s string) (int, string) {
		n, ok := smallInt(s, 0, 23)
		if !ok {
			return 0, "must be 0 to 23"
		}
		return n, ""
	})
	f.MinHolding = p.seconds(qMinHolding)
	f.MaxHolding = p.seconds(qMaxHolding)
	if f.MaxHolding > 0 && f.MaxHolding < f.MinHolding {
		p.fail(qMaxHolding, "must not be below min_holding_seconds")
	}
	f.MinNetPnL, f.MaxNetPnL = p.decimal(qMinNetPnL), p.decimal(qMaxNetPnL)
	if f.MinNetPnL.Valid && f.MaxNetPnL.Valid && f.MaxNetPnL.Decimal.LessThan(f.MinNetPnL.Decimal) {
		p.fail(qMaxNetPnL, "must not be below min_net_pnl")
	}
	f.MinR, f.MaxR = p.decimal(qMinR), p.decimal(qMaxR)
	if f.MinR.Valid && f.MaxR.Valid && f.MaxR.Decimal.LessThan(f.MinR.Decimal) {
		p.fail(qMaxR, "must not be below min_r")
	}
	if p.errs == nil {
		// The domain's own check has the last word (and normalises the
		// defaults); a rule added there reaches the query too.
		if err := f.Validate(); err != nil {
			if e, ok := apperr.As(err); ok && len(e.Fields) > 0 {
				for k, v := range e.Fields {
					p.fail(k, v)
				}
			} else {
				p.fail("filter", "is invalid")
			}
		}
	}
	return f, p.errs
}

// parseTradeListQuery reads a trade list's query: the filter, the sort
// (sort=opened|closed|net_pnl|r, order=desc|asc; newest opened first by
// default) and the page (cursor, limit 1–200, default 50). The cursor
// stays opaque here: the store checks that it belongs to this sort.
func parseTradeListQuery(q url.Values) (tradeListQuery, map[string]string) {
	f, errs := parseTradeFilter(q)
	p := queryParser{q: q, errs: errs}
	out := tradeListQuery{Filter: f}
	out.Sort.Key = oneOf(&p, qSort, trading.SortOpened, trading.SortClosed, trading.SortNetPnL, trading.SortR)
	if out.Sort.Key == "" {
		out.Sort.Key = trading.SortOpened
	}
	switch order := p.single(qOrder); order {
	case "", "desc":
	case "asc":
		out.Sort.Asc = true
	default:
		p.fail(qOrder, "must be asc or desc")
	}
	if c := p.single(qCursor); c != "" {
		if len(c) > 512 {
			p.fail(qCursor, "is not a cursor of this list and sort: start again without it")
		} else {
			out.Page.Cursor = c
		}
	}
	if l := p.single(qLimit); l != "" {
		n, ok := smallInt(l, 1, trading.MaxPageSize)
		if !ok {
			p.fail(qLimit, fmt.Sprintf("must be an integer from 1 to %d", trading.MaxPageSize))
		}
		out.Page.Limit = n
	}
	return out, p.errs
}

// filterError is the Invalid error of a bad filter query, with a message
// per parameter.
func filterError(errs map[string]string) error {
	e := apperr.Validation("The trade filter is invalid.", errs)
	e.Code = trading.CodeFilterInvalid
	return e
}

// queryParser collects the first error of each parameter.
type queryParser struct {
	q    url.Values
	errs map[string]string
}

func (p *queryParser) fail(name, msg string) {
	if p.errs == nil {
		p.errs = map[string]string{}
	}
	if _, ok := p.errs[name]; !ok {
		p.errs[name] = msg
	}
}

// values splits a parameter's occurrences at commas, dropping empty
// pieces and trimming spaces; nil (and an error) past the bounds or for
// an occurrence without any value.
func (p *queryParser) values(name string) []string {
	raw := p.q[name]
	if len(raw) == 0 {
		return nil
	}
	var out []string
	for _, r := range raw {
		if strings.TrimSpace(strings.ReplaceAll(r, ",", "")) == "" {
			// An occurrence without a value (symbol=, symbol=,, or
			// symbol=AAPL&symbol=) must not read as "every trade", nor be
			// dropped beside others.
			p.fail(name, "must not be empty: leave it out to take every trade")
			return nil
		}
		if len(r) > maxFilterValues*(maxFilterValueLen+1) {
			p.fail(name, fmt.Sprintf("must have at most %d values", maxFilterValues))
			return nil
		}
		for v := range strings.SplitSeq(r, ",") {
			if v = strings.TrimSpace(v); v == "" {
				continue
			}
			if len(v) > maxFilterValueLen {
				p.fail(name, fmt.Sprintf("values must be at most %d bytes", maxFilterValueLen))
				return nil
			}
			if len(out) == maxFilterValues {
				p.fail(name, fmt.Sprintf("must have at most %d values", maxFilterValues))
				return nil
			}
			out = append(out, v)
		}
	}
	return out
}

// single is a parameter that takes one value ("" when absent).
func (p *queryParser) single(name string) string {
	raw := p.q[name]
	switch {
	case len(raw) == 0:
		return ""
	case len(raw) > 1:
		p.fail(name, "must be given once")
		return ""
	case len(raw[0]) > 512:
		p.fail(name, "is too long")
		return ""
	}
	return strings.TrimSpace(raw[0])
}

// list parses each value of a multi-valued parameter, keeping the first
// occurrence of each.
func list[T comparable](p *queryParser, name string, parse func(string) (T, string)) []T {
	vs := p.values(name)
	if vs == nil {
		return nil
	}
	out := make([]T, 0, len(vs))
	for _, v := range vs {
		t, msg := parse(v)
		if msg != "" {
			p.fail(name, msg)
			return nil
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

func (p *queryParser) uuids(name string) []uuid.UUID {
	return list(p, name, func(s string) (uuid.UUID, string) {
		id, err := uuid.Parse(s)
		if err != nil || id == uuid.Nil || len(s) != 36 {
			return uuid.Nil, "must be UUIDs (8-4-4-4-12 hex digits)"
		}
		return id, ""
	})
}

// oneOf reads a single-valued enumeration; "" when absent.
func oneOf[T ~string](p *queryParser, name string, allowed ...T) T {
	v := p.single(name)
	if v == "" {
		return ""
	}
	for _, a := range allowed {
		if string(a) == v {
			return a
		}
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	p.fail(name, "must be one of "+strings.Join(names, ", "))
	return ""
}

// given is single for a value that must not be empty when the parameter
// is present: "from=" must not read as "from the beginning".
func (p *queryParser) given(name string) string {
	v := p.single(name)
	if v == "" && len(p.q[name]) == 1 {
		p.fail(name, "must not be empty: leave the parameter out to set no bound")
	}
	return v
}

func (p *queryParser) decimal(name string) decimal.NullDecimal {
	v := p.given(name)
	if v == "" {
		return decimal.NullDecimal{}
	}
	d, err := trading.ParseDecimal(name, v)
	if err != nil {
		p.fail(name, "must be a decimal such as \"-250.50\" (digits, one point, an optional sign)")
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}
}

func (p *queryParser) date(name string) trading.Date {
	v := p.given(name)
	if v == "" {
		return trading.Date{}
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil || len(v) != len(time.DateOnly) {
		p.fail(name, "must be a date in the form 2026-05-01")
		return trading.Date{}
	}
	if y := t.Year(); y < 1970 || y > 2200 {
		p.fail(name, "must be between 1970 and 2200")
		return trading.Date{}
	}
	return trading.DateOf(t)
}

func (p *queryParser) seconds(name string) time.Duration {
	v := p.given(name)
	if v == "" {
		return 0
	}
	n, ok := smallInt(v, 0, maxHoldingSeconds)
	if !ok {
		p.fail(name, fmt.Sprintf("must be a whole number of seconds from 0 to %d", maxHoldingSeconds))
		return 0
	}
	return time.Duration(n) * time.Second
}

// smallInt parses plain decimal digits (no sign, no spaces) within
// [lo, hi].
func smallInt(s string, lo, hi int) (int, bool) {
	if s == "" || len(s) > 10 {
		return 0, false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, false
	}
	return n, true
}

// tradeFilterQuery is parseTradeFilter's inverse: the query that selects
// f (used by clients of the tests and by the round-trip fuzz target).
func tradeFilterQuery(f trading.Filter) url.Values {
	q := url.Values{}
	join := func(name string, vs []string) {
		if len(vs) > 0 {
			q.Set(name, strings.Join(vs, ","))
		}
	}
	str := func(name, v string) {
		if v != "" {
			q.Set(name, v)
		}
	}
	dec := func(name string, d decimal.NullDecimal) {
		if d.Valid {
			q.Set(name, d.Decimal.String())
		}
	}
	join(qAccountID, mapStrings(f.AccountIDs, uuid.UUID.String))
	join(qSymbol, f.Symbols)
	join(qAssetClass, mapStrings(f.AssetClasses, func(c trading.AssetClass) string { return string(c) }))
	str(qDirection, string(f.Direction))
	str(qStatus, string(f.Status))
	join(qOutcome, mapStrings(f.Outcomes, func(o trading.Outcome) string { return string(o) }))
	dec(qBreakevenBand, f.BreakevenBand)
	join(qTagID, mapStrings(f.TagIDs, uuid.UUID.String))
	str(qTagMode, string(f.TagMode))
	join(qPlaybookID, mapStrings(f.PlaybookIDs, uuid.UUID.String))
	str(qDateField, string(f.DateField))
	if !f.From.IsZero() {
		q.Set(qFrom, f.From.String())
	}
	if !f.To.IsZero() {
		q.Set(qTo, f.To.String())
	}
	join(qWeekday, mapStrings(f.Weekdays, func(w time.Weekday) string { return strconv.Itoa(int(w)) }))
	join(qHour, mapStrings(f.Hours, strconv.Itoa))
	if f.MinHolding > 0 {
		q.Set(qMinHolding, strconv.FormatInt(int64(f.MinHolding/time.Second), 10))
	}
	if f.MaxHolding > 0 {
		q.Set(qMaxHolding, strconv.FormatInt(int64(f.MaxHolding/time.Second), 10))
	}
	dec(qMinNetPnL, f.MinNetPnL)
	dec(qMaxNetPnL, f.MaxNetPnL)
	dec(qMinR, f.MinR)
	dec(qMaxR, f.MaxR)
	return q
}

func mapStrings[T any](in []T, f func(T) string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, len(in))
	for i, v := range in {
		out[i] = f(v)
	}
	return out
}
