package sqlstore

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/journal/journaltest"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// journalLife is a trader's journal: tags, a playbook, a day's entry,
// attachments on a trade and on a day, and their removal. It returns the
// first step's error.
func journalLife(ctx context.Context, e *journaltest.Env, u uuid.UUID, jpeg []byte) error {
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	d := decimal.RequireFromString
	at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
	day := trading.Date{Year: 2026, Month: time.March, Day: 2}
	a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "Main", Currency: "USD"})
	if err != nil {
		return step("CreateAccount", err)
	}
	res, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("10"), Price: d("100"), ExecutedAt: at},
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("10"), Price: d("101"), ExecutedAt: at.Add(time.Hour)},
	}, trading.AddOptions{})
	if err != nil {
		return step("AddExecutions", err)
	}
	trade := res.Trades[0].ID
	tag, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "Breakout", Kind: journal.Setup})
	if err != nil {
		return step("CreateTag", err)
	}
	color := "#00ff00"
	if _, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{Color: &color}, 0); err != nil {
		return step("UpdateTag", err)
	}
	if _, err := e.Svc.ListTags(ctx, u, journal.Setup); err != nil {
		return step("ListTags", err)
	}
	if _, err := e.Svc.GetTag(ctx, u, tag.ID); err != nil {
		return step("GetTag", err)
	}
	p, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "Opening range", Rules: []string{"wait 5 minutes", "stop below the range"}})
	if err != nil {
		return step("CreatePlaybook", err)
	}
	rules := []journal.Rule{p.Rules[0], {Text: "size down on Fridays"}}
	if _, err := e.Svc.UpdatePlaybook(ctx, u, p.ID, journal.PlaybookPatch{Rules: &rules}, 0); err != nil {
		return step("UpdatePlaybook", err)
	}
	if _, err := e.Svc.ListPlaybooks(ctx, u); err != nil {
		return step("ListPlaybooks", err)
	}
	if _, err := e.Svc.GetPlaybook(ctx, u, p.ID); err != nil {
		return step("GetPlaybook", err)
	}
	tags, pid := []uuid.UUID{tag.ID}, p.ID
	if _, err := e.Trading.Svc.UpdateAnnotation(ctx, u, trade, trading.AnnotationPatch{TagIDs: &tags, PlaybookID: &pid}, 0); err != nil {
		return step("UpdateAnnotation", err)
	}
	if _, err := e.Svc.PutEntry(ctx, u, day, journal.EntryInput{PreMarket: "gap up", Mood: 4, TradeIDs: []uuid.UUID{trade}}, 0); err != nil {
		return step("PutEntry", err)
	}
	if _, err := e.Svc.GetEntry(ctx, u, day); err != nil {
		return step("GetEntry", err)
	}
	if _, err := e.Svc.ListEntries(ctx, u, day, day.AddDays(6)); err != nil {
		return step("ListEntries", err)
	}
	onTrade, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{TradeID: trade, Filename: "chart.jpg", Body: bytes.NewReader(jpeg)})
	if err != nil {
		return step("UploadAttachment on a trade", err)
	}
	onDay, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: day.AddDays(1), Filename: "plan.jpg", Body: bytes.NewReader(jpeg)})
	if err != nil {
		return step("UploadAttachment on a day", err)
	}
	if _, err := e.Svc.ListAttachments(ctx, u, journal.Owner{TradeID: trade}); err != nil {
		return step("ListAttachments", err)
	}
	if _, err := e.Svc.GetAttachment(ctx, u, onDay.ID); err != nil {
		return step("GetAttachment", err)
	}
	rc, _, err := e.Svc.OpenAttachment(ctx, u, onTrade.ID)
	if err != nil {
		return step("OpenAttachment", err)
	}
	_ = rc.Close()
	if err := e.Svc.DeleteAttachment(ctx, u, onTrade.ID); err != nil {
		return step("DeleteAttachment", err)
	}
	if err := e.Svc.DeleteTag(ctx, u, tag.ID); err != nil {
		return step("DeleteTag", err)
	}
	if err := e.Svc.DeletePlaybook(ctx, u, p.ID); err != nil {
		return step("DeletePlaybook", err)
	}
	return nil
}

// TestAQueryFailureAnywhereInTheJournalSurfacesAsUnavailable: as for the
// trading book, for the journal; and a failed upload leaves no blob.
func TestAQueryFailureAnywhereInTheJournalSurfacesAsUnavailable(t *testing.T) {
	ctx := context.Background()
	fdb := openFaultDB(t)
	db := fdb.db
	users := NewUsers(db)
	jpeg := journaltest.JPEGWithEXIF(t)
	var n int
	fdb.everyFault(t, 39, nil, func(f *apperrtest.Faults) error {
		n++
		mem := blobtest.NewMem()
		e := journaltest.NewEnv(t, journaltest.Stores{Trading: tradingtest.Stores{Accounts: NewTradingAccounts(db), Instruments: NewInstruments(db),
			Executions: NewExecutions(db), Ledger: NewLedger(db), Trades: NewLedger(db), Labels: NewTradeLabels(db), Versions: NewDataVersions(db),
			Tx: NewUnitOfWork(db)}, Tags: NewTags(db), Playbooks: NewPlaybooks(db), Entries: NewJournalEntries(db),
			Attachments: NewAttachments(db), Blobs: mem, BlobCount: mem.Len}, 1<<20)
		u := &identity.User{Email: fmt.Sprintf("journal-%d@example.com", n)}
		if err := users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		f.Arm()
		err := journalLife(ctx, e, u.ID, jpeg)
		f.Disarm()
		// Whatever step failed, each stored attachment has its blob and no
		// blob is left without its record.
		if blobs, att := mem.Len(), countAttachments(t, db, u.ID); blobs != att {
			t.Errorf("fault in statement %d (%s): %d blobs for %d attachments", n, f.Hit(), blobs, att)
		}
		return err
	})
}

func countAttachments(t *testing.T, db *DB, userID uuid.UUID) int {
	t.Helper()
	n, err := CountForTest(context.Background(), db, "SELECT count(*) FROM attachments WHERE user_id = ?", userID)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
