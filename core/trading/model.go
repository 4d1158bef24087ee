// Package trading is the heart of the journal: trading accounts,
// instruments, executions (the fills: the source of truth) and the trades
// derived from them, with the annotations a trader adds to each trade.
//
// The model, in the order data flows (docs/journal.md has the long form):
//
//   - An Execution is one fill. Quantities, prices and fees are decimals;
//     its instant is kept to the nanosecond. Executions are never derived:
//     they are typed in, imported, edited or deleted, and every change
//     rebuilds the trades of the one (account, instrument) position it
//     touches.
//   - A Trade is derived by Build from the executions of one position: from
//     flat to flat, lots matched first in first out, a fill that crosses
//     zero split into the closing part of one trade and the opening part of
//     the next, commission and fees of a split fill shared pro rata by
//     quantity. Nothing on a trade is typed in except its Annotation.
//   - A trade's identity is anchored on its opening execution (the fill
//     that took the position from flat), so that rebuilding keeps the ID
//     and the annotations; Reconcile says what happens when trades split or
//     merge.
package trading

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// Error codes of this package (stable: clients switch on them).
const (
	CodeAccountNotFound     = "account_not_found"
	CodeAccountHasData      = "account_has_executions"
	CodeAccountNameTaken    = "account_name_taken"
	CodeInstrumentNotFound  = "instrument_not_found"
	CodeExecutionNotFound   = "execution_not_found"
	CodeExecutionDuplicate  = "execution_duplicate"
	CodeTradeNotFound       = "trade_not_found"
	CodeSymbolInvalid       = "symbol_invalid"
	CodeDecimalInvalid      = "decimal_invalid"
	CodeFilterInvalid       = "filter_invalid"
	CodeCursorInvalid       = "cursor_invalid"
	CodeBatchTooLarge       = "batch_too_large"
	CodeAccountArchived     = "account_archived"
	CodeTagNotFound         = "tag_not_found"
	CodePlaybookNotFound    = "playbook_not_found"
	CodePlaybookRuleUnknown = "playbook_rule_unknown"
	// CodeVersionMismatch: an update named a version (If-Match) that is no
	// longer current. The HTTP layer answers 412 Precondition Failed.
	CodeVersionMismatch = "version_mismatch"
)

// MaxBatch is the most executions one create call takes.
const MaxBatch = 1000

// AssetClass is what kind of instrument a symbol names.
type AssetClass string

// The asset classes.
const (
	Stock  AssetClass = "stock"
	ETF    AssetClass = "etf"
	Option AssetClass = "option"
	Future AssetClass = "future"
	Forex  AssetClass = "forex"
	Crypto AssetClass = "crypto"
	CFD    AssetClass = "cfd"
)

// AssetClasses lists every asset class.
var AssetClasses = []AssetClass{Stock, ETF, Option, Future, Forex, Crypto, CFD}

// Valid reports whether c is one of AssetClasses.
func (c AssetClass) Valid() bool {
	switch c {
	case Stock, ETF, Option, Future, Forex, Crypto, CFD:
		return true
	}
	return false
}

// Side is the side of a fill.
type Side string

// The sides.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// Valid reports whether s is Buy or Sell.
func (s Side) Valid() bool { return s == Buy || s == Sell }

// Direction is the direction of a trade.
type Direction string

// The directions.
const (
	Long  Direction = "long"
	Short Direction = "short"
)

// Status says whether a trade is back to flat.
type Status string

// The statuses.
const (
	Open   Status = "open"
	Closed Status = "closed"
)

// Outcome classifies a closed trade by its net P&L against the account's
// breakeven band ε: win above ε, loss below −ε, breakeven otherwise. Open
// trades have none ("").
type Outcome string

// The outcomes.
const (
	Win       Outcome = "win"
	Loss      Outcome = "loss"
	Breakeven Outcome = "breakeven"
)

