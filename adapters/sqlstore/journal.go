package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// Tags is the SQL implementation of journal.Tags.
type Tags struct{ db *DB }

// Playbooks is the SQL implementation of journal.Playbooks.
type Playbooks struct{ db *DB }

// JournalEntries is the SQL implementation of journal.Entries.
type JournalEntries struct{ db *DB }

// Attachments is the SQL implementation of journal.Attachments.
type Attachments struct{ db *DB }

var (
	_ journal.Tags        = (*Tags)(nil)
	_ journal.Playbooks   = (*Playbooks)(nil)
	_ journal.Entries     = (*JournalEntries)(nil)
	_ journal.Attachments = (*Attachments)(nil)
)

// NewTags returns the tags repository on db.
func NewTags(db *DB) *Tags { return &Tags{db: db} }

// NewPlaybooks returns the playbooks repository on db.
func NewPlaybooks(db *DB) *Playbooks { return &Playbooks{db: db} }

// NewJournalEntries returns the journal entries repository on db.
func NewJournalEntries(db *DB) *JournalEntries { return &JournalEntries{db: db} }

// NewAttachments returns the attachments repository on db.
func NewAttachments(db *DB) *Attachments { return &Attachments{db: db} }

func nameTaken(err error, code, msg string) error {
	if c, dup := uniqueViolation(err); dup && strings.Contains(c, "name_key") {
		return apperr.Wrap(err, apperr.Conflict, code, msg)
	}
	return translate(err)
}

// ---- tags

const tagCols = "id, user_id, name, kind, color, version, created_at, updated_at"

func scanTag(r *sql.Rows) (*journal.Tag, error) {
	var t journal.Tag
	err := r.Scan(&t.ID, &t.UserID, &t.Name, &t.Kind, &t.Color, &t.Version, &t.CreatedAt, &t.UpdatedAt)
	t.CreatedAt, t.UpdatedAt = t.CreatedAt.UTC(), t.UpdatedAt.UTC()
	return &t, translate(err)
}

// Create implements journal.Tags.
func (s *Tags) Create(ctx context.Context, t *journal.Tag) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO tags ("+tagCols+", name_key) VALUES "+placeholders(1, 9), t.ID, t.UserID, t.Name, t.Kind, t.Color, t.Version,
			normTime(t.CreatedAt), normTime(t.UpdatedAt), strings.ToLower(t.Name)).Error
		if err != nil {
			return fmt.Errorf("create tag: %w", nameTaken(err, journal.CodeTagNameTaken, "a tag of that name and kind exists"))
		}
		return nil
	})
}

// Get implements journal.Tags.
func (s *Tags) Get(ctx context.Context, userID, id uuid.UUID) (*journal.Tag, error) {
	return getOne(ctx, s.db, scanTag, "get tag", func() error { return apperr.New(apperr.NotFound, journal.CodeTagNotFound, "tag not found") },
		"SELECT "+tagCols+" FROM tags WHERE user_id = ? AND id = ?", userID, id)
}

// List implements journal.Tags.
func (s *Tags) List(ctx context.Context, userID uuid.UUID) ([]journal.Tag, error) {
	var out []journal.Tag
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			t, err := scanTag(r)
			if err == nil {
				out = append(out, *t)
			}
			return err
		}, "SELECT "+tagCols+" FROM tags WHERE user_id = ? ORDER BY kind, name_key, id", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("list tags: %w", err)
	}
	return out, nil
}

// Update implements journal.Tags.
func (s *Tags) Update(ctx context.Context, t *journal.Tag) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("UPDATE tags SET name = ?, name_key = ?, kind = ?, color = ?, version = ?, updated_at = ? WHERE user_id = ? AND id = ? AND version = ?",
			t.Name, strings.ToLower(t.Name), t.Kind, t.Color, t.Version, normTime(t.UpdatedAt), t.UserID, t.ID, t.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update tag: %w", nameTaken(res.Error, journal.CodeTagNameTaken, "a tag of that name and kind exists"))
		}
		if res.RowsAffected == 1 {
			return nil
		}
		return missingOrStale(g, "tags", "id = ? AND user_id = ?", []any{t.ID, t.UserID}, apperr.New(apperr.NotFound, journal.CodeTagNotFound, "tag not found"))
	})
}

