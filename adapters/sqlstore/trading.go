package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// openCloseNS is trades.closed_at_ns of an open trade.
const openCloseNS = math.MaxInt64

// chunk is the rows per multi-row statement: far below PostgreSQL's 65,535
// parameters and SQLite's 32,766 at the widest row (trades, 38 columns).
const chunk = 500

// TradingAccounts is the SQL implementation of trading.Accounts.
type TradingAccounts struct{ db *DB }

// Instruments is the SQL implementation of trading.Instruments.
type Instruments struct{ db *DB }

// Executions is the SQL implementation of trading.Executions.
type Executions struct{ db *DB }

// Ledger is the SQL implementation of trading.Ledger and trading.Trades.
type Ledger struct {
	db *DB
	// execScratch and tradeScratch hold the scratch slices of a
	// rebuild's reads (see takeScratch).
	execScratch  chan *[]trading.Execution
	tradeScratch chan *[]trading.Trade
}

// DataVersions is the SQL implementation of trading.DataVersions.
type DataVersions struct{ db *DB }

// TradeLabels is the SQL implementation of trading.Labels.
type TradeLabels struct{ db *DB }

var (
	_ trading.Accounts     = (*TradingAccounts)(nil)
	_ trading.Instruments  = (*Instruments)(nil)
	_ trading.Executions   = (*Executions)(nil)
	_ trading.Ledger       = (*Ledger)(nil)
	_ trading.Trades       = (*Ledger)(nil)
	_ trading.DataVersions = (*DataVersions)(nil)
	_ trading.Labels       = (*TradeLabels)(nil)
)

// NewTradingAccounts returns the trading accounts repository on db.
func NewTradingAccounts(db *DB) *TradingAccounts { return &TradingAccounts{db: db} }

// NewInstruments returns the instruments repository on db.
func NewInstruments(db *DB) *Instruments { return &Instruments{db: db} }

// NewExecutions returns the executions repository on db.
func NewExecutions(db *DB) *Executions { return &Executions{db: db} }

// NewLedger returns the trades repository on db.
func NewLedger(db *DB) *Ledger {
	return &Ledger{db: db, execScratch: make(chan *[]trading.Execution, scratchSlices), tradeScratch: make(chan *[]trading.Trade, scratchSlices)}
}

// NewDataVersions returns the data version counters on db.
func NewDataVersions(db *DB) *DataVersions { return &DataVersions{db: db} }

// NewTradeLabels returns the tag and playbook checks on db.
func NewTradeLabels(db *DB) *TradeLabels { return &TradeLabels{db: db} }

// run gives fn a session bound to ctx (see DB.session).
func (d *DB) run(ctx context.Context, fn func(g *gorm.DB) error) error {
	g, release, err := d.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	return fn(g)
}

// query runs a statement and calls each for every row.
func query(g *gorm.DB, each func(rows *sql.Rows) error, q string, args ...any) error {
	rows, err := g.Raw(q, args...).Rows()
	if err != nil {
		return translate(err)
	}
	defer func() { _ = rows.Close() }()
	for rows.Next() {
		if err := each(rows); err != nil {
			return err
		}
	}
	return translate(rows.Err())
}

// getOne runs q, a look-up of one row, on a session bound to ctx and scans
// the row (the last one, should there be more); with no row it returns
// notFound(). what prefixes the error of a failed query.
func getOne[T any](ctx context.Context, db *DB, scan func(*sql.Rows) (*T, error), what string, notFound func() error, q string, args ...any) (*T, error) {
	var out *T
	err := db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) (err error) { out, err = scan(r); return err }, q, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if out == nil {
		return nil, notFound()
	}
	return out, nil
}

// listAll runs q on a session bound to ctx and scans every row into a
// slice; what prefixes the error of a failed query.
func listAll[T any](ctx context.Context, db *DB, scan func(*sql.Rows) (*T, error), what string, q string, args ...any) ([]T, error) {
	var out []T
	err := db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			v, err := scan(r)
			if err == nil {
				out = append(out, *v)
			}
			return err
		}, q, args...)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func ids(in []uuid.UUID) []string {
	out := make([]string, len(in))
	for i, id := range in {
		out[i] = id.String()
	}
	return out
}

func nsTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

