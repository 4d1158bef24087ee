package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
	"gorm.io/gorm"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

// The columns of trades a rebuild writes, and those of the annotation.
const (
	tradeDerivedCols = "user_id, account_id, instrument_id, symbol, asset_class, direction, status, opening_execution_id, multiplier, quantity, " +
		"max_position, open_quantity, cost_basis, avg_entry_price, avg_exit_price, gross_pnl, commission, fees, net_pnl, opened_at_ns, closed_at_ns, " +
		"holding_ns, outcome, r_multiple, open_weekday, open_hour, digest, updated_at, legs, currency"
	tradeAnnotationCols = "playbook_id, notes, planned_stop, planned_target, initial_risk, rating, confidence, followed_rules, annotation_version, annotated_at"
	tradeCols           = "t.id, t.user_id, t.account_id, t.instrument_id, t.symbol, t.asset_class, t.direction, t.status, t.opening_execution_id, " +
		"t.multiplier, t.quantity, t.max_position, t.open_quantity, t.cost_basis, t.avg_entry_price, t.avg_exit_price, t.gross_pnl, t.commission, " +
		"t.fees, t.net_pnl, t.opened_at_ns, t.closed_at_ns, t.holding_ns, t.outcome, t.r_multiple, t.open_weekday, t.open_hour, t.digest, t.updated_at, " +
		"t.playbook_id, t.notes, t.planned_stop, t.planned_target, t.initial_risk, t.rating, t.confidence, t.followed_rules, t.annotation_version, t.annotated_at, " +
		"t.currency"
)

func derivedArgs(t *trading.Trade) []any {
	closed := int64(openCloseNS)
	var holding any
	if t.Status == trading.Closed {
		closed, holding = t.ClosedAt.UnixNano(), int64(t.Holding)
	}
	return []any{t.UserID, t.AccountID, t.InstrumentID, t.Symbol, string(t.AssetClass), string(t.Direction), string(t.Status), t.OpeningExecutionID,
		t.Multiplier, t.Quantity, t.MaxPosition, t.OpenQuantity, t.CostBasis, t.AvgEntryPrice, t.AvgExitPrice, t.GrossPnL, t.Commission, t.Fees,
		t.NetPnL, t.OpenedAt.UnixNano(), closed, holding, string(t.Outcome), t.RMultiple, int(t.OpenWeekday), t.OpenHour, t.Digest, normTime(t.UpdatedAt),
		string(appendLegsJSON(nil, t.Legs)), t.Currency}
}

func idsJSON(v []uuid.UUID) string {
	if v == nil {
		v = []uuid.UUID{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func annotationArgs(a *trading.Annotation) []any {
	return []any{nullID(a.PlaybookID), a.Notes, a.PlannedStop, a.PlannedTarget, a.InitialRisk, a.Rating, a.Confidence,
		idsJSON(a.FollowedRules), a.Version, normTime(a.UpdatedAt)}
}

// scanTrade reads tradeCols, then extra destinations.
func scanTrade(r *sql.Rows, extra ...any) (*trading.Trade, error) {
	return scanTradeWith(r.Scan, extra...)
}

// scanTradeWith reads tradeCols through scan (database/sql's or pgx's
// Rows.Scan), then extra destinations.
func scanTradeWith(scan func(dest ...any) error, extra ...any) (*trading.Trade, error) {
	var t trading.Trade
	var opened, closed int64
	var holding sql.NullInt64
	var weekday int
	var playbook uuid.NullUUID
	var rules string
	a := &t.Annotation
	dest := []any{&t.ID, &t.UserID, &t.AccountID, &t.InstrumentID, &t.Symbol, &t.AssetClass, &t.Direction, &t.Status, &t.OpeningExecutionID,
		dec{&t.Multiplier}, dec{&t.Quantity}, dec{&t.MaxPosition}, dec{&t.OpenQuantity}, dec{&t.CostBasis}, dec{&t.AvgEntryPrice}, &t.AvgExitPrice,
		dec{&t.GrossPnL}, dec{&t.Commission}, dec{&t.Fees}, dec{&t.NetPnL}, &opened, &closed, &holding, &t.Outcome, &t.RMultiple, &weekday, &t.OpenHour,
		&t.Digest, &t.UpdatedAt, &playbook, &a.Notes, &a.PlannedStop, &a.PlannedTarget, &a.InitialRisk, &a.Rating, &a.Confidence, &rules, &a.Version,
		&a.UpdatedAt, &t.Currency}
	if err := scan(append(dest, extra...)...); err != nil {
		return nil, translate(err)
	}
	t.OpenedAt, t.OpenWeekday = nsTime(opened), time.Weekday(weekday)
	if closed != openCloseNS {
		t.ClosedAt = nsTime(closed)
	}
	t.Holding = time.Duration(holding.Int64)
	a.PlaybookID = playbook.UUID
	if err := json.Unmarshal([]byte(rules), &a.FollowedRules); err != nil {
		return nil, fmt.Errorf("trade %s: followed rules: %w", t.ID, err)
	}
	if len(a.FollowedRules) == 0 {
		a.FollowedRules = nil
	}
	t.UpdatedAt, a.UpdatedAt = t.UpdatedAt.UTC(), a.UpdatedAt.UTC()
	return &t, nil
}

// fillTrades loads the tags of trades.
func fillTrades(g *gorm.DB, trades []*trading.Trade, where string, args ...any) error {
	if len(trades) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]*trading.Trade, len(trades))
	for _, t := range trades {
		byID[t.ID] = t
	}
	return query(g, func(r *sql.Rows) error {
		var tid, tag uuid.UUID
		if err := r.Scan(&tid, &tag); err != nil {
			return translate(err)
		}
		if t := byID[tid]; t != nil {
			t.Annotation.TagIDs = append(t.Annotation.TagIDs, tag)
		}
		return nil
	}, "SELECT tt.trade_id, tt.tag_id FROM trade_tags tt JOIN trades t ON t.id = tt.trade_id WHERE "+where+" ORDER BY tt.trade_id, tt.tag_id", args...)
}

// decTexts parses the binary numerics of one read, sharing one decimal
// among equal values (decimals are immutable): a position's quantities,
// fees and commissions, and many of its prices, repeat, and each parsed
// decimal costs two allocations. At most decTextsMax distinct values are
// kept; text is scratch space for numericText.
type decTexts struct {
	m    map[string]decimal.Decimal
	text []byte
}

const decTextsMax = 4096

func (c *decTexts) parse(b []byte) (decimal.Decimal, error) {
	if d, ok := c.m[string(b)]; ok {
		return d, nil
	}
	var err error
	if c.text, err = numericText(c.text[:0], b); err != nil {
		return decimal.Decimal{}, err
	}
	d, err := decText(c.text)
	if err != nil {
		return d, err
	}
	if c.m == nil {
		c.m = map[string]decimal.Decimal{}
	}
	if len(c.m) < decTextsMax {
		c.m[string(b)] = d
	}
	return d, nil
}

// rawSide is the side without a string allocated per row.
func rawSide(b []byte) trading.Side {
	switch string(b) {
	case string(trading.Buy):
		return trading.Buy
	case string(trading.Sell):
		return trading.Sell
	}
	return trading.Side(b)
}

// PositionExecutions implements trading.Ledger.
func (s *Ledger) PositionExecutions(ctx context.Context, key trading.PositionKey) ([]trading.Execution, error) {
	var decs decTexts
	scratch := takeScratch(s.execScratch)
	out := *scratch
	// The UUIDs, numerics and integers come in binary (pgx asks for the
	// binary result format of the types it knows when nothing casts them):
	// uuid_send, numeric_send and int8send instead of their text output,
	// and fewer bytes through the socket. Numerics are read back through
	// numeric_out's text (numericText, decTexts), so the decimals are the
	// ones a ::text read gives.
	fast, err := s.db.pgRows(ctx, `SELECT id, side, quantity, price, commission, fees, executed_at_ns,
		broker_execution_id, import_id, fingerprint, version FROM executions WHERE user_id = $1 AND account_id = $2 AND instrument_id = $3`,
		[]any{key.UserID.String(), key.AccountID.String(), key.InstrumentID.String()}, func(v [][]byte) error {
			e := trading.Execution{UserID: key.UserID, AccountID: key.AccountID, InstrumentID: key.InstrumentID, Side: rawSide(v[1]),
				BrokerExecutionID: string(v[7]), Fingerprint: string(v[9])}
			var errs [9]error
			e.ID, errs[0] = binUUID(v[0])
			e.Quantity, errs[1] = decs.parse(v[2])
			e.Price, errs[2] = decs.parse(v[3])
			e.Commission, errs[3] = decs.parse(v[4])
			e.Fees, errs[4] = decs.parse(v[5])
			var ns int64
			ns, errs[5] = binInt(v[6])
			e.ImportID, errs[6] = binUUID(v[8])
			e.Version, errs[7] = binInt(v[10])
			if err := errors.Join(errs[:]...); err != nil {
				return fmt.Errorf("execution row: %w", err)
			}
			e.ExecutedAt = nsTime(ns)
			out = append(out, e)
			return nil
		})
	*scratch = out
	out = putScratch(s.execScratch, scratch)
	if fast {
		if err != nil {
			return nil, fmt.Errorf("position executions: %w", err)
		}
		return out, nil
	}
	err = s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var e trading.Execution
			var ns int64
			var imp uuid.NullUUID
			if err := r.Scan(&e.ID, &e.Side, dec{&e.Quantity}, dec{&e.Price}, dec{&e.Commission}, dec{&e.Fees}, &ns, &e.BrokerExecutionID, &imp, &e.Fingerprint, &e.Version); err != nil {
				return translate(err)
			}
			e.UserID, e.AccountID, e.InstrumentID = key.UserID, key.AccountID, key.InstrumentID
			e.ExecutedAt, e.ImportID = nsTime(ns), imp.UUID
			out = append(out, e)
			return nil
		}, "SELECT id, side, "+s.db.text("quantity")+", "+s.db.text("price")+", "+s.db.text("commission")+", "+s.db.text("fees")+
			", executed_at_ns, broker_execution_id, import_id, fingerprint, version FROM executions WHERE user_id = ? AND account_id = ? AND instrument_id = ?",
			key.UserID.String(), key.AccountID.String(), key.InstrumentID.String())
	})
	if err != nil {
		return nil, fmt.Errorf("position executions: %w", err)
	}
	return out, nil
}

