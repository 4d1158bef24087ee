// Package journaltest is the contract suite of the journal repositories,
// run through journal.Service (with the trading stores of the same
// database) against every adapter.
package journaltest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// Stores are the repositories under test, over one empty database.
type Stores struct {
	Trading     tradingtest.Stores
	Tags        journal.Tags
	Playbooks   journal.Playbooks
	Entries     journal.Entries
	Attachments journal.Attachments
	Blobs       blob.Store
	// BlobCount reports how many blobs the store holds (optional).
	BlobCount func() int
}

// Factory returns stores over an empty database.
type Factory func(t *testing.T) Stores

// Env is a journal.Service and a trading.Service over Stores.
type Env struct {
	Stores
	Trading *tradingtest.Env
	Events  *tradingtest.Publisher
	Svc     *journal.Service
}

// NewEnv builds an Env; attachments are capped at maxBytes.
func NewEnv(t testing.TB, st Stores, maxBytes int64) *Env {
	t.Helper()
	tr := tradingtest.NewEnv(t, st.Trading)
	e := &Env{Stores: st, Trading: tr, Events: &tradingtest.Publisher{}}
	svc, err := journal.NewService(journal.Config{MaxAttachmentBytes: maxBytes}, journal.Deps{
		Tags: st.Tags, Playbooks: st.Playbooks, Entries: st.Entries, Attachments: st.Attachments, Blobs: st.Blobs,
		Trades: st.Trading.Trades, Accounts: st.Trading.Accounts, Versions: st.Trading.Versions, Tx: st.Trading.Tx, Events: e.Events,
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return tr.Zone, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e
}

// isField reports whether err is a validation error naming field.
func isField(err error, field string) bool {
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid {
		return false
	}
	_, named := e.Fields[field]
	return named
}

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && (code == "" || e.Code == code)
}

// JPEGWithEXIF is a small JPEG with an APP1 Exif segment holding GPS
// coordinates and a camera model.
func JPEGWithEXIF(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := range 30 {
		for x := range 40 {
			img.Set(x, y, color.RGBA{uint8(x * 6), uint8(y * 8), 120, 255})
		}
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, img, nil); err != nil {
		t.Fatal(err)
	}
	payload := []byte("Exif\x00\x00MM\x00\x2aGPSLatitude=48.8584N GPSLongitude=2.2945E Model=SecretCam")
	seg := []byte{0xff, 0xe1, 0, 0}
	binary.BigEndian.PutUint16(seg[2:], uint16(len(payload)+2))
	b := plain.Bytes()
	out := append(append(append([]byte{}, b[:2]...), seg...), payload...)
	return append(out, b[2:]...)
}

// trade makes a closed AAPL trade for a new user, opened and closed on
// Monday 2 March 2026 in New York.
func (e *Env) trade(t *testing.T) (uuid.UUID, *trading.Trade) {
	t.Helper()
	ctx := context.Background()
	u := e.Trading.NewUser(t)
	a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	d := decimal.RequireFromString
	res, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("10"), Price: d("100"), ExecutedAt: at},
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("10"), Price: d("101"), ExecutedAt: at.Add(time.Hour)},
	}, trading.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return u, &res.Trades[0]
}

var monday = trading.Date{Year: 2026, Month: time.March, Day: 2}

