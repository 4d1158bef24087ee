package sqlstore_test

import (
	"context"
	"database/sql"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/tests/testenv"
)

// TestExecutionReferences checks what the foreign keys of executions
// guarantee, on each dialect (PostgreSQL checks them per statement since
// migration 00340, SQLite with foreign keys): an execution names an
// account of its own user and an existing instrument, on every write path
// (Insert, InsertNew, Update); an account's deletion takes its executions
// with it; an instrument or an account key that executions reference
// cannot go away.
func TestExecutionReferences(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			execs := sqlstore.NewExecutions(db)
			now := time.Now().UTC().Truncate(time.Microsecond)
			account := func(user uuid.UUID) uuid.UUID {
				a := &trading.Account{ID: uuid.New(), UserID: user, Name: "a " + uuid.NewString(), Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
				if err := st.Accounts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
				return a.ID
			}
			instrument := func(user uuid.UUID, symbol string) uuid.UUID {
				in := &trading.Instrument{ID: uuid.New(), UserID: user, Symbol: symbol, AssetClass: trading.Stock, Multiplier: decimal.NewFromInt(1)}
				if err := st.Instruments.Ensure(ctx, in); err != nil {
					t.Fatal(err)
				}
				return in.ID
			}
			n := 0
			execution := func(user, acct, inst uuid.UUID) *trading.Execution {
				n++
				return &trading.Execution{ID: uuid.New(), UserID: user, AccountID: acct, InstrumentID: inst, Side: trading.Buy,
					Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(10), ExecutedAt: now.Add(time.Duration(n) * time.Second),
					Fingerprint: uuid.NewString(), Version: 1, CreatedAt: now, UpdatedAt: now}
			}
			count := func(q string, args ...any) int {
				t.Helper()
				c, err := sqlstore.CountForTest(ctx, db, q, args...)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			refused := func(what string, err error) {
				t.Helper()
				if !apperr.Is(err, apperr.Conflict) {
					t.Errorf("%s: got %v, want a conflict", what, err)
				}
			}
			// rawRefused is refused for a statement run outside the
			// repositories (its error is the driver's).
			rawRefused := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
					t.Errorf("%s: got %v, want a foreign key violation", what, err)
				}
			}

			alice, bob := st.NewUser(t), st.NewUser(t)
			aliceAcct, bobAcct := account(alice), account(bob)
			aapl := instrument(alice, "AAPL")

			// Writes naming another user's account or a missing instrument.
			refused("Insert into another user's account", execs.Insert(ctx, []*trading.Execution{execution(alice, aliceAcct, aapl), execution(alice, bobAcct, aapl)}))
			refused("Insert with a missing instrument", execs.Insert(ctx, []*trading.Execution{execution(alice, aliceAcct, uuid.New())}))
			_, err := execs.InsertNew(ctx, []*trading.Execution{execution(alice, aliceAcct, aapl), execution(alice, bobAcct, aapl)})
			refused("InsertNew into another user's account", err)
			_, err = execs.InsertNew(ctx, []*trading.Execution{execution(alice, aliceAcct, uuid.New())})
			refused("InsertNew with a missing instrument", err)
			if c := count("SELECT count(*) FROM executions"); c != 0 {
				t.Fatalf("%d executions stored by refused writes", c)
			}

			// Good writes, then an update to a missing instrument.
			kept := []*trading.Execution{execution(alice, aliceAcct, aapl), execution(alice, aliceAcct, aapl)}
			if err := execs.Insert(ctx, kept[:1]); err != nil {
				t.Fatal(err)
			}
			stored, err := execs.InsertNew(ctx, kept[1:])
			if err != nil || len(stored) != 1 || !stored[0] {
				t.Fatalf("InsertNew: %v %v", stored, err)
			}
			moved := *kept[0]
			moved.InstrumentID, moved.Version = uuid.New(), 2
			refused("Update to a missing instrument", execs.Update(ctx, &moved))
			if got, err := execs.Get(ctx, alice, kept[0].ID); err != nil || got.InstrumentID != aapl || got.Version != 1 {
				t.Fatalf("after a refused update: %+v %v", got, err)
			}

			// What executions reference stays.
			rawRefused("delete a referenced instrument", sqlstore.ExecForTest(ctx, db, "DELETE FROM instruments WHERE id = ?", aapl))
			rawRefused("change a referenced instrument's id", sqlstore.ExecForTest(ctx, db, "UPDATE instruments SET id = ? WHERE id = ?", uuid.New(), aapl))
			rawRefused("change a referenced account's id", sqlstore.ExecForTest(ctx, db, "UPDATE trading_accounts SET id = ? WHERE id = ?", uuid.New(), aliceAcct))
			if c := count("SELECT count(*) FROM executions WHERE account_id = ? AND instrument_id = ?", aliceAcct, aapl); c != 2 {
				t.Fatalf("%d executions after the refused changes, want 2", c)
			}
			// An unreferenced account's key may change (nothing points at it).
			if err := sqlstore.ExecForTest(ctx, db, "UPDATE trading_accounts SET id = ? WHERE id = ?", uuid.New(), bobAcct); err != nil {
				t.Fatalf("change an unreferenced account's id: %v", err)
			}

			// Deleting the account deletes its executions; then the
			// instrument may go.
			other := account(alice)
			if err := execs.Insert(ctx, []*trading.Execution{execution(alice, other, aapl)}); err != nil {
				t.Fatal(err)
			}
			if err := st.Accounts.Delete(ctx, alice, aliceAcct); err != nil {
				t.Fatal(err)
			}
			if c := count("SELECT count(*) FROM executions WHERE account_id = ?", aliceAcct); c != 0 {
				t.Fatalf("%d executions left after their account's deletion", c)
			}
			if c := count("SELECT count(*) FROM executions WHERE account_id = ?", other); c != 1 {
				t.Fatalf("%d executions of another account after the deletion, want 1", c)
			}
			// Deleting the user deletes the rest (accounts, instruments and
			// executions in one statement).
			if err := sqlstore.ExecForTest(ctx, db, "DELETE FROM users WHERE id = ?", alice); err != nil {
				t.Fatalf("delete the user: %v", err)
			}
			if c := count("SELECT count(*) FROM executions"); c != 0 {
				t.Fatalf("%d executions left after their user's deletion", c)
			}
		})
	}
}