// PositionTrades implements trading.Ledger: the trade rows and their
// tags, without legs.
func (s *Ledger) PositionTrades(ctx context.Context, key trading.PositionKey) ([]trading.Trade, error) {
	args := []any{key.UserID.String(), key.AccountID.String(), key.InstrumentID.String()}
	out, fast, err := s.positionTradesPg(ctx, key, args)
	if !fast {
		out, err = s.positionTradesPortable(ctx, key, args)
	}
	if err != nil {
		return nil, fmt.Errorf("position trades: %w", err)
	}
	return out, nil
}

// pgUUIDs is ids as pgx binds a uuid[] without reflection per element
// (a []uuid.UUID cost ≈ 20 allocations per ID).
func pgUUIDs(ids []uuid.UUID) pgtype.FlatArray[pgtype.UUID] {
	out := make(pgtype.FlatArray[pgtype.UUID], len(ids))
	for i, id := range ids {
		out[i] = pgtype.UUID{Bytes: id, Valid: true}
	}
	return out
}

// positionTradesPg is PositionTrades on the transaction's pgx connection
// (ok false, nothing run, where pgRows does not apply). The IDs are bound
// as a uuid[] parameter (pgx's binary array), never as text cast in the
// statement: ANY($1::text::uuid[]) is not a constant to the executor, so a
// sequential scan parsed the whole array again for every row (8.5 s for
// 300 trades over 110,000 legs). The tags are read
// by the IDs of the trades just read (trade_id = ANY, a range scan of the
// primary key), not by a join with trades on the position, which
// PostgreSQL may plan as a hash join over every row of trade_tags. A
// position without trades (a rebuild from scratch) sends no second
// statement.
func (s *Ledger) positionTradesPg(ctx context.Context, key trading.PositionKey, args []any) (out []trading.Trade, ok bool, err error) {
	scratch := takeScratch(s.tradeScratch)
	rows := *scratch
	// Only what Reconcile reads: identity, digest and annotation.
	ok, err = s.db.pgRows(ctx, `SELECT t.id::text, t.opening_execution_id::text, t.opened_at_ns::text, t.digest, t.playbook_id::text, t.notes,
		t.planned_stop::text, t.planned_target::text, t.initial_risk::text, t.rating::text, t.confidence::text, t.followed_rules,
		t.annotation_version::text, (extract(epoch FROM t.annotated_at) * 1000000)::bigint::text
		FROM trades t WHERE t.user_id = $1 AND t.account_id = $2 AND t.instrument_id = $3`, args, func(v [][]byte) error {
		rows = append(rows, trading.Trade{})
		return rawPositionTrade(&rows[len(rows)-1], key, v)
	})
	*scratch = rows
	out = putScratch(s.tradeScratch, scratch)
	if !ok || err != nil || len(out) == 0 {
		return out, ok, err
	}
	byID := make(map[uuid.UUID]int, len(out))
	tradeIDs := make([]uuid.UUID, len(out))
	for i := range out {
		byID[out[i].ID] = i
		tradeIDs[i] = out[i].ID
	}
	_, err = s.db.pgRows(ctx, "SELECT trade_id::text, tag_id::text FROM trade_tags WHERE trade_id = ANY($1::uuid[]) ORDER BY trade_id, tag_id",
		[]any{pgUUIDs(tradeIDs)}, func(v [][]byte) error {
			tid, err1 := rawUUID(v[0])
			tag, err2 := rawUUID(v[1])
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("trade tag row: %w", err)
			}
			if i, ok := byID[tid]; ok {
				out[i].Annotation.TagIDs = append(out[i].Annotation.TagIDs, tag)
			}
			return nil
		})
	if err != nil {
		return nil, true, err
	}
	return out, true, nil
}