// Delete implements journal.Tags (trade_tags rows go by cascade). The
// trades that carried the tag lose it: their annotation changes, so its
// version (the ETag) moves, as a playbook's delete does.
func (s *Tags) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return deleteLabel(ctx, s.db, "tags", userID, id,
		"UPDATE trades SET annotation_version = annotation_version + 1 WHERE user_id = ? AND id IN (SELECT trade_id FROM trade_tags WHERE tag_id = ?)",
		apperr.New(apperr.NotFound, journal.CodeTagNotFound, "tag not found"))
}

// deleteLabel deletes the user's label id from table in one transaction,
// after clearTrades (its arguments: the user, the label) has taken it off
// the user's trades; notFound when the user has no such label.
func deleteLabel(ctx context.Context, db *DB, table string, userID, id uuid.UUID, clearTrades string, notFound error) error {
	return db.inTx(ctx, func(ctx context.Context) error {
		return db.run(ctx, func(g *gorm.DB) error {
			if err := g.Exec(clearTrades, userID, id).Error; err != nil {
				return fmt.Errorf("take the %s off its trades: %w", table, translate(err))
			}
			res := g.Exec("DELETE FROM "+table+" WHERE user_id = ? AND id = ?", userID, id)
			if res.Error != nil {
				return fmt.Errorf("delete from %s: %w", table, translate(res.Error))
			}
			if res.RowsAffected == 0 {
				return notFound
			}
			return nil
		})
	})
}

// ---- playbooks

type ruleJSON struct {
	ID   uuid.UUID `json:"id"`
	Text string    `json:"text"`
}

const playbookCols = "id, user_id, name, description, rules, version, created_at, updated_at"

func scanPlaybook(r *sql.Rows) (*journal.Playbook, error) {
	var p journal.Playbook
	var rules string
	if err := r.Scan(&p.ID, &p.UserID, &p.Name, &p.Description, &rules, &p.Version, &p.CreatedAt, &p.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	var rs []ruleJSON
	if err := json.Unmarshal([]byte(rules), &rs); err != nil {
		return nil, fmt.Errorf("playbook %s rules: %w", p.ID, err)
	}
	for _, r := range rs {
		p.Rules = append(p.Rules, journal.Rule{ID: r.ID, Text: r.Text})
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return &p, nil
}

func rulesJSON(rules []journal.Rule) string {
	rs := make([]ruleJSON, len(rules))
	for i, r := range rules {
		rs[i] = ruleJSON{r.ID, r.Text}
	}
	b, _ := json.Marshal(rs)
	return string(b)
}

// Create implements journal.Playbooks.
func (s *Playbooks) Create(ctx context.Context, p *journal.Playbook) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO playbooks ("+playbookCols+", name_key) VALUES "+placeholders(1, 9), p.ID, p.UserID, p.Name, p.Description,
			rulesJSON(p.Rules), p.Version, normTime(p.CreatedAt), normTime(p.UpdatedAt), strings.ToLower(p.Name)).Error
		if err != nil {
			return fmt.Errorf("create playbook: %w", nameTaken(err, journal.CodePlaybookNameTaken, "a playbook of that name exists"))
		}
		return nil
	})
}

// Get implements journal.Playbooks.
func (s *Playbooks) Get(ctx context.Context, userID, id uuid.UUID) (*journal.Playbook, error) {
	return getOne(ctx, s.db, scanPlaybook, "get playbook", func() error { return apperr.New(apperr.NotFound, journal.CodePlaybookNotFound, "playbook not found") },
		"SELECT "+playbookCols+" FROM playbooks WHERE user_id = ? AND id = ?", userID, id)
}

// List implements journal.Playbooks.
func (s *Playbooks) List(ctx context.Context, userID uuid.UUID) ([]journal.Playbook, error) {
	var out []journal.Playbook
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			p, err := scanPlaybook(r)
			if err == nil {
				out = append(out, *p)
			}
			return err
		}, "SELECT "+playbookCols+" FROM playbooks WHERE user_id = ? ORDER BY name_key, id", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("list playbooks: %w", err)
	}
	return out, nil
}