// placeholders returns "(?, ?, …), (…)" for rows of n columns.
func placeholders(rows, n int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

func lockClause(d Dialect) string {
	if d == Postgres {
		return " FOR UPDATE"
	}
	return "" // SQLite: BEGIN IMMEDIATE already holds the database's write lock
}

// ---- accounts

const accountCols = "id, user_id, name, broker, broker_preset, currency, starting_balance, timezone, breakeven_band, multipliers, archived, version, created_at, updated_at"

func scanAccount(r *sql.Rows) (*trading.Account, error) {
	var a trading.Account
	var mult string
	if err := r.Scan(&a.ID, &a.UserID, &a.Name, &a.Broker, &a.BrokerPreset, &a.Currency, &a.StartingBalance, &a.Timezone,
		&a.BreakevenBand, &mult, &a.Archived, &a.Version, &a.CreatedAt, &a.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	a.CreatedAt, a.UpdatedAt = a.CreatedAt.UTC(), a.UpdatedAt.UTC()
	if err := json.Unmarshal([]byte(mult), &a.Multipliers); err != nil {
		return nil, fmt.Errorf("account %s: multipliers: %w", a.ID, err)
	}
	return &a, nil
}

func multipliersJSON(m map[string]decimal.Decimal) string {
	if m == nil {
		m = map[string]decimal.Decimal{}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func accountNameTaken(err error) error {
	if c, dup := uniqueViolation(err); dup && strings.Contains(c, "name_key") {
		return apperr.Wrap(err, apperr.Conflict, trading.CodeAccountNameTaken, "an account of that name exists")
	}
	return translate(err)
}

// Create implements trading.Accounts.
func (s *TradingAccounts) Create(ctx context.Context, a *trading.Account) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO trading_accounts ("+accountCols+", name_key) VALUES "+placeholders(1, 15),
			a.ID, a.UserID, a.Name, a.Broker, a.BrokerPreset, a.Currency, a.StartingBalance, a.Timezone, a.BreakevenBand,
			multipliersJSON(a.Multipliers), a.Archived, a.Version, normTime(a.CreatedAt), normTime(a.UpdatedAt), strings.ToLower(a.Name)).Error
		if err != nil {
			return fmt.Errorf("create trading account: %w", accountNameTaken(err))
		}
		return nil
	})
}

// Get implements trading.Accounts.
func (s *TradingAccounts) Get(ctx context.Context, userID, id uuid.UUID, lock bool) (*trading.Account, error) {
	q := "SELECT " + accountCols + " FROM trading_accounts WHERE user_id = ? AND id = ?"
	if lock {
		q += lockClause(s.db.dialect)
	}
	return getOne(ctx, s.db, scanAccount, "get trading account", func() error {
		return apperr.New(apperr.NotFound, trading.CodeAccountNotFound, "account not found")
	}, q, userID, id)
}

// LockAll implements trading.Accounts. PostgreSQL locks the rows in the
// order the query returns them; SQLite's BEGIN IMMEDIATE already holds the
// database's write lock.
func (s *TradingAccounts) LockAll(ctx context.Context, userID uuid.UUID) error {
	if s.db.dialect != Postgres {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("lock trading accounts: %w", translate(err))
		}
		return nil
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := query(g, func(*sql.Rows) error { return nil }, "SELECT id FROM trading_accounts WHERE user_id = ? ORDER BY id FOR UPDATE", userID)
		if err != nil {
			return fmt.Errorf("lock trading accounts: %w", err)
		}
		return nil
	})
}

// List implements trading.Accounts.
func (s *TradingAccounts) List(ctx context.Context, userID uuid.UUID, archived bool) ([]trading.Account, error) {
	var out []trading.Account
	q := "SELECT " + accountCols + " FROM trading_accounts WHERE user_id = ?"
	if !archived {
		q += " AND archived = false"
	}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			a, err := scanAccount(r)
			if err == nil {
				out = append(out, *a)
			}
			return err
		}, q+" ORDER BY name_key, id", userID)
	})
	if err != nil {
		return nil, fmt.Errorf("list trading accounts: %w", err)
	}
	return out, nil
}

