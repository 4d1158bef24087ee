package analytics

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/trading"
)

// Config tunes the Service.
type Config struct {
	// CacheTTL is how long a computed figure is kept (env
	// ANALYTICS_CACHE_TTL, default 10 min). Entries are never
	// invalidated: a write moves the user to new keys, so the TTL only
	// bounds the memory of entries nobody will ask for again.
	CacheTTL time.Duration
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config { return Config{CacheTTL: 10 * time.Minute} }

// Deps are the Service's collaborators. Cache is optional (nil computes
// every time).
type Deps struct {
	Trading Trading
	Source  Source
	Cache   *cache.Layer
	// Encoded is optional: a bounded in-process cache (a Layer over the
	// memory adapter) of the bytes the *Encoded methods return, keyed
	// like Cache's entries (user, data version, filter) plus the
	// encoding's name. It is used only with Cache. Its entries are
	// never invalidated either: every key carries the data version, so
	// an entry can only be read while it is current, as in Cache.
	Encoded *cache.Layer
}

// Service answers the analytics figures.
type Service struct {
	cfg    Config
	d      Deps
	stamps Stamps // d.Source's, when it has them
}

// NewService checks d and returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if d.Trading == nil || d.Source == nil {
		return nil, errors.New("analytics: NewService: Trading and Source are required")
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultConfig().CacheTTL
	}
	st, _ := d.Source.(Stamps)
	return &Service{cfg: cfg, d: d, stamps: st}, nil
}

// keyVersion changes whenever the cached shapes or the definitions change.
const keyVersion = "v1"

// cacheKey is analytics:<version>:<user>:<data version>:<view>:<digest of
// the query>. The data version moves in the transaction of every write,
// so an entry can only be read while it is current.
func cacheKey(userID uuid.UUID, version int64, view string, q *Query) string {
	return fmt.Sprintf("analytics:%s:%s:%d:%s:%s", keyVersion, userID, version, view, q.Filter.Digest(string(q.Basis)))
}

// need says what one pass must collect.
type need struct {
	dim      Dimension
	fields   Fields
	perTrade bool
	values   bool
}

// dimFields are the row fields a breakdown groups by.
var dimFields = map[Dimension]Fields{BySymbol: FieldSymbol, ByAssetClass: FieldAssetClass, ByTag: FieldTags, ByPlaybook: FieldPlaybook,
	ByWeekday: FieldEntry, ByHour: FieldEntry}

// compute prepares q and returns the view extracted from one pass,
// through the cache. A warm hit reads the user's data version and time
// zone (one statement with Stamps) and GETs the entry: nothing else.
func compute[T any](ctx context.Context, s *Service, userID uuid.UUID, q Query, view string, n need, extract func(*result) T) (T, error) {
	var zero T
	key, err := s.prepare(ctx, userID, &q, view)
	if err != nil {
		return zero, err
	}
	return fetch(ctx, s, userID, &q, key, n, extract)
}

// prepare validates and prepares q and returns the cache key of the view
// ("" without a cache): the data version is read first, then the filter
// prepared, as the key needs both.
func (s *Service) prepare(ctx context.Context, userID uuid.UUID, q *Query, view string) (string, error) {
	if err := q.validate(); err != nil {
		return "", err
	}
	var version int64
	cached := s.d.Cache != nil
	if cached && s.stamps != nil {
		v, zone, err := s.stamps.Stamp(ctx, userID)
		if err != nil {
			return "", err
		}
		version = v
		if q.Filter.Location == nil {
			q.Filter.Location = trading.ZoneOrUTC(zone)
		}
	}
	if err := s.d.Trading.PrepareFilter(ctx, userID, &q.Filter); err != nil {
		return "", err
	}
	if !cached {
		return "", nil
	}
	if s.stamps == nil {
		v, err := s.d.Trading.DataVersion(ctx, userID)
		if err != nil {
			return "", err
		}
		version = v
	}
	return cacheKey(userID, version, view, q), nil
}

// fetch returns the view of the prepared q: through the cache under key,
// or computed when key is "".
func fetch[T any](ctx context.Context, s *Service, userID uuid.UUID, q *Query, key string, n need, extract func(*result) T) (T, error) {
	load := func(ctx context.Context) (T, error) {
		var zero T
		r, err := s.pass(ctx, userID, q, n)
		if err != nil {
			return zero, err
		}
		return extract(r), nil
	}
	if key == "" {
		return load(ctx)
	}
	return cache.GetOrLoad(ctx, s.d.Cache, key, s.cfg.CacheTTL, load)
}

// Encoding turns a view into the bytes a transport serves (see
// cache.Encoding): Name tells encodings apart in Deps.Encoded.
type Encoding[T any] = cache.Encoding[T]