// OutcomeOf classifies net against the band eps (eps ≥ 0).
func OutcomeOf(net, eps decimal.Decimal) Outcome {
	switch {
	case net.GreaterThan(eps):
		return Win
	case net.LessThan(eps.Neg()):
		return Loss
	}
	return Breakeven
}

// Account is a trading account (one broker account, a prop-firm
// evaluation, a paper account). Every execution and trade belongs to one.
type Account struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Name   string
	// Broker is free text; BrokerPreset optionally names the import preset
	// (see the imports module), "" when none.
	Broker       string
	BrokerPreset string
	Currency     string // ISO 4217, upper case
	// StartingBalance, when set, makes percentage figures possible.
	StartingBalance decimal.NullDecimal
	// Timezone is the IANA zone of session dates, weekdays and hours of
	// this account's trades; "" means the user's.
	Timezone string
	// BreakevenBand is ε of OutcomeOf, ≥ 0 (default 0).
	BreakevenBand decimal.Decimal
	// Multipliers overrides the built-in contract multiplier per root
	// symbol (futures root such as "ES", option underlying such as "SPX").
	Multipliers map[string]decimal.Decimal
	Archived    bool
	Version     int64 // starts at 1, +1 on every update (the ETag)
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Instrument is a tradable symbol of one user. Executions reference it; its
// Symbol is canonical (see ParseSymbol) and unique per (user, asset class).
type Instrument struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Symbol     string
	AssetClass AssetClass
	Currency   string // "" means the account's
	// Multiplier turns price × quantity into money: 1 for stocks, 100 for
	// equity options, the contract size for futures. It is the one the
	// user's first fill resolved to; each account's position has its own
	// (Instruments.Pin, InAccount), and an account's Multipliers override
	// that by Root.
	Multiplier decimal.Decimal
	TickSize   decimal.Decimal // 0 when unknown
	// Root is the futures root ("ES") or the option underlying ("AAPL").
	Root string
	// Expiry is the option's expiration date or the futures contract
	// month's first day (UTC midnight); zero when none.
	Expiry time.Time
	Strike decimal.NullDecimal // options only
	Right  OptionRight         // options only
}

// OptionRight is call or put.
type OptionRight string

// The option rights.
const (
	Call OptionRight = "call"
	Put  OptionRight = "put"
)

// Execution is one fill: the source of truth trades are built from.
type Execution struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	AccountID    uuid.UUID
	InstrumentID uuid.UUID
	// Symbol and AssetClass are the instrument's, filled in on reads.
	Symbol     string
	AssetClass AssetClass
	Side       Side
	Quantity   decimal.Decimal // > 0
	Price      decimal.Decimal // ≥ 0 (options and spreads can trade at 0)
	Commission decimal.Decimal // ≥ 0 ordinarily; rebates may be negative
	Fees       decimal.Decimal // exchange, regulatory and other fees
	// ExecutedAt is UTC with the nanoseconds the source gave.
	ExecutedAt        time.Time
	BrokerExecutionID string    // "" when the source has none
	ImportID          uuid.UUID // uuid.Nil: entered by hand (source "manual")
	// Fingerprint identifies the fill for deduplication: unique per
	// account. See Fingerprint.
	Fingerprint string
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Source is "manual" or "import".
func (e *Execution) Source() string {
	if e.ImportID == uuid.Nil {
		return "manual"
	}
	return "import"
}

// PositionKey names a position: the executions of one instrument in one
// account. Trades never span positions.
type PositionKey struct {
	UserID       uuid.UUID
	AccountID    uuid.UUID
	InstrumentID uuid.UUID
}

// Role says whether a leg added to or reduced the position.
type Role string

// The roles.
const (
	Entry Role = "entry"
	Exit  Role = "exit"
)

