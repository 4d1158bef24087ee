package sqlstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal/journaltest"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// tradingStores returns the trading repositories on db, with tags,
// playbooks and attachments made by plain SQL.
func tradingStores(db *sqlstore.DB) tradingtest.Stores {
	ctx := context.Background()
	users := sqlstore.NewUsers(db)
	exec := func(t testing.TB, q string, args ...any) {
		t.Helper()
		if err := sqlstore.ExecForTest(ctx, db, q, args...); err != nil {
			t.Fatal(err)
		}
	}
	return tradingtest.Stores{
		Accounts: sqlstore.NewTradingAccounts(db), Instruments: sqlstore.NewInstruments(db), Executions: sqlstore.NewExecutions(db),
		Ledger: sqlstore.NewLedger(db), Trades: sqlstore.NewLedger(db), Labels: sqlstore.NewTradeLabels(db), Versions: sqlstore.NewDataVersions(db),
		Tx: sqlstore.NewUnitOfWork(db),
		NewUser: func(t testing.TB) uuid.UUID {
			u := &identity.User{Email: "trader-" + uuid.NewString() + "@example.com"}
			if err := users.Create(ctx, u); err != nil {
				t.Fatal(err)
			}
			return u.ID
		},
		NewTag: func(t testing.TB, userID uuid.UUID) uuid.UUID {
			id := uuid.New()
			exec(t, "INSERT INTO tags (id, user_id, name, name_key, kind, color, version, created_at, updated_at) VALUES (?, ?, ?, ?, 'setup', '', 1, ?, ?)",
				id, userID, "tag "+id.String(), "tag "+id.String(), time.Now().UTC(), time.Now().UTC())
			return id
		},
		NewPlaybook: func(t testing.TB, userID uuid.UUID, n int) (uuid.UUID, []uuid.UUID) {
			id := uuid.New()
			type rule struct {
				ID   uuid.UUID `json:"id"`
				Text string    `json:"text"`
			}
			var rules []rule
			var ruleIDs []uuid.UUID
			for i := range n {
				r := rule{uuid.New(), fmt.Sprint("rule ", i)}
				rules, ruleIDs = append(rules, r), append(ruleIDs, r.ID)
			}
			b, _ := json.Marshal(rules)
			exec(t, "INSERT INTO playbooks (id, user_id, name, name_key, description, rules, version, created_at, updated_at) VALUES (?, ?, ?, ?, '', ?, 1, ?, ?)",
				id, userID, "pb "+id.String(), "pb "+id.String(), string(b), time.Now().UTC(), time.Now().UTC())
			return id, ruleIDs
		},
		Attach: func(t testing.TB, userID, tradeID uuid.UUID) uuid.UUID {
			id := uuid.New()
			exec(t, `INSERT INTO attachments (id, user_id, trade_id, blob_key, content_type, size_bytes, width, height, sha256, filename, created_at)
				VALUES (?, ?, ?, 'k', 'image/png', 1, 1, 1, '', '', ?)`, id, userID, tradeID, time.Now().UTC())
			return id
		},
		AttachmentTrade: func(t testing.TB, id uuid.UUID) uuid.UUID {
			var s *string
			got, err := sqlstore.StringForTest(ctx, db, "SELECT trade_id FROM attachments WHERE id = ?", id)
			if err != nil {
				t.Fatal(err)
			}
			s = got
			if s == nil {
				return uuid.Nil
			}
			return uuid.MustParse(*s)
		},
	}
}

func TestTradingContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			tradingtest.Run(t, func(t *testing.T) tradingtest.Stores { return tradingStores(db) })
		})
	}
}

func TestJournalContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			journaltest.Run(t, func(t *testing.T) journaltest.Stores {
				mem := blobtest.NewMem()
				return journaltest.Stores{Trading: tradingStores(db), Tags: sqlstore.NewTags(db), Playbooks: sqlstore.NewPlaybooks(db),
					Entries: sqlstore.NewJournalEntries(db), Attachments: sqlstore.NewAttachments(db), Blobs: mem, BlobCount: mem.Len}
			})
		})
	}
}