// Update implements trading.Accounts.
func (s *TradingAccounts) Update(ctx context.Context, a *trading.Account) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec(`UPDATE trading_accounts SET name = ?, name_key = ?, broker = ?, broker_preset = ?, currency = ?, starting_balance = ?,
			timezone = ?, breakeven_band = ?, multipliers = ?, archived = ?, version = ?, updated_at = ?
			WHERE user_id = ? AND id = ? AND version = ?`,
			a.Name, strings.ToLower(a.Name), a.Broker, a.BrokerPreset, a.Currency, a.StartingBalance, a.Timezone, a.BreakevenBand,
			multipliersJSON(a.Multipliers), a.Archived, a.Version, normTime(a.UpdatedAt), a.UserID, a.ID, a.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update trading account: %w", accountNameTaken(res.Error))
		}
		if res.RowsAffected == 1 {
			return nil
		}
		return missingOrStale(g, "trading_accounts", "id = ? AND user_id = ?", []any{a.ID, a.UserID},
			apperr.New(apperr.NotFound, trading.CodeAccountNotFound, "account not found"))
	})
}

// missingOrStale tells a conditional update that matched nothing apart:
// the row is gone (notFound) or its version moved (version_mismatch).
func missingOrStale(g *gorm.DB, table, where string, args []any, notFound error) error {
	var n int64
	if err := g.Raw("SELECT COUNT(*) FROM "+table+" WHERE "+where, args...).Scan(&n).Error; err != nil {
		return translate(err)
	}
	if n == 0 {
		return notFound
	}
	return apperr.New(apperr.Conflict, trading.CodeVersionMismatch, "the record changed since it was read: reload it and try again")
}

// Delete implements trading.Accounts: executions, trades and their legs
// go by the trading_accounts_delete_derived trigger on PostgreSQL (its
// references of executions are checked per statement: migration 00340),
// executions by foreign-key cascade on SQLite.
func (s *TradingAccounts) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec("DELETE FROM trading_accounts WHERE user_id = ? AND id = ?", userID, id)
		if res.Error != nil {
			return fmt.Errorf("delete trading account: %w", translate(res.Error))
		}
		if res.RowsAffected == 0 {
			return apperr.New(apperr.NotFound, trading.CodeAccountNotFound, "account not found")
		}
		return nil
	})
}

// ---- instruments

const instrumentCols = "id, user_id, asset_class, symbol, currency, multiplier, tick_size, root, expiry, strike, option_right"

func scanInstrument(r *sql.Rows) (*trading.Instrument, error) {
	var in trading.Instrument
	var expiry sql.NullString
	if err := r.Scan(&in.ID, &in.UserID, &in.AssetClass, &in.Symbol, &in.Currency, &in.Multiplier, &in.TickSize, &in.Root,
		&expiry, &in.Strike, &in.Right); err != nil {
		return nil, translate(err)
	}
	if expiry.Valid && len(expiry.String) >= 10 {
		t, err := time.Parse(time.DateOnly, expiry.String[:10])
		if err == nil {
			in.Expiry = t
		}
	}
	return &in, nil
}

// Ensure implements trading.Instruments.
func (s *Instruments) Ensure(ctx context.Context, in *trading.Instrument) error {
	var expiry any
	if !in.Expiry.IsZero() {
		expiry = in.Expiry.Format(time.DateOnly)
	}
	return s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec("INSERT INTO instruments ("+instrumentCols+", created_at) VALUES "+placeholders(1, 12)+
			" ON CONFLICT (user_id, asset_class, symbol) DO NOTHING",
			in.ID, in.UserID, in.AssetClass, in.Symbol, in.Currency, in.Multiplier, in.TickSize, in.Root, expiry, in.Strike, in.Right, now()).Error
		if err != nil {
			return fmt.Errorf("ensure instrument: %w", translate(err))
		}
		var got *trading.Instrument
		err = query(g, func(r *sql.Rows) (err error) { got, err = scanInstrument(r); return err },
			"SELECT "+instrumentCols+" FROM instruments WHERE user_id = ? AND asset_class = ? AND symbol = ?", in.UserID, in.AssetClass, in.Symbol)
		if err != nil || got == nil {
			return fmt.Errorf("ensure instrument: %w", errors.Join(err, translate(sql.ErrNoRows)))
		}
		*in = *got
		return nil
	})
}