// Leg links an execution to a trade with the part of it the trade holds:
// a fill split at zero has an exit leg in one trade and an entry leg in the
// next, each with its pro-rata share of the commission and fees.
type Leg struct {
	ExecutionID uuid.UUID
	Role        Role
	Side        Side
	Quantity    decimal.Decimal // this trade's part of the fill
	Price       decimal.Decimal
	Commission  decimal.Decimal // allocated share
	Fees        decimal.Decimal // allocated share
	// RealizedPnL is the gross P&L this exit booked (FIFO against the open
	// lots, multiplier applied); zero on entry legs.
	RealizedPnL decimal.Decimal
	ExecutedAt  time.Time
	Seq         int // order within the trade, from 0
}

// Trade is a round trip from flat to flat (or from flat to now, while
// open), derived from executions. Every amount is in Currency.
type Trade struct {
	ID           uuid.UUID
	UserID       uuid.UUID
	AccountID    uuid.UUID
	InstrumentID uuid.UUID
	Symbol       string
	AssetClass   AssetClass
	Direction    Direction
	Status       Status
	// OpeningExecutionID is the fill that took the position from flat: the
	// anchor of the trade's identity.
	OpeningExecutionID uuid.UUID
	Multiplier         decimal.Decimal
	// Currency is the ISO 4217 code every amount of the trade is in: its
	// instrument's when the instrument names one, else its account's
	// (nothing is converted; docs/journal.md).
	Currency string
	// Quantity is the total quantity entered (every entry leg);
	// MaxPosition the largest absolute position held.
	Quantity    decimal.Decimal
	MaxPosition decimal.Decimal
	// OpenQuantity and CostBasis (Σ open lot quantity × price × multiplier,
	// positive for both directions) are zero once closed.
	OpenQuantity  decimal.Decimal
	CostBasis     decimal.Decimal
	AvgEntryPrice decimal.Decimal
	AvgExitPrice  decimal.NullDecimal // null until the first exit
	// GrossPnL is the realised P&L of the exits so far; Commission and Fees
	// the allocated costs of every leg; NetPnL = GrossPnL − Commission − Fees.
	GrossPnL   decimal.Decimal
	Commission decimal.Decimal
	Fees       decimal.Decimal
	NetPnL     decimal.Decimal
	OpenedAt   time.Time
	ClosedAt   time.Time     // zero while open
	Holding    time.Duration // ClosedAt − OpenedAt; 0 while open
	Outcome    Outcome       // "" while open
	// RMultiple = NetPnL / InitialRisk, when the annotation has a risk.
	RMultiple decimal.NullDecimal
	// Weekday and Hour of OpenedAt in the account's time zone (the filter's
	// weekday and hour criteria use them).
	OpenWeekday time.Weekday
	OpenHour    int
	Legs        []Leg // in Seq order; filled by Get, not by List
	// Digest fingerprints the derived state (see Digest).
	Digest     string
	Annotation Annotation
	UpdatedAt  time.Time
}

// Annotation is what the trader adds to a trade; it survives every
// rebuild (see Reconcile for splits and merges).
type Annotation struct {
	PlaybookID    uuid.UUID // uuid.Nil: none
	TagIDs        []uuid.UUID
	Notes         string // Markdown
	PlannedStop   decimal.NullDecimal
	PlannedTarget decimal.NullDecimal
	// InitialRisk is the money at risk at entry (> 0), so that
	// R = NetPnL / InitialRisk.
	InitialRisk decimal.NullDecimal
	Rating      int // 1–5, 0 unset
	Confidence  int // 1–10, 0 unset
	// FollowedRules are the IDs of the playbook's rules the trade followed.
	FollowedRules []uuid.UUID
	// Version starts at 1 when the trade is created and grows with every
	// change of the annotation (the trade's ETag).
	Version   int64
	UpdatedAt time.Time
}

// Empty reports whether a carries nothing the trader typed.
func (a *Annotation) Empty() bool {
	return a.PlaybookID == uuid.Nil && len(a.TagIDs) == 0 && a.Notes == "" && !a.PlannedStop.Valid &&
		!a.PlannedTarget.Valid && !a.InitialRisk.Valid && a.Rating == 0 && a.Confidence == 0 && len(a.FollowedRules) == 0
}