// positionTradesPortable is PositionTrades through database/sql (SQLite,
// or outside a transaction).
func (s *Ledger) positionTradesPortable(ctx context.Context, key trading.PositionKey, args []any) ([]trading.Trade, error) {
	var out []trading.Trade
	err := s.db.run(ctx, func(g *gorm.DB) error {
		where := "t.user_id = ? AND t.account_id = ? AND t.instrument_id = ?"
		var ts []*trading.Trade
		if err := query(g, func(r *sql.Rows) error {
			t := &trading.Trade{UserID: key.UserID, AccountID: key.AccountID, InstrumentID: key.InstrumentID}
			a := &t.Annotation
			var opened int64
			var playbook uuid.NullUUID
			var rules string
			if err := r.Scan(&t.ID, &t.OpeningExecutionID, &opened, &t.Digest, &playbook, &a.Notes, &a.PlannedStop, &a.PlannedTarget,
				&a.InitialRisk, &a.Rating, &a.Confidence, &rules, &a.Version, &a.UpdatedAt); err != nil {
				return translate(err)
			}
			t.OpenedAt, a.PlaybookID, a.UpdatedAt = nsTime(opened), playbook.UUID, a.UpdatedAt.UTC()
			if rules != "[]" {
				if err := json.Unmarshal([]byte(rules), &a.FollowedRules); err != nil {
					return fmt.Errorf("trade %s: followed rules: %w", t.ID, err)
				}
			}
			ts = append(ts, t)
			return nil
		}, "SELECT t.id, t.opening_execution_id, t.opened_at_ns, t.digest, "+strings.ReplaceAll("t."+tradeAnnotationCols, ", ", ", t.")+
			" FROM trades t WHERE "+where, args...); err != nil {
			return err
		}
		if err := fillTrades(g, ts, where, args...); err != nil {
			return err
		}
		out = make([]trading.Trade, len(ts))
		for i, t := range ts {
			out[i] = *t
		}
		return nil
	})
	return out, err
}

// PositionLegKeys implements trading.Ledger: the (execution, role) keys of
// the legs of trades, read from their legs column by trade ID.
func (s *Ledger) PositionLegKeys(ctx context.Context, key trading.PositionKey, trades []trading.Trade) error {
	if len(trades) == 0 {
		return nil
	}
	byID := make(map[uuid.UUID]int, len(trades))
	tradeIDs := make([]uuid.UUID, len(trades))
	for i := range trades {
		byID[trades[i].ID] = i
		tradeIDs[i] = trades[i].ID
		trades[i].Legs = trades[i].Legs[:0]
	}
	addLeg := func(tid, eid uuid.UUID, role trading.Role) {
		if i, ok := byID[tid]; ok {
			trades[i].Legs = append(trades[i].Legs, trading.Leg{ExecutionID: eid, Role: role})
		}
	}
	// The server takes the keys out of the legs' JSON (json_array_elements
	// in C): decoding every trade's legs with encoding/json here cost ten
	// allocations per trade more than reading the keys as rows.
	fast, err := s.db.pgRows(ctx, "SELECT t.id::text, l->>'e', l->>'r' FROM trades t CROSS JOIN LATERAL json_array_elements(t.legs::json) l WHERE t.id = ANY($1::uuid[])",
		[]any{pgUUIDs(tradeIDs)}, func(v [][]byte) error {
			tid, err1 := rawUUID(v[0])
			eid, err2 := rawUUID(v[1])
			if err := errors.Join(err1, err2); err != nil {
				return fmt.Errorf("trade leg row: %w", err)
			}
			role := trading.Entry // no string per leg for the two roles
			if string(v[2]) != string(role) {
				role = trading.Exit
				if string(v[2]) != string(role) {
					role = trading.Role(v[2])
				}
			}
			addLeg(tid, eid, role)
			return nil
		})
	if !fast {
		err = s.db.run(ctx, func(g *gorm.DB) error {
			strIDs := ids(tradeIDs)
			for start := 0; start < len(strIDs); start += chunk {
				err := query(g, func(r *sql.Rows) error {
					var tid uuid.UUID
					var legs []byte
					if err := r.Scan(&tid, &legs); err != nil {
						return translate(err)
					}
					i, ok := byID[tid]
					if !ok {
						return nil
					}
					var err error
					trades[i].Legs, err = parseLegKeys(trades[i].Legs, legs)
					return err
				}, "SELECT id, legs FROM trades WHERE id IN ?", strIDs[start:min(start+chunk, len(strIDs))])
				if err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err != nil {
		return fmt.Errorf("position %s/%s leg keys: %w", key.AccountID, key.InstrumentID, err)
	}
	return nil
}

// rawPositionTrade parses a row of PositionTrades' pgRows statement into
// t (zero).
func rawPositionTrade(t *trading.Trade, key trading.PositionKey, v [][]byte) error {
	t.UserID, t.AccountID, t.InstrumentID, t.Digest = key.UserID, key.AccountID, key.InstrumentID, string(v[3])
	var errs [4]error
	var opened int64
	t.ID, errs[0] = rawUUID(v[0])
	t.OpeningExecutionID, errs[1] = rawUUID(v[1])
	opened, errs[2] = rawInt(v[2])
	errs[3] = rawAnnotation(&t.Annotation, v[4:14])
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("trade row: %w", err)
	}
	t.OpenedAt = nsTime(opened)
	return nil
}

// A rebuild reads each position's executions and trades into a scratch
// slice that grows by appending, then returns an exact copy: without it
// every position's rows were copied at each doubling of a fresh slice
// (a rebuild of 100,000 executions and 50,000 stored trades allocated
// about 100 MB more per run, most of its garbage-collection work). The
// Ledger keeps a few scratch slices of at most maxScratchRows rows
// (a channel, not a sync.Pool, which the frequent collections of a
// rebuild empty), cleared before they go back: no row outlives its read.
const (
	scratchSlices  = 2
	maxScratchRows = 16 << 10
)

// takeScratch returns an empty scratch slice from free (a nil channel
// keeps none).
func takeScratch[T any](free chan *[]T) *[]T {
	select {
	case p := <-free:
		return p
	default:
		return new([]T)
	}
}

// putScratch returns an exact copy of *scratch (nil when empty) and gives
// the cleared scratch slice back to free unless it grew too large.
func putScratch[T any](free chan *[]T, scratch *[]T) []T {
	rows := *scratch
	var out []T
	if len(rows) > 0 {
		out = make([]T, len(rows))
		copy(out, rows)
	}
	if cap(rows) > maxScratchRows {
		return out
	}
	clear(rows)
	*scratch = rows[:0]
	select {
	case free <- scratch:
	default:
	}
	return out
}

func nullDecText(b []byte) (decimal.NullDecimal, error) {
	if b == nil {
		return decimal.NullDecimal{}, nil
	}
	d, err := decText(b)
	return decimal.NullDecimal{Decimal: d, Valid: err == nil}, err
}

// rawAnnotation parses the annotation's columns as both raw trade reads
// select them (playbook_id, notes, planned_stop, planned_target,
// initial_risk, rating, confidence, followed_rules, version, annotated_at
// in microseconds) into a.
func rawAnnotation(a *trading.Annotation, v [][]byte) error {
	var errs [9]error
	var rating, confidence, annotated int64
	a.PlaybookID, errs[0] = rawUUID(v[0])
	if len(v[1]) > 0 {
		a.Notes = string(v[1])
	}
	a.PlannedStop, errs[1] = nullDecText(v[2])
	a.PlannedTarget, errs[2] = nullDecText(v[3])
	a.InitialRisk, errs[3] = nullDecText(v[4])
	rating, errs[4] = rawInt(v[5])
	confidence, errs[5] = rawInt(v[6])
	if string(v[7]) != "[]" { // the usual value: nothing to unmarshal
		errs[6] = json.Unmarshal(v[7], &a.FollowedRules)
	}
	a.Version, errs[7] = rawInt(v[8])
	annotated, errs[8] = rawInt(v[9])
	a.Rating, a.Confidence, a.UpdatedAt = int(rating), int(confidence), time.UnixMicro(annotated).UTC()
	return errors.Join(errs[:]...)
}

// Positions implements trading.Ledger. It probes the position indexes
// once per instrument of the user (every execution's and trade's
// instrument is one of the user's instruments) instead of reading every
// execution and trade of the account for their distinct instruments
// (57 ms of the server's CPU per call for 100,000 executions).
func (s *Ledger) Positions(ctx context.Context, userID, accountID uuid.UUID) ([]uuid.UUID, error) {
	var out []uuid.UUID
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var id uuid.UUID
			err := r.Scan(&id)
			out = append(out, id)
			return translate(err)
		}, `SELECT i.id FROM instruments i WHERE i.user_id = ? AND (
				EXISTS (SELECT 1 FROM executions e WHERE e.account_id = ? AND e.instrument_id = i.id AND e.user_id = ?)
				OR EXISTS (SELECT 1 FROM trades t WHERE t.account_id = ? AND t.instrument_id = i.id AND t.user_id = ?))`,
			userID, accountID, userID, accountID, userID)
	})
	if err != nil {
		return nil, fmt.Errorf("positions: %w", err)
	}
	return out, nil
}