// Get implements trading.Instruments.
func (s *Instruments) Get(ctx context.Context, userID, id uuid.UUID) (*trading.Instrument, error) {
	return getOne(ctx, s.db, scanInstrument, "get instrument", func() error {
		return apperr.New(apperr.NotFound, trading.CodeInstrumentNotFound, "instrument not found")
	}, "SELECT "+instrumentCols+" FROM instruments WHERE user_id = ? AND id = ?", userID, id)
}

// InAccount implements trading.Instruments.
func (s *Instruments) InAccount(ctx context.Context, userID, accountID, id uuid.UUID) (*trading.Instrument, error) {
	return getOne(ctx, s.db, scanInstrument, "get instrument", func() error {
		return apperr.New(apperr.NotFound, trading.CodeInstrumentNotFound, "instrument not found")
	}, `SELECT i.id, i.user_id, i.asset_class, i.symbol, i.currency, COALESCE(ai.multiplier, i.multiplier), i.tick_size, i.root,
		i.expiry, i.strike, i.option_right
		FROM instruments i LEFT JOIN account_instruments ai ON ai.account_id = ? AND ai.instrument_id = i.id
		WHERE i.user_id = ? AND i.id = ?`, accountID, userID, id)
}

// Pin implements trading.Instruments: one upsert that replaces the stored
// multiplier only while the account has no execution of the instrument,
// then a read of the one in force.
func (s *Instruments) Pin(ctx context.Context, userID, accountID, instrumentID uuid.UUID, m decimal.Decimal) (decimal.Decimal, error) {
	var got decimal.Decimal
	err := s.db.run(ctx, func(g *gorm.DB) error {
		err := g.Exec(`INSERT INTO account_instruments (user_id, account_id, instrument_id, multiplier) VALUES (?, ?, ?, ?)
			ON CONFLICT (account_id, instrument_id) DO UPDATE SET multiplier = excluded.multiplier
			WHERE NOT EXISTS (SELECT 1 FROM executions e
				WHERE e.account_id = account_instruments.account_id AND e.instrument_id = account_instruments.instrument_id)`,
			userID, accountID, instrumentID, m).Error
		if err != nil {
			return fmt.Errorf("pin multiplier: %w", translate(err))
		}
		found := false
		err = query(g, func(r *sql.Rows) error { found = true; return translate(r.Scan(&got)) },
			"SELECT multiplier FROM account_instruments WHERE account_id = ? AND instrument_id = ? AND user_id = ?", accountID, instrumentID, userID)
		if err != nil || !found {
			return fmt.Errorf("pin multiplier: %w", errors.Join(err, translate(sql.ErrNoRows)))
		}
		return nil
	})
	return got, err
}

// Recorded implements trading.Instruments.
func (s *Instruments) Recorded(ctx context.Context, userID, accountID uuid.UUID, class trading.AssetClass, symbol string) (decimal.Decimal, bool, error) {
	var got decimal.Decimal
	found := false
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error { found = true; return translate(r.Scan(&got)) },
			`SELECT ai.multiplier FROM instruments i
			JOIN account_instruments ai ON ai.instrument_id = i.id AND ai.account_id = ? AND ai.user_id = ?
			WHERE i.user_id = ? AND i.asset_class = ? AND i.symbol = ?
			AND EXISTS (SELECT 1 FROM executions e WHERE e.account_id = ai.account_id AND e.instrument_id = ai.instrument_id)`,
			accountID, userID, userID, class, symbol)
	})
	if err != nil {
		return decimal.Decimal{}, false, fmt.Errorf("recorded multiplier: %w", err)
	}
	return got, found, nil
}

// CurrencyTerms implements trading.Instruments.
func (s *Instruments) CurrencyTerms(ctx context.Context, userID uuid.UUID, class trading.AssetClass, symbol string, except uuid.UUID) (string, []string, bool, error) {
	var cur string
	var holders []string
	found := false
	err := s.db.run(ctx, func(g *gorm.DB) error {
		var id uuid.UUID
		err := query(g, func(r *sql.Rows) error { found = true; return translate(r.Scan(&id, &cur)) },
			"SELECT id, currency FROM instruments WHERE user_id = ? AND asset_class = ? AND symbol = ?", userID, class, symbol)
		if err != nil || !found {
			return err
		}
		return query(g, func(r *sql.Rows) error {
			var c string
			if err := r.Scan(&c); err != nil {
				return translate(err)
			}
			holders = append(holders, c)
			return nil
		}, `SELECT DISTINCT a.currency FROM trading_accounts a WHERE a.user_id = ?
			AND EXISTS (SELECT 1 FROM executions e WHERE e.user_id = a.user_id AND e.account_id = a.id AND e.instrument_id = ?
				AND (e.import_id IS NULL OR e.import_id <> ?))`, userID, id, except)
	})
	if err != nil {
		return "", nil, false, fmt.Errorf("instrument currency: %w", err)
	}
	return cur, holders, found, nil
}

