package journaltest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// race runs fns at once (released together) and returns their errors in
// order.
func race(fns ...func() error) []error {
	errs := make([]error, len(fns))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn()
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// raceRounds is how many times each race below runs: the PostgreSQL races
// they guard against showed in a third to a half of the rounds.
const raceRounds = 12

// runConcurrent checks the journal's writes against concurrent writes of
// the same user: a write without If-Match never fails because another
// got there first, a tag or playbook deleted while a trade takes it
// leaves no trade pointing at it, a trade linked while a rebuild merges
// it follows the survivor, and nothing deadlocks.
func runConcurrent(t *testing.T, newStores Factory) {
	ctx := context.Background()
	e := NewEnv(t, newStores(t), 0)

	t.Run("UnconditionalWritesAllSucceed", func(t *testing.T) {
		u, tr := e.trade(t)
		tag, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: "Breakout", Kind: journal.Setup})
		if err != nil {
			t.Fatal(err)
		}
		pb, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: "ORB", Rules: []string{"Wait"}})
		if err != nil {
			t.Fatal(err)
		}
		jpeg := JPEGWithEXIF(t)
		for round := range raceRounds / 3 {
			day := monday.AddDays(10 + round)
			var fns []func() error
			for i := range 4 {
				fns = append(fns,
					func() error {
						_, err := e.Svc.PutEntry(ctx, u, day, journal.EntryInput{PreMarket: fmt.Sprint("plan ", i)}, 0)
						return err
					},
					func() error {
						_, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{Day: day.AddDays(100), Filename: "a.jpg", Body: bytes.NewReader(jpeg)})
						return err
					},
					func() error {
						name := fmt.Sprint("Breakout ", round, i)
						_, err := e.Svc.UpdateTag(ctx, u, tag.ID, journal.TagPatch{Name: &name}, 0)
						return err
					},
					func() error {
						d := fmt.Sprint("round ", round, i)
						_, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Description: &d}, 0)
						return err
					},
					func() error {
						_, err := e.Svc.UploadAttachment(ctx, u, journal.Upload{TradeID: tr.ID, Filename: "t.jpg", Body: bytes.NewReader(jpeg)})
						return err
					})
			}
			for i, err := range race(fns...) {
				if err != nil {
					t.Errorf("round %d, write %d without If-Match: %v", round, i, err)
				}
			}
		}
	})

	t.Run("LabelDeletedWhileATradeTakesIt", func(t *testing.T) {
		u, tr := e.trade(t)
		for round := range raceRounds {
			tag, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: fmt.Sprint("T", round), Kind: journal.Custom})
			if err != nil {
				t.Fatal(err)
			}
			pb, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: fmt.Sprint("P", round), Rules: []string{"a", "b"}})
			if err != nil {
				t.Fatal(err)
			}
			tags := []uuid.UUID{tag.ID}
			errs := race(
				func() error {
					_, err := e.Trading.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{TagIDs: &tags, PlaybookID: &pb.ID}, 0)
					return err
				},
				func() error { return e.Svc.DeleteTag(ctx, u, tag.ID) },
				func() error { return e.Svc.DeletePlaybook(ctx, u, pb.ID) },
			)
			if err := errs[0]; err != nil && !isCode(err, apperr.NotFound, "") {
				t.Errorf("round %d: the annotation failed other than on a deleted label: %v", round, err)
			}
			for i, err := range errs[1:] {
				if err != nil {
					t.Errorf("round %d: delete %d: %v", round, i, err)
				}
			}
			got, err := e.Trading.Svc.GetTrade(ctx, u, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(got.Annotation.TagIDs, tag.ID) || got.Annotation.PlaybookID == pb.ID {
				t.Fatalf("round %d: the trade keeps a deleted label: tags %v, playbook %v", round, got.Annotation.TagIDs, got.Annotation.PlaybookID)
			}
		}
	})

	t.Run("RuleRemovedWhileATradeFollowsIt", func(t *testing.T) {
		u, tr := e.trade(t)
		for round := range raceRounds {
			pb, err := e.Svc.CreatePlaybook(ctx, u, journal.PlaybookInput{Name: fmt.Sprint("Rules ", round), Rules: []string{"r1", "r2", "r3"}})
			if err != nil {
				t.Fatal(err)
			}
			r1, r2, r3 := pb.Rules[0], pb.Rules[1], pb.Rules[2]
			was := []uuid.UUID{r1.ID, r2.ID}
			if _, err := e.Trading.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{PlaybookID: &pb.ID, FollowedRules: &was}, 0); err != nil {
				t.Fatal(err)
			}
			// The trader now follows r1 and r3 while the playbook drops
			// r2: in either order the trade ends with r1 and r3.
			mine := []uuid.UUID{r1.ID, r3.ID}
			errs := race(
				func() error {
					_, err := e.Trading.Svc.UpdateAnnotation(ctx, u, tr.ID, trading.AnnotationPatch{FollowedRules: &mine}, 0)
					return err
				},
				func() error {
					_, err := e.Svc.UpdatePlaybook(ctx, u, pb.ID, journal.PlaybookPatch{Rules: &[]journal.Rule{r1, r3}}, 0)
					return err
				})
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, write %d: %v", round, i, err)
				}
			}
			got, err := e.Trading.Svc.GetTrade(ctx, u, tr.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Annotation.FollowedRules, mine) {
				t.Fatalf("round %d: the trade follows %v, want %v", round, got.Annotation.FollowedRules, mine)
			}
		}
	})

	t.Run("BulkAcrossAccountsAndZoneChanges", func(t *testing.T) {
		u := e.Trading.NewUser(t)
		var trades []uuid.UUID
		for _, name := range []string{"Zeta", "Alpha"} {
			a, err := e.Trading.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: name, Currency: "USD"})
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
			d := decimal.RequireFromString
			res, err := e.Trading.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
				{Symbol: "MSFT", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("1"), Price: d("300"), ExecutedAt: at},
				{Symbol: "MSFT", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("1"), Price: d("301"), ExecutedAt: at.Add(time.Hour)},
			}, trading.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			trades = append(trades, res.Trades[0].ID)
		}
		for round := range raceRounds {
			tag, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: fmt.Sprint("B", round), Kind: journal.Custom})
			if err != nil {
				t.Fatal(err)
			}
			other, err := e.Svc.CreateTag(ctx, u, journal.TagInput{Name: fmt.Sprint("C", round), Kind: journal.Custom})
			if err != nil {
				t.Fatal(err)
			}
			reversed := []uuid.UUID{trades[1], trades[0]}
			errs := race(
				func() error {
					_, err := e.Trading.Svc.BulkAnnotate(ctx, u, trades, trading.BulkAnnotation{AddTags: []uuid.UUID{other.ID}})
					return err
				},
				func() error {
					_, err := e.Trading.Svc.BulkAnnotate(ctx, u, reversed, trading.BulkAnnotation{AddTags: []uuid.UUID{other.ID}})
					return err
				},
				func() error {
					_, err := e.Trading.Svc.BulkAnnotate(ctx, u, reversed, trading.BulkAnnotation{AddTags: []uuid.UUID{tag.ID}})
					return err
				},
				func() error { return e.Svc.DeleteTag(ctx, u, tag.ID) },
				func() error { return e.Trading.Svc.UserZoneChanged(ctx, u) },
			)
			for i, err := range errs {
				if err != nil && !(i == 2 && isCode(err, apperr.NotFound, "")) {
					t.Errorf("round %d, write %d: %v", round, i, err)
				}
			}
		}
	})

	t.Run("TradeLinkedWhileItIsMerged", func(t *testing.T) {
		jpeg := JPEGWithEXIF(t)
		d := decimal.RequireFromString
		for round := range raceRounds {
			u, first := e.trade(t)
			at := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
			res, err := e.Trading.Svc.AddExecutions(ctx, u, first.AccountID, []trading.ExecutionInput{
				{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("5"), Price: d("100"), ExecutedAt: at},
				{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: d("5"), Price: d("102"), ExecutedAt: at.Add(time.Hour)},
			}, trading.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			second := res.Trades[0].ID
			var exit uuid.UUID
			for _, l := range first.Legs {
				if l.Role == trading.Exit {
					exit = l.ExecutionID
				}
			}
			var shot *journal.Attachment
			errs := race(
				func() error {
					_, err := e.Svc.PutEntry(ctx, u, monday, journal.EntryInput{TradeIDs: []uuid.UUID{second}}, 0)
					return err
				},
				func() error {
					var err error
					shot, err = e.Svc.UploadAttachment(ctx, u, journal.Upload{TradeID: second, Filename: "s.jpg", Body: bytes.NewReader(jpeg)})
					return err
				},
				// Deleting the first trade's exit merges the second into it.
				func() error { _, err := e.Trading.Svc.DeleteExecutions(ctx, u, []uuid.UUID{exit}); return err },
			)
			if errs[2] != nil {
				t.Fatal(errs[2])
			}
			for i, err := range errs[:2] {
				if err != nil && !isCode(err, apperr.NotFound, "") {
					t.Errorf("round %d, write %d: %v", round, i, err)
				}
			}
			if errs[0] == nil {
				g, err := e.Svc.GetEntry(ctx, u, monday)
				if err != nil || !slices.Equal(g.TradeIDs, []uuid.UUID{first.ID}) {
					t.Errorf("round %d: the day lists %v (%v), want the survivor %v", round, g.TradeIDs, err, first.ID)
				}
			}
			if errs[1] == nil {
				a, err := e.Svc.GetAttachment(ctx, u, shot.ID)
				if err != nil || a.TradeID != first.ID {
					t.Errorf("round %d: the screenshot is on %v (%v), want the survivor %v", round, a, err, first.ID)
				}
			}
		}
	})

	t.Run("AnExecutionDeletedTwiceAtOnce", func(t *testing.T) {
		for round := range raceRounds {
			u, tr := e.trade(t)
			id := tr.Legs[0].ExecutionID
			del := func() error { _, err := e.Trading.Svc.DeleteExecutions(ctx, u, []uuid.UUID{id}); return err }
			errs := race(del, del)
			ok, gone := 0, 0
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case isCode(err, apperr.NotFound, trading.CodeExecutionNotFound):
					gone++
				default:
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if ok != 1 || gone != 1 {
				t.Fatalf("round %d: %d deletes succeeded and %d found nothing; want one of each: %v", round, ok, gone, errs)
			}
		}
	})
}