// Run runs the suite.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("Tags", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		other := e.Trading.NewUser(t)
		fomo, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "  FOMO ", Kind: journal.Emotion, Color: "#FF0000"})
		if err != nil || fomo.Name != "FOMO" || fomo.Color != "#ff0000" || fomo.Version != 1 {
			t.Fatalf("CreateTag = %+v, %v", fomo, err)
		}
		if _, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "fomo", Kind: journal.Emotion}); !isCode(err, apperr.Conflict, journal.CodeTagNameTaken) {
			t.Fatalf("same name and kind = %v", err)
		}
		setup, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "fomo", Kind: journal.Setup})
		if err != nil {
			t.Fatalf("same name, other kind: %v", err)
		}
		for _, in := range []journal.TagInput{{Name: ""}, {Name: "x", Kind: "mood"}, {Name: "x", Color: "red"}, {Name: strings.Repeat("x", 61)}} {
			if _, err := e.Svc.CreateTag(ctx, u, in); !isCode(err, apperr.Invalid, "") {
				t.Errorf("CreateTag(%+v) = %v", in, err)
			}
		}
		if l, _ := e.Svc.ListTags(ctx, u, journal.Emotion); len(l) != 1 || l[0].ID != fomo.ID {
			t.Fatalf("ListTags(emotion) = %+v", l)
		}
		name := "Fear of missing out"
		if _, err := e.Svc.UpdateTag(ctx, u, fomo.ID, journal.TagPatch{Name: &name}, 9); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("stale UpdateTag = %v", err)
		}
		up, err := e.Svc.UpdateTag(ctx, u, fomo.ID, journal.TagPatch{Name: &name}, 1)
		if err != nil || up.Version != 2 || up.Name != name {
			t.Fatalf("UpdateTag = %+v, %v", up, err)
		}
		for _, f := range []func() error{
			func() error { _, err := e.Svc.GetTag(ctx, other, fomo.ID); return err },
			func() error {
				_, err := e.Svc.UpdateTag(ctx, other, fomo.ID, journal.TagPatch{Name: &name}, 0)
				return err
			},
			func() error { return e.Svc.DeleteTag(ctx, other, fomo.ID) },
		} {
			if err := f(); !isCode(err, apperr.NotFound, journal.CodeTagNotFound) {
				t.Fatalf("another user's tag = %v", err)
			}
		}
		// Deleting a tag takes it off the trades.
		tagged, err := e.Trading.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{TagIDs: &[]uuid.UUID{fomo.ID, setup.ID}}, 0)
		if err != nil {
			t.Fatal(err)
		}
		v0, _ := e.Trading.Svc.DataVersion(ctx, u)
		if err := e.Svc.DeleteTag(ctx, u, fomo.ID); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Trading.Svc.GetTrade(ctx, u, tr.ID)
		// The trade's annotation changed: its version (the ETag) moves,
		// so a device holding the old one cannot write the tag back.
		if !slices.Equal(got.Annotation.TagIDs, []uuid.UUID{setup.ID}) || got.Annotation.Version != tagged.Annotation.Version+1 {
			t.Fatalf("trade tags after delete = %v, version %d (was %d)", got.Annotation.TagIDs, got.Annotation.Version, tagged.Annotation.Version)
		}
		if v, _ := e.Trading.Svc.DataVersion(ctx, u); v <= v0 {
			t.Fatal("deleting a tag did not bump the data version")
		}
		if _, err := e.Svc.GetTag(ctx, u, fomo.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatal("deleted tag still there")
		}
	})

	t.Run("Playbooks", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		other := e.Trading.NewUser(t)
		pb, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "Opening range breakout", Description: "**15m** range", Rules: []string{"wait 15m", "volume > 2x", "stop below range"}})
		if err != nil || len(pb.Rules) != 3 || pb.Rules[0].ID == uuid.Nil {
			t.Fatalf("CreatePlaybook = %+v, %v", pb, err)
		}
		if _, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "OPENING RANGE BREAKOUT"}); !isCode(err, apperr.Conflict, journal.CodePlaybookNameTaken) {
			t.Fatalf("same name = %v", err)
		}
		pbID := pb.ID
		if _, err := e.Trading.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pbID,
			FollowedRules: &[]uuid.UUID{pb.Rules[0].ID, pb.Rules[1].ID}}, 0); err != nil {
			t.Fatal(err)
		}
		// Editing the checklist keeps the IDs of kept rules and drops the
		// removed rule from trades.
		rules := []journal.Rule{{ID: pb.Rules[0].ID, Text: "wait 15 minutes"}, {Text: "no news day"}}
		up, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Rules: &rules}, 1)
		if err != nil || up.Version != 2 || len(up.Rules) != 2 || up.Rules[0].ID != pb.Rules[0].ID || up.Rules[1].ID == uuid.Nil {
			t.Fatalf("UpdatePlaybook = %+v, %v", up, err)
		}
		got, _ := e.Trading.Svc.GetTrade(ctx, u, tr.ID)
		if !slices.Equal(got.Annotation.FollowedRules, []uuid.UUID{pb.Rules[0].ID}) {
			t.Fatalf("followed rules after the edit = %v", got.Annotation.FollowedRules)
		}
		if _, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Rules: &rules}, 1); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("stale UpdatePlaybook = %v", err)
		}
		if _, err := e.Svc.GetPlaybook(ctx, other, pb.ID); !isCode(err, apperr.NotFound, journal.CodePlaybookNotFound) {
			t.Fatalf("another user's playbook = %v", err)
		}
		if err := e.Svc.DeletePlaybook(ctx, other, pb.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's delete = %v", err)
		}
		if err := e.Svc.DeletePlaybook(ctx, u, pb.ID); err != nil {
			t.Fatal(err)
		}
		got, _ = e.Trading.Svc.GetTrade(ctx, u, tr.ID)
		if got.Annotation.PlaybookID != uuid.Nil || len(got.Annotation.FollowedRules) != 0 {
			t.Fatalf("trade keeps a deleted playbook: %+v", got.Annotation)
		}
		if l, _ := e.Svc.ListPlaybooks(ctx, u); len(l) != 0 {
			t.Fatalf("ListPlaybooks = %+v", l)
		}
	})

	t.Run("Entries", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		other := e.Trading.NewUser(t)
		v, err := e.Svc.GetEntry(ctx, u, monday)
		if err != nil || v.Exists || v.Entry.Version != 0 || !slices.Equal(v.TradeIDs, []uuid.UUID{tr.ID}) {
			t.Fatalf("empty day = %+v, %v; want the day's trade by default", v, err)
		}
		if v, _ := e.Svc.GetEntry(ctx, u, monday.AddDays(1)); len(v.TradeIDs) != 0 {
			t.Fatalf("the next day lists %v", v.TradeIDs)
		}
		put, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{PreMarket: "# Plan\nORB only", Mood: 4}, 0)
		if err != nil || !put.Exists || put.Entry.Version != 1 || !slices.Equal(put.TradeIDs, []uuid.UUID{tr.ID}) {
			t.Fatalf("PutEntry = %+v, %v", put, err)
		}
		evs := e.Events.Take()
		if len(evs) != 1 || evs[0].Type != realtime.TypeJournalUpdated || evs[0].Payload["date"] != "2026-03-02" ||
			evs[0].Payload["entity"] != realtime.JournalEntityDailyEntry || evs[0].Payload["entity_id"] != put.Entry.ID.String() ||
			evs[0].Payload["change"] != realtime.ChangeCreated || evs[0].Payload["data_version"] == nil || evs[0].ID.Version() != 7 {
			t.Fatalf("events %+v", evs)
		}
		// Two devices read version 1; the first write wins, the second is
		// refused instead of overwriting it.
		a, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{PreMarket: "# Plan\nORB only", PostMarket: "phone: good day", Mood: 4}, 1)
		if err != nil || a.Entry.Version != 2 {
			t.Fatalf("first device = %+v, %v", a, err)
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{PostMarket: "laptop: bad day"}, 1); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("second device = %v; want version_mismatch", err)
		}
		got, _ := e.Svc.GetEntry(ctx, u, monday)
		if got.Entry.PostMarket != "phone: good day" || got.Entry.Version != 2 {
			t.Fatalf("stored entry = %+v", got.Entry)
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday.AddDays(5), journal.EntryInput{}, 3); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("If-Match on a day without entry = %v", err)
		}
		// Create-only (negative version): refused over an entry, allowed once on an empty day.
		if _, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{PostMarket: "create only"}, -1); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("create-only over an entry = %v", err)
		}
		if v, err := e.Svc.PutEntry(ctx, u, monday.AddDays(-30), journal.EntryInput{Mood: 1}, -1); err != nil || v.Entry.Version != 1 {
			t.Fatalf("create-only on an empty day = %+v, %v", v, err)
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday.AddDays(-30), journal.EntryInput{Mood: 2}, -1); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Fatalf("second create-only = %v", err)
		}
		// Explicit links: none, then another user's trade is refused.
		none, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{TradeIDs: []uuid.UUID{}}, 2)
		if err != nil || len(none.TradeIDs) != 0 || none.Entry.TradeIDs == nil {
			t.Fatalf("explicit empty links = %+v, %v", none, err)
		}
		_, foreign := e.trade(t)
		if _, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{TradeIDs: []uuid.UUID{foreign.ID}}, 0); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's trade = %v", err)
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{Mood: 9}, 0); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("mood 9 = %v", err)
		}
		if v, _ := e.Svc.GetEntry(ctx, other, monday); v.Exists {
			t.Fatal("another user sees the entry")
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday.AddDays(2), journal.EntryInput{Mood: 2}, 0); err != nil {
			t.Fatal(err)
		}
		l, err := e.Svc.ListEntries(ctx, u, monday, monday.AddDays(7))
		if err != nil || len(l) != 2 || l[0].Entry.Date != monday || l[1].Entry.Date != monday.AddDays(2) {
			t.Fatalf("ListEntries = %+v, %v", l, err)
		}
		if _, err := e.Svc.ListEntries(ctx, u, monday, monday.AddDays(400)); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("a long range = %v", err)
		}
		// A day outside 1970–2200 is refused, named "date" (or "from"/"to"
		// in a list), by every use case.
		old := trading.Date{Year: 1960, Month: time.June, Day: 1}
		if _, err := e.Svc.GetEntry(ctx, u, old); !isField(err, "date") {
			t.Fatalf("GetEntry(1960) = %v; want invalid date", err)
		}
		if _, err := e.Svc.PutEntry(ctx, u, old, journal.EntryInput{Mood: 1}, 0); !isField(err, "date") {
			t.Fatalf("PutEntry(1960) = %v; want invalid date", err)
		}
		if _, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: old, Filename: "x.jpg", Body: bytes.NewReader(JPEGWithEXIF(t))}); !isField(err, "date") {
			t.Fatalf("UploadAttachment(1960) = %v; want invalid date", err)
		}
		if _, err := e.Entries.Get(ctx, u, old); !isCode(err, apperr.NotFound, journal.CodeEntryNotFound) {
			t.Fatalf("a refused upload left an entry of 1960: %v", err)
		}
		if _, err := e.Svc.ListEntries(ctx, u, old, monday); !isField(err, "from") {
			t.Fatalf("ListEntries(1960, …) = %v; want invalid from", err)
		}
		// from..to is inclusive: 366 days at most, to 365 days after from.
		if l, err := e.Svc.ListEntries(ctx, u, monday, monday.AddDays(journal.MaxEntryRangeDays-1)); err != nil || len(l) != 2 {
			t.Fatalf("a range of %d days = %+v, %v", journal.MaxEntryRangeDays, l, err)
		}
		if _, err := e.Svc.ListEntries(ctx, u, monday, monday.AddDays(journal.MaxEntryRangeDays)); !isCode(err, apperr.Invalid, "") {
			t.Fatalf("a range of %d days = %v; want it refused", journal.MaxEntryRangeDays+1, err)
		}
	})

	t.Run("ANoOpKeepsTheVersion", func(t *testing.T) {
		// A write that changes nothing keeps the record's version (ETag),
		// writes nothing (updated_at stays), bumps no data version and
		// publishes nothing: another device holding the version gets no
		// needless 412.
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		tag, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "FOMO", Kind: journal.Emotion, Color: "#ff0000"})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "ORB", Description: "range", Rules: []string{"wait", "stop"}})
		if err != nil {
			t.Fatal(err)
		}
		in := journal.EntryInput{PreMarket: "plan", PostMarket: "review", Mood: 3, TradeIDs: []uuid.UUID{tr.ID}}
		day, err := e.Svc.PutEntry(ctx, u, monday, in, 0)
		if err != nil {
			t.Fatal(err)
		}
		dflt, err := e.Svc.PutEntry(ctx, u, monday.AddDays(1), journal.EntryInput{Mood: 1}, 0) // trades by default
		if err != nil {
			t.Fatal(err)
		}
		// The stored records as read back (timestamps at the store's precision).
		tagRead, _ := e.Svc.GetTag(ctx, u, tag.ID)
		pbRead, _ := e.Svc.GetPlaybook(ctx, u, pb.ID)
		dayRead, _ := e.Svc.GetEntry(ctx, u, monday)
		e.Events.Take()
		v0, _ := e.Trading.Svc.DataVersion(ctx, u)
		sameName, upper, sameKind := " FOMO  ", "#FF0000", journal.Emotion
		sameRules := slices.Clone(pb.Rules)
		noop := map[string]func() (int64, error){
			"tag {}": func() (int64, error) {
				got, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{}, tag.Version)
				return vt(got, err)
			},
			"tag with its name, colour and kind": func() (int64, error) {
				got, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{Name: &sameName, Color: &upper, Kind: &sameKind}, 0)
				return vt(got, err)
			},
			"playbook {}": func() (int64, error) {
				got, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{}, pb.Version)
				return vp(got, err)
			},
			"playbook with its rules": func() (int64, error) {
				got, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Name: &pb.Name, Rules: &sameRules}, 0)
				return vp(got, err)
			},
			"day with its content": func() (int64, error) {
				got, err := e.Svc.PutEntry(ctx, u, monday, in, day.Entry.Version)
				return ve(got, err)
			},
			"day with its content, unconditional": func() (int64, error) {
				got, err := e.Svc.PutEntry(ctx, u, monday, in, 0)
				return ve(got, err)
			},
			"day of the default trades": func() (int64, error) {
				got, err := e.Svc.PutEntry(ctx, u, monday.AddDays(1), journal.EntryInput{Mood: 1}, 0)
				return ve(got, err)
			},
		}
		want := map[string]int64{"tag": tag.Version, "playbook": pb.Version, "day": day.Entry.Version}
		for name, f := range noop {
			v, err := f()
			w := want[strings.Fields(name)[0]]
			if name == "day of the default trades" {
				w = dflt.Entry.Version
			}
			if err != nil || v != w {
				t.Errorf("%s: version %d, %v; want %d kept", name, v, err, w)
			}
		}
		if v, _ := e.Trading.Svc.DataVersion(ctx, u); v != v0 {
			t.Errorf("no-op writes moved the data version %d → %d", v0, v)
		}
		if evs := e.Events.Take(); len(evs) != 0 {
			t.Errorf("no-op writes published %+v", evs)
		}
		if got, _ := e.Svc.GetTag(ctx, u, tag.ID); !got.UpdatedAt.Equal(tagRead.UpdatedAt) {
			t.Errorf("tag rewritten: updated %v → %v", tagRead.UpdatedAt, got.UpdatedAt)
		}
		if got, _ := e.Svc.GetPlaybook(ctx, u, pb.ID); !got.UpdatedAt.Equal(pbRead.UpdatedAt) {
			t.Errorf("playbook rewritten: updated %v → %v", pbRead.UpdatedAt, got.UpdatedAt)
		}
		if got, _ := e.Svc.GetEntry(ctx, u, monday); !got.Entry.UpdatedAt.Equal(dayRead.Entry.UpdatedAt) || !slices.Equal(got.TradeIDs, []uuid.UUID{tr.ID}) {
			t.Errorf("day rewritten: %+v", got)
		}
		// A stale version is still refused, and a real change still moves it.
		if _, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{}, tag.Version+1); !isCode(err, apperr.Conflict, journal.CodeVersionMismatch) {
			t.Errorf("stale no-op = %v; want version_mismatch", err)
		}
		other := "Fear"
		if got, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{Name: &other}, 0); err != nil || got.Version != tag.Version+1 {
			t.Errorf("rename = %+v, %v", got, err)
		}
		newRules := []journal.Rule{pb.Rules[0]}
		if got, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Rules: &newRules}, 0); err != nil || got.Version != pb.Version+1 {
			t.Errorf("a rule removed = %+v, %v", got, err)
		}
		chosen := journal.EntryInput{PreMarket: in.PreMarket, PostMarket: in.PostMarket, Mood: in.Mood, TradeIDs: []uuid.UUID{}}
		if got, err := e.Svc.PutEntry(ctx, u, monday, chosen, 0); err != nil || got.Entry.Version != day.Entry.Version+1 {
			t.Errorf("no trades chosen instead of one = %+v, %v", got, err)
		}
		if v, _ := e.Trading.Svc.DataVersion(ctx, u); v <= v0 {
			t.Error("real changes did not move the data version")
		}
	})

	t.Run("ListShowsWhatGetShows", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 64<<10)
		u, tr := e.trade(t)
		// Monday: created by an upload, the default links (the day's trade).
		shot, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: monday, Filename: "plan.jpg", Body: bytes.NewReader(JPEGWithEXIF(t))})
		if err != nil {
			t.Fatal(err)
		}
		// Tuesday: a choice of Monday's trade; Wednesday: no trade, no choice.
		if _, err := e.Svc.PutEntry(ctx, u, monday.AddDays(1), journal.EntryInput{TradeIDs: []uuid.UUID{tr.ID}}, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.PutEntry(ctx, u, monday.AddDays(2), journal.EntryInput{Mood: 3}, 0); err != nil {
			t.Fatal(err)
		}
		l, err := e.Svc.ListEntries(ctx, u, monday.AddDays(-3), monday.AddDays(3))
		if err != nil || len(l) != 3 {
			t.Fatalf("ListEntries = %+v, %v", l, err)
		}
		attIDs := func(as []journal.Attachment) []uuid.UUID {
			out := []uuid.UUID{}
			for _, a := range as {
				out = append(out, a.ID)
			}
			return out
		}
		want := [][]uuid.UUID{{tr.ID}, {tr.ID}, {}}
		for i, v := range l {
			g, err := e.Svc.GetEntry(ctx, u, v.Entry.Date)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Exists || !slices.Equal(v.TradeIDs, g.TradeIDs) || !slices.Equal(v.TradeIDs, want[i]) ||
				!slices.Equal(attIDs(v.Attachments), attIDs(g.Attachments)) || v.Entry.Version != g.Entry.Version {
				t.Errorf("%s: list %+v, get %+v; want trades %v", v.Entry.Date, v, g, want[i])
			}
		}
		if got := attIDs(l[0].Attachments); !slices.Equal(got, []uuid.UUID{shot.ID}) {
			t.Fatalf("Monday's attachments in the list = %v", got)
		}
	})

	t.Run("DeletedTradesLeaveTheChoice", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		// A second trade on Monday, in another account.
		b, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Second", Currency: "USD"})
		if err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
		res, err := e.Trading.Svc.AddExecutions(ctx, u, b.ID, []trading.ExecutionInput{
			{Symbol: "MSFT", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.RequireFromString("1"), Price: decimal.RequireFromString("400"), ExecutedAt: at},
		}, trading.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		second := res.Trades[0].ID
		for _, d := range []trading.Date{monday, monday.AddDays(1)} {
			if _, err := e.Svc.PutEntry(ctx, u, d, journal.EntryInput{TradeIDs: []uuid.UUID{tr.ID, second}}, 0); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := e.Trading.Svc.DeleteTrade(ctx, u, tr.ID); err != nil {
			t.Fatal(err)
		}
		check := func(what string, want []uuid.UUID) {
			t.Helper()
			l, err := e.Svc.ListEntries(ctx, u, monday, monday.AddDays(1))
			if err != nil || len(l) != 2 {
				t.Fatalf("%s: ListEntries = %+v, %v", what, l, err)
			}
			for _, v := range l {
				g, err := e.Svc.GetEntry(ctx, u, v.Entry.Date)
				if err != nil || !slices.Equal(g.TradeIDs, want) || !slices.Equal(v.TradeIDs, want) {
					t.Fatalf("%s: %s lists %v (list %v), want %v", what, v.Entry.Date, g.TradeIDs, v.TradeIDs, want)
				}
				// What was read can be written back.
				if _, err := e.Svc.PutEntry(ctx, u, v.Entry.Date, journal.EntryInput{Mood: 2, TradeIDs: g.TradeIDs}, g.Entry.Version); err != nil {
					t.Fatalf("%s: PutEntry(%s, what was read) = %v", what, v.Entry.Date, err)
				}
			}
		}
		check("trade deleted", []uuid.UUID{second})
		if err := e.Trading.Svc.DeleteAccount(ctx, u, b.ID, true); err != nil {
			t.Fatal(err)
		}
		check("account deleted", []uuid.UUID{})
	})

	t.Run("MergedTradesLeaveTheirSurvivorChosen", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 0)
		u, tr := e.trade(t)
		d := decimal.RequireFromString
		at := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
		res, err := e.Trading.Svc.AddExecutions(ctx, u, tr.AccountID, []trading.ExecutionInput{
			{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("5"), Price: d("100"), ExecutedAt: at},
			{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("5"), Price: d("102"), ExecutedAt: at.Add(time.Hour)},
		}, trading.AddOptions{})
		if err != nil || len(res.Trades) != 1 || res.Trades[0].ID == tr.ID {
			t.Fatalf("the second trade = %+v, %v", res, err)
		}
		second := res.Trades[0].ID
		day2 := monday.AddDays(1)
		for d, ids := range map[trading.Date][]uuid.UUID{monday: {second}, day2: {tr.ID, second}} {
			if _, err := e.Svc.PutEntry(ctx, u, d, journal.EntryInput{TradeIDs: ids}, 0); err != nil {
				t.Fatal(err)
			}
		}
		before, _ := e.Svc.GetEntry(ctx, u, monday)
		// Deleting the first trade's exit merges the two: the first stays
		// (its opener), the second is absorbed into it.
		var exit uuid.UUID
		for _, l := range tr.Legs {
			if l.Role == trading.Exit {
				exit = l.ExecutionID
			}
		}
		if _, err := e.Trading.Svc.DeleteExecutions(ctx, u, []uuid.UUID{exit}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Trading.Svc.GetTrade(ctx, u, second); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("the second trade was not merged: %v", err)
		}
		for d, want := range map[trading.Date][]uuid.UUID{monday: {tr.ID}, day2: {tr.ID}} {
			g, err := e.Svc.GetEntry(ctx, u, d)
			if err != nil || !slices.Equal(g.TradeIDs, want) {
				t.Fatalf("%s after the merge lists %v, %v; want the survivor %v", d, g.TradeIDs, err, want)
			}
			if _, err := e.Svc.PutEntry(ctx, u, d, journal.EntryInput{Mood: 3, TradeIDs: g.TradeIDs}, g.Entry.Version); err != nil {
				t.Fatalf("PutEntry(%s, what was read) = %v", d, err)
			}
		}
		if after, _ := e.Svc.GetEntry(ctx, u, monday); after.Entry.Version != before.Entry.Version+2 {
			t.Fatalf("entry version %d → %d; want the merge and the put to move it", before.Entry.Version, after.Entry.Version)
		}
	})

	t.Run("Concurrent", func(t *testing.T) { runConcurrent(t, newStores) })

	t.Run("Attachments", func(t *testing.T) {
		e := NewEnv(t, newStores(t), 64<<10)
		u, tr := e.trade(t)
		other := e.Trading.NewUser(t)
		raw := JPEGWithEXIF(t)
		e.Events.Take()
		a, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{TradeID: tr.ID, Filename: `C:\Users\me\chart ☺.jpg`, Body: bytes.NewReader(raw)})
		if err != nil || a.ContentType != "image/jpeg" || a.Width != 40 || a.Height != 30 || a.TradeID != tr.ID || a.Filename != "chart _.jpg" {
			t.Fatalf("UploadAttachment = %+v, %v", a, err)
		}
		tradeEvent := func(what string) {
			t.Helper()
			evs := e.Events.Take()
			if len(evs) != 1 || evs[0].Type != realtime.TypeTradeUpdated || evs[0].Payload["trade_id"] != tr.ID.String() ||
				evs[0].Payload["account_id"] != tr.AccountID.String() || evs[0].Payload["attachment_id"] != a.ID.String() || evs[0].Payload["data_version"] == nil {
				t.Fatalf("%s: events %+v; want one trade.updated naming the trade, its account and the attachment", what, evs)
			}
		}
		tradeEvent("upload to a trade")
		rc, meta, err := e.Svc.OpenAttachment(ctx, u, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(rc)
		rc.Close()
		if meta.ID != a.ID || int64(len(stored)) != a.Size {
			t.Fatalf("opened %d bytes of %+v", len(stored), meta)
		}
		for _, s := range []string{"Exif", "GPS", "SecretCam"} {
			if bytes.Contains(stored, []byte(s)) {
				t.Fatalf("the stored JPEG still contains %q", s)
			}
		}
		if _, err := jpeg.Decode(bytes.NewReader(stored)); err != nil {
			t.Fatalf("stored JPEG does not decode: %v", err)
		}
		if l, _ := e.Svc.ListAttachments(ctx, u, journal.Owner{TradeID: tr.ID}); len(l) != 1 || l[0].ID != a.ID {
			t.Fatalf("ListAttachments = %+v", l)
		}
		blobs := func() int {
			if e.BlobCount == nil {
				return -1
			}
			return e.BlobCount()
		}
		before := blobs()
		// Refused uploads store nothing.
		for name, c := range map[string]struct {
			u    journal.Upload
			kind apperr.Kind
			code string
		}{
			"too large":       {journal.Upload{TradeID: tr.ID, Body: bytes.NewReader(append(raw, make([]byte, 64<<10)...))}, apperr.Invalid, journal.CodeAttachmentTooLarge},
			"not an image":    {journal.Upload{TradeID: tr.ID, Filename: "x.png", Body: strings.NewReader("<?php evil(); ?>")}, apperr.Invalid, journal.CodeNotAnImage},
			"no owner":        {journal.Upload{Body: bytes.NewReader(raw)}, apperr.Invalid, ""},
			"another's trade": {journal.Upload{TradeID: tr.ID, Body: bytes.NewReader(raw)}, apperr.NotFound, ""},
		} {
			who := u
			if name == "another's trade" {
				who = other
			}
			if _, err := e.Svc.UploadAttachment(ctx, who, c.u); !isCode(err, c.kind, c.code) {
				t.Errorf("%s: %v; want %v %s", name, err, c.kind, c.code)
			}
		}
		if blobs() != before {
			t.Fatalf("refused uploads left blobs: %d → %d", before, blobs())
		}
		// Another user cannot read, open or delete it.
		if _, err := e.Svc.GetAttachment(ctx, other, a.ID); !isCode(err, apperr.NotFound, journal.CodeAttachmentNotFound) {
			t.Fatalf("another user's GetAttachment = %v", err)
		}
		if _, _, err := e.Svc.OpenAttachment(ctx, other, a.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's OpenAttachment = %v", err)
		}
		if err := e.Svc.DeleteAttachment(ctx, other, a.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatalf("another user's DeleteAttachment = %v", err)
		}
		// On a journal day: the entry is created.
		j, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: monday.AddDays(1), Filename: "plan.jpg", Body: bytes.NewReader(raw)})
		if err != nil || j.EntryID == uuid.Nil {
			t.Fatalf("upload to a day = %+v, %v", j, err)
		}
		var got []string
		for _, ev := range e.Events.Take() {
			got = append(got, fmt.Sprint(ev.Type, " ", ev.Payload["entity"], " ", ev.Payload["entity_id"], " ", ev.Payload["change"], " ", ev.Payload["date"]))
		}
		day := monday.AddDays(1).String()
		if want := []string{"journal.updated daily_entry " + j.EntryID.String() + " created " + day, "journal.updated attachment " + j.ID.String() + " created " + day}; !slices.Equal(got, want) {
			t.Fatalf("upload to a day: events %q; want %q", got, want)
		}
		v, _ := e.Svc.GetEntry(ctx, u, monday.AddDays(1))
		if !v.Exists || len(v.Attachments) != 1 || v.Attachments[0].ID != j.ID {
			t.Fatalf("day view = %+v", v)
		}
		// Delete removes the metadata and, after the commit, the blob.
		if err := e.Svc.DeleteAttachment(ctx, u, a.ID); err != nil {
			t.Fatal(err)
		}
		tradeEvent("delete of a trade's attachment")
		if _, err := e.Blobs.Stat(ctx, a.BlobKey); !isCode(err, apperr.NotFound, blob.CodeNotFound) {
			t.Fatalf("blob after delete: %v", err)
		}
		if _, err := e.Svc.GetAttachment(ctx, u, a.ID); !isCode(err, apperr.NotFound, "") {
			t.Fatal("attachment still there")
		}
	})
}

// vt, vp and ve are the version of a written tag, playbook or day.
func vt(t *journal.Tag, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return t.Version, nil
}

func vp(p *journal.Playbook, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return p.Version, nil
}

func ve(v *journal.EntryView, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return v.Entry.Version, nil
}
