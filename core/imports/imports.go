// Package imports turns broker exports into executions: one Parser per
// broker preset behind one port, the shared CSV Reader they all use, and
// the use cases (preview, upload, the import job, status, list, undo, and
// saved column mappings of the generic preset). docs/imports.md has the
// formats, the mapping, the dedupe rule and the limits.
//
// An import is atomic per file: the job streams the stored file, rejects
// bad rows with their line, raw text and reason, and records the accepted
// fills chunk by chunk through trading.Service.RecordExecutions in one
// transaction with the import's result (the positions rebuilt once at its
// end), so a worker killed mid-import leaves nothing and its retry starts
// over. Re-importing adds nothing twice: every fill carries
// the broker's execution ID when the format has one, else it is
// identified by trading.Fingerprint (instrument, side, quantity, price,
// instant, and its ordinal among identical fills of the file).
package imports

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// Error codes of this package (stable: clients switch on them).
const (
	CodeImportNotFound  = "import_not_found"
	CodeMappingNotFound = "import_mapping_not_found"
	CodeMappingTaken    = "import_mapping_name_taken"
	CodeFormatUnknown   = "import_format_unknown"
	CodePresetUnknown   = "import_preset_unknown"
	CodeMappingInvalid  = "import_mapping_invalid"
	CodeTimezoneInvalid = "import_timezone_invalid"
	CodeFileEmpty       = "import_file_empty"
	CodeFileTooLarge    = "import_file_too_large"
	CodeImportBusy      = "import_in_progress"
	CodeStrictRejected  = "import_rows_rejected"
)

// The preset IDs.
const (
	PresetIBKRFlex     = "ibkr_flex"
	PresetIBKRActivity = "ibkr_activity"
	PresetTradovate    = "tradovate"
	PresetNinjaTrader  = "ninjatrader"
	PresetThinkorswim  = "thinkorswim"
	PresetSchwab       = "schwab"
	PresetRobinhood    = "robinhood"
	PresetWebull       = "webull"
	PresetTradeZero    = "tradezero"
	PresetMT5          = "mt5"
	PresetGeneric      = "generic"
)

// Status is where an import is in its life.
type Status string

// The statuses.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
)

// Terminal reports whether the import has ended.
func (s Status) Terminal() bool { return s == Succeeded || s == Failed }

// Counts are an import's figures. Rows counts the data rows of the file
// that describe fills (a round-trip row of a Trades grid gives two
// executions); rows that are not fills (cancelled orders, dividends,
// transfers) are not counted but summed up in a warning.
type Counts struct {
	Rows            int
	ExecutionsAdded int
	Duplicates      int
	Rejected        int
}

// RejectedRow is a row the import did not take, with the line it starts
// on, its raw text (at most MaxRawBytes) and why.
type RejectedRow struct {
	Line   int
	Raw    string
	Reason string
}

// Mismatch is a closing fill whose realised P&L as the broker reports it
// differs from the one the trade builder computed by more than the
// tolerance (PnLTolerance).
type Mismatch struct {
	Line        int
	BrokerPnL   decimal.Decimal
	ComputedPnL decimal.Decimal
}

// PnLTolerance is the rounding tolerance of the P&L check.
var PnLTolerance = decimal.New(1, -2)

// Import is one uploaded file and what importing it did.
type Import struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	AccountID uuid.UUID
	// Broker is the preset the file is read with (given or detected).
	Broker   string
	Filename string
	BlobKey  string
	Size     int64
	// Timezone is the IANA zone the file's wall-clock times are read in
	// (given, else the account's, else the user's at upload).
	Timezone string
	// Mapping is the generic preset's column mapping (field → header).
	Mapping map[string]string
	Strict  bool
	Status  Status
	Counts  Counts
	// Rejected and Mismatches are filled by Get (not by List).
	Rejected      []RejectedRow
	Mismatches    []Mismatch
	Warnings      []string
	TradesRebuilt int
	Error         string
	CreatedAt     time.Time
	StartedAt     time.Time // zero until the job starts
	FinishedAt    time.Time // zero until terminal
	Version       int64     // starts at 1, +1 on every update
}

// Mapping is a saved column mapping of the generic preset.
type Mapping struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	Name      string
	Columns   map[string]string // field → header name
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// The repositories below take part in the transaction ctx carries
// (uow.Runner) and may fail with apperr.Unavailable beyond the errors
// listed. Every read and write is scoped to a user: another user's record
// is reported as not found.

