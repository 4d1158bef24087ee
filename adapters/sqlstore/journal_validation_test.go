package sqlstore_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/journal/journaltest"
	"github.com/tradesense/tradesense/core/trading"
)

func journalEnv(t *testing.T) *journaltest.Env {
	db := openMigrated(t, testConfig("sqlite://"+filepath.Join(t.TempDir(), "test.db")))
	mem := blobtest.NewMem()
	return journaltest.NewEnv(t, journaltest.Stores{Trading: tradingStores(db), Tags: sqlstore.NewTags(db), Playbooks: sqlstore.NewPlaybooks(db),
		Entries: sqlstore.NewJournalEntries(db), Attachments: sqlstore.NewAttachments(db), Blobs: mem, BlobCount: mem.Len}, 1<<20)
}

// wantFields fails unless err is a validation error naming exactly fields.
func wantFields(t *testing.T, what string, err error, fields ...string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid {
		t.Errorf("%s: %v; want a validation error", what, err)
		return
	}
	got := make([]string, 0, len(e.Fields))
	for k := range e.Fields {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(fields)
	if !slices.Equal(got, fields) {
		t.Errorf("%s: fields %v; want %v", what, e.Fields, fields)
	}
}

// TestJournalRefusesBadInputByField: every limit of a playbook's
// checklist and of a day's entry is a validation error naming the field,
// so the API answers 400 with it; nothing is written.
func TestJournalRefusesBadInputByField(t *testing.T) {
	e := journalEnv(t)
	ctx := context.Background()
	u := e.Trading.NewUser(t)

	many := make([]string, journal.MaxRules+1)
	for i := range many {
		many[i] = "rule"
	}
	_, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "Too many", Rules: many})
	wantFields(t, "51 rules", err, "rules")
	_, err = e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "Bad rules", Rules: []string{"ok", "  ", strings.Repeat("x", 501), "\xff"}})
	wantFields(t, "empty, long and non-UTF-8 rules", err, "rules[1]", "rules[2]", "rules[3]")
	if l, _ := e.Svc.ListPlaybooks(ctx, u); len(l) != 0 {
		t.Fatalf("refused playbooks were stored: %+v", l)
	}
	p, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "Breakout", Rules: []string{"wait for the close"}})
	if err != nil {
		t.Fatal(err)
	}
	bad := []journal.Rule{{ID: p.Rules[0].ID, Text: ""}}
	_, err = e.Svc.UpdatePlaybook(ctx, u, p.ID, journal.PlaybookPatch{Rules: &bad}, 0)
	wantFields(t, "an update emptying a rule", err, "rules[0]")
	if got, _ := e.Svc.GetPlaybook(ctx, u, p.ID); got == nil || got.Version != p.Version || got.Rules[0].Text != "wait for the close" {
		t.Fatalf("refused update changed the playbook: %+v", got)
	}

	day := trading.Date{Year: 2026, Month: time.March, Day: 2}
	ids := make([]uuid.UUID, journal.MaxEntryTrades+1)
	for i := range ids {
		ids[i] = uuid.New()
	}
	_, err = e.Svc.PutEntry(ctx, u, day, journal.EntryInput{TradeIDs: ids}, 0)
	wantFields(t, "201 trades", err, "trade_ids")
	_, err = e.Svc.PutEntry(ctx, u, trading.Date{Year: 1969, Month: time.December, Day: 31}, journal.EntryInput{}, 0)
	wantFields(t, "a day before 1970", err, "date")
	_, err = e.Svc.PutEntry(ctx, u, day, journal.EntryInput{PreMarket: "\xff", PostMarket: strings.Repeat("x", journal.MaxTextBytes+1), Mood: 6}, 0)
	wantFields(t, "bad texts and mood", err, "pre_market", "post_market", "mood")
	if l, _ := e.Svc.ListEntries(ctx, u, day, day); len(l) != 0 {
		t.Fatalf("refused entries were stored: %+v", l)
	}
}

func TestJournalListsTagsOfOneKind(t *testing.T) {
	e := journalEnv(t)
	ctx := context.Background()
	u := e.Trading.NewUser(t)
	for _, in := range []journal.TagInput{{Name: "Breakout", Kind: journal.Setup}, {Name: "FOMO", Kind: journal.Emotion}, {Name: "Late entry", Kind: journal.Mistake}} {
		if _, err := e.Svc.CreateTag(ctx, u, in); err != nil {
			t.Fatal(err)
		}
	}
	if all, err := e.Svc.ListTags(ctx, u, ""); err != nil || len(all) != 3 {
		t.Fatalf("all tags: %+v %v", all, err)
	}
	got, err := e.Svc.ListTags(ctx, u, journal.Emotion)
	if err != nil || len(got) != 1 || got[0].Name != "FOMO" {
		t.Fatalf("emotion tags: %+v %v", got, err)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

// TestJournalAttachmentNames: the uploaded file name is kept for display
// only, without directories, control characters or characters outside
// letters, digits and ". _()-", and at most 120 bytes of valid UTF-8; an
// attachment on a day creates the day's entry; a body that fails to read
// stores nothing.
func TestJournalAttachmentNames(t *testing.T) {
	e := journalEnv(t)
	ctx := context.Background()
	u := e.Trading.NewUser(t)
	day := trading.Date{Year: 2026, Month: time.March, Day: 2}
	long := strings.Repeat("é", 70) + ".jpg" // 144 bytes
	for name, want := range map[string]string{
		`C:\Users\ann\Desktop\chart 1.jpg`: "chart 1.jpg",
		"../../etc/passwd":                 "passwd",
		"tab\there\x00.jpg":                "tabhere.jpg",
		"<script>.jpg":                     "_script_.jpg",
		".":                                "",
		long:                               strings.Repeat("é", 60),
	} {
		a, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: day, Filename: name, Body: strings.NewReader(string(journaltest.JPEGWithEXIF(t)))})
		if err != nil {
			t.Fatalf("upload %q: %v", name, err)
		}
		if a.Filename != want || a.EntryID == uuid.Nil {
			t.Errorf("upload %q: filename %q, entry %v; want %q on the day's entry", name, a.Filename, a.EntryID, want)
		}
	}
	if v, err := e.Svc.GetEntry(ctx, u, day); err != nil || v == nil {
		t.Fatalf("the day's entry: %+v %v", v, err)
	}
	before := e.BlobCount()
	_, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: day, Filename: "x.jpg", Body: io.MultiReader(strings.NewReader("\xff\xd8"), failingReader{})})
	if err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("a failing body: %v", err)
	}
	if e.BlobCount() != before {
		t.Fatal("a failed upload left a blob")
	}
}

func TestJournalNeedsEveryDependency(t *testing.T) {
	if _, err := journal.NewService(journal.Config{}, journal.Deps{}); err == nil {
		t.Fatal("NewService without dependencies succeeded")
	}
}
