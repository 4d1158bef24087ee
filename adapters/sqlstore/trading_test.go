package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal/journaltest"
	"github.com/tradesense/tradesense/core/trading"
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

// TestPositionTradesReadsTheSameInAndOutOfATransaction: inside a
// transaction PostgreSQL reads a position's trades as raw text (the
// rebuild's path); outside, through database/sql. Both give the same
// trades, annotation included.
func TestPositionTradesReadsTheSameInAndOutOfATransaction(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db, env, u, acct := oneAccount(t, dc, trading.AccountInput{Name: "A", Currency: "USD"})
			at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
			one := decimal.NewFromInt(1)
			res, err := env.Svc.AddExecutions(ctx, u, acct.ID, []trading.ExecutionInput{
				{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(10), Price: decimal.RequireFromString("170.25"), Commission: one, ExecutedAt: at},
				{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: decimal.NewFromInt(10), Price: decimal.RequireFromString("171.5"), Commission: one, ExecutedAt: at.Add(time.Minute)},
				{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(5), Price: decimal.RequireFromString("172"), ExecutedAt: at.Add(time.Hour)},
			}, trading.AddOptions{})
			if err != nil {
				t.Fatal(err)
			}
			pb, rules := env.NewPlaybook(t, u, 2)
			annotated := at.Add(24*time.Hour + 123456*time.Microsecond)
			rulesJSON, _ := json.Marshal(rules)
			if err := sqlstore.ExecForTest(ctx, db, `UPDATE trades SET playbook_id = ?, notes = ?, planned_stop = ?, initial_risk = ?, rating = 4, confidence = 7,
				followed_rules = ?, annotation_version = 5, annotated_at = ? WHERE opening_execution_id = ?`,
				pb, "notes\twith a tab", "169.5", "12.25", string(rulesJSON), annotated, res.Executions[0].ID); err != nil {
				t.Fatal(err)
			}
			tags := []uuid.UUID{env.NewTag(t, u), env.NewTag(t, u)}
			slices.SortFunc(tags, func(x, y uuid.UUID) int { return bytes.Compare(x[:], y[:]) })
			for _, tag := range tags {
				if err := sqlstore.ExecForTest(ctx, db, "INSERT INTO trade_tags (trade_id, tag_id) SELECT id, ? FROM trades WHERE opening_execution_id = ?",
					tag, res.Executions[0].ID); err != nil {
					t.Fatal(err)
				}
			}
			key := trading.PositionKey{UserID: u, AccountID: acct.ID, InstrumentID: res.Executions[0].InstrumentID}
			out, err := env.Ledger.PositionTrades(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			var in []trading.Trade
			if err := env.Tx.Do(ctx, func(ctx context.Context) error {
				if in, err = env.Ledger.PositionTrades(ctx, key); err != nil {
					return err
				}
				return env.Ledger.PositionLegKeys(ctx, key, in)
			}); err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if len(out[i].Legs) != 0 {
					t.Fatalf("PositionTrades read legs: %+v", out[i].Legs)
				}
			}
			if err := env.Ledger.PositionLegKeys(ctx, key, out); err != nil {
				t.Fatal(err)
			}
			legs := 0
			for i := range out {
				legs += len(out[i].Legs)
				for _, l := range out[i].Legs {
					if l.Role != trading.Entry && l.Role != trading.Exit {
						t.Fatalf("leg role %q", l.Role)
					}
				}
			}
			if legs != 3 {
				t.Fatalf("%d leg keys, want 3", legs)
			}
			// Legs come in no particular order (the port promises none).
			for _, ts := range [][]trading.Trade{in, out} {
				for i := range ts {
					slices.SortFunc(ts[i].Legs, func(x, y trading.Leg) int { return bytes.Compare(x.ExecutionID[:], y.ExecutionID[:]) })
				}
			}
			if len(out) != 2 || !reflect.DeepEqual(in, out) {
				t.Fatalf("in a transaction:\n%+v\noutside:\n%+v", in, out)
			}
			var a *trading.Annotation
			for i := range out {
				if out[i].OpeningExecutionID == res.Executions[0].ID {
					a = &out[i].Annotation
				}
			}
			if a == nil || a.Rating != 4 || a.Confidence != 7 || a.Version != 5 || !a.UpdatedAt.Equal(annotated) || a.PlaybookID != pb ||
				len(a.FollowedRules) != 2 || a.Notes != "notes\twith a tab" || a.PlannedStop.Decimal.String() != "169.5" || a.PlannedTarget.Valid ||
				!slices.Equal(a.TagIDs, tags) {
				t.Fatalf("annotation read back as %+v", a)
			}
		})
	}
}

