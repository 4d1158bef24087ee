package journal

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/uow"
)

// Limits.
const (
	MaxNameLen        = 60
	MaxTextBytes      = 64 << 10
	MaxRules          = 50
	MaxRuleLen        = 500 // characters
	MaxEntryTrades    = 200
	MaxEntryRangeDays = 366
)

var reColor = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// dayOutOfRange is the problem of a journal day outside 1970–2200, the
// years of every instant the store keeps (trades' times are nanoseconds
// since 1970): the same for reading, writing, uploading to and listing
// days, named after the parameter that carried it.
const dayOutOfRange = "must be between 1970 and 2200"

func dayInRange(d trading.Date) bool { return d.Year >= 1970 && d.Year <= 2200 }

func checkDay(field string, d trading.Date, fields map[string]string) {
	if !dayInRange(d) {
		fields[field] = dayOutOfRange
	}
}

// Config tunes the service.
type Config struct {
	// MaxAttachmentBytes bounds an upload (ATTACHMENT_MAX_BYTES, default
	// 5 MB).
	MaxAttachmentBytes int64
}

// Deps are the service's collaborators; all required but Log, Now, NewID.
type Deps struct {
	Tags        Tags
	Playbooks   Playbooks
	Entries     Entries
	Attachments Attachments
	Blobs       blob.Store
	Trades      TradeReader
	Accounts    AccountLocker
	Zones       trading.UserZones
	Versions    DataVersions
	Tx          uow.Runner
	Events      realtime.Publisher
	Log         *slog.Logger
	Now         func() time.Time
	NewID       func() uuid.UUID
}

// Service holds the journal's use cases. Writes bump the user's data
// version in their transaction and publish journal.updated (entries and
// their attachments) or trade.updated (a trade's attachments) after the
// commit.
type Service struct {
	cfg Config
	d   Deps
}

// NewService checks d and returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if d.Tags == nil || d.Playbooks == nil || d.Entries == nil || d.Attachments == nil || d.Blobs == nil || d.Trades == nil ||
		d.Accounts == nil || d.Zones == nil || d.Versions == nil || d.Tx == nil || d.Events == nil {
		return nil, errors.New("journal: NewService: a required dependency is nil")
	}
	if cfg.MaxAttachmentBytes <= 0 {
		cfg.MaxAttachmentBytes = DefaultMaxImageBytes
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.NewID == nil {
		d.NewID = func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	}
	return &Service{cfg: cfg, d: d}, nil
}

func (s *Service) now() time.Time { return s.d.Now().UTC() }

// event builds one realtime event of a write once the write's data version
// is known; every builder is a core/realtime constructor.
type event func(at time.Time, dataVersion int64) realtime.Event

// journalEvent is journal.updated about one journal item.
func journalEvent(userID uuid.UUID, entity string, id uuid.UUID, change string, day trading.Date) event {
	date := ""
	if !day.IsZero() {
		date = day.String()
	}
	return func(at time.Time, v int64) realtime.Event {
		return realtime.JournalUpdated(userID, at, entity, id, change, date, v)
	}
}

// tradeEvent is trade.updated about one trade's attachment.
func tradeEvent(userID uuid.UUID, t *trading.Trade, attachmentID uuid.UUID) event {
	return func(at time.Time, v int64) realtime.Event {
		return realtime.TradeChanged(realtime.TypeTradeUpdated, userID, at,
			realtime.TradeChange{TradeID: t.ID, AccountID: t.AccountID, DataVersion: v, AttachmentID: attachmentID})
	}
}

// write runs fn in a transaction with the data version bump; events queued
// by fn are published after the commit.
func (s *Service) write(ctx context.Context, userID uuid.UUID, fn func(ctx context.Context, emit func(event)) error) error {
	return s.d.Tx.Do(ctx, func(ctx context.Context) error {
		var events []event
		emit := func(e event) { events = append(events, e) }
		if err := fn(ctx, emit); errors.Is(err, errNoChange) {
			return nil // nothing written: no data version, no event
		} else if err != nil {
			return err
		}
		v, err := s.d.Versions.Bump(ctx, userID)
		if err != nil {
			return err
		}
		at := s.now()
		uow.AfterCommit(ctx, func(ctx context.Context) {
			for _, build := range events {
				e := build(at, v)
				if err := s.d.Events.Publish(ctx, e); err != nil {
					s.d.Log.WarnContext(ctx, "journal: publish event", slog.String("type", e.Type), slog.Any("error", err))
				}
			}
		})
		return nil
	})
}

