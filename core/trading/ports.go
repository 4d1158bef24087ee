package trading

import (
	"context"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// The repositories below take part in the transaction ctx carries
// (uow.Runner) and may fail with apperr.Unavailable beyond the errors
// listed. Every read and write is scoped to a user: a record of another
// user is reported as not found, never as forbidden.

// Accounts stores trading accounts.
type Accounts interface {
	// Create stores a (ID, Version, CreatedAt and UpdatedAt are set by the
	// caller); apperr.Conflict "account_name_taken" when the user has an
	// account of that name.
	Create(ctx context.Context, a *Account) error
	// Get returns the account or apperr.NotFound "account_not_found".
	// With lock, it also holds the account's write lock until the
	// transaction ends: writes to one account's executions and trades are
	// serialised on it.
	Get(ctx context.Context, userID, id uuid.UUID, lock bool) (*Account, error)
	// LockAll holds the write lock of every account of the user (archived
	// ones too), taken in ID order, until the transaction ends: a write
	// that reaches trades of any account (a tag or playbook deleted, a
	// bulk annotation, a zone change) serialises with each account's
	// rebuilds and annotation writes. Every transaction takes the account
	// locks it needs in ID order, before any other row lock, so that two
	// never wait on each other.
	LockAll(ctx context.Context, userID uuid.UUID) error
	// List returns the user's accounts by name, archived ones only when
	// asked.
	List(ctx context.Context, userID uuid.UUID, archived bool) ([]Account, error)
	// Update writes every field of a if its stored version is still
	// a.Version−1 (the caller increments it); apperr.Conflict
	// "version_mismatch" otherwise, "account_name_taken" for a taken name,
	// NotFound when it does not exist.
	Update(ctx context.Context, a *Account) error
	// Delete removes the account with its executions, trades and
	// instruments' use; NotFound when it does not exist.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Instruments stores instruments.
type Instruments interface {
	// Ensure returns the user's instrument of in's asset class and symbol,
	// creating it from in when there is none (concurrent callers get the
	// same row). On return in holds the stored instrument.
	Ensure(ctx context.Context, in *Instrument) error
	// Get returns an instrument or apperr.NotFound "instrument_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Instrument, error)
	// InAccount is Get with Multiplier the account's (see Pin) when the
	// account has one for the instrument.
	InAccount(ctx context.Context, userID, accountID, id uuid.UUID) (*Instrument, error)
	// Pin records m as the multiplier of the account's position in the
	// instrument unless one is recorded and the account has executions of
	// the instrument, and returns the multiplier recorded on return (m or
	// the one the executions were recorded under).
	Pin(ctx context.Context, userID, accountID, instrumentID uuid.UUID, m decimal.Decimal) (decimal.Decimal, error)
	// Recorded returns the multiplier the account's executions of the
	// user's instrument (class, symbol) are recorded under (the one Pin
	// keeps), and false when the account has no execution of it (or the
	// account or the instrument is not the user's). It writes nothing.
	Recorded(ctx context.Context, userID, accountID uuid.UUID, class AssetClass, symbol string) (decimal.Decimal, bool, error)
	// CurrencyTerms returns the currency of the user's instrument (class,
	// symbol) ("": none, each account's own) and the currencies of the
	// user's accounts that hold executions of it, each once, leaving out
	// the executions of import except (uuid.Nil: none left out; an
	// import's own fills, recorded chunk by chunk in its transaction, are
	// one batch); found is false when there is no such instrument. It
	// writes nothing.
	CurrencyTerms(ctx context.Context, userID uuid.UUID, class AssetClass, symbol string, except uuid.UUID) (cur string, holders []string, found bool, err error)
	// AdoptCurrency sets the currency of the user's instrument id to cur
	// if it has none and no account of another currency than cur holds
	// executions of it (so no trade's currency changes; the executions of
	// import except left out, as CurrencyTerms), and reports whether it did.
	AdoptCurrency(ctx context.Context, userID, id uuid.UUID, cur string, except uuid.UUID) (bool, error)
}

// Executions stores executions.
type Executions interface {
	// Insert stores es (IDs, fingerprints and versions set by the caller),
	// all or none; apperr.Conflict "execution_duplicate" when a fingerprint
	// is taken in its account.
	Insert(ctx context.Context, es []*Execution) error
	// Fingerprinted returns which of fps are taken in the account, with
	// the ID of the execution holding each.
	Fingerprinted(ctx context.Context, accountID uuid.UUID, fps []string) (map[string]uuid.UUID, error)
	// FingerprintsOf returns the fingerprint of each execution among ids
	// that the user holds in the account (the others are left out).
	FingerprintsOf(ctx context.Context, userID, accountID uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]string, error)
	// Get returns an execution with its symbol and asset class, or
	// apperr.NotFound "execution_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Execution, error)
	// Update writes every field of e if its stored version is e.Version−1;
	// Conflict "version_mismatch" or "execution_duplicate", NotFound.
	Update(ctx context.Context, e *Execution) error
	// Delete removes the user's executions among ids and returns those it
	// removed.
	Delete(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]Execution, error)
	// DeleteImported removes the user's executions of the account that
	// the import added (ImportID importID), with a statement count that
	// does not grow with their number, and returns how many it removed
	// and the instruments they were of (each once).
	DeleteImported(ctx context.Context, userID, accountID, importID uuid.UUID) (removed int, instruments []uuid.UUID, err error)
	// List returns a page of the user's executions, newest first, and the
	// cursor of the next page ("" on the last).
	List(ctx context.Context, userID uuid.UUID, f ExecutionFilter, p Page) ([]Execution, string, error)
}