// TestTradeListRawReadMatchesDatabaseSQL: on PostgreSQL a page of trades
// is parsed from pgx's raw text; it holds what database/sql's scan of the
// same statement gives (every field, annotation, tags, sort keys), for
// each sort key.
func TestTradeListRawReadMatchesDatabaseSQL(t *testing.T) {
	ctx := context.Background()
	db := openMigrated(t, testConfig(dialects[len(dialects)-1].url(t)))
	st := tradingStores(db)
	env := tradingtest.NewEnv(t, st)
	u := st.NewUser(t)
	acct, err := env.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "A", Currency: "USD"})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
	d := decimal.RequireFromString
	res, err := env.Svc.AddExecutions(ctx, u, acct.ID, []trading.ExecutionInput{
		{Symbol: "ES", AssetClass: trading.Future, Side: trading.Sell, Quantity: d("2"), Price: d("5000.25"), Commission: d("2.1"), Fees: d("0.013"), ExecutedAt: at},
		{Symbol: "ES", AssetClass: trading.Future, Side: trading.Buy, Quantity: d("3"), Price: d("4990.5"), Commission: d("3"), ExecutedAt: at.Add(time.Minute)},
		{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("10"), Price: d("170.25"), ExecutedAt: at.Add(time.Hour)},
	}, trading.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tag := st.NewTag(t, u)
	pb, rules := st.NewPlaybook(t, u, 1)
	rulesJSON, _ := json.Marshal(rules)
	if err := sqlstore.ExecForTest(ctx, db, `UPDATE trades SET playbook_id = ?, notes = ?, initial_risk = ?, r_multiple = ?, rating = 2, confidence = 9,
		followed_rules = ?, annotation_version = 3, annotated_at = ? WHERE opening_execution_id = ?`,
		pb, "a\tb\nc", "25", "1.234", string(rulesJSON), at.Add(48*time.Hour+7*time.Microsecond), res.Executions[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := sqlstore.ExecForTest(ctx, db, "INSERT INTO trade_tags (trade_id, tag_id) SELECT id, ? FROM trades WHERE user_id = ?", tag, u); err != nil {
		t.Fatal(err)
	}
	for _, key := range []trading.SortKey{trading.SortOpened, trading.SortClosed, trading.SortNetPnL, trading.SortR} {
		raw, portable, rk, pk, ok, err := sqlstore.ListBothWaysForTest(ctx, db, u, trading.Filter{Location: time.UTC}, trading.Sort{Key: key}, trading.Page{Limit: 3})
		if err != nil || !ok {
			t.Fatalf("%s: ok %v, %v", key, ok, err)
		}
		a, _ := json.Marshal(raw)
		b, _ := json.Marshal(portable)
		if len(raw) != 3 || string(a) != string(b) || !reflect.DeepEqual(rk, pk) {
			t.Fatalf("%s: raw read\n%s %q\ndatabase/sql\n%s %q", key, a, rk, b, pk)
		}
	}
}

// TestLedgerPositionsAreTheAccounts: Positions returns the instruments
// with executions in the account, and only those (not another account's
// of the same user, not an instrument the user holds elsewhere).
func TestLedgerPositionsAreTheAccounts(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			env := tradingtest.NewEnv(t, st)
			u := st.NewUser(t)
			at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
			add := func(name string, symbols ...string) (uuid.UUID, map[uuid.UUID]bool) {
				acct, err := env.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: name, Currency: "USD"})
				if err != nil {
					t.Fatal(err)
				}
				var ins []trading.ExecutionInput
				for i, s := range symbols {
					ins = append(ins, trading.ExecutionInput{Symbol: s, AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(1),
						Price: decimal.NewFromInt(10), ExecutedAt: at.Add(time.Duration(i) * time.Minute)})
				}
				res, err := env.Svc.AddExecutions(ctx, u, acct.ID, ins, trading.AddOptions{})
				if err != nil {
					t.Fatal(err)
				}
				want := map[uuid.UUID]bool{}
				for _, e := range res.Executions {
					want[e.InstrumentID] = true
				}
				return acct.ID, want
			}
			a, wantA := add("A", "AAPL", "MSFT", "AAPL")
			b, wantB := add("B", "TSLA", "AAPL")
			for _, c := range []struct {
				acct uuid.UUID
				want map[uuid.UUID]bool
			}{{a, wantA}, {b, wantB}} {
				got, err := st.Ledger.Positions(ctx, u, c.acct)
				if err != nil {
					t.Fatal(err)
				}
				gotSet := map[uuid.UUID]bool{}
				for _, id := range got {
					gotSet[id] = true
				}
				if len(got) != len(c.want) || !reflect.DeepEqual(gotSet, c.want) {
					t.Fatalf("positions of %s = %v; want %v", c.acct, got, c.want)
				}
			}
			if got, err := st.Ledger.Positions(ctx, st.NewUser(t), a); err != nil || len(got) != 0 {
				t.Fatalf("another user's positions of the account = %v, %v", got, err)
			}
		})
	}
}