// encodedPrefix starts the keys of Deps.Encoded (and names their
// metrics): the figure's key follows the encoding's name.
const encodedPrefix = "analytics-encoded:"

// encoded is compute, encoded by enc, through Deps.Encoded: a warm hit
// reads the user's data version and time zone (one statement with
// Stamps) and returns the bytes kept in this process for that version
// and filter, without asking Cache or running enc. On a miss it is
// compute (Cache, else one pass), then enc, whose bytes are kept.
func encoded[T any](ctx context.Context, s *Service, userID uuid.UUID, q Query, view string, n need, extract func(*result) T, enc Encoding[T]) ([]byte, error) {
	key, err := s.prepare(ctx, userID, &q, view)
	if err != nil {
		return nil, err
	}
	kept := s.d.Encoded
	if key == "" {
		kept = nil
	}
	return cache.GetOrEncode(ctx, kept, encodedPrefix, key, s.cfg.CacheTTL, enc, func(ctx context.Context) (T, error) {
		return fetch(ctx, s, userID, &q, key, n, extract)
	})
}

// pass streams the trades once through the engine.
func (s *Service) pass(ctx context.Context, userID uuid.UUID, q *Query, n need) (*result, error) {
	cat, err := s.d.Source.Catalog(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("analytics catalog: %w", err)
	}
	e := newEngine(q, &cat, n.dim, n.perTrade, n.values)
	fields := n.fields
	if len(cat.Currencies) > 0 {
		fields |= FieldSymbol | FieldAssetClass // the book of each trade (engine.add)
	}
	if err := s.d.Source.ClosedTrades(ctx, userID, q.Filter, fields, func(r *Row) error {
		e.add(r)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("analytics trades: %w", err)
	}
	r := e.finish()
	if len(r.books) == 0 {
		// No trades: another user's account, tag or playbook in the
		// filter is 404, not an empty figure.
		if err := s.d.Trading.CheckFilterOwner(ctx, userID, &q.Filter); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func each[T any](r *result, f func(*engine, *book) T) []T {
	out := make([]T, len(r.books))
	for i, b := range r.books {
		out[i] = f(r.eng, b)
	}
	return out
}

// Summary returns the headline figures per currency (none without
// trades).
func (s *Service) Summary(ctx context.Context, userID uuid.UUID, q Query) ([]Summary, error) {
	return compute(ctx, s, userID, q, "summary", need{}, summaries)
}

// summaries is the summary view of a pass: one Summary per currency.
func summaries(r *result) []Summary { return each(r, (*engine).summary) }

// SummaryEncoded is Summary encoded by enc, served from Deps.Encoded
// when this process encoded it already for the user's current data
// version and this filter (see encoded). The bytes may be shared with
// other callers: they must not be modified.
func (s *Service) SummaryEncoded(ctx context.Context, userID uuid.UUID, q Query, enc Encoding[[]Summary]) ([]byte, error) {
	return encoded(ctx, s, userID, q, "summary", need{}, summaries, enc)
}

// Equity returns the equity curve per currency: by day, and by trade when
// perTrade.
func (s *Service) Equity(ctx context.Context, userID uuid.UUID, q Query, perTrade bool) ([]Equity, error) {
	view, n := "equity", need{}
	if perTrade {
		view, n = "equity-trades", need{perTrade: true, fields: FieldID}
	}
	return compute(ctx, s, userID, q, view, n, func(r *result) []Equity { return each(r, (*engine).equity) })
}

// Drawdown returns the drawdowns per currency.
func (s *Service) Drawdown(ctx context.Context, userID uuid.UUID, q Query) ([]Drawdown, error) {
	return compute(ctx, s, userID, q, "drawdown", need{}, func(r *result) []Drawdown { return each(r, (*engine).drawdown) })
}

// Calendar returns the days with closed trades per currency.
func (s *Service) Calendar(ctx context.Context, userID uuid.UUID, q Query) ([]Calendar, error) {
	return compute(ctx, s, userID, q, "calendar", need{}, func(r *result) []Calendar { return each(r, (*engine).calendar) })
}

// Streaks returns the runs of wins and losses per currency.
func (s *Service) Streaks(ctx context.Context, userID uuid.UUID, q Query) ([]Streaks, error) {
	return compute(ctx, s, userID, q, "streaks", need{}, func(r *result) []Streaks { return each(r, (*engine).streaks) })
}

// Adherence returns the playbook adherence per currency.
func (s *Service) Adherence(ctx context.Context, userID uuid.UUID, q Query) ([]Adherence, error) {
	return compute(ctx, s, userID, q, "adherence", need{fields: FieldRules}, func(r *result) []Adherence { return each(r, (*engine).adherenceOf) })
}

// Breakdown returns the rows of a breakdown, every currency's, ordered by
// key then currency.
func (s *Service) Breakdown(ctx context.Context, userID uuid.UUID, q Query, by Dimension) ([]Group, error) {
	if !by.Valid() {
		e := apperr.Validation("invalid breakdown", map[string]string{"by": "must be one of symbol, asset_class, tag, playbook, account, direction, weekday, hour, holding, month"})
		e.Code = CodeDimensionInvalid
		return nil, e
	}
	return compute(ctx, s, userID, q, "breakdown-"+string(by), need{dim: by, fields: dimFields[by]}, func(r *result) []Group {
		var out []Group
		for _, b := range r.books {
			out = append(out, r.eng.groupsOf(b)...)
		}
		return mergeByKey(r, out)
	})
}

// mergeByKey orders rows by the key order of their dimension, then by
// currency.
func mergeByKey(r *result, rows []Group) []Group {
	order := map[string]string{}
	for _, b := range r.books {
		for k, g := range b.groups {
			order[k] = g.order
		}
	}
	slices.SortStableFunc(rows, func(a, b Group) int {
		if c := strings.Compare(order[a.Key], order[b.Key]); c != 0 {
			return c
		}
		return strings.Compare(a.Currency, b.Currency)
	})
	if rows == nil {
		rows = []Group{}
	}
	return rows
}

// Distribution returns a histogram per currency of "pnl", "r" or
// "hold_time".
func (s *Service) Distribution(ctx context.Context, userID uuid.UUID, q Query, of string) ([]Distribution, error) {
	switch of {
	case OfPnL, OfR, OfHolding:
	default:
		e := apperr.Validation("invalid distribution", map[string]string{"of": "must be pnl, r or hold_time"})
		e.Code = CodeOfInvalid
		return nil, e
	}
	return compute(ctx, s, userID, q, "distribution-"+of, need{values: of == OfPnL}, func(r *result) []Distribution {
		return each(r, func(e *engine, b *book) Distribution { return e.distribution(b, of) })
	})
}

// Analysis is every figure of one pass, for reports.
type Analysis struct {
	Summaries     []Summary
	Equity        []Equity
	Drawdowns     []Drawdown
	Calendars     []Calendar
	Streaks       []Streaks
	Distributions []Distribution // pnl, r and hold_time of each currency
	Adherence     []Adherence
	Breakdowns    map[Dimension][]Group
	Trades        []Row // the trades, in close order
}

// Analyse computes everything a report shows in as few passes as the
// breakdowns need (one per dimension; the first collects the rest). It is
// not cached: reports run as jobs.
func (s *Service) Analyse(ctx context.Context, userID uuid.UUID, q Query, dims []Dimension) (*Analysis, error) {
	if err := q.validate(); err != nil {
		return nil, err
	}
	if err := s.d.Trading.PrepareFilter(ctx, userID, &q.Filter); err != nil {
		return nil, err
	}
	cat, err := s.d.Source.Catalog(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("analytics catalog: %w", err)
	}
	// One stream of the trades (with tags); each dimension is another
	// engine fed from the same rows.
	out := &Analysis{Breakdowns: map[Dimension][]Group{}}
	main := newEngine(&q, &cat, "", true, true)
	engines := make([]*engine, len(dims))
	for i, d := range dims {
		engines[i] = newEngine(&q, &cat, d, false, false)
	}
	err = s.d.Source.ClosedTrades(ctx, userID, q.Filter, AllFields, func(r *Row) error {
		main.add(r)
		for _, e := range engines {
			e.add(r)
		}
		c := *r
		c.TagIDs = slices.Clone(r.TagIDs)
		out.Trades = append(out.Trades, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analytics trades: %w", err)
	}
	res := main.finish()
	out.Summaries = each(res, (*engine).summary)
	out.Equity = each(res, (*engine).equity)
	out.Drawdowns = each(res, (*engine).drawdown)
	out.Calendars = each(res, (*engine).calendar)
	out.Streaks = each(res, (*engine).streaks)
	out.Adherence = each(res, (*engine).adherenceOf)
	for _, b := range res.books {
		for _, of := range []string{OfPnL, OfR, OfHolding} {
			out.Distributions = append(out.Distributions, main.distribution(b, of))
		}
	}
	for i, d := range dims {
		r := engines[i].finish()
		var rows []Group
		for _, b := range r.books {
			rows = append(rows, r.eng.groupsOf(b)...)
		}
		out.Breakdowns[d] = mergeByKey(r, rows)
	}
	return out, nil
}
