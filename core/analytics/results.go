package analytics

import (
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// The results below are per account currency. Amounts are exact sums;
// ratios, averages and percentages are rounded to Scale places; a figure
// that cannot be computed is null (an invalid NullDecimal, a nil pointer)
// and Nulls says why (docs/analytics.md lists the reasons).

// Null reasons.
const (
	ReasonNoTrades           = "no_trades"
	ReasonNoWins             = "no_wins"
	ReasonNoLosses           = "no_losses"
	ReasonNoDecisions        = "no_wins_or_losses"
	ReasonNoRisk             = "no_trades_with_risk"
	ReasonTooFewR            = "fewer_than_two_trades_with_risk"
	ReasonNoRVariance        = "r_multiples_all_equal"
	ReasonNoBalance          = "no_starting_balance"
	ReasonBalanceNotPositive = "starting_balance_not_positive"
	ReasonEquityNotPositive  = "equity_not_positive"
	ReasonTooFewDays         = "fewer_than_two_days"
	ReasonNoVariance         = "daily_returns_all_equal"
	ReasonNoLosingDays       = "no_losing_days"
	ReasonNoDrawdown         = "no_drawdown"
)

// Stats are the figures every breakdown row has.
type Stats struct {
	Count, Wins, Losses, Breakevens int
	WinRate                         decimal.NullDecimal
	// GrossPnL, Fees (commission + fees) and NetPnL are the true sums
	// whatever the basis; the outcome, ProfitFactor and Expectancy follow
	// the basis.
	GrossPnL, Fees, NetPnL decimal.Decimal
	ProfitFactor           decimal.NullDecimal
	Expectancy             decimal.NullDecimal
}

// Streak is a run of one outcome.
type Streak struct {
	Outcome trading.Outcome // "" when there are no trades
	Length  int
}

// Summary is the headline figures of one currency.
type Summary struct {
	Currency string
	Basis    Basis
	Stats
	AvgWin, AvgLoss         decimal.NullDecimal
	LargestWin, LargestLoss decimal.NullDecimal
	PayoffRatio             decimal.NullDecimal
	// ExpectancyR is the mean R of the RCount trades with an initial
	// risk; SQN is √N × mean R / stdev R over them (SQNReliable: N ≥ 30).
	ExpectancyR decimal.NullDecimal
	RCount      int
	SQN         decimal.NullDecimal
	SQNReliable bool
	// MaxDrawdown is the deepest fall of the equity curve from a peak
	// (≥ 0); MaxDrawdownPct its largest share of the peak equity, in
	// percent, with a starting balance.
	MaxDrawdown    decimal.Decimal
	MaxDrawdownPct decimal.NullDecimal
	RecoveryFactor decimal.NullDecimal
	// Sharpe and Sortino are annualised, on the daily returns of the
	// TradingDays days with a closed trade.
	Sharpe, Sortino      decimal.NullDecimal
	TradingDays          int
	MaxConsecutiveWins   int
	MaxConsecutiveLosses int
	CurrentStreak        Streak
	// Average holding times (nil without such trades).
	AvgHold, AvgHoldWin, AvgHoldLoss *time.Duration
	// Kelly is the Kelly fraction estimated from the win rate and the
	// payoff ratio.
	Kelly           decimal.NullDecimal
	Long, Short     Stats
	StartingBalance decimal.NullDecimal
	// Nulls maps the name of each null figure to the reason.
	Nulls map[string]string
}

// Group is one row of a breakdown.
type Group struct {
	Key, Label string
	Currency   string
	Stats
}

// EquityPoint is the curve after one trade.
type EquityPoint struct {
	At       time.Time // the close instant
	TradeID  uuid.UUID
	PnL      decimal.Decimal // the trade's, on the basis
	Equity   decimal.Decimal // cumulative P&L (plus the starting balance when set)
	Drawdown decimal.Decimal // peak − equity, ≥ 0
}

// DayPoint is the curve at the end of one day with closed trades.
type DayPoint struct {
	Date     string // YYYY-MM-DD in the filter's time zone
	Trades   int
	PnL      decimal.Decimal
	Equity   decimal.Decimal
	Drawdown decimal.Decimal
}

// Equity is the equity curve of one currency.
type Equity struct {
	Currency        string
	Basis           Basis
	StartingBalance decimal.NullDecimal
	ByTrade         []EquityPoint // only when asked for
	ByDay           []DayPoint
}

// DrawdownPeriod is one stretch under a peak: from the last point at the
// peak to the first point back at or above it (nil while under water).
type DrawdownPeriod struct {
	PeakAt      time.Time
	Peak        decimal.Decimal // equity at the peak
	TroughAt    time.Time
	Trough      decimal.Decimal
	Depth       decimal.Decimal // peak − trough
	DepthPct    decimal.NullDecimal
	RecoveredAt *time.Time
	Trades      int // trades closed under water, the recovering one included
}

// Drawdown describes the drawdowns of one currency's equity curve.
type Drawdown struct {
	Currency       string
	Basis          Basis
	MaxDrawdown    decimal.Decimal
	MaxDrawdownPct decimal.NullDecimal
	// Max is the period of MaxDrawdown (nil when the curve never fell);
	// TimeToTrough is peak → trough, Recovery trough → recovered (nil
	// while under water), Duration peak → recovered, or peak → last trade
	// while under water.
	Max          *DrawdownPeriod
	TimeToTrough *time.Duration
	Recovery     *time.Duration
	Duration     *time.Duration
	// Longest is the longest time under water of any period.
	Longest        time.Duration
	RecoveryFactor decimal.NullDecimal
	// Periods are the deepest periods, deepest first (at most 10).
	Periods []DrawdownPeriod
	Nulls   map[string]string
}

// CalendarDay is one day with closed trades.
type CalendarDay struct {
	Date                             string
	Trades, Wins, Losses, Breakevens int
	GrossPnL, Fees, NetPnL           decimal.Decimal
}

// Calendar is the days of one currency, in date order.
type Calendar struct {
	Currency string
	Basis    Basis
	Days     []CalendarDay
}

// Bucket is one bar of a distribution: values in [Lower, Upper); a null
// bound is open.
type Bucket struct {
	Key          string
	Lower, Upper decimal.NullDecimal
	Count        int
	Wins, Losses int
	PnL          decimal.Decimal // sum of the values' trades' P&L, on the basis
}

// Distribution is a histogram of one currency's trades.
type Distribution struct {
	Currency string
	Basis    Basis
	Of       string
	Count    int // values counted (trades with R only, for r)
	Buckets  []Bucket
}

// RunCount says how many runs of a length there were.
type RunCount struct {
	Length, Count int
}

// Streaks are the runs of wins and losses of one currency, in close order.
type Streaks struct {
	Currency             string
	Basis                Basis
	MaxConsecutiveWins   int
	MaxConsecutiveLosses int
	Current              Streak
	WinRuns, LossRuns    []RunCount // by length
}

// AdherenceRow compares, for one playbook (or all, PlaybookID uuid.Nil),
// the trades that followed every rule with those that did not.
type AdherenceRow struct {
	PlaybookID  uuid.UUID
	Name        string
	Rules       int
	Followed    Stats
	NotFollowed Stats
}

// Adherence is the playbook adherence of one currency.
type Adherence struct {
	Currency   string
	Basis      Basis
	All        AdherenceRow
	ByPlaybook []AdherenceRow
}