// errNoChange is what a write's fn returns when the record is already as
// asked and it wrote nothing: write then succeeds without bumping the
// data version or publishing, and the record keeps its version (ETag),
// so another device holding it gets no needless 412.
var errNoChange = errors.New("journal: nothing to change")

// writeRetried is write, run again (up to staleRetries times) when it
// fails only because a concurrent write got there between its read and
// its save, and unconditional is true: a write without If-Match does not
// ask whether the record changed, so it must not fail because it did.
func (s *Service) writeRetried(ctx context.Context, userID uuid.UUID, unconditional bool, fn func(ctx context.Context, emit func(event)) error) error {
	for attempt := 0; ; attempt++ {
		err := s.write(ctx, userID, fn)
		if err == nil || !unconditional || attempt == staleRetries || apperr.CodeOf(err) != CodeVersionMismatch {
			return err
		}
	}
}

// staleRetries bounds writeRetried: each retry means another write of the
// same record committed meanwhile.
const staleRetries = 5

func stale() error {
	return apperr.New(apperr.Conflict, CodeVersionMismatch, "the record changed since it was read: reload it and try again")
}

func cleanName(field, s string, fields map[string]string) string {
	s = strings.Join(strings.Fields(s), " ")
	if s == "" || utf8.RuneCountInString(s) > MaxNameLen || !utf8.ValidString(s) {
		fields[field] = fmt.Sprintf("must be 1 to %d characters", MaxNameLen)
	}
	return s
}

func checkText(field, s string, fields map[string]string) {
	if len(s) > MaxTextBytes || !utf8.ValidString(s) {
		fields[field] = fmt.Sprintf("must be UTF-8 text of at most %d bytes", MaxTextBytes)
	}
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// ---- tags

// TagInput is a new tag; TagPatch changes one (nil fields stay).
type TagInput struct {
	Name  string
	Kind  TagKind
	Color string
}

// TagPatch changes a tag.
type TagPatch struct {
	Name  *string
	Kind  *TagKind
	Color *string
}

func validateTag(t *Tag) error {
	fields := map[string]string{}
	t.Name = cleanName("name", t.Name, fields)
	if !t.Kind.Valid() {
		fields["kind"] = "must be setup, mistake, emotion or custom"
	}
	if t.Color != "" && !reColor.MatchString(t.Color) {
		fields["color"] = "must be a colour such as #1e90ff"
	}
	t.Color = strings.ToLower(t.Color)
	if len(fields) > 0 {
		return apperr.Validation("invalid tag", fields)
	}
	return nil
}

// CreateTag creates a tag.
func (s *Service) CreateTag(ctx context.Context, userID uuid.UUID, in TagInput) (*Tag, error) {
	now := s.now()
	t := &Tag{ID: s.d.NewID(), UserID: userID, Name: in.Name, Kind: in.Kind, Color: in.Color, Version: 1, CreatedAt: now, UpdatedAt: now}
	if t.Kind == "" {
		t.Kind = Custom
	}
	if err := validateTag(t); err != nil {
		return nil, err
	}
	if err := s.write(ctx, userID, func(ctx context.Context, emit func(event)) error {
		emit(journalEvent(userID, realtime.JournalEntityTag, t.ID, realtime.ChangeCreated, trading.Date{}))
		return s.d.Tags.Create(ctx, t)
	}); err != nil {
		return nil, err
	}
	return t, nil
}

// GetTag returns a tag.
func (s *Service) GetTag(ctx context.Context, userID, id uuid.UUID) (*Tag, error) {
	return s.d.Tags.Get(ctx, userID, id)
}

// ListTags returns the user's tags, of one kind when kind is set.
func (s *Service) ListTags(ctx context.Context, userID uuid.UUID, kind TagKind) ([]Tag, error) {
	ts, err := s.d.Tags.List(ctx, userID)
	if err != nil || kind == "" {
		return ts, err
	}
	return slices.DeleteFunc(ts, func(t Tag) bool { return t.Kind != kind }), nil
}

// UpdateTag changes a tag if its version is still ifVersion (0: any).
func (s *Service) UpdateTag(ctx context.Context, userID, id uuid.UUID, p TagPatch, ifVersion int64) (*Tag, error) {
	var out *Tag
	err := s.writeRetried(ctx, userID, ifVersion == 0, func(ctx context.Context, emit func(event)) error {
		t, err := s.d.Tags.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		if ifVersion != 0 && t.Version != ifVersion {
			return stale()
		}
		before := *t
		set(&t.Name, p.Name)
		set(&t.Kind, p.Kind)
		set(&t.Color, p.Color)
		if err := validateTag(t); err != nil {
			return err
		}
		if *t == before {
			out = t
			return errNoChange
		}
		t.Version++
		t.UpdatedAt = s.now()
		out = t
		emit(journalEvent(userID, realtime.JournalEntityTag, t.ID, realtime.ChangeUpdated, trading.Date{}))
		return s.d.Tags.Update(ctx, t)
	})
	return out, err
}

// DeleteTag deletes a tag and takes it off every trade.
func (s *Service) DeleteTag(ctx context.Context, userID, id uuid.UUID) error {
	return s.write(ctx, userID, func(ctx context.Context, emit func(event)) error {
		// It takes the tag off trades: under their accounts' locks, so
		// that an annotation or rebuild adding it waits, then finds it
		// gone (or comes first, and loses it here).
		if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
			return err
		}
		emit(journalEvent(userID, realtime.JournalEntityTag, id, realtime.ChangeDeleted, trading.Date{}))
		return s.d.Tags.Delete(ctx, userID, id)
	})
}