// Update implements journal.Playbooks. Trades' followed rules that the
// playbook no longer has are dropped in the same transaction.
func (s *Playbooks) Update(ctx context.Context, p *journal.Playbook) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			res := g.Exec("UPDATE playbooks SET name = ?, name_key = ?, description = ?, rules = ?, version = ?, updated_at = ? WHERE user_id = ? AND id = ? AND version = ?",
				p.Name, strings.ToLower(p.Name), p.Description, rulesJSON(p.Rules), p.Version, normTime(p.UpdatedAt), p.UserID, p.ID, p.Version-1)
			if res.Error != nil {
				return fmt.Errorf("update playbook: %w", nameTaken(res.Error, journal.CodePlaybookNameTaken, "a playbook of that name exists"))
			}
			if res.RowsAffected != 1 {
				return missingOrStale(g, "playbooks", "id = ? AND user_id = ?", []any{p.ID, p.UserID},
					apperr.New(apperr.NotFound, journal.CodePlaybookNotFound, "playbook not found"))
			}
			keep := map[uuid.UUID]bool{}
			for _, r := range p.Rules {
				keep[r.ID] = true
			}
			type row struct {
				id    uuid.UUID
				rules string
			}
			var rows []row
			err := query(g, func(r *sql.Rows) error {
				var x row
				err := r.Scan(&x.id, &x.rules)
				rows = append(rows, x)
				return translate(err)
			}, "SELECT id, followed_rules FROM trades WHERE user_id = ? AND playbook_id = ? AND followed_rules <> '[]'", p.UserID, p.ID)
			if err != nil {
				return err
			}
			for _, x := range rows {
				var followed []uuid.UUID
				if err := json.Unmarshal([]byte(x.rules), &followed); err != nil {
					return fmt.Errorf("trade %s followed rules: %w", x.id, err)
				}
				kept := followed[:0]
				for _, id := range followed {
					if keep[id] {
						kept = append(kept, id)
					}
				}
				if err := g.Exec("UPDATE trades SET followed_rules = ?, annotation_version = annotation_version + 1 WHERE id = ?", idsJSON(kept), x.id).Error; err != nil {
					return translate(err)
				}
			}
			return nil
		})
	})
}

// Delete implements journal.Playbooks: its trades lose it and the rules
// they followed (their annotation version moves).
func (s *Playbooks) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return deleteLabel(ctx, s.db, "playbooks", userID, id,
		"UPDATE trades SET playbook_id = NULL, followed_rules = '[]', annotation_version = annotation_version + 1 WHERE user_id = ? AND playbook_id = ?",
		apperr.New(apperr.NotFound, journal.CodePlaybookNotFound, "playbook not found"))
}

// ---- journal entries

const entryCols = "id, user_id, day, pre_market, post_market, mood, trade_ids, version, created_at, updated_at"

func scanEntry(r *sql.Rows) (*journal.Entry, error) {
	var e journal.Entry
	var day string
	var tradeIDs sql.NullString
	if err := r.Scan(&e.ID, &e.UserID, &day, &e.PreMarket, &e.PostMarket, &e.Mood, &tradeIDs, &e.Version, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	d, err := trading.ParseDate(day)
	if err != nil {
		return nil, fmt.Errorf("journal entry %s: day %q: %w", e.ID, day, err)
	}
	e.Date = d
	if tradeIDs.Valid {
		e.TradeIDs = []uuid.UUID{}
		if err := json.Unmarshal([]byte(tradeIDs.String), &e.TradeIDs); err != nil {
			return nil, fmt.Errorf("journal entry %s: trade ids: %w", e.ID, err)
		}
	}
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

// Get implements journal.Entries.
func (s *JournalEntries) Get(ctx context.Context, userID uuid.UUID, day trading.Date) (*journal.Entry, error) {
	return getOne(ctx, s.db, scanEntry, "get journal entry", func() error {
		return apperr.New(apperr.NotFound, journal.CodeEntryNotFound, "no journal entry for that day")
	}, "SELECT "+entryCols+" FROM journal_entries WHERE user_id = ? AND day = ?", userID, day.String())
}

// List implements journal.Entries.
func (s *JournalEntries) List(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]journal.Entry, error) {
	var out []journal.Entry
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			e, err := scanEntry(r)
			if err == nil {
				out = append(out, *e)
			}
			return err
		}, "SELECT "+entryCols+" FROM journal_entries WHERE user_id = ? AND day >= ? AND day <= ? ORDER BY day", userID, from.String(), to.String())
	})
	if err != nil {
		return nil, fmt.Errorf("list journal entries: %w", err)
	}
	return out, nil
}