// oneAccount opens a migrated database of dc and gives a trading
// environment over it, a user and an account of in.
func oneAccount(t *testing.T, dc dialectCase, in trading.AccountInput) (*sqlstore.DB, *tradingtest.Env, uuid.UUID, *trading.Account) {
	t.Helper()
	db := openMigrated(t, testConfig(dc.url(t)))
	st := tradingStores(db)
	e := tradingtest.NewEnv(t, st)
	u := st.NewUser(t)
	a, err := e.Svc.CreateAccount(context.Background(), u, in)
	if err != nil {
		t.Fatal(err)
	}
	return db, e, u, a
}

// TestLegsMigrationMovesLegs: migration 00360 moves a trade's legs into
// trades.legs and its Down moves them back into trade_legs, on both
// dialects: the trade read after down and up again has the legs it had,
// field by field.
func TestLegsMigrationMovesLegs(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db, e, u, a := oneAccount(t, dc, trading.AccountInput{Name: "legs", Currency: "USD"})
			at := time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)
			d := decimal.RequireFromString
			fill := func(side trading.Side, qty, price, comm string, after time.Duration) trading.ExecutionInput {
				return trading.ExecutionInput{Symbol: "AAPL", AssetClass: trading.Stock, Side: side, Quantity: d(qty), Price: d(price),
					Commission: d(comm), Fees: d("0.013"), ExecutedAt: at.Add(after)}
			}
			res, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{fill(trading.Buy, "100", "170.125", "1", 0),
				fill(trading.Sell, "40", "171.5", "0.4", time.Minute), fill(trading.Sell, "60", "169.99", "0.6", time.Hour)}, trading.AddOptions{})
			if err != nil || len(res.Trades) != 1 {
				t.Fatalf("add: %v, %d trades", err, len(res.Trades))
			}
			before, err := e.Svc.GetTrade(ctx, u, res.Trades[0].ID)
			if err != nil || len(before.Legs) != 3 {
				t.Fatalf("get: %v %+v", err, before)
			}
			migrate := func(cmd string) {
				t.Helper()
				if err := db.Migrate(ctx, cmd, io.Discard); err != nil {
					t.Fatalf("migrate %s: %v", cmd, err)
				}
			}
			migrate(sqlstore.MigrateDown) // 00400_trades_currency
			migrate(sqlstore.MigrateDown) // 00390_trades_foreign_outcome
			migrate(sqlstore.MigrateDown) // 00380_users_email_change
			migrate(sqlstore.MigrateDown) // 00370_account_instruments
			migrate(sqlstore.MigrateDown) // 00360_trade_legs_on_trades
			n, err := sqlstore.StringForTest(ctx, db, "SELECT CAST(COUNT(*) AS TEXT) FROM trade_legs WHERE trade_id = ? AND realized_pnl <> '0'", before.ID.String())
			if err != nil || n == nil || *n != "2" {
				t.Fatalf("trade_legs after down: %v, %v", n, err)
			}
			migrate(sqlstore.MigrateUp)
			after, err := e.Svc.GetTrade(ctx, u, before.ID)
			if err != nil || len(after.Legs) != len(before.Legs) {
				t.Fatalf("get after down and up: %v %+v", err, after)
			}
			for i := range before.Legs {
				w, g := &before.Legs[i], &after.Legs[i]
				if w.ExecutionID != g.ExecutionID || w.Role != g.Role || w.Side != g.Side || w.Seq != g.Seq || !w.ExecutedAt.Equal(g.ExecutedAt) ||
					w.Quantity.String() != g.Quantity.String() || w.Price.String() != g.Price.String() || w.Commission.String() != g.Commission.String() ||
					w.Fees.String() != g.Fees.String() || w.RealizedPnL.String() != g.RealizedPnL.String() {
					t.Fatalf("leg %d after down and up: %+v, want %+v", i, *g, *w)
				}
			}
		})
	}
}