// writer batches the rows of one Apply.
type writer struct {
	ctx  context.Context
	db   *DB
	g    *gorm.DB
	rows int
}

func (w *writer) exec(q string, args ...any) error {
	for i, a := range args {
		args[i] = sqlValue(a)
	}
	res := w.g.Exec(q, args...)
	if res.Error != nil {
		return translate(res.Error)
	}
	w.rows += int(res.RowsAffected)
	return nil
}

// The columns of a full trades row.
var tradeColList = strings.Split(strings.ReplaceAll("id, "+tradeDerivedCols+", "+tradeAnnotationCols, " ", ""), ",")

func (w *writer) bulk(table string, cols []string, rows [][]any) error {
	n, err := w.db.bulkInsert(w.ctx, w.g, table, cols, rows)
	w.rows += n
	return err
}

func (w *writer) bulkFunc(table string, cols []string, n int, row func(i int, dst []any) []any) error {
	written, err := w.db.bulkInsertFunc(w.ctx, w.g, table, cols, n, row)
	w.rows += written
	return err
}

func (w *writer) insertTrades(ts []*trading.Trade) error {
	if ok, err := w.copyFunc("trades", tradeColList, len(ts), func(i int, b []byte) []byte { return copyTradeRow(b, ts[i]) }); ok {
		return err
	}
	return w.bulkFunc("trades", tradeColList, len(ts), func(i int, dst []any) []any {
		t := ts[i]
		dst = append(dst, t.ID)
		dst = append(dst, derivedArgs(t)...)
		return append(dst, annotationArgs(&t.Annotation)...)
	})
}

func (w *writer) insertTags(pairs [][2]uuid.UUID) error {
	rows := make([][]any, len(pairs))
	for i, p := range pairs {
		rows[i] = []any{p[0], p[1]}
	}
	return w.bulk("trade_tags", []string{"trade_id", "tag_id"}, rows)
}

// Apply implements trading.Ledger.
func (s *Ledger) Apply(ctx context.Context, key trading.PositionKey, p *trading.Plan) (int, error) {
	w := &writer{db: s.db}
	err := s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			w.g, w.ctx = g, ctx
			var ins []*trading.Trade
			var tags [][2]uuid.UUID
			for _, i := range p.Created {
				t := &p.Trades[i]
				ins = append(ins, t)
				for _, tag := range t.Annotation.TagIDs {
					tags = append(tags, [2]uuid.UUID{t.ID, tag})
				}
			}
			// No new or changed trade takes the opening execution of a
			// stored one (Reconcile's rule 1 would have matched them), so
			// the unique (account, opener) holds in any order. Legs are a
			// column of their trade (migration 00360): they go, come and
			// change with its row.
			gone := ids(p.Deleted) // their tags go by cascade
			if err := w.insertTrades(ins); err != nil {
				return err
			}
			for _, i := range p.Changed {
				t := &p.Trades[i]
				args := append(derivedArgs(t), t.ID)
				q := "UPDATE trades SET " + strings.ReplaceAll(tradeDerivedCols, ",", " = ?,") + " = ?"
				if p.AnnotationChanged[t.ID] {
					q += ", " + strings.ReplaceAll(tradeAnnotationCols, ",", " = ?,") + " = ?"
					args = append(derivedArgs(t), annotationArgs(&t.Annotation)...)
					args = append(args, t.ID)
					if err := w.exec("DELETE FROM trade_tags WHERE trade_id = ?", t.ID); err != nil {
						return err
					}
					for _, tag := range t.Annotation.TagIDs {
						tags = append(tags, [2]uuid.UUID{t.ID, tag})
					}
				}
				if err := w.exec(q+" WHERE id = ?", args...); err != nil {
					return err
				}
			}
			if err := w.insertTags(tags); err != nil {
				return err
			}
			for from, to := range p.Absorbed {
				if err := w.exec("UPDATE attachments SET trade_id = ? WHERE trade_id = ?", to, from); err != nil {
					return err
				}
				// A journal entry that chose the absorbed trade names the
				// survivor instead (trade_ids is a JSON array of quoted
				// ids; the journal reads it without repeats), as its
				// attachments follow it; the entry's version moves.
				if err := w.exec("UPDATE journal_entries SET trade_ids = replace(trade_ids, ?, ?), version = version + 1 WHERE user_id = ? AND trade_ids LIKE ?",
					`"`+from.String()+`"`, `"`+to.String()+`"`, key.UserID, `%"`+from.String()+`"%`); err != nil {
					return err
				}
			}
			for start := 0; start < len(gone); start += chunk {
				if err := w.exec("DELETE FROM trades WHERE id IN ?", gone[start:min(start+chunk, len(gone))]); err != nil {
					return err
				}
			}
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("apply position %s/%s: %w", key.AccountID, key.InstrumentID, err)
	}
	return w.rows, nil
}

