package sqlstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// The rows a rebuild writes (50,000 trades and 100,000 legs for a large
// account) go to COPY formatted straight from the trades: bulkInsertFunc's
// []any rows box every decimal, UUID, string and time, 30 allocations per
// trade and 11 per leg, which was half of a full rebuild's allocations.
// The text is the one copyText gives for the same values.

// copyFunc streams n rows into table (cols) with COPY on the connection
// of the transaction w runs in; row appends row i's text (tab-separated,
// no newline). ok is false, nothing sent, off PostgreSQL or without that
// connection: the caller takes bulkFunc.
func (w *writer) copyFunc(table string, cols []string, n int, row func(b []byte, i int) []byte) (ok bool, err error) {
	st := txFrom(w.ctx, w.db)
	if w.db.dialect != Postgres || st == nil || st.conn == nil {
		return false, nil
	}
	if n == 0 {
		return true, nil
	}
	src := &rowReader{n: n, row: row}
	var written int64
	stmt := "COPY " + table + " (" + strings.Join(cols, ", ") + ") FROM STDIN"
	err = w.db.onPgx(w.ctx, st.conn, "sqlstore.Copy", stmt, func(pc *pgx.Conn) error {
		tag, err := pc.PgConn().CopyFrom(w.ctx, src, stmt)
		written = tag.RowsAffected()
		return err
	})
	if err != nil {
		return true, fmt.Errorf("copy into %s: %w", table, translate(err))
	}
	w.rows += int(written)
	return true, nil
}

// rowReader formats rows as pgconn reads them, copyChunk at a time.
type rowReader struct {
	n, i int
	row  func(b []byte, i int) []byte
	buf  []byte
	off  int
}

func (r *rowReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		if r.i >= r.n {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		for r.i < r.n && len(r.buf) < copyChunk {
			r.buf = append(r.row(r.buf, r.i), '\n')
			r.i++
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}

func appendUUID(b []byte, id uuid.UUID) []byte {
	var s [36]byte
	hexUUID(s[:], id)
	return append(b, s[:]...)
}

func appendNullUUID(b []byte, id uuid.UUID) []byte {
	if id == uuid.Nil {
		return append(b, `\N`...)
	}
	return appendUUID(b, id)
}

func appendNullDec(b []byte, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return append(b, `\N`...)
	}
	return trading.AppendDecimal(b, d.Decimal)
}

// appendText escapes s as copyText does.
func appendText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b = append(b, `\\`...)
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\r':
			b = append(b, `\r`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	return normTime(t).AppendFormat(b, "2006-01-02 15:04:05.999999Z07:00")
}

// appendTradeRow is the row of tradeColList: the id, derivedArgs, then
// annotationArgs.
func appendTradeRow(b []byte, t *trading.Trade) []byte {
	tab := func(b []byte) []byte { return append(b, '\t') }
	b = appendUUID(b, t.ID)
	for _, id := range [...]uuid.UUID{t.UserID, t.AccountID, t.InstrumentID} {
		b = appendUUID(tab(b), id)
	}
	for _, s := range [...]string{t.Symbol, string(t.AssetClass), string(t.Direction), string(t.Status)} {
		b = appendText(tab(b), s)
	}
	b = appendUUID(tab(b), t.OpeningExecutionID)
	for _, d := range [...]*decimal.Decimal{&t.Multiplier, &t.Quantity, &t.MaxPosition, &t.OpenQuantity, &t.CostBasis, &t.AvgEntryPrice} {
		b = trading.AppendDecimal(tab(b), *d)
	}
	b = appendNullDec(tab(b), t.AvgExitPrice)
	for _, d := range [...]*decimal.Decimal{&t.GrossPnL, &t.Commission, &t.Fees, &t.NetPnL} {
		b = trading.AppendDecimal(tab(b), *d)
	}
	b = strconv.AppendInt(tab(b), t.OpenedAt.UnixNano(), 10)
	if t.Status == trading.Closed {
		b = strconv.AppendInt(tab(b), t.ClosedAt.UnixNano(), 10)
		b = strconv.AppendInt(tab(b), int64(t.Holding), 10)
	} else {
		b = strconv.AppendInt(tab(b), openCloseNS, 10)
		b = append(tab(b), `\N`...)
	}
	b = appendText(tab(b), string(t.Outcome))
	b = appendNullDec(tab(b), t.RMultiple)
	b = strconv.AppendInt(tab(b), int64(t.OpenWeekday), 10)
	b = strconv.AppendInt(tab(b), int64(t.OpenHour), 10)
	b = appendText(tab(b), t.Digest)
	b = appendTime(tab(b), t.UpdatedAt)
	// JSON has no raw control byte; only a backslash (an escape
	// appendJSONString wrote) needs COPY's escape, which is rare.
	start := len(b) + 1
	if b = appendLegsJSON(tab(b), t.Legs); bytes.IndexByte(b[start:], '\\') >= 0 {
		b = appendText(b[:start], string(b[start:]))
	}
	a := &t.Annotation
	b = appendNullUUID(tab(b), a.PlaybookID)
	b = appendText(tab(b), a.Notes)
	for _, d := range [...]decimal.NullDecimal{a.PlannedStop, a.PlannedTarget, a.InitialRisk} {
		b = appendNullDec(tab(b), d)
	}
	b = strconv.AppendInt(tab(b), int64(a.Rating), 10)
	b = strconv.AppendInt(tab(b), int64(a.Confidence), 10)
	if len(a.FollowedRules) == 0 {
		b = append(tab(b), "[]"...)
	} else {
		b = appendText(tab(b), idsJSON(a.FollowedRules))
	}
	b = strconv.AppendInt(tab(b), a.Version, 10)
	return appendTime(tab(b), a.UpdatedAt)
}

// legJSON is one element of trades.legs (migration 00360): a leg with
// its decimals as strings, in seq order in the array.
type legJSON struct {
	ExecutionID uuid.UUID       `json:"e"`
	Role        trading.Role    `json:"r"`
	Side        trading.Side    `json:"s"`
	Quantity    decimal.Decimal `json:"q"`
	Price       decimal.Decimal `json:"p"`
	Commission  decimal.Decimal `json:"c"`
	Fees        decimal.Decimal `json:"f"`
	RealizedPnL decimal.Decimal `json:"pnl"`
	ExecutedAt  int64           `json:"t"`
	Seq         int             `json:"n"`
}

// legKeyJSON is the part of legJSON Reconcile's leg keys read.
type legKeyJSON struct {
	ExecutionID uuid.UUID    `json:"e"`
	Role        trading.Role `json:"r"`
}

// appendJSONString appends s as a JSON string: as it is when no byte
// needs an escape (UUIDs, decimals, roles, sides), else as encoding/json
// writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func appendJSONDecimal(b []byte, d decimal.Decimal) []byte {
	b = append(b, '"')
	b = trading.AppendDecimal(b, d)
	return append(b, '"')
}