// AdoptCurrency implements trading.Instruments: one conditional update.
func (s *Instruments) AdoptCurrency(ctx context.Context, userID, id uuid.UUID, cur string, except uuid.UUID) (bool, error) {
	var n int64
	err := s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec(`UPDATE instruments SET currency = ? WHERE user_id = ? AND id = ? AND currency = ''
			AND NOT EXISTS (SELECT 1 FROM executions e JOIN trading_accounts a ON a.id = e.account_id
				WHERE e.user_id = instruments.user_id AND e.instrument_id = instruments.id AND a.currency <> ?
				AND (e.import_id IS NULL OR e.import_id <> ?))`, cur, userID, id, cur, except)
		n = res.RowsAffected
		return translate(res.Error)
	})
	if err != nil {
		return false, fmt.Errorf("adopt instrument currency: %w", err)
	}
	return n == 1, nil
}

// ---- executions

const executionCols = "e.id, e.user_id, e.account_id, e.instrument_id, i.symbol, i.asset_class, e.side, e.quantity, e.price, e.commission, e.fees, " +
	"e.executed_at_ns, e.broker_execution_id, e.import_id, e.fingerprint, e.version, e.created_at, e.updated_at"

const executionFrom = " FROM executions e JOIN instruments i ON i.id = e.instrument_id"

func scanExecution(r *sql.Rows) (*trading.Execution, error) {
	var e trading.Execution
	var ns int64
	var imp uuid.NullUUID
	if err := r.Scan(&e.ID, &e.UserID, &e.AccountID, &e.InstrumentID, &e.Symbol, &e.AssetClass, &e.Side, &e.Quantity, &e.Price,
		&e.Commission, &e.Fees, &ns, &e.BrokerExecutionID, &imp, &e.Fingerprint, &e.Version, &e.CreatedAt, &e.UpdatedAt); err != nil {
		return nil, translate(err)
	}
	e.ExecutedAt, e.ImportID = nsTime(ns), imp.UUID
	e.CreatedAt, e.UpdatedAt = e.CreatedAt.UTC(), e.UpdatedAt.UTC()
	return &e, nil
}

func executionDuplicate(err error) error {
	if c, dup := uniqueViolation(err); dup && strings.Contains(c, "fingerprint") {
		return apperr.Wrap(err, apperr.Conflict, trading.CodeExecutionDuplicate, "the account already has this execution")
	}
	return translate(err)
}

// Insert implements trading.Executions.
func (s *Executions) Insert(ctx context.Context, es []*trading.Execution) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			row := func(i int, dst []any) []any {
				e := es[i]
				return append(dst, e.ID, e.UserID, e.AccountID, e.InstrumentID, string(e.Side), e.Quantity, e.Price, e.Commission, e.Fees,
					e.ExecutedAt.UnixNano(), e.BrokerExecutionID, nullID(e.ImportID), e.Fingerprint, e.Version, normTime(e.CreatedAt), normTime(e.UpdatedAt))
			}
			if _, err := s.db.bulkInsertFunc(ctx, g, "executions", executionInsertCols, len(es), row); err != nil {
				return fmt.Errorf("insert executions: %w", executionDuplicate(err))
			}
			return nil
		})
	})
}

var executionInsertCols = []string{"id", "user_id", "account_id", "instrument_id", "side", "quantity", "price", "commission", "fees",
	"executed_at_ns", "broker_execution_id", "import_id", "fingerprint", "version", "created_at", "updated_at"}

// Fingerprinted implements trading.Executions.
func (s *Executions) Fingerprinted(ctx context.Context, accountID uuid.UUID, fps []string) (map[string]uuid.UUID, error) {
	out := map[string]uuid.UUID{}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		for start := 0; start < len(fps); start += chunk {
			part := fps[start:min(start+chunk, len(fps))]
			err := query(g, func(r *sql.Rows) error {
				var fp string
				var id uuid.UUID
				if err := r.Scan(&fp, &id); err != nil {
					return translate(err)
				}
				out[fp] = id
				return nil
			}, "SELECT fingerprint, id FROM executions WHERE account_id = ? AND fingerprint IN ?", accountID, part)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up fingerprints: %w", err)
	}
	return out, nil
}