// Get implements trading.Trades.
func (s *Ledger) Get(ctx context.Context, userID, id uuid.UUID) (*trading.Trade, error) {
	var out *trading.Trade
	err := s.db.run(ctx, func(g *gorm.DB) error {
		var legs []byte
		err := query(g, func(r *sql.Rows) error {
			t, err := scanTrade(r, &legs)
			if err != nil {
				return err
			}
			if t.Legs, err = parseLegs(legs); err != nil {
				return fmt.Errorf("trade %s: %w", t.ID, err)
			}
			out = t
			return nil
		}, "SELECT "+tradeCols+", t.legs FROM trades t WHERE t.user_id = ? AND t.id = ?", userID, id)
		if err != nil || out == nil {
			return err
		}
		return fillTrades(g, []*trading.Trade{out}, "t.user_id = ? AND t.id = ?", userID, id)
	})
	if err != nil {
		return nil, fmt.Errorf("get trade: %w", err)
	}
	if out == nil {
		return nil, apperr.New(apperr.NotFound, trading.CodeTradeNotFound, "trade not found")
	}
	return out, nil
}

// InWindow implements trading.Trades: the closed trades through the
// (user_id, closed_at_ns) index, the open ones (closed_at_ns at its
// largest) through (user_id, opened_at_ns).
func (s *Ledger) InWindow(ctx context.Context, userID uuid.UUID, from, to time.Time) ([]trading.Trade, error) {
	var out []trading.Trade
	err := s.db.run(ctx, func(g *gorm.DB) error {
		return query(g, func(r *sql.Rows) error {
			var t trading.Trade
			var opened, closed int64
			if err := r.Scan(&t.ID, &opened, &closed); err != nil {
				return translate(err)
			}
			t.OpenedAt, t.Status = nsTime(opened), trading.Open
			if closed != openCloseNS {
				t.ClosedAt, t.Status = nsTime(closed), trading.Closed
			}
			out = append(out, t)
			return nil
		}, "SELECT t.id, t.opened_at_ns, t.closed_at_ns FROM trades t WHERE t.user_id = ? AND "+
			"((t.closed_at_ns >= ? AND t.closed_at_ns < ?) OR (t.closed_at_ns = ? AND t.opened_at_ns >= ? AND t.opened_at_ns < ?)) "+
			"ORDER BY t.opened_at_ns, t.id", userID, from.UnixNano(), to.UnixNano(), int64(openCloseNS), from.UnixNano(), to.UnixNano())
	})
	if err != nil {
		return nil, fmt.Errorf("trades in window: %w", err)
	}
	return out, nil
}

// Existing implements trading.Trades.
func (s *Ledger) Existing(ctx context.Context, userID uuid.UUID, in []uuid.UUID) ([]uuid.UUID, error) {
	var out []uuid.UUID
	err := s.db.run(ctx, func(g *gorm.DB) error {
		for start := 0; start < len(in); start += chunk {
			err := query(g, func(r *sql.Rows) error {
				var id uuid.UUID
				if err := r.Scan(&id); err != nil {
					return translate(err)
				}
				out = append(out, id)
				return nil
			}, "SELECT id FROM trades WHERE user_id = ? AND id IN ?", userID, ids(in[start:min(start+chunk, len(in))]))
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("existing trades: %w", err)
	}
	return out, nil
}

// SaveAnnotation implements trading.Trades.
func (s *Ledger) SaveAnnotation(ctx context.Context, t *trading.Trade) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		return s.db.run(ctx, func(g *gorm.DB) error {
			args := append(annotationArgs(&t.Annotation), sqlValue(t.RMultiple), t.Digest, t.UserID, t.ID, t.Annotation.Version-1)
			for i, a := range args {
				args[i] = sqlValue(a)
			}
			res := g.Exec("UPDATE trades SET "+strings.ReplaceAll(tradeAnnotationCols, ",", " = ?,")+" = ?, r_multiple = ?, digest = ? "+
				"WHERE user_id = ? AND id = ? AND annotation_version = ?", args...)
			if res.Error != nil {
				return fmt.Errorf("save annotation: %w", translate(res.Error))
			}
			if res.RowsAffected != 1 {
				return missingOrStale(g, "trades", "id = ? AND user_id = ?", []any{t.ID, t.UserID},
					apperr.New(apperr.NotFound, trading.CodeTradeNotFound, "trade not found"))
			}
			if err := g.Exec("DELETE FROM trade_tags WHERE trade_id = ?", t.ID).Error; err != nil {
				return fmt.Errorf("save annotation tags: %w", translate(err))
			}
			w := &writer{ctx: ctx, db: s.db, g: g}
			pairs := make([][2]uuid.UUID, len(t.Annotation.TagIDs))
			for i, tag := range t.Annotation.TagIDs {
				pairs[i] = [2]uuid.UUID{t.ID, tag}
			}
			return w.insertTags(pairs)
		})
	})
}

// List implements trading.Trades.
func (s *Ledger) List(ctx context.Context, userID uuid.UUID, f trading.Filter, srt trading.Sort, p trading.Page) ([]trading.Trade, string, error) {
	q, args, isNum, err := s.listQuery(userID, f, srt, p)
	if err != nil {
		return nil, "", err
	}
	n := p.Size()
	var out []trading.Trade
	var lastKey []string
	if ok, err := s.listPg(ctx, q, args, n, &out, &lastKey); ok {
		if err != nil {
			return nil, "", fmt.Errorf("list trades: %w", err)
		}
		return out, s.nextCursor(srt, out, lastKey, n, isNum), nil
	}
	if err := s.listPortable(ctx, q, args, n, &out, &lastKey); err != nil {
		return nil, "", fmt.Errorf("list trades: %w", err)
	}
	return out, s.nextCursor(srt, out, lastKey, n, isNum), nil
}