// TestImportIssueReferences checks what the foreign key of import_issues
// guarantees, on each dialect (PostgreSQL checks it per statement since
// migration 00341): an issue names an existing import; an import's
// deletion, by itself or with its account, takes its issues with it; a
// referenced import's id cannot change.
func TestImportIssueReferences(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			imps := sqlstore.NewImports(db)
			now := time.Now().UTC().Truncate(time.Microsecond)
			user := st.NewUser(t)
			account := func() uuid.UUID {
				a := &trading.Account{ID: uuid.New(), UserID: user, Name: "a " + uuid.NewString(), Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
				if err := st.Accounts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
				return a.ID
			}
			newImport := func(acct uuid.UUID) uuid.UUID {
				imp := &imports.Import{ID: uuid.New(), UserID: user, AccountID: acct, Broker: "generic", BlobKey: "k", Timezone: "UTC",
					Status: imports.Succeeded, CreatedAt: now, Version: 1,
					Rejected:   []imports.RejectedRow{{Line: 2, Raw: "x", Reason: "bad"}, {Line: 3, Raw: "y", Reason: "bad"}},
					Mismatches: []imports.Mismatch{{Line: 4, BrokerPnL: decimal.NewFromInt(1), ComputedPnL: decimal.NewFromInt(2)}}}
				if err := imps.Create(ctx, imp); err != nil {
					t.Fatal(err)
				}
				return imp.ID
			}
			issues := func(id uuid.UUID) int {
				t.Helper()
				c, err := sqlstore.CountForTest(ctx, db, "SELECT count(*) FROM import_issues WHERE import_id = ?", id)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			foreignKey := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(strings.ToLower(err.Error()), "foreign key") {
					t.Errorf("%s: got %v, want a foreign key violation", what, err)
				}
			}

			acct := account()
			first, second := newImport(acct), newImport(acct)
			if n := issues(first); n != 3 {
				t.Fatalf("%d issues stored, want 3", n)
			}
			foreignKey("an issue of a missing import", sqlstore.ExecForTest(ctx, db,
				"INSERT INTO import_issues (import_id, kind, seq, line) VALUES (?, 'rejected', 0, 1)", uuid.New()))
			foreignKey("an issue moved to a missing import", sqlstore.ExecForTest(ctx, db,
				"UPDATE import_issues SET import_id = ? WHERE import_id = ?", uuid.New(), first))
			foreignKey("a referenced import's id changed", sqlstore.ExecForTest(ctx, db,
				"UPDATE imports SET id = ? WHERE id = ?", uuid.New(), first))
			if n := issues(first); n != 3 {
				t.Fatalf("%d issues after the refused changes, want 3", n)
			}

			if err := imps.Delete(ctx, user, first); err != nil {
				t.Fatal(err)
			}
			if n, m := issues(first), issues(second); n != 0 || m != 3 {
				t.Fatalf("after deleting an import: %d of its issues left, %d of another's (want 0, 3)", n, m)
			}
			// The import goes with its account (cascade), its issues with it.
			if err := st.Accounts.Delete(ctx, user, acct); err != nil {
				t.Fatal(err)
			}
			if n := issues(second); n != 0 {
				t.Fatalf("%d issues left after their account's deletion", n)
			}
		})
	}
}

