// Package analytics computes the performance figures of a trader's closed
// trades over any trading.Filter, and the reports built from them. The
// definitions are those of docs/analytics.md; this package and its tests
// follow that page.
//
// Everything is computed in one pass over the closed trades the filter
// selects, streamed in close order by the Source port, in exact decimal
// arithmetic (shopspring/decimal); quotients are rounded once, half away
// from zero, to Scale places, and the three figures that need a square root
// (Sharpe, Sortino, SQN) take it with 256-bit big.Float precision from exact
// inputs. Amounts are never summed across currencies: every result is per
// account currency.
//
// Results are cached through the cache port under a key made of the user,
// the user's data version (bumped in the transaction of every write to the
// user's trading data), the figure and the filter: a write moves the user
// to new keys, so nothing is ever served stale and nothing is ever deleted
// or scanned; old entries expire.
package analytics

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// Error codes of this package.
const (
	CodeBasisInvalid     = "analytics_basis_invalid"
	CodeDimensionInvalid = "analytics_dimension_invalid"
	CodeOfInvalid        = "analytics_distribution_invalid"
	CodeStatusOpen       = "analytics_closed_only"
)

// Scale is the number of decimal places of every rounded figure (ratios,
// averages, percentages).
const Scale = 4

// returnScale is the number of places each daily return is rounded to
// before the Sharpe and Sortino statistics.
const returnScale = 12

// Basis says which P&L the figures use.
type Basis string

// The bases.
const (
	Net   Basis = "net" // default: after commission and fees
	Gross Basis = "gross"
)

// Query is what every figure is computed over: the trade filter (shared
// with trade lists) and the basis.
type Query struct {
	Filter trading.Filter
	Basis  Basis
}

// Row is one closed trade as analytics reads it.
type Row struct {
	ID          uuid.UUID
	AccountID   uuid.UUID
	Symbol      string
	AssetClass  trading.AssetClass
	Direction   trading.Direction
	OpenedAt    time.Time
	ClosedAt    time.Time
	Holding     time.Duration
	GrossPnL    Amount
	Costs       Amount // commission + fees
	NetPnL      Amount
	InitialRisk NullAmount
	PlaybookID  uuid.UUID // uuid.Nil: none
	// FollowedRules is the number of the playbook's rules the trade
	// followed.
	FollowedRules int
	OpenWeekday   time.Weekday // in the account's time zone
	OpenHour      int
	TagIDs        []uuid.UUID
}

// Fields says which Row fields beyond the core ones a pass reads. Every
// pass gets AccountID, Direction, OpenedAt, ClosedAt, Holding, the
// amounts and InitialRisk; a Source leaves the fields that were not asked
// for zero (it reads fewer columns: the cold figures cost what they use).
type Fields uint

// The optional fields.
const (
	FieldID         Fields = 1 << iota // ID
	FieldSymbol                        // Symbol
	FieldAssetClass                    // AssetClass
	FieldPlaybook                      // PlaybookID
	FieldRules                         // FollowedRules (and PlaybookID)
	FieldEntry                         // OpenWeekday, OpenHour
	FieldTags                          // TagIDs

	AllFields = FieldID | FieldSymbol | FieldAssetClass | FieldPlaybook | FieldRules | FieldEntry | FieldTags
)

// AccountInfo is what the figures need of an account.
type AccountInfo struct {
	Name            string
	Currency        string
	StartingBalance decimal.NullDecimal
	BreakevenBand   decimal.Decimal
}

// PlaybookInfo is what the figures need of a playbook.
type PlaybookInfo struct {
	Name  string
	Rules int
}

// Catalog holds the user's accounts, tags and playbooks by ID.
type Catalog struct {
	Accounts  map[uuid.UUID]AccountInfo
	Tags      map[uuid.UUID]string
	Playbooks map[uuid.UUID]PlaybookInfo
	// Currencies holds the currency of each of the user's instruments
	// that names one (trading.Instrument.Currency: EUR for FDAX, JPY for
	// USD/JPY, a file's CurrencyPrimary). A trade's P&L is in its
	// instrument's currency, or in its account's when the instrument
	// names none; it is booked under that currency.
	Currencies map[InstrumentRef]string
}

// InstrumentRef names an instrument of a user as a trade row does.
type InstrumentRef struct {
	AssetClass trading.AssetClass
	Symbol     string
}

// Source reads what the figures are computed from. Methods may fail with
// apperr.Unavailable.
type Source interface {
	// ClosedTrades calls each for every closed trade of the user that f
	// selects (f prepared by trading.Service.PrepareFilter; its Status is
	// ignored), ordered by close instant, then ID, ascending. The Row
	// passed to each is only valid during the call; it has the core
	// fields and those of fields (others may be zero). An error of each
	// stops the stream and is returned.
	ClosedTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, fields Fields, each func(*Row) error) error
	// Catalog returns the user's accounts (archived ones too), tags and
	// playbooks.
	Catalog(ctx context.Context, userID uuid.UUID) (Catalog, error)
}

// Stamps reads, in one round trip, what a cached figure's key depends on
// besides the query: the user's data version (trading.DataVersions) and
// time zone name (the profile's; "" for none). It is the warm path's one
// database read. A Source that implements it is used for it; else the
// service asks Trading for each (two reads). It may fail with
// apperr.Unavailable.
type Stamps = trading.Stamps

// Trading is what analytics needs of the trading module: the filter's
// rules and the user's data version. trading.Service satisfies it.
type Trading interface {
	PrepareFilter(ctx context.Context, userID uuid.UUID, f *trading.Filter) error
	DataVersion(ctx context.Context, userID uuid.UUID) (int64, error)
	// CheckFilterOwner is NotFound unless the filter's accounts, tags
	// and playbooks are the user's (asked when a figure has no trades).
	CheckFilterOwner(ctx context.Context, userID uuid.UUID, f *trading.Filter) error
}