// listPortable runs a page's statement through database/sql (SQLite, or
// PostgreSQL where listPg does not apply).
func (s *Ledger) listPortable(ctx context.Context, q string, args []any, n int, out *[]trading.Trade, lastKey *[]string) error {
	return s.db.run(ctx, func(g *gorm.DB) error {
		var ts []*trading.Trade
		err := query(g, func(r *sql.Rows) error {
			var key sql.NullString
			tr, err := scanTrade(r, &key)
			if err == nil {
				ts = append(ts, tr)
				*lastKey = append(*lastKey, key.String)
			}
			return err
		}, q, args...)
		if err != nil {
			return err
		}
		if len(ts) > n {
			ts = ts[:n]
		}
		pageIDs := make([]string, len(ts))
		for i, t := range ts {
			pageIDs[i] = t.ID.String()
		}
		if len(ts) > 0 {
			if err := fillTrades(g, ts, "t.id IN ?", pageIDs); err != nil {
				return err
			}
		}
		*out = make([]trading.Trade, len(ts))
		for i, t := range ts {
			(*out)[i] = *t
		}
		return nil
	})
}

// nextCursor is the cursor after a page of n when a row beyond it came.
func (s *Ledger) nextCursor(srt trading.Sort, out []trading.Trade, lastKey []string, n int, isNum bool) string {
	if len(lastKey) <= n {
		return ""
	}
	// A NULL key (a trade without R) is "" (see rAfter).
	return trading.Cursor{Key: string(srt.Key), Asc: srt.Asc, Value: normKey(lastKey[n-1], isNum), ID: out[n-1].ID}.Encode()
}

// listPg runs a page's statement with pgx itself on PostgreSQL (ok false,
// nothing run, elsewhere or inside a transaction without a connection of
// its own): one statement and one round trip, which also brings each
// trade's tags (pgListTags, evaluated for the page's rows only).
//
// The statement goes as an unnamed one with its parameters as text and
// their types left to the server (what pgx's exec mode sends, built here
// without pgx's per-call encode plans), so PostgreSQL plans it for the
// values it is given every time. A cached prepared statement would switch
// to a generic plan after five runs, and the generic plan of a page, which
// cannot see how wide the date range or how rare the tag is, reads every
// trade of the range and sorts them (13,000 rows and 13–110 ms for one
// quarter of the benchmark's data against ≈ 500 rows and 0.5 ms for the
// custom plan, which walks the sort index and stops at the page); planning
// it costs ≈ 0.2 ms.
func (s *Ledger) listPg(ctx context.Context, q string, args []any, n int, out *[]trading.Trade, lastKey *[]string) (bool, error) {
	if s.db.dialect != Postgres {
		return false, nil
	}
	pq, pargs := pgPlaceholders(q, args)
	params, err := textParams(pargs)
	if err != nil {
		return true, err
	}
	pq = strings.Replace(pq, " FROM trades t WHERE ", ", "+pgListTags+" FROM trades t WHERE ", 1)
	return s.db.withPgx(ctx, "sqlstore.ListTrades", pq, func(c *pgx.Conn) error {
		rr := c.PgConn().ExecParams(ctx, pq, params, nil, nil, pgListFormats[:])
		ts := make([]trading.Trade, 0, n+1)
		var rowErr error
		var row [len(pgListFormats)][]byte
		var updated, annotated [20]byte
		for rowErr == nil && rr.NextRow() {
			if copy(row[:], rr.Values()) != len(row) || len(rr.Values()) != len(row) {
				rowErr = fmt.Errorf("trade row: %d columns", len(rr.Values()))
				break
			}
			// rawTrade reads the two timestamps as microseconds since the
			// Unix epoch in text.
			var e1, e2 error
			row[28], e1 = pgMicrosText(updated[:0], row[28])
			row[38], e2 = pgMicrosText(annotated[:0], row[38])
			if rowErr = errors.Join(e1, e2); rowErr != nil {
				break
			}
			ts = append(ts, trading.Trade{})
			t := &ts[len(ts)-1]
			var key string
			if key, rowErr = rawTrade(t, row[:41]); rowErr == nil {
				t.Annotation.TagIDs, rowErr = rawUUIDList(row[41])
				*lastKey = append(*lastKey, key)
			}
		}
		if _, err := rr.Close(); err != nil {
			return err
		}
		if rowErr != nil {
			return rowErr
		}
		*out = ts[:min(len(ts), n)]
		return nil
	})
}

// pgListTags is a page's trade's tags as listPg reads them: the ids
// separated by commas, in id order (NULL for none).
const pgListTags = "(SELECT string_agg(tt.tag_id::text, ',' ORDER BY tt.tag_id) FROM trade_tags tt WHERE tt.trade_id = t.id)"

// rawUUIDList parses pgListTags's text.
func rawUUIDList(b []byte) ([]uuid.UUID, error) {
	if b == nil {
		return nil, nil
	}
	out := make([]uuid.UUID, 0, bytes.Count(b, []byte{','})+1)
	for part := range bytes.SplitSeq(b, []byte{','}) {
		id, err := uuid.ParseBytes(part)
		if err != nil {
			return nil, fmt.Errorf("trade tags %q: %w", b, err)
		}
		out = append(out, id)
	}
	return out, nil
}

// textParams are a statement's arguments in PostgreSQL's text form, for
// parameters whose types the server infers (as pgx's exec mode sends
// them): the kinds listQuery and tradeWhere bind.
func textParams(args []any) ([][]byte, error) {
	out := make([][]byte, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case string:
			out[i] = []byte(v)
		case uuid.UUID:
			out[i] = []byte(v.String())
		case decimal.Decimal:
			out[i] = []byte(v.String())
		case int64:
			out[i] = strconv.AppendInt(nil, v, 10)
		case int:
			out[i] = strconv.AppendInt(nil, int64(v), 10)
		default:
			return nil, fmt.Errorf("sqlstore: parameter %d: unsupported type %T", i+1, a)
		}
	}
	return out, nil
}

// pgListFormats are the formats of a page's columns as listPg reads them
// (tradeCols, the sort key, pgListTags): text, but for the two timestamps
// (updated_at, annotated_at), which come in binary, a count of
// microseconds since 2000-01-01 UTC whatever the session's DateStyle and
// TimeZone, and cost the server less than extract(epoch …) did.
var pgListFormats = func() (f [42]int16) {
	f[28], f[38] = pgtype.BinaryFormatCode, pgtype.BinaryFormatCode
	return f
}()

// pgEpochMicros is 2000-01-01 UTC, the origin of PostgreSQL's binary
// timestamps, in microseconds since the Unix epoch.
const pgEpochMicros = 946_684_800_000_000