// appendLegsJSON appends the trades.legs text of legs: the JSON array
// parseLegs reads (encoding/json's reading of what this writes is held by
// TestLegsJSONRoundTrip).
func appendLegsJSON(b []byte, legs []trading.Leg) []byte {
	b = append(b, '[')
	for i := range legs {
		l := &legs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"e":"`...)
		b = appendUUID(b, l.ExecutionID)
		b = append(b, `","r":`...)
		b = appendJSONString(b, string(l.Role))
		b = append(b, `,"s":`...)
		b = appendJSONString(b, string(l.Side))
		b = appendJSONDecimal(append(b, `,"q":`...), l.Quantity)
		b = appendJSONDecimal(append(b, `,"p":`...), l.Price)
		b = appendJSONDecimal(append(b, `,"c":`...), l.Commission)
		b = appendJSONDecimal(append(b, `,"f":`...), l.Fees)
		b = appendJSONDecimal(append(b, `,"pnl":`...), l.RealizedPnL)
		b = strconv.AppendInt(append(b, `,"t":`...), l.ExecutedAt.UnixNano(), 10)
		b = strconv.AppendInt(append(b, `,"n":`...), int64(l.Seq), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

// parseLegs reads a trades.legs text.
func parseLegs(text []byte) ([]trading.Leg, error) {
	var ls []legJSON
	if err := json.Unmarshal(text, &ls); err != nil {
		return nil, fmt.Errorf("trade legs: %w", err)
	}
	if len(ls) == 0 {
		return nil, nil
	}
	out := make([]trading.Leg, len(ls))
	for i, l := range ls {
		out[i] = trading.Leg{ExecutionID: l.ExecutionID, Role: l.Role, Side: l.Side, Quantity: l.Quantity, Price: l.Price, Commission: l.Commission,
			Fees: l.Fees, RealizedPnL: l.RealizedPnL, ExecutedAt: nsTime(l.ExecutedAt), Seq: l.Seq}
	}
	slices.SortStableFunc(out, func(a, b trading.Leg) int { return a.Seq - b.Seq })
	return out, nil
}

// parseLegKeys appends to dst the (execution, role) keys of a trades.legs
// text.
func parseLegKeys(dst []trading.Leg, text []byte) ([]trading.Leg, error) {
	var ls []legKeyJSON
	if err := json.Unmarshal(text, &ls); err != nil {
		return dst, fmt.Errorf("trade legs: %w", err)
	}
	for _, l := range ls {
		dst = append(dst, trading.Leg{ExecutionID: l.ExecutionID, Role: l.Role})
	}
	return dst, nil
}