// FingerprintsOf implements trading.Executions.
func (s *Executions) FingerprintsOf(ctx context.Context, userID, accountID uuid.UUID, in []uuid.UUID) (map[uuid.UUID]string, error) {
	out := map[uuid.UUID]string{}
	if len(in) == 0 {
		return out, nil
	}
	strIDs := ids(in)
	err := s.db.run(ctx, func(g *gorm.DB) error {
		for start := 0; start < len(strIDs); start += chunk {
			err := query(g, func(r *sql.Rows) error {
				var id uuid.UUID
				var fp string
				if err := r.Scan(&id, &fp); err != nil {
					return translate(err)
				}
				out[id] = fp
				return nil
			}, "SELECT id, fingerprint FROM executions WHERE user_id = ? AND account_id = ? AND id IN ?", userID.String(), accountID.String(),
				strIDs[start:min(start+chunk, len(strIDs))])
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("look up executions' fingerprints: %w", err)
	}
	return out, nil
}

// Get implements trading.Executions.
func (s *Executions) Get(ctx context.Context, userID, id uuid.UUID) (*trading.Execution, error) {
	return getOne(ctx, s.db, scanExecution, "get execution", func() error { return apperr.New(apperr.NotFound, trading.CodeExecutionNotFound, "execution not found") },
		"SELECT "+executionCols+executionFrom+" WHERE e.user_id = ? AND e.id = ?", userID, id)
}

// Update implements trading.Executions.
func (s *Executions) Update(ctx context.Context, e *trading.Execution) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		res := g.Exec(`UPDATE executions SET instrument_id = ?, side = ?, quantity = ?, price = ?, commission = ?, fees = ?, executed_at_ns = ?,
			broker_execution_id = ?, fingerprint = ?, version = ?, updated_at = ? WHERE user_id = ? AND id = ? AND version = ?`,
			e.InstrumentID, e.Side, e.Quantity, e.Price, e.Commission, e.Fees, e.ExecutedAt.UnixNano(), e.BrokerExecutionID, e.Fingerprint,
			e.Version, normTime(e.UpdatedAt), e.UserID, e.ID, e.Version-1)
		if res.Error != nil {
			return fmt.Errorf("update execution: %w", executionDuplicate(res.Error))
		}
		if res.RowsAffected == 1 {
			return nil
		}
		return missingOrStale(g, "executions", "id = ? AND user_id = ?", []any{e.ID, e.UserID},
			apperr.New(apperr.NotFound, trading.CodeExecutionNotFound, "execution not found"))
	})
}

// Delete implements trading.Executions.
func (s *Executions) Delete(ctx context.Context, userID uuid.UUID, idList []uuid.UUID) ([]trading.Execution, error) {
	var out []trading.Execution
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			for start := 0; start < len(idList); start += chunk {
				part := ids(idList[start:min(start+chunk, len(idList))])
				err := query(g, func(r *sql.Rows) error {
					e, err := scanExecution(r)
					if err == nil {
						out = append(out, *e)
					}
					return err
				}, "SELECT "+executionCols+executionFrom+" WHERE e.user_id = ? AND e.id IN ?", userID, part)
				if err != nil {
					return err
				}
				if err := g.Exec("DELETE FROM executions WHERE user_id = ? AND id IN ?", userID, part).Error; err != nil {
					return translate(err)
				}
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("delete executions: %w", err)
	}
	return out, nil
}

// DeleteImported implements trading.Executions with two statements over
// executions_import_idx, whatever the number of executions.
func (s *Executions) DeleteImported(ctx context.Context, userID, accountID, importID uuid.UUID) (int, []uuid.UUID, error) {
	var removed int
	var insts []uuid.UUID
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			const where = " FROM executions WHERE import_id = ? AND user_id = ? AND account_id = ?"
			err := query(g, func(r *sql.Rows) error {
				var id uuid.UUID
				if err := r.Scan(&id); err != nil {
					return translate(err)
				}
				insts = append(insts, id)
				return nil
			}, "SELECT DISTINCT instrument_id"+where, importID, userID, accountID)
			if err != nil {
				return err
			}
			res := g.Exec("DELETE"+where, importID, userID, accountID)
			if res.Error != nil {
				return translate(res.Error)
			}
			removed = int(res.RowsAffected)
			return nil
		})
	})
	if err != nil {
		return 0, nil, fmt.Errorf("delete imported executions: %w", err)
	}
	return removed, insts, nil
}