// pgMicrosText appends to dst the binary timestamptz b as microseconds
// since the Unix epoch in decimal text (nil for NULL).
func pgMicrosText(dst, b []byte) ([]byte, error) {
	if b == nil {
		return nil, nil
	}
	if len(b) != 8 {
		return nil, fmt.Errorf("trade row: timestamp of %d bytes", len(b))
	}
	us := int64(binary.BigEndian.Uint64(b)) //nolint:gosec // PostgreSQL's int64 microseconds, sent as their bits
	if us == math.MaxInt64 || us == math.MinInt64 || us > math.MaxInt64-pgEpochMicros {
		return nil, errors.New("trade row: infinite timestamp")
	}
	return strconv.AppendInt(dst, us+pgEpochMicros, 10), nil
}

// rawTrade parses a row of tradeCols as listPg reads them, timestamps
// in microseconds since the Unix epoch (then the sort key) into t, as
// scanTrade reads tradeCols.
func rawTrade(t *trading.Trade, v [][]byte) (key string, err error) {
	if len(v) != 41 {
		return "", fmt.Errorf("trade row: %d columns", len(v))
	}
	a := &t.Annotation
	var errs [24]error
	var opened, closed, holding, weekday, hour, updated int64
	t.ID, errs[0] = rawUUID(v[0])
	t.UserID, errs[1] = rawUUID(v[1])
	t.AccountID, errs[2] = rawUUID(v[2])
	t.InstrumentID, errs[3] = rawUUID(v[3])
	t.Symbol, t.AssetClass, t.Direction, t.Status = string(v[4]), trading.AssetClass(v[5]), trading.Direction(v[6]), trading.Status(v[7])
	t.OpeningExecutionID, errs[4] = rawUUID(v[8])
	for i, d := range [...]*decimal.Decimal{&t.Multiplier, &t.Quantity, &t.MaxPosition, &t.OpenQuantity, &t.CostBasis, &t.AvgEntryPrice} {
		*d, errs[5+i] = decText(v[9+i])
	}
	t.AvgExitPrice, errs[11] = nullDecText(v[15])
	for i, d := range [...]*decimal.Decimal{&t.GrossPnL, &t.Commission, &t.Fees, &t.NetPnL} {
		*d, errs[12+i] = decText(v[16+i])
	}
	opened, errs[16] = rawInt(v[20])
	closed, errs[17] = rawInt(v[21])
	if v[22] != nil {
		holding, errs[18] = rawInt(v[22])
	}
	t.Outcome = trading.Outcome(v[23])
	t.RMultiple, errs[19] = nullDecText(v[24])
	weekday, errs[20] = rawInt(v[25])
	hour, errs[21] = rawInt(v[26])
	t.Digest = string(v[27])
	updated, errs[22] = rawInt(v[28])
	errs[23] = rawAnnotation(a, v[29:39])
	t.Currency = string(v[39])
	if err := errors.Join(errs[:]...); err != nil {
		return "", fmt.Errorf("trade row: %w", err)
	}
	t.OpenedAt, t.OpenWeekday, t.OpenHour = nsTime(opened), time.Weekday(weekday), int(hour)
	if closed != openCloseNS {
		t.ClosedAt = nsTime(closed)
	}
	t.Holding = time.Duration(holding)
	if len(a.FollowedRules) == 0 {
		a.FollowedRules = nil
	}
	t.UpdatedAt = time.UnixMicro(updated).UTC()
	return string(v[40]), nil
}

// withPgx gives fn the pgx connection of the transaction ctx carries, or
// one of the pool's. ok is false, with nothing run, outside PostgreSQL or
// in a transaction without a connection of its own.
func (d *DB) withPgx(ctx context.Context, op, query string, fn func(c *pgx.Conn) error) (ok bool, err error) {
	if d.dialect != Postgres {
		return false, nil
	}
	var conn *sql.Conn
	if st := txFrom(ctx, d); st != nil {
		if st.conn == nil {
			return false, nil
		}
		conn = st.conn
	} else {
		if conn, err = d.acquire(ctx); err != nil {
			return true, err
		}
		defer func() { _ = conn.Close() }()
	}
	return true, translate(d.onPgx(ctx, conn, op, query, fn))
}

// listQuery builds the statement of one page: the filter, the keyset
// condition after the cursor (a row comparison, which PostgreSQL serves
// from the (user_id, key, id) indexes), the order and LIMIT page size + 1.
func (s *Ledger) listQuery(userID uuid.UUID, f trading.Filter, srt trading.Sort, p trading.Page) (string, []any, bool, error) {
	where, args := s.tradeWhere(userID, &f)
	expr, isNum := s.sortExpr(srt)
	dir, cmp := "DESC", "<"
	if srt.Asc {
		dir, cmp = "ASC", ">"
	}
	if p.Cursor != "" {
		c, err := trading.DecodeCursor(p.Cursor, string(srt.Key), srt.Asc)
		if err != nil {
			return "", nil, false, err
		}
		after := s.keyAfter
		if srt.Key == trading.SortR {
			after = s.rAfter
		}
		cond, a, err := after(c, expr, cmp, isNum)
		if err != nil {
			return "", nil, false, err
		}
		where, args = append(where, cond), append(args, a...)
	}
	order := expr + " " + dir
	if srt.Key == trading.SortR {
		order += " NULLS LAST" // trades without R last either way
	}
	q := "SELECT " + tradeCols + ", " + s.keyText(expr) + " FROM trades t WHERE " + strings.Join(where, " AND ") +
		" ORDER BY " + order + ", t.id " + dir + " LIMIT ?"
	return q, append(args, p.Size()+1), isNum, nil
}

// keyAfter is the keyset condition of a page after the cursor c (cmp "<"
// descending, ">" ascending) on the sort key expr and its arguments.
func (s *Ledger) keyAfter(c trading.Cursor, expr, cmp string, isNum bool) (string, []any, error) {
	bad := apperr.New(apperr.Invalid, trading.CodeCursorInvalid, "invalid cursor")
	var v any = c.Value
	param := "?"
	if isNum {
		param = s.numParam()
		if _, err := decimal.NewFromString(c.Value); err != nil {
			return "", nil, bad
		}
	} else {
		n, err := strconv.ParseInt(c.Value, 10, 64)
		if err != nil {
			return "", nil, bad
		}
		v = n
	}
	return fmt.Sprintf("(%s, t.id) %s (%s, %s)", expr, cmp, param, s.idParam()), []any{v, c.ID}, nil
}

// rAfter is the keyset condition of a page sorted by R after the cursor
// c (cmp "<" descending, ">" ascending) and its arguments. Trades without
// R come after every R in both directions: the rows after an R are the
// later Rs (then the later ids of the same R) and every trade without R;
// the rows after a trade without R (c.Value "") are the trades without R
// of a later id. No finite stand-in for the missing R would do: an R can
// be any decimal the figures give (net / risk).
func (s *Ledger) rAfter(c trading.Cursor, expr, cmp string, _ bool) (string, []any, error) {
	if c.Value == "" {
		return fmt.Sprintf("(t.r_multiple IS NULL AND t.id %s %s)", cmp, s.idParam()), []any{c.ID}, nil
	}
	if _, err := decimal.NewFromString(c.Value); err != nil {
		return "", nil, apperr.New(apperr.Invalid, trading.CodeCursorInvalid, "invalid cursor")
	}
	return fmt.Sprintf("(t.r_multiple IS NULL OR (%s, t.id) %s (%s, %s))", expr, cmp, s.numParam(), s.idParam()),
		[]any{c.Value, c.ID}, nil
}