// Put implements journal.Entries.
func (s *JournalEntries) Put(ctx context.Context, e *journal.Entry) error {
	var tradeIDs any
	if e.TradeIDs != nil {
		tradeIDs = idsJSON(e.TradeIDs)
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		if e.Version == 1 {
			err := g.Exec("INSERT INTO journal_entries ("+entryCols+") VALUES "+placeholders(1, 10), e.ID, e.UserID, e.Date.String(), e.PreMarket,
				e.PostMarket, e.Mood, tradeIDs, e.Version, normTime(e.CreatedAt), normTime(e.UpdatedAt)).Error
			if _, dup := uniqueViolation(err); dup {
				return apperr.Wrap(err, apperr.Conflict, journal.CodeVersionMismatch, "the day's entry was written meanwhile: reload it")
			}
			if err != nil {
				return fmt.Errorf("create journal entry: %w", translate(err))
			}
			return nil
		}
		res := g.Exec("UPDATE journal_entries SET pre_market = ?, post_market = ?, mood = ?, trade_ids = ?, version = ?, updated_at = ? WHERE user_id = ? AND id = ? AND version = ?",
			e.PreMarket, e.PostMarket, e.Mood, tradeIDs, e.Version, normTime(e.UpdatedAt), e.UserID, e.ID, e.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update journal entry: %w", translate(res.Error))
		}
		if res.RowsAffected == 1 {
			return nil
		}
		return missingOrStale(g, "journal_entries", "id = ? AND user_id = ?", []any{e.ID, e.UserID},
			apperr.New(apperr.NotFound, journal.CodeEntryNotFound, "no journal entry for that day"))
	})
}

// ---- attachments

const attachmentCols = "id, user_id, trade_id, journal_entry_id, blob_key, content_type, size_bytes, width, height, sha256, filename, created_at"

func scanAttachment(r *sql.Rows) (*journal.Attachment, error) {
	var a journal.Attachment
	var trade, entry uuid.NullUUID
	err := r.Scan(&a.ID, &a.UserID, &trade, &entry, &a.BlobKey, &a.ContentType, &a.Size, &a.Width, &a.Height, &a.SHA256, &a.Filename, &a.CreatedAt)
	a.TradeID, a.EntryID, a.CreatedAt = trade.UUID, entry.UUID, a.CreatedAt.UTC()
	return &a, translate(err)
}

// Create implements journal.Attachments.
func (s *Attachments) Create(ctx context.Context, a *journal.Attachment) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO attachments ("+attachmentCols+") VALUES "+placeholders(1, 12), a.ID, a.UserID, nullID(a.TradeID), nullID(a.EntryID),
			a.BlobKey, a.ContentType, a.Size, a.Width, a.Height, a.SHA256, a.Filename, normTime(a.CreatedAt)).Error
		if err != nil {
			return fmt.Errorf("create attachment: %w", translate(err))
		}
		return nil
	})
}

// Get implements journal.Attachments.
func (s *Attachments) Get(ctx context.Context, userID, id uuid.UUID) (*journal.Attachment, error) {
	return getOne(ctx, s.db, scanAttachment, "get attachment", func() error {
		return apperr.New(apperr.NotFound, journal.CodeAttachmentNotFound, "attachment not found")
	}, "SELECT "+attachmentCols+" FROM attachments WHERE user_id = ? AND id = ?", userID, id)
}

// List implements journal.Attachments.
func (s *Attachments) List(ctx context.Context, userID uuid.UUID, o journal.Owner) ([]journal.Attachment, error) {
	col, id := "trade_id", o.TradeID
	if o.TradeID == uuid.Nil {
		col, id = "journal_entry_id", o.EntryID
	}
	return s.list(ctx, "list attachments", col+" = ?", userID, id)
}

// OfEntries implements journal.Attachments.
func (s *Attachments) OfEntries(ctx context.Context, userID uuid.UUID, entryIDs []uuid.UUID) ([]journal.Attachment, error) {
	if len(entryIDs) == 0 {
		return nil, nil
	}
	return s.list(ctx, "list attachments of entries", "journal_entry_id IN ?", userID, ids(entryIDs))
}

// list reads the user's attachments matching cond (its one argument is
// arg) in upload order; what names the read in errors.
func (s *Attachments) list(ctx context.Context, what, cond string, userID uuid.UUID, arg any) ([]journal.Attachment, error) {
	var out []journal.Attachment
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			a, err := scanAttachment(r)
			if err == nil {
				out = append(out, *a)
			}
			return err
		}, "SELECT "+attachmentCols+" FROM attachments WHERE user_id = ? AND "+cond+" ORDER BY created_at, id", userID, arg)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// Delete implements journal.Attachments.
func (s *Attachments) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("DELETE FROM attachments WHERE user_id = ? AND id = ?", userID, id)
		if res.Error != nil {
			return fmt.Errorf("delete attachment: %w", translate(res.Error))
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, journal.CodeAttachmentNotFound, "attachment not found")
		}
		return nil
	})
}