// List implements trading.Executions: newest first, keyset on
// (executed_at_ns, id).
func (s *Executions) List(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, p trading.Page) ([]trading.Execution, string, error) {
	where := []string{"e.user_id = ?"}
	args := []any{userID}
	if len(f.AccountIDs) > 0 {
		where, args = append(where, "e.account_id IN ?"), append(args, ids(f.AccountIDs))
	}
	if len(f.InstrumentIDs) > 0 {
		where, args = append(where, "e.instrument_id IN ?"), append(args, ids(f.InstrumentIDs))
	}
	if len(f.Symbols) > 0 {
		where, args = append(where, "i.symbol IN ?"), append(args, f.Symbols)
	}
	if f.ImportID != uuid.Nil {
		where, args = append(where, "e.import_id = ?"), append(args, f.ImportID)
	}
	if !f.From.IsZero() {
		where, args = append(where, "e.executed_at_ns >= ?"), append(args, f.From.UnixNano())
	}
	if !f.To.IsZero() {
		where, args = append(where, "e.executed_at_ns < ?"), append(args, f.To.UnixNano())
	}
	if p.Cursor != "" {
		c, err := trading.DecodeCursor(p.Cursor, "executed_at", false)
		if err != nil {
			return nil, "", err
		}
		var ns int64
		if _, err := fmt.Sscan(c.Value, &ns); err != nil {
			return nil, "", apperr.New(apperr.Invalid, trading.CodeCursorInvalid, "invalid cursor")
		}
		where = append(where, "(e.executed_at_ns < ? OR (e.executed_at_ns = ? AND e.id < ?))")
		args = append(args, ns, ns, c.ID)
	}
	n := p.Size()
	var out []trading.Execution
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			e, err := scanExecution(r)
			if err == nil {
				out = append(out, *e)
			}
			return err
		}, "SELECT "+executionCols+executionFrom+" WHERE "+strings.Join(where, " AND ")+
			" ORDER BY e.executed_at_ns DESC, e.id DESC LIMIT ?", append(args, n+1)...)
	})
	if err != nil {
		return nil, "", fmt.Errorf("list executions: %w", err)
	}
	next := ""
	if len(out) > n {
		out = out[:n]
		last := out[n-1]
		next = trading.Cursor{Key: "executed_at", Value: fmt.Sprint(last.ExecutedAt.UnixNano()), ID: last.ID}.Encode()
	}
	return out, next, nil
}

// ---- data versions

// Bump implements trading.DataVersions with one upsert: concurrent writers
// of one user serialise on the row until their transactions end.
func (s *DataVersions) Bump(ctx context.Context, userID uuid.UUID) (int64, error) {
	var v int64
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return g.Raw(`INSERT INTO user_data_versions (user_id, version) VALUES (?, 1)
			ON CONFLICT (user_id) DO UPDATE SET version = user_data_versions.version + 1 RETURNING version`, userID).Scan(&v).Error
	})
	if err != nil {
		return 0, fmt.Errorf("bump data version: %w", translate(err))
	}
	return v, nil
}

// Get implements trading.DataVersions.
func (s *DataVersions) Get(ctx context.Context, userID uuid.UUID) (int64, error) {
	var v int64
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return g.Raw("SELECT COALESCE(MAX(version), 0) FROM user_data_versions WHERE user_id = ?", userID).Scan(&v).Error
	})
	if err != nil {
		return 0, fmt.Errorf("get data version: %w", translate(err))
	}
	return v, nil
}