// TestInsertNewStoresEveryField reads back what InsertNew stored (on
// PostgreSQL the chunk's COPY text is formatted field by field,
// copyLines): text that COPY must escape, decimals of every shape, the
// nanosecond instant, a missing and a present import, and rows whose
// created and updated instants differ from the previous row's ("mixed":
// every column staged) or are the same ("shared", with and without an
// import: those columns are parameters of the INSERT).
func TestInsertNewStoresEveryField(t *testing.T) {
	for _, dc := range dialects {
		for _, mode := range []string{"mixed", "shared", "shared-no-import"} {
			t.Run(dc.name+"/"+mode, func(t *testing.T) {
				ctx := context.Background()
				db := openMigrated(t, testConfig(dc.url(t)))
				st := tradingStores(db)
				execs := sqlstore.NewExecutions(db)
				user := st.NewUser(t)
				now := time.Date(2026, 3, 8, 6, 59, 59, 999_999_000, time.UTC)
				a := &trading.Account{ID: uuid.New(), UserID: user, Name: "a", Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
				if err := st.Accounts.Create(ctx, a); err != nil {
					t.Fatal(err)
				}
				in := &trading.Instrument{ID: uuid.New(), UserID: user, Symbol: "ES", AssetClass: trading.Stock, Multiplier: decimal.NewFromInt(1)}
				if err := st.Instruments.Ensure(ctx, in); err != nil {
					t.Fatal(err)
				}
				imp := &imports.Import{ID: uuid.New(), UserID: user, AccountID: a.ID, Broker: "generic", BlobKey: "k", Timezone: "UTC",
					Status: imports.Running, CreatedAt: now, Version: 1}
				if err := sqlstore.NewImports(db).Create(ctx, imp); err != nil {
					t.Fatal(err)
				}
				dec := func(s string) decimal.Decimal { return decimal.RequireFromString(s) }
				ids := []string{"plain", "tab\there", "new\nline", `back\slash`, "cr\rx", `\N`, "ünïcode €", ""}
				var es []*trading.Execution
				for i, bid := range ids {
					created := now.Add(time.Duration(i/3) * time.Hour)
					if mode != "mixed" {
						created = now
					}
					e := &trading.Execution{ID: uuid.New(), UserID: user, AccountID: a.ID, InstrumentID: in.ID, Side: trading.Sell,
						Quantity: dec([]string{"1", "0.00001234", "123456789012345678901234.5", "-3", "100", "7.10", "1e3", "0"}[i]),
						Price:    dec("4123.25"), Commission: dec("-0.5"), Fees: dec("0.000001"),
						ExecutedAt: now.Add(time.Duration(i)*time.Second + 123), BrokerExecutionID: bid, Fingerprint: uuid.NewString(),
						Version: int64(i + 1), CreatedAt: created, UpdatedAt: created.Add(time.Duration(i%2) * time.Minute)}
					if (mode == "mixed" && i%2 == 0) || mode == "shared" {
						e.ImportID = imp.ID
					}
					if mode != "mixed" {
						e.Version, e.UpdatedAt = 3, created.Add(time.Minute)
					}
					es = append(es, e)
				}
				stored, err := execs.InsertNew(ctx, es)
				if err != nil {
					t.Fatal(err)
				}
				for i, want := range es {
					if !stored[i] {
						t.Fatalf("execution %d not stored", i)
					}
					got, err := execs.Get(ctx, user, want.ID)
					if err != nil {
						t.Fatal(err)
					}
					if got.BrokerExecutionID != want.BrokerExecutionID || got.Side != want.Side || got.ImportID != want.ImportID ||
						got.Fingerprint != want.Fingerprint || got.Version != want.Version || got.UserID != user || got.AccountID != a.ID ||
						got.InstrumentID != in.ID || !got.ExecutedAt.Equal(want.ExecutedAt) ||
						!got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
						t.Errorf("execution %d: got %+v, want %+v", i, got, want)
					}
					for _, p := range [][2]decimal.Decimal{{got.Quantity, want.Quantity}, {got.Price, want.Price}, {got.Commission, want.Commission}, {got.Fees, want.Fees}} {
						if !p[0].Equal(p[1]) {
							t.Errorf("execution %d: decimal %s, want %s", i, p[0], p[1])
						}
					}
				}
			})
		}
	}
}