// TestTradesCurrencyMigration: 00400 gives the trades stored before it
// their currency, the instrument's (FDAX: EUR) or else the account's, in
// both dialects.
func TestTradesCurrencyMigration(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			d := decimal.RequireFromString
			db, e, u, a := oneAccount(t, dc, trading.AccountInput{Name: "ccy", Currency: "CHF"})
			at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
			if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
				{Symbol: "FDAXH6", AssetClass: trading.Future, Side: trading.Buy, Quantity: d("1"), Price: d("18000"), ExecutedAt: at},
				{Symbol: "NESN", AssetClass: trading.Stock, Side: trading.Buy, Quantity: d("3"), Price: d("90.5"), ExecutedAt: at},
			}, trading.AddOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, sqlstore.MigrateDown, io.Discard); err != nil {
				t.Fatal(err)
			}
			if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
				t.Fatal(err)
			}
			for sym, want := range map[string]string{"FDAXH26": "EUR", "NESN": "CHF"} {
				got, err := sqlstore.StringForTest(ctx, db, "SELECT t.currency FROM trades t JOIN instruments i ON i.id = t.instrument_id WHERE t.user_id = ? AND i.symbol = ?", u.String(), sym)
				if err != nil || got == nil || *got != want {
					t.Errorf("%s after 00400: %v, %v; want %s", sym, got, err, want)
				}
			}
		})
	}
}

// TestForeignOutcomeMigration: a closed trade priced in another currency
// than its account's, stored as a breakeven under the account's band,
// is a win after 00390 (its P&L is above the band of 0 that applies),
// in both dialects; a trade in the account's currency keeps its outcome.
func TestForeignOutcomeMigration(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			d := decimal.RequireFromString
			db, e, u, a := oneAccount(t, dc, trading.AccountInput{Name: "band", Currency: "USD", BreakevenBand: d("1")})
			at := time.Date(2026, 3, 2, 14, 30, 0, 0, time.UTC)
			fill := func(sym string, class trading.AssetClass, side trading.Side, price string, after time.Duration) trading.ExecutionInput {
				return trading.ExecutionInput{Symbol: sym, AssetClass: class, Side: side, Quantity: d("1"), Price: d(price), ExecutedAt: at.Add(after)}
			}
			if _, err := e.Svc.AddExecutions(ctx, u, a.ID, []trading.ExecutionInput{
				fill("FDAXH6", trading.Future, trading.Buy, "18000", 0), fill("FDAXH6", trading.Future, trading.Sell, "18000.02", time.Minute), // +0.5 EUR
				fill("AAPL", trading.Stock, trading.Buy, "100", 0), fill("AAPL", trading.Stock, trading.Sell, "100.5", time.Minute), // +0.5 USD
			}, trading.AddOptions{}); err != nil {
				t.Fatal(err)
			}
			// As the code before stored them: both breakevens.
			if err := sqlstore.ExecForTest(ctx, db, "UPDATE trades SET outcome = 'breakeven' WHERE user_id = ?", u.String()); err != nil {
				t.Fatal(err)
			}
			for range 2 { // 00400_trades_currency, 00390_trades_foreign_outcome
				if err := db.Migrate(ctx, sqlstore.MigrateDown, io.Discard); err != nil {
					t.Fatal(err)
				}
			}
			if err := db.Migrate(ctx, sqlstore.MigrateUp, io.Discard); err != nil {
				t.Fatal(err)
			}
			for sym, want := range map[string]string{"FDAXH26": "win", "AAPL": "breakeven"} {
				got, err := sqlstore.StringForTest(ctx, db, "SELECT t.outcome FROM trades t JOIN instruments i ON i.id = t.instrument_id WHERE t.user_id = ? AND i.symbol = ?", u.String(), sym)
				if err != nil || got == nil || *got != want {
					t.Errorf("%s after 00390: %v, %v; want %s", sym, got, err, want)
				}
			}
		})
	}
}