// normKey canonicalises a numeric sort key as read back (REAL text on
// SQLite, NUMERIC text on PostgreSQL).
func normKey(s string, isNum bool) string {
	if !isNum {
		return s
	}
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return s
	}
	return d.String()
}

// num is a decimal column as a comparable number.
func (s *Ledger) num(col string) string {
	if s.db.dialect == Postgres {
		return col
	}
	return "CAST(" + col + " AS REAL)"
}

func (s *Ledger) numParam() string {
	if s.db.dialect == Postgres {
		return "CAST(? AS numeric)"
	}
	return "CAST(? AS REAL)"
}

func (s *Ledger) idParam() string {
	if s.db.dialect == Postgres {
		return "CAST(? AS uuid)"
	}
	return "?"
}

func (s *Ledger) keyText(expr string) string {
	if s.db.dialect == Postgres {
		return "CAST(" + expr + " AS text)"
	}
	return "CAST(" + expr + " AS TEXT)"
}

func (s *Ledger) sortExpr(srt trading.Sort) (expr string, isNum bool) {
	switch srt.Key {
	case trading.SortClosed:
		return "t.closed_at_ns", false
	case trading.SortNetPnL:
		return s.num("t.net_pnl"), true
	case trading.SortR:
		return s.num("t.r_multiple"), true // NULL (no R) placed last by listQuery
	}
	return "t.opened_at_ns", false
}

// tradeWhere translates a validated filter.
func (s *Ledger) tradeWhere(userID uuid.UUID, f *trading.Filter) ([]string, []any) {
	where := []string{"t.user_id = ?"}
	args := []any{userID}
	add := func(cond string, a ...any) {
		where = append(where, cond)
		args = append(args, a...)
	}
	if len(f.AccountIDs) > 0 {
		add("t.account_id IN ?", ids(f.AccountIDs))
	}
	if len(f.Symbols) > 0 {
		add("t.symbol IN ?", f.Symbols)
	}
	if len(f.AssetClasses) > 0 {
		cs := make([]string, len(f.AssetClasses))
		for i, c := range f.AssetClasses {
			cs[i] = string(c)
		}
		add("t.asset_class IN ?", cs)
	}
	if f.Direction != "" {
		add("t.direction = ?", string(f.Direction))
	}
	if f.Status != "" {
		add("t.status = ?", string(f.Status))
	}
	if len(f.Outcomes) > 0 {
		if f.BreakevenBand.Valid {
			band := f.BreakevenBand.Decimal
			var ors []string
			var oargs []any
			for _, o := range f.Outcomes {
				switch o {
				case trading.Win:
					ors, oargs = append(ors, s.num("t.net_pnl")+" > "+s.numParam()), append(oargs, band)
				case trading.Loss:
					ors, oargs = append(ors, s.num("t.net_pnl")+" < "+s.numParam()), append(oargs, band.Neg())
				case trading.Breakeven:
					ors = append(ors, s.num("t.net_pnl")+" BETWEEN "+s.numParam()+" AND "+s.numParam())
					oargs = append(oargs, band.Neg(), band)
				}
			}
			add("t.status = 'closed' AND ("+strings.Join(ors, " OR ")+")", oargs...)
		} else {
			os := make([]string, len(f.Outcomes))
			for i, o := range f.Outcomes {
				os[i] = string(o)
			}
			add("t.outcome IN ?", os)
		}
	}
	if len(f.TagIDs) > 0 {
		tags := ids(dedupeIDs(f.TagIDs))
		if f.TagMode == trading.AllTags {
			add("(SELECT COUNT(*) FROM trade_tags tt WHERE tt.trade_id = t.id AND tt.tag_id IN ?) = ?", tags, len(tags))
		} else {
			add("EXISTS (SELECT 1 FROM trade_tags tt WHERE tt.trade_id = t.id AND tt.tag_id IN ?)", tags)
		}
	}
	if len(f.PlaybookIDs) > 0 {
		add("t.playbook_id IN ?", ids(f.PlaybookIDs))
	}
	from, to := f.Bounds()
	col := "t.closed_at_ns"
	if f.DateField == trading.ByOpen {
		col = "t.opened_at_ns"
	}
	if !from.IsZero() {
		add(col+" >= ?", from.UnixNano())
	}
	if !to.IsZero() {
		add(col+" < ?", to.UnixNano())
	}
	if col == "t.closed_at_ns" && (!from.IsZero() || !to.IsZero()) {
		add("t.closed_at_ns < ?", int64(openCloseNS))
	}
	// A trade opens no later than it closes (Build takes fills in time
	// order), so a range on one date bounds the other too: redundant, but
	// it lets a page sorted by the other date start its index walk at the
	// range instead of at the newest trade (a quarter a year back, sorted by
	// open, read 35,000 trades to find its page without it).
	if col == "t.closed_at_ns" && !to.IsZero() {
		add("t.opened_at_ns < ?", to.UnixNano())
	}
	if col == "t.opened_at_ns" && !from.IsZero() {
		add("t.closed_at_ns >= ?", from.UnixNano()) // open trades carry the largest closed_at_ns
	}
	if len(f.Weekdays) > 0 {
		ws := make([]int, len(f.Weekdays))
		for i, w := range f.Weekdays {
			ws[i] = int(w)
		}
		add("t.open_weekday IN ?", ws)
	}
	if len(f.Hours) > 0 {
		add("t.open_hour IN ?", f.Hours)
	}
	if f.MinHolding > 0 {
		add("t.holding_ns >= ?", int64(f.MinHolding))
	}
	if f.MaxHolding > 0 {
		add("t.holding_ns <= ?", int64(f.MaxHolding))
	}
	if f.MinNetPnL.Valid {
		add(s.num("t.net_pnl")+" >= "+s.numParam(), f.MinNetPnL.Decimal)
	}
	if f.MaxNetPnL.Valid {
		add(s.num("t.net_pnl")+" <= "+s.numParam(), f.MaxNetPnL.Decimal)
	}
	if f.MinR.Valid {
		add(s.num("t.r_multiple")+" >= "+s.numParam(), f.MinR.Decimal)
	}
	if f.MaxR.Valid {
		add(s.num("t.r_multiple")+" <= "+s.numParam(), f.MaxR.Decimal)
	}
	return where, args
}

func dedupeIDs(in []uuid.UUID) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(in))
	for _, id := range in {
		if !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}