// TestImportIssuesStoreEveryField reads back an import's issues as Create
// and Update wrote them (on PostgreSQL formatted field by field,
// copyLines): raw text and reasons COPY must escape, the order of each
// kind, and the mismatches' amounts.
func TestImportIssuesStoreEveryField(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			imps := sqlstore.NewImports(db)
			now := time.Now().UTC().Truncate(time.Microsecond)
			user := st.NewUser(t)
			a := &trading.Account{ID: uuid.New(), UserID: user, Name: "a", Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := st.Accounts.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
			imp := &imports.Import{ID: uuid.New(), UserID: user, AccountID: a.ID, Broker: "generic", BlobKey: "k", Timezone: "UTC",
				Status: imports.Running, CreatedAt: now, Version: 1,
				Rejected: []imports.RejectedRow{{Line: 9, Raw: "a\tb,\"c\nd\"", Reason: `back\slash`}, {Line: 3, Raw: `\N`, Reason: "cr\rlf"},
					{Line: 4, Raw: "", Reason: ""}}}
			if err := imps.Create(ctx, imp); err != nil {
				t.Fatal(err)
			}
			imp.Version, imp.Status = 2, imports.Succeeded
			imp.Mismatches = []imports.Mismatch{{Line: 7, BrokerPnL: decimal.RequireFromString("-12.345"), ComputedPnL: decimal.RequireFromString("0")},
				{Line: 5, BrokerPnL: decimal.RequireFromString("123456789012345678901.5"), ComputedPnL: decimal.RequireFromString("0.0000001")}}
			if err := imps.Update(ctx, imp); err != nil {
				t.Fatal(err)
			}
			got, err := imps.Get(ctx, user, imp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Rejected, imp.Rejected) {
				t.Errorf("rejected rows: got %#v, want %#v", got.Rejected, imp.Rejected)
			}
			if len(got.Mismatches) != len(imp.Mismatches) {
				t.Fatalf("mismatches: got %v, want %v", got.Mismatches, imp.Mismatches)
			}
			for i, m := range imp.Mismatches {
				g := got.Mismatches[i]
				if g.Line != m.Line || !g.BrokerPnL.Equal(m.BrokerPnL) || !g.ComputedPnL.Equal(m.ComputedPnL) {
					t.Errorf("mismatch %d: got %v, want %v", i, g, m)
				}
			}
		})
	}
}