// ---- playbooks

// PlaybookInput is a new playbook: its rules are texts (IDs are made).
type PlaybookInput struct {
	Name        string
	Description string
	Rules       []string
}

// PlaybookPatch changes a playbook. Rules, when set, replace the
// checklist: a rule with the ID of an existing rule keeps that ID (trades
// that followed it still do), one without an ID is new.
type PlaybookPatch struct {
	Name        *string
	Description *string
	Rules       *[]Rule
}

func validatePlaybook(p *Playbook) error {
	fields := map[string]string{}
	p.Name = cleanName("name", p.Name, fields)
	checkText("description", p.Description, fields)
	if len(p.Rules) > MaxRules {
		fields["rules"] = fmt.Sprintf("at most %d rules", MaxRules)
	}
	for i := range p.Rules {
		p.Rules[i].Text = strings.TrimSpace(p.Rules[i].Text)
		if p.Rules[i].Text == "" || utf8.RuneCountInString(p.Rules[i].Text) > MaxRuleLen || !utf8.ValidString(p.Rules[i].Text) {
			fields[fmt.Sprintf("rules[%d]", i)] = fmt.Sprintf("must be 1 to %d characters", MaxRuleLen)
		}
	}
	if len(fields) > 0 {
		return apperr.Validation("invalid playbook", fields)
	}
	return nil
}