// Ledger is the derived state: the trades of each position.
type Ledger interface {
	// PositionExecutions returns the executions of a position, any order.
	PositionExecutions(ctx context.Context, key PositionKey) ([]Execution, error)
	// PositionTrades returns the stored trades of a position with their
	// Digest and annotation (tags included), without legs: what Reconcile
	// reads when every derived trade finds its stored one by its opening
	// execution (see NeedsStoredLegs).
	PositionTrades(ctx context.Context, key PositionKey) ([]Trade, error)
	// PositionLegKeys sets the Legs of trades (stored trades of the
	// position, as PositionTrades returned them) to their stored legs, of
	// which only ExecutionID and Role need be filled, in any order: what
	// Reconcile's rules 2–4 read.
	PositionLegKeys(ctx context.Context, key PositionKey, trades []Trade) error
	// Apply writes plan: inserts Created, rewrites Changed (their derived
	// fields and legs; the annotation and tags only for
	// AnnotationChanged), moves Absorbed trades' attachments to their
	// survivors, deletes Deleted. It returns how many rows it wrote.
	Apply(ctx context.Context, key PositionKey, plan *Plan) (rows int, err error)
	// Positions returns the instruments that have executions or trades in
	// the account.
	Positions(ctx context.Context, userID, accountID uuid.UUID) ([]uuid.UUID, error)
}

// Trades reads trades and writes annotations.
type Trades interface {
	// Get returns a trade with legs and annotation, or apperr.NotFound
	// "trade_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Trade, error)
	// List returns a page of the trades f selects (f and s validated), in
	// s's order, without legs, and the next page's cursor ("" on the last).
	List(ctx context.Context, userID uuid.UUID, f Filter, s Sort, p Page) ([]Trade, string, error)
	// InWindow returns, in one read, the user's trades closed in [from, to)
	// and those still open that opened in [from, to), by opening instant
	// then id, with only ID, Status, OpenedAt and ClosedAt set: the trades
	// of a run of calendar days (the journal's days).
	InWindow(ctx context.Context, userID uuid.UUID, from, to time.Time) ([]Trade, error)
	// Existing returns, in one read, those of ids that are the user's
	// trades (in no particular order).
	Existing(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error)
	// SaveAnnotation writes t's annotation, RMultiple and Digest if the stored
	// annotation version is t.Annotation.Version−1 (the caller increments
	// it); Conflict "version_mismatch" otherwise, NotFound when gone.
	SaveAnnotation(ctx context.Context, t *Trade) error
}

// Labels checks references to the journal's tags and playbooks.
type Labels interface {
	// CheckTags returns apperr.NotFound "tag_not_found" unless every ID is
	// one of the user's tags.
	CheckTags(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) error
	// PlaybookRules returns the rule IDs of one of the user's playbooks, or
	// apperr.NotFound "playbook_not_found".
	PlaybookRules(ctx context.Context, userID, id uuid.UUID) ([]uuid.UUID, error)
}

// DataVersions is the per-user counter of data changes: analytics caches
// are keyed by it, so it must move in the same transaction as every write
// to executions, trades or annotations.
type DataVersions interface {
	// Bump increments the user's counter (starting from 0) and returns the
	// new value.
	Bump(ctx context.Context, userID uuid.UUID) (int64, error)
	// Get returns the user's counter (0 before the first write).
	Get(ctx context.Context, userID uuid.UUID) (int64, error)
}

// Stamps reads, in one round trip, what a cached answer's key depends on
// besides the request: the user's data version (DataVersions) and time
// zone name (the profile's; "" for none). It is a warm read's one database
// statement. It may fail with apperr.Unavailable.
type Stamps interface {
	Stamp(ctx context.Context, userID uuid.UUID) (version int64, zone string, err error)
}

// UserZones tells a user's time zone (the default of accounts and of
// filters' date ranges).
type UserZones interface {
	// Location returns the user's zone, UTC when the user set none.
	Location(ctx context.Context, userID uuid.UUID) (*time.Location, error)
}

// ZoneFunc adapts a function to UserZones.
type ZoneFunc func(ctx context.Context, userID uuid.UUID) (*time.Location, error)

// Location implements UserZones.
func (f ZoneFunc) Location(ctx context.Context, userID uuid.UUID) (*time.Location, error) {
	return f(ctx, userID)
}