// TestInsertNewReportsDuplicates checks what InsertNew reports stored for
// a chunk of new fills, one with some fingerprints the account holds, and
// one of duplicates only.
func TestInsertNewReportsDuplicates(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			execs := sqlstore.NewExecutions(db)
			user := st.NewUser(t)
			now := time.Now().UTC().Truncate(time.Microsecond)
			a := &trading.Account{ID: uuid.New(), UserID: user, Name: "a", Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
			if err := st.Accounts.Create(ctx, a); err != nil {
				t.Fatal(err)
			}
			in := &trading.Instrument{ID: uuid.New(), UserID: user, Symbol: "AAPL", AssetClass: trading.Stock, Multiplier: decimal.NewFromInt(1)}
			if err := st.Instruments.Ensure(ctx, in); err != nil {
				t.Fatal(err)
			}
			chunk := func(fps ...string) []*trading.Execution {
				var es []*trading.Execution
				for i, fp := range fps {
					es = append(es, &trading.Execution{ID: uuid.New(), UserID: user, AccountID: a.ID, InstrumentID: in.ID, Side: trading.Buy,
						Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(10), ExecutedAt: now.Add(time.Duration(i) * time.Second),
						Fingerprint: fp, Version: 1, CreatedAt: now, UpdatedAt: now})
				}
				return es
			}
			for _, c := range []struct {
				fps  []string
				want []bool
			}{
				{[]string{"f1", "f2", "f3"}, []bool{true, true, true}},
				{[]string{"f4", "f2", "f5", "f1"}, []bool{true, false, true, false}},
				{[]string{"f3", "f5"}, []bool{false, false}},
			} {
				es := chunk(c.fps...)
				got, err := execs.InsertNew(ctx, es)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("InsertNew %v: stored %v, want %v", c.fps, got, c.want)
				}
				for i, e := range es {
					_, err := execs.Get(ctx, user, e.ID)
					if stored := err == nil; stored != c.want[i] {
						t.Errorf("InsertNew %v: execution %d held %v, want %v (%v)", c.fps, i, stored, c.want[i], err)
					}
				}
			}
			if n, err := sqlstore.CountForTest(ctx, db, "SELECT count(*) FROM executions WHERE account_id = ?", a.ID); err != nil || n != 5 {
				t.Fatalf("%d executions held, want 5 (%v)", n, err)
			}
		})
	}
}

// TestReferencesNeedReadCommitted: on PostgreSQL the references to
// accounts, instruments and imports are checked by triggers reading the
// statement's snapshot (00340/00341), which is only as strong as a
// foreign key under READ COMMITTED; a delete under REPEATABLE READ is
// refused with the serialization failure a foreign key would give
// (00343), and the same delete under READ COMMITTED goes through.
func TestReferencesNeedReadCommitted(t *testing.T) {
	url := testenv.PostgresDB(t)
	ctx := context.Background()
	db := openMigrated(t, testConfig(url))
	st := tradingStores(db)
	now := time.Now().UTC().Truncate(time.Microsecond)
	user := uuid.New()
	if err := sqlstore.ExecForTest(ctx, db, "INSERT INTO users (id, email, email_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?)", user, "rc@example.com", "rc@example.com", now, now); err != nil {
		t.Fatal(err)
	}
	a := &trading.Account{ID: uuid.New(), UserID: user, Name: "rc", Currency: "USD", Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := st.Accounts.Create(ctx, a); err != nil {
		t.Fatal(err)
	}
	raw, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = raw.Close() })
	del := func(level sql.IsolationLevel) error {
		tx, err := raw.BeginTx(ctx, &sql.TxOptions{Isolation: level})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM trading_accounts WHERE id = $1", a.ID); err != nil {
			_ = tx.Rollback()
			return err
		}
		return tx.Commit()
	}
	for _, level := range []sql.IsolationLevel{sql.LevelRepeatableRead, sql.LevelSerializable} {
		err := del(level)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "40001" {
			t.Fatalf("delete under %v = %v; want SQLSTATE 40001", level, err)
		}
	}
	if err := del(sql.LevelReadCommitted); err != nil {
		t.Fatalf("delete under READ COMMITTED: %v", err)
	}
	if n, err := sqlstore.CountForTest(ctx, db, "SELECT count(*) FROM trading_accounts WHERE id = ?", a.ID); err != nil || n != 0 {
		t.Fatalf("account still there: %d, %v", n, err)
	}
}
