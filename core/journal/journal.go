// Package journal is what a trader writes around the trades: tags (setups,
// mistakes, emotions, anything), playbooks with their checklists, one
// journal entry per calendar day, and screenshots attached to trades and
// entries (sanitised images in the blob store, metadata here).
package journal

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/trading"
)

// Error codes (stable).
const (
	CodeTagNotFound        = "tag_not_found"
	CodeTagNameTaken       = "tag_name_taken"
	CodePlaybookNotFound   = "playbook_not_found"
	CodePlaybookNameTaken  = "playbook_name_taken"
	CodeEntryNotFound      = "journal_entry_not_found"
	CodeAttachmentNotFound = "attachment_not_found"
	CodeNotAnImage         = "attachment_not_an_image"
	CodeTooManyPixels      = "attachment_too_many_pixels"
	// CodeAttachmentTooLarge: the HTTP layer answers 413.
	CodeAttachmentTooLarge = "attachment_too_large"
	// CodeVersionMismatch: a stale If-Match; the HTTP layer answers 412.
	CodeVersionMismatch = trading.CodeVersionMismatch
)

// TagKind groups tags; trades' emotions and mistakes are tags of those
// kinds.
type TagKind string

// The tag kinds.
const (
	Setup   TagKind = "setup"
	Mistake TagKind = "mistake"
	Emotion TagKind = "emotion"
	Custom  TagKind = "custom"
)

// Valid reports whether k is a tag kind.
func (k TagKind) Valid() bool { return k == Setup || k == Mistake || k == Emotion || k == Custom }

// Tag is a user's label for trades. Names are unique per user and kind,
// case-insensitively.
type Tag struct {
	ID        uuid.UUID
	UserID    uuid.UUID
	Name      string
	Kind      TagKind
	Color     string // "#rrggbb" or ""
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Rule is one item of a playbook's checklist; its ID is stable across
// edits so that trades can record which rules they followed.
type Rule struct {
	ID   uuid.UUID
	Text string
}

// Playbook is a setup the trader trades, with its checklist.
type Playbook struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	Name        string
	Description string // Markdown
	Rules       []Rule
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Entry is the journal of one calendar day (the user's time zone).
type Entry struct {
	ID         uuid.UUID
	UserID     uuid.UUID
	Date       trading.Date
	PreMarket  string // Markdown: the plan
	PostMarket string // Markdown: the review
	Mood       int    // 1–5, 0 unset
	// TradeIDs is the trader's explicit choice of linked trades as written;
	// nil means the default: the day's trades. A chosen trade deleted since
	// stays here and is left out of EntryView.TradeIDs.
	TradeIDs  []uuid.UUID
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Attachment is a screenshot on a trade or a journal entry.
type Attachment struct {
	ID          uuid.UUID
	UserID      uuid.UUID
	TradeID     uuid.UUID // uuid.Nil unless on a trade (or when its trade was deleted)
	EntryID     uuid.UUID // uuid.Nil unless on a journal entry
	BlobKey     string
	ContentType string
	Size        int64
	Width       int
	Height      int
	SHA256      string // hex, of the stored (sanitised) bytes
	Filename    string // as uploaded, cleaned; for display only
	CreatedAt   time.Time
}

// Owner selects attachments: those of a trade or of an entry.
type Owner struct {
	TradeID uuid.UUID
	EntryID uuid.UUID
}

// The repositories take part in the transaction of ctx and may fail with
// apperr.Unavailable beyond the errors listed; another user's record is
// not found.

// Tags stores tags.
type Tags interface {
	// Create stores t; apperr.Conflict "tag_name_taken".
	Create(ctx context.Context, t *Tag) error
	// Get returns a tag or apperr.NotFound "tag_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Tag, error)
	// List returns the user's tags by kind and name.
	List(ctx context.Context, userID uuid.UUID) ([]Tag, error)
	// Update writes t if the stored version is t.Version−1; Conflict
	// "version_mismatch" or "tag_name_taken", NotFound.
	Update(ctx context.Context, t *Tag) error
	// Delete removes the tag and takes it off every trade; NotFound.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Playbooks stores playbooks.
type Playbooks interface {
	// Create stores p; apperr.Conflict "playbook_name_taken".
	Create(ctx context.Context, p *Playbook) error
	// Get returns a playbook or apperr.NotFound "playbook_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Playbook, error)
	// List returns the user's playbooks by name.
	List(ctx context.Context, userID uuid.UUID) ([]Playbook, error)
	// Update writes p if the stored version is p.Version−1, and drops the
	// rules it no longer has from trades' followed rules.
	Update(ctx context.Context, p *Playbook) error
	// Delete removes the playbook, clearing it (and its followed rules)
	// from every trade; NotFound.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Entries stores journal entries.
type Entries interface {
	// Get returns the entry of a day or apperr.NotFound
	// "journal_entry_not_found".
	Get(ctx context.Context, userID uuid.UUID, day trading.Date) (*Entry, error)
	// List returns the entries of days from..to (inclusive) by date.
	List(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]Entry, error)
	// Put inserts e when e.Version is 1 (apperr.Conflict
	// "version_mismatch" when the day has an entry), else updates it if the
	// stored version is e.Version−1.
	Put(ctx context.Context, e *Entry) error
}

// Attachments stores attachment metadata.
type Attachments interface {
	// Create stores a.
	Create(ctx context.Context, a *Attachment) error
	// Get returns an attachment or apperr.NotFound "attachment_not_found".
	Get(ctx context.Context, userID, id uuid.UUID) (*Attachment, error)
	// List returns the attachments of a trade or an entry, oldest first.
	List(ctx context.Context, userID uuid.UUID, o Owner) ([]Attachment, error)
	// OfEntries returns, in one read, the attachments of the user's entries
	// among entryIDs, oldest first.
	OfEntries(ctx context.Context, userID uuid.UUID, entryIDs []uuid.UUID) ([]Attachment, error)
	// Delete removes the metadata; NotFound.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// DataVersions bumps the user's data version (see trading.DataVersions).
type DataVersions interface {
	Bump(ctx context.Context, userID uuid.UUID) (int64, error)
}

// AccountLocker takes the write locks of every trading account of a user
// in the transaction (trading.Accounts.LockAll): a journal write that
// changes or links trades serialises with their rebuilds and annotation
// writes, which hold their account's lock.
type AccountLocker interface {
	LockAll(ctx context.Context, userID uuid.UUID) error
}

// TradeReader is the part of trading.Trades the journal reads: a trade's
// owner, the trades of a run of days, and which chosen trades still exist.
type TradeReader interface {
	Get(ctx context.Context, userID, id uuid.UUID) (*trading.Trade, error)
	InWindow(ctx context.Context, userID uuid.UUID, from, to time.Time) ([]trading.Trade, error)
	Existing(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]uuid.UUID, error)
}