// Stamp implements trading.Stamps: the user's data version and time
// zone in one statement (0 and "" for a user without either).
func (s *DataVersions) Stamp(ctx context.Context, userID uuid.UUID) (int64, string, error) {
	var version int64
	var zone string
	if ok, err := s.stampPg(ctx, userID, &version, &zone); ok {
		if err != nil {
			return 0, "", fmt.Errorf("data stamp: %w", err)
		}
		return version, zone, nil
	}
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error { return translate(r.Scan(&version, &zone)) },
			`SELECT COALESCE((SELECT version FROM user_data_versions WHERE user_id = ?), 0), COALESCE((SELECT timezone FROM users WHERE id = ?), '')`,
			userID, userID)
	})
	if err != nil {
		return 0, "", fmt.Errorf("data stamp: %w", err)
	}
	return version, zone, nil
}

// stampStatement is Stamp's statement on PostgreSQL, prepared once per
// connection under its own name (pgx's Prepare is idempotent for the same
// name and text) and executed with its one text parameter.
const (
	stampStatement = `SELECT COALESCE((SELECT version FROM user_data_versions WHERE user_id = $1), 0), COALESCE((SELECT timezone FROM users WHERE id = $1), '')`
	stampName      = "sqlstore_stamp"
)

// stampPg is Stamp on PostgreSQL outside a transaction: every cached
// read (a warm hit included) runs it, so it skips GORM, database/sql's
// row scanning and pgx's per-query statement cache lookups, and reads the
// two text values as they come. Inside a transaction it runs on that
// transaction's connection (withPgx), so it reads its writes. ok is false
// where it does not apply (not PostgreSQL, or a transaction without a
// connection of its own).
func (s *DataVersions) stampPg(ctx context.Context, userID uuid.UUID, version *int64, zone *string) (ok bool, err error) {
	var id [36]byte
	hexUUID(id[:], userID)
	return s.db.withPgx(ctx, "sqlstore.Stamp", stampStatement, func(c *pgx.Conn) error {
		sd, err := c.Prepare(ctx, stampName, stampStatement)
		if err != nil {
			return err
		}
		rr := c.PgConn().ExecPrepared(ctx, sd.Name, [][]byte{id[:]}, nil, nil)
		rows := 0
		var rowErr error
		for rr.NextRow() {
			rows++
			v := rr.Values()
			if len(v) != 2 {
				rowErr = fmt.Errorf("stamp row: %d columns", len(v))
				continue
			}
			if *version, rowErr = rawInt(v[0]); rowErr == nil {
				*zone = string(v[1])
			}
		}
		if _, err := rr.Close(); err != nil {
			return err
		}
		if rowErr == nil && rows != 1 {
			rowErr = fmt.Errorf("stamp: %d rows", rows)
		}
		return rowErr
	})
}

// ---- labels

// CheckTags implements trading.Labels.
func (s *TradeLabels) CheckTags(ctx context.Context, userID uuid.UUID, tagIDs []uuid.UUID) error {
	want := map[uuid.UUID]bool{}
	for _, id := range tagIDs {
		want[id] = true
	}
	if len(want) == 0 {
		return nil
	}
	var n int64
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return g.Raw("SELECT COUNT(*) FROM tags WHERE user_id = ? AND id IN ?", userID, ids(tagIDs)).Scan(&n).Error
	})
	if err != nil {
		return fmt.Errorf("check tags: %w", translate(err))
	}
	if int(n) != len(want) {
		return apperr.New(apperr.NotFound, trading.CodeTagNotFound, "tag not found")
	}
	return nil
}

// PlaybookRules implements trading.Labels.
func (s *TradeLabels) PlaybookRules(ctx context.Context, userID, id uuid.UUID) ([]uuid.UUID, error) {
	var rules []string
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var raw string
			if err := r.Scan(&raw); err != nil {
				return translate(err)
			}
			rules = append(rules, raw)
			return nil
		}, "SELECT rules FROM playbooks WHERE user_id = ? AND id = ?", userID, id)
	})
	if err != nil {
		return nil, fmt.Errorf("playbook rules: %w", err)
	}
	if len(rules) == 0 {
		return nil, apperr.New(apperr.NotFound, trading.CodePlaybookNotFound, "playbook not found")
	}
	var parsed []struct {
		ID uuid.UUID `json:"id"`
	}
	if err := json.Unmarshal([]byte(rules[0]), &parsed); err != nil {
		return nil, fmt.Errorf("playbook %s rules: %w", id, err)
	}
	out := make([]uuid.UUID, len(parsed))
	for i, r := range parsed {
		out[i] = r.ID
	}
	return out, nil
}