// CreatePlaybook creates a playbook.
func (s *Service) CreatePlaybook(ctx context.Context, userID uuid.UUID, in PlaybookInput) (*Playbook, error) {
	now := s.now()
	p := &Playbook{ID: s.d.NewID(), UserID: userID, Name: in.Name, Description: in.Description, Version: 1, CreatedAt: now, UpdatedAt: now}
	for _, r := range in.Rules {
		p.Rules = append(p.Rules, Rule{ID: uuid.New(), Text: r})
	}
	if err := validatePlaybook(p); err != nil {
		return nil, err
	}
	if err := s.write(ctx, userID, func(ctx context.Context, emit func(event)) error {
		emit(journalEvent(userID, realtime.JournalEntityPlaybook, p.ID, realtime.ChangeCreated, trading.Date{}))
		return s.d.Playbooks.Create(ctx, p)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// GetPlaybook returns a playbook.
func (s *Service) GetPlaybook(ctx context.Context, userID, id uuid.UUID) (*Playbook, error) {
	return s.d.Playbooks.Get(ctx, userID, id)
}

// ListPlaybooks returns the user's playbooks.
func (s *Service) ListPlaybooks(ctx context.Context, userID uuid.UUID) ([]Playbook, error) {
	return s.d.Playbooks.List(ctx, userID)
}

// UpdatePlaybook changes a playbook if its version is still ifVersion.
func (s *Service) UpdatePlaybook(ctx context.Context, userID, id uuid.UUID, patch PlaybookPatch, ifVersion int64) (*Playbook, error) {
	var out *Playbook
	err := s.writeRetried(ctx, userID, ifVersion == 0, func(ctx context.Context, emit func(event)) error {
		// Removed rules are taken off the trades that followed them:
		// under the accounts' locks, as DeleteTag.
		if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
			return err
		}
		p, err := s.d.Playbooks.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		if ifVersion != 0 && p.Version != ifVersion {
			return stale()
		}
		before := *p
		set(&p.Name, patch.Name)
		set(&p.Description, patch.Description)
		if patch.Rules != nil {
			known := map[uuid.UUID]bool{}
			for _, r := range p.Rules {
				known[r.ID] = true
			}
			rules := make([]Rule, 0, len(*patch.Rules))
			for _, r := range *patch.Rules {
				if r.ID == uuid.Nil || !known[r.ID] {
					r.ID = uuid.New()
				}
				known[r.ID] = false // one use each
				rules = append(rules, r)
			}
			p.Rules = rules
		}
		if err := validatePlaybook(p); err != nil {
			return err
		}
		if p.Name == before.Name && p.Description == before.Description && slices.Equal(p.Rules, before.Rules) {
			out = p // rules sent back with their IDs and texts are no change
			return errNoChange
		}
		p.Version++
		p.UpdatedAt = s.now()
		out = p
		emit(journalEvent(userID, realtime.JournalEntityPlaybook, p.ID, realtime.ChangeUpdated, trading.Date{}))
		return s.d.Playbooks.Update(ctx, p)
	})
	return out, err
}

// DeletePlaybook deletes a playbook and clears it from every trade.
func (s *Service) DeletePlaybook(ctx context.Context, userID, id uuid.UUID) error {
	return s.write(ctx, userID, func(ctx context.Context, emit func(event)) error {
		if err := s.d.Accounts.LockAll(ctx, userID); err != nil { // as DeleteTag
			return err
		}
		emit(journalEvent(userID, realtime.JournalEntityPlaybook, id, realtime.ChangeDeleted, trading.Date{}))
		return s.d.Playbooks.Delete(ctx, userID, id)
	})
}

// ---- journal entries

// EntryView is a day's journal as shown: the entry (Version 0 when the
// day has none yet), the linked trades (the explicit choice, else the
// day's), and its attachments.
type EntryView struct {
	Entry       Entry
	Exists      bool
	TradeIDs    []uuid.UUID
	Attachments []Attachment
}

// EntryInput is what a PUT of a day writes. TradeIDs nil keeps the default
// (the day's trades).
type EntryInput struct {
	PreMarket  string
	PostMarket string
	Mood       int
	TradeIDs   []uuid.UUID
}

// GetEntry returns the journal of a day; a day outside 1970–2200 is
// apperr.Invalid naming "date" (as for PutEntry and UploadAttachment).
func (s *Service) GetEntry(ctx context.Context, userID uuid.UUID, day trading.Date) (*EntryView, error) {
	if !dayInRange(day) {
		return nil, apperr.Validation("invalid date", map[string]string{"date": dayOutOfRange})
	}
	v := &EntryView{Entry: Entry{UserID: userID, Date: day}}
	e, err := s.d.Entries.Get(ctx, userID, day)
	switch {
	case err == nil:
		v.Entry, v.Exists = *e, true
	case !apperr.Is(err, apperr.NotFound):
		return nil, err
	}
	if err := s.resolve(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

func (s *Service) resolve(ctx context.Context, v *EntryView) error {
	return s.resolveAll(ctx, v.Entry.UserID, []*EntryView{v})
}

// resolveAll fills the linked trades and the attachments of one user's
// views, the same for one day (GetEntry) as for a list (ListEntries), in
// at most four reads whatever the number of views: which chosen trades
// still exist, the user's zone and the trades of the days that keep the
// default links, and the attachments of the entries that exist.
//
// A chosen trade that was deleted since is left out here, on read, rather
// than taken out of the entries when it goes: trades go in many ways (a
// trade's or a fill's delete, a rebuild that leaves a stored trade
// unclaimed or merges it into another, an account's delete by a database
// trigger), all in core/trading, which knows nothing of the journal. A
// trade keeps its id across rebuilds and a gone id never comes back
// (Reconcile gives new trades new ids), so "is it still a trade of the
// user's?" is exact at any read, and no path can be missed.
func (s *Service) resolveAll(ctx context.Context, userID uuid.UUID, views []*EntryView) error {
	var defaults []*EntryView
	var entryIDs, chosen []uuid.UUID
	for _, v := range views {
		v.TradeIDs, v.Attachments = []uuid.UUID{}, []Attachment{}
		if v.Entry.TradeIDs != nil {
			chosen = append(chosen, v.Entry.TradeIDs...)
		} else {
			defaults = append(defaults, v)
		}
		if v.Exists {
			entryIDs = append(entryIDs, v.Entry.ID)
		}
	}
	if len(chosen) > 0 {
		slices.SortFunc(chosen, func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
		ids, err := s.d.Trades.Existing(ctx, userID, slices.Compact(chosen))
		if err != nil {
			return err
		}
		live := make(map[uuid.UUID]bool, len(ids))
		for _, id := range ids {
			live[id] = true
		}
		for _, v := range views {
			for _, id := range v.Entry.TradeIDs {
				if live[id] && !slices.Contains(v.TradeIDs, id) { // a merge may have named its survivor twice
					v.TradeIDs = append(v.TradeIDs, id)
				}
			}
		}
	}
	if len(defaults) > 0 {
		days := make([]trading.Date, len(defaults))
		for i, v := range defaults {
			days[i] = v.Entry.Date
		}
		byDay, err := s.dayTrades(ctx, userID, days)
		if err != nil {
			return err
		}
		for _, v := range defaults {
			if ids := byDay[v.Entry.Date]; ids != nil {
				v.TradeIDs = ids
			}
		}
	}
	if len(entryIDs) > 0 {
		atts, err := s.d.Attachments.OfEntries(ctx, userID, entryIDs)
		if err != nil {
			return err
		}
		byEntry := make(map[uuid.UUID][]Attachment, len(entryIDs))
		for _, a := range atts {
			byEntry[a.EntryID] = append(byEntry[a.EntryID], a)
		}
		for _, v := range views {
			if l := byEntry[v.Entry.ID]; v.Exists && l != nil {
				v.Attachments = l
			}
		}
	}
	return nil
}

// dayTrades are, for each of days, the trades closed that day and then
// those still open that were opened that day (in the user's time zone;
// each by opening, at most MaxEntryTrades of either), read in one go for
// the days' whole span.
func (s *Service) dayTrades(ctx context.Context, userID uuid.UUID, days []trading.Date) (map[trading.Date][]uuid.UUID, error) {
	loc, err := s.d.Zones.Location(ctx, userID)
	if err != nil {
		return nil, err
	}
	first, last := days[0], days[0]
	for _, d := range days[1:] {
		if d.Before(first) {
			first = d
		}
		if last.Before(d) {
			last = d
		}
	}
	// starts[i] is the first instant of first+i; starts[n] the end of last.
	var starts []time.Time
	for d := first; !last.Before(d); d = d.AddDays(1) {
		starts = append(starts, d.Start(loc))
	}
	starts = append(starts, last.AddDays(1).Start(loc))
	ts, err := s.d.Trades.InWindow(ctx, userID, starts[0], starts[len(starts)-1])
	if err != nil {
		return nil, err
	}
	closed := map[trading.Date][]uuid.UUID{}
	open := map[trading.Date][]uuid.UUID{}
	for _, t := range ts {
		at, into := t.ClosedAt, closed
		if t.Status == trading.Open {
			at, into = t.OpenedAt, open
		}
		// The day whose start is the last at or before at.
		i := sort.Search(len(starts), func(i int) bool { return starts[i].After(at) }) - 1
		if i < 0 || i >= len(starts)-1 {
			continue
		}
		d := first.AddDays(i)
		if len(into[d]) < MaxEntryTrades {
			into[d] = append(into[d], t.ID)
		}
	}
	out := make(map[trading.Date][]uuid.UUID, len(days))
	for _, d := range days {
		if ids := append(closed[d], open[d]...); len(ids) > 0 {
			out[d] = ids
		}
	}
	return out, nil
}

// PutEntry writes the journal of a day if its version is still ifVersion
// (0: create or overwrite whatever is there; negative: create only, the
// day must have no entry yet, which HTTP's If-Match "0" asks for). Linked
// trades must be the user's.
func (s *Service) PutEntry(ctx context.Context, userID uuid.UUID, day trading.Date, in EntryInput, ifVersion int64) (*EntryView, error) {
	fields := map[string]string{}
	checkText("pre_market", in.PreMarket, fields)
	checkText("post_market", in.PostMarket, fields)
	if in.Mood < 0 || in.Mood > 5 {
		fields["mood"] = "must be 1 to 5"
	}
	if len(in.TradeIDs) > MaxEntryTrades {
		fields["trade_ids"] = fmt.Sprintf("at most %d trades", MaxEntryTrades)
	}
	checkDay("date", day, fields)
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid journal entry", fields)
	}
	var out *EntryView
	err := s.writeRetried(ctx, userID, ifVersion == 0, func(ctx context.Context, emit func(event)) error {
		if len(in.TradeIDs) > 0 {
			// The trades chosen are checked, and the entry written, under
			// their accounts' locks: a rebuild merging one of them into
			// another re-points the entry to the survivor, and must see
			// it (or come first, and the check fails on the merged one).
			if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
				return err
			}
		}
		for _, id := range in.TradeIDs {
			if _, err := s.d.Trades.Get(ctx, userID, id); err != nil {
				return err
			}
		}
		now := s.now()
		e, err := s.d.Entries.Get(ctx, userID, day)
		switch {
		case apperr.Is(err, apperr.NotFound):
			if ifVersion > 0 {
				return stale()
			}
			e = &Entry{ID: s.d.NewID(), UserID: userID, Date: day, CreatedAt: now}
		case err != nil:
			return err
		case ifVersion != 0 && e.Version != ifVersion:
			return stale()
		}
		var chosen []uuid.UUID // nil: the day's trades
		if in.TradeIDs != nil {
			chosen = dedupe(in.TradeIDs)
		}
		if e.Version > 0 && e.PreMarket == in.PreMarket && e.PostMarket == in.PostMarket && e.Mood == in.Mood &&
			(e.TradeIDs == nil) == (chosen == nil) && slices.Equal(e.TradeIDs, chosen) {
			out = &EntryView{Entry: *e, Exists: true} // as written already: the version stays
			if err := s.resolve(ctx, out); err != nil {
				return err
			}
			return errNoChange
		}
		e.PreMarket, e.PostMarket, e.Mood, e.TradeIDs = in.PreMarket, in.PostMarket, in.Mood, chosen
		e.Version++
		e.UpdatedAt = now
		if err := s.d.Entries.Put(ctx, e); err != nil {
			return err
		}
		out = &EntryView{Entry: *e, Exists: true}
		change := realtime.ChangeUpdated
		if e.Version == 1 {
			change = realtime.ChangeCreated
		}
		emit(journalEvent(userID, realtime.JournalEntityDailyEntry, e.ID, change, day))
		return s.resolve(ctx, out)
	})
	return out, err
}

func dedupe(ids []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// ListEntries returns the entries of days from..to (inclusive, so at most
// MaxEntryRangeDays days, to at most MaxEntryRangeDays−1 days after from)
// by date, each as GetEntry shows it (linked trades and attachments), in a
// bounded number of reads whatever the number of days.
func (s *Service) ListEntries(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]EntryView, error) {
	fields := map[string]string{}
	checkDay("from", from, fields)
	checkDay("to", to, fields)
	if len(fields) > 0 {
		return nil, apperr.Validation("invalid range", fields)
	}
	if to.Before(from) || from.AddDays(MaxEntryRangeDays-1).Before(to) {
		return nil, apperr.Validation("invalid range", map[string]string{"to": fmt.Sprintf("must be on or after from, the range at most %d days (from and to included)", MaxEntryRangeDays)})
	}
	es, err := s.d.Entries.List(ctx, userID, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]EntryView, len(es))
	views := make([]*EntryView, len(es))
	for i := range es {
		out[i] = EntryView{Entry: es[i], Exists: true}
		views[i] = &out[i]
	}
	if err := s.resolveAll(ctx, userID, views); err != nil {
		return nil, err
	}
	return out, nil
}

// ---- attachments

// Upload is an attachment to store: on a trade (TradeID) or on the journal
// entry of a day (Day; the entry is created when the day has none).
type Upload struct {
	TradeID  uuid.UUID
	Day      trading.Date
	Filename string
	Body     io.Reader
}

var reUnsafeName = regexp.MustCompile(`[^\p{L}\p{N} ._()\-]+`)

func cleanFilename(s string) string {
	s = path.Base(strings.ReplaceAll(s, `\`, "/"))
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	s = reUnsafeName.ReplaceAllString(s, "_")
	if s == "." || s == "/" {
		s = ""
	}
	if len(s) > 120 {
		s = s[:120]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// UploadAttachment reads at most MaxAttachmentBytes of u.Body (apperr.Invalid
// "attachment_too_large" beyond, which HTTP answers with 413), sanitises
// the image (see SanitizeImage), stores it in the blob store and its
// metadata in the database. The owner must be the user's; a day is one
// GetEntry and PutEntry accept (1970–2200, else apperr.Invalid naming
// "date").
func (s *Service) UploadAttachment(ctx context.Context, userID uuid.UUID, u Upload) (*Attachment, error) {
	if (u.TradeID == uuid.Nil) == u.Day.IsZero() {
		return nil, apperr.Validation("invalid attachment", map[string]string{"owner": "attach to exactly one of a trade or a journal day"})
	}
	if !u.Day.IsZero() && !dayInRange(u.Day) {
		// The day GetEntry and PutEntry refuse gets no entry by an upload.
		return nil, apperr.Validation("invalid attachment", map[string]string{"date": dayOutOfRange})
	}
	raw, err := io.ReadAll(io.LimitReader(u.Body, s.cfg.MaxAttachmentBytes+1))
	if err != nil {
		return nil, fmt.Errorf("journal: read the upload: %w", err)
	}
	if int64(len(raw)) > s.cfg.MaxAttachmentBytes {
		return nil, apperr.New(apperr.Invalid, CodeAttachmentTooLarge, fmt.Sprintf("attachments are at most %d bytes", s.cfg.MaxAttachmentBytes))
	}
	img, err := SanitizeImage(raw)
	if err != nil {
		return nil, err
	}
	// The owner is checked before the blob is written, and again in the
	// transaction that records it.
	if u.TradeID != uuid.Nil {
		if _, err := s.d.Trades.Get(ctx, userID, u.TradeID); err != nil {
			return nil, err
		}
	}
	sum := sha256.Sum256(img.Data)
	a := &Attachment{ID: s.d.NewID(), UserID: userID, TradeID: u.TradeID, ContentType: img.ContentType, Size: int64(len(img.Data)),
		Width: img.Width, Height: img.Height, SHA256: hex.EncodeToString(sum[:]), Filename: cleanFilename(u.Filename), CreatedAt: s.now()}
	a.BlobKey = fmt.Sprintf("attachments/%s/%s.%s", userID, a.ID, img.Ext)
	if err := s.d.Blobs.Put(ctx, a.BlobKey, bytes.NewReader(img.Data), a.Size, a.ContentType); err != nil {
		return nil, err
	}
	// Unconditional: a day's entry created meanwhile by another write is
	// simply the one the attachment joins.
	err = s.writeRetried(ctx, userID, true, func(ctx context.Context, emit func(event)) error {
		if u.TradeID != uuid.Nil {
			// Under the accounts' locks, as PutEntry: a merge re-points
			// the trade's attachments to the survivor.
			if err := s.d.Accounts.LockAll(ctx, userID); err != nil {
				return err
			}
			t, err := s.d.Trades.Get(ctx, userID, u.TradeID)
			if err != nil {
				return err
			}
			emit(tradeEvent(userID, t, a.ID))
		} else {
			e, err := s.d.Entries.Get(ctx, userID, u.Day)
			if apperr.Is(err, apperr.NotFound) {
				now := s.now()
				e = &Entry{ID: s.d.NewID(), UserID: userID, Date: u.Day, Version: 1, CreatedAt: now, UpdatedAt: now}
				err = s.d.Entries.Put(ctx, e)
				if err == nil {
					emit(journalEvent(userID, realtime.JournalEntityDailyEntry, e.ID, realtime.ChangeCreated, u.Day))
				}
			}
			if err != nil {
				return err
			}
			a.EntryID = e.ID
			emit(journalEvent(userID, realtime.JournalEntityAttachment, a.ID, realtime.ChangeCreated, u.Day))
		}
		return s.d.Attachments.Create(ctx, a)
	})
	if err != nil {
		// The metadata is not there: the blob must not be either.
		if derr := s.d.Blobs.Delete(context.WithoutCancel(ctx), a.BlobKey); derr != nil {
			s.d.Log.WarnContext(ctx, "journal: orphan attachment blob", slog.String("key", a.BlobKey), slog.Any("error", derr))
		}
		return nil, err
	}
	return a, nil
}

// GetAttachment returns an attachment's metadata.
func (s *Service) GetAttachment(ctx context.Context, userID, id uuid.UUID) (*Attachment, error) {
	return s.d.Attachments.Get(ctx, userID, id)
}

// OpenAttachment returns the content of one of the user's attachments
// (the caller closes it) with its metadata.
func (s *Service) OpenAttachment(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *Attachment, error) {
	a, err := s.d.Attachments.Get(ctx, userID, id)
	if err != nil {
		return nil, nil, err
	}
	rc, _, err := s.d.Blobs.Open(ctx, a.BlobKey)
	if err != nil {
		return nil, nil, err
	}
	return rc, a, nil
}

// ListAttachments returns the attachments of a trade or an entry.
func (s *Service) ListAttachments(ctx context.Context, userID uuid.UUID, o Owner) ([]Attachment, error) {
	return s.d.Attachments.List(ctx, userID, o)
}

// DeleteAttachment deletes an attachment; its blob is deleted after the
// commit.
func (s *Service) DeleteAttachment(ctx context.Context, userID, id uuid.UUID) error {
	return s.write(ctx, userID, func(ctx context.Context, emit func(event)) error {
		a, err := s.d.Attachments.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		if err := s.d.Attachments.Delete(ctx, userID, id); err != nil {
			return err
		}
		switch {
		case a.TradeID != uuid.Nil:
			t, err := s.d.Trades.Get(ctx, userID, a.TradeID)
			if err != nil && !apperr.Is(err, apperr.NotFound) {
				return err
			}
			if err == nil {
				emit(tradeEvent(userID, t, a.ID))
			}
		case a.EntryID != uuid.Nil:
			// The attachment names its entry, not the entry's day.
			emit(journalEvent(userID, realtime.JournalEntityAttachment, a.ID, realtime.ChangeDeleted, trading.Date{}))
		}
		uow.AfterCommit(ctx, func(ctx context.Context) {
			if err := s.d.Blobs.Delete(ctx, a.BlobKey); err != nil {
				s.d.Log.WarnContext(ctx, "journal: delete attachment blob", slog.String("key", a.BlobKey), slog.Any("error", err))
			}
		})
		return nil
	})
}