// Imports stores import records and their rejected rows and mismatches.
type Imports interface {
	// Create stores imp; apperr.Conflict when its ID is taken.
	Create(ctx context.Context, imp *Import) error
	// Get returns the import with its rejected rows and mismatches (in
	// line order), or apperr.NotFound "import_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Import, error)
	// Update writes imp's status, counts, warnings, error, times and
	// version if the stored version is imp.Version−1 (the caller
	// increments it), and replaces its rejected rows and mismatches with
	// imp's; Conflict "version_mismatch" otherwise, NotFound when gone.
	Update(ctx context.Context, imp *Import) error
	// List returns the user's imports newest first (accountID uuid.Nil:
	// every account), at most limit, created before the given instant
	// (zero: from the newest), without rejected rows and mismatches.
	List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]Import, error)
	// Delete removes the import with its rows; NotFound when gone.
	Delete(ctx context.Context, userID, id uuid.UUID) error
	// BlobKeys returns the blob keys of the user's imports into the
	// account (its uploaded files), each once.
	BlobKeys(ctx context.Context, userID, accountID uuid.UUID) ([]string, error)
	// Queued returns the imports of every user still queued and created
	// before the given instant, the oldest first, at most limit, without
	// rejected rows and mismatches.
	Queued(ctx context.Context, before time.Time, limit int) ([]Import, error)
}

// Mappings stores saved column mappings.
type Mappings interface {
	// Create stores m; Conflict "import_mapping_name_taken" for a name
	// the user already has.
	Create(ctx context.Context, m *Mapping) error
	// Get returns the mapping or NotFound "import_mapping_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Mapping, error)
	// List returns the user's mappings by name.
	List(ctx context.Context, userID uuid.UUID) ([]Mapping, error)
	// Update writes m if the stored version is m.Version−1; Conflict
	// "version_mismatch" or "import_mapping_name_taken", NotFound.
	Update(ctx context.Context, m *Mapping) error
	// Delete removes the mapping; NotFound when gone.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Fill is one execution read from a file.
type Fill struct {
	Line  int
	Raw   string
	Input trading.ExecutionInput
	// BrokerPnL is the realised P&L the file reports for this closing
	// fill, when the format has one; PnLNet says whether it is net of
	// commission and fees (IBKR) or gross.
	BrokerPnL decimal.NullDecimal
	PnLNet    bool
	// Local: the row's time was a wall-clock time read in the file's
	// zone (Options.Location), so the fill's instant depends on it.
	Local bool
}

// Options tune one parse.
type Options struct {
	// Location is the zone of wall-clock times without an offset.
	Location *time.Location
	// Mapping is the generic preset's field → header mapping.
	Mapping map[string]string
	// Roots are the account's multipliers (trading.Account.Multipliers):
	// a dated contract of a root it names is a future when the file gives
	// no asset class (trading.InferAssetClassIn).
	Roots map[string]decimal.Decimal
	// Currency is the account's (ISO 4217): the deposit currency a
	// MetaTrader report gives commission, swap and profit in.
	Currency string
}

// Sink receives what a parser reads, in file order.
type Sink interface {
	// Fill takes an execution.
	Fill(f Fill)
	// Reject takes a row that describes a fill but cannot be read.
	Reject(r RejectedRow)
	// Skip notes a row that is not a fill (a cancelled order, a cash
	// movement), with a short reason that groups them in a warning.
	Skip(line int, reason string)
	// Warn notes something the user should know (an ambiguous time).
	Warn(line int, msg string)
	// Columns tells the mapping the parser settled on (field → header).
	Columns(m map[string]string)
}

// Parser reads one broker's export (the port every preset implements).
// Parse must never panic or loop on any input: a row it cannot read goes
// to Sink.Reject, and it returns an error only when the file as a whole
// is not this preset's (no header found).
type Parser interface {
	// ID is the preset ID.
	ID() string
	// Name is the human name ("Interactive Brokers Flex Query").
	Name() string
	// Detect reports whether the opening records of a file are this
	// preset's (its header signature).
	Detect(head []*Record) bool
	// Parse reads every record of r into sink.
	Parse(ctx context.Context, r *Reader, o Options, sink Sink) error
}
