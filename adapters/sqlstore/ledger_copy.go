package sqlstore

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// The rows a rebuild writes (50,000 trades and 100,000 legs for a large
// account) go to COPY formatted straight from the trades: bulkInsertFunc's
// []any rows box every decimal, UUID, string and time, 30 allocations per
// trade and 11 per leg, which was half of a full rebuild's allocations.
// They are sent in COPY's binary format (copy_binary.go): the stored
// values are the ones copyText's text gives (TestTradeCopyRowsMatch-
// TheGenericEncoding), without the backend parsing 40 text fields a row.

// copyFunc streams n rows into table (cols) with COPY in binary format
// on the connection of the transaction w runs in; row appends row i in
// that format (its field count and fields). ok is false, nothing sent,
// off PostgreSQL or without that connection: the caller takes bulkFunc.
func (w *writer) copyFunc(table string, cols []string, n int, row func(i int, b []byte) []byte) (ok bool, err error) {
	if w.db.pgTx(w.ctx) == nil {
		return false, nil
	}
	written, err := w.db.copyBinary(w.ctx, table, cols, n, row)
	w.rows += written
	return true, err
}

// rowReader formats rows as pgconn reads them, copyChunk at a time: in
// COPY's text form (row appends a line without its newline) or, when bin,
// its binary form (row appends the field count and the fields; the
// stream's header and trailer are the reader's).
type rowReader struct {
	n, i int
	row  func(i int, b []byte) []byte
	bin  bool
	done bool
	buf  []byte
	off  int
}

func (r *rowReader) Read(p []byte) (int, error) {
	if r.off == len(r.buf) {
		r.buf, r.off = r.buf[:0], 0
		switch {
		case r.i < r.n:
			if r.bin && r.i == 0 {
				r.buf = append(r.buf, pgcopyHeader...)
			}
			for r.i < r.n && len(r.buf) < copyChunk {
				if r.buf = r.row(r.i, r.buf); !r.bin {
					r.buf = append(r.buf, '\n')
				}
				r.i++
			}
		case r.bin && !r.done:
			r.done = true
			if r.n == 0 {
				r.buf = append(r.buf, pgcopyHeader...)
			}
			r.buf = append(r.buf, pgcopyTrailer...)
		default:
			return 0, io.EOF
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

// copyTradeRow appends the binary COPY row of tradeColList: the id,
// derivedArgs, then annotationArgs.
func copyTradeRow(b []byte, t *trading.Trade) []byte {
	b = copyFields(b, len(tradeColList))
	for _, id := range [...]uuid.UUID{t.ID, t.UserID, t.AccountID, t.InstrumentID} {
		b = copyUUID(b, id)
	}
	for _, s := range [...]string{t.Symbol, string(t.AssetClass), string(t.Direction), string(t.Status)} {
		b = copyStr(b, s)
	}
	b = copyUUID(b, t.OpeningExecutionID)
	for _, d := range [...]*decimal.Decimal{&t.Multiplier, &t.Quantity, &t.MaxPosition, &t.OpenQuantity, &t.CostBasis, &t.AvgEntryPrice} {
		b = copyDec(b, *d)
	}
	b = copyNullDec(b, t.AvgExitPrice)
	for _, d := range [...]*decimal.Decimal{&t.GrossPnL, &t.Commission, &t.Fees, &t.NetPnL} {
		b = copyDec(b, *d)
	}
	b = copyInt64(b, t.OpenedAt.UnixNano())
	if t.Status == trading.Closed {
		b = copyInt64(b, t.ClosedAt.UnixNano())
		b = copyInt64(b, int64(t.Holding))
	} else {
		b = copyInt64(b, openCloseNS)
		b = copyNull(b)
	}
	b = copyStr(b, string(t.Outcome))
	b = copyNullDec(b, t.RMultiple)
	b = copyInt16(b, int(t.OpenWeekday))
	b = copyInt16(b, t.OpenHour)
	b = copyStr(b, t.Digest)
	b = copyTime(b, t.UpdatedAt)
	// The legs' JSON text after a length written once it is known.
	at := len(b)
	b = appendLegsJSON(append(b, 0, 0, 0, 0), t.Legs)
	binary.BigEndian.PutUint32(b[at:], uint32(len(b)-at-4)) //nolint:gosec // below 1 GB, as copyLen
	b = copyStr(b, t.Currency)
	a := &t.Annotation
	b = copyNullUUID(b, a.PlaybookID)
	b = copyStr(b, a.Notes)
	for _, d := range [...]decimal.NullDecimal{a.PlannedStop, a.PlannedTarget, a.InitialRisk} {
		b = copyNullDec(b, d)
	}
	b = copyInt16(b, a.Rating)
	b = copyInt16(b, a.Confidence)
	if len(a.FollowedRules) == 0 {
		b = copyStr(b, "[]")
	} else {
		b = copyStr(b, idsJSON(a.FollowedRules))
	}
	b = copyInt64(b, a.Version)
	return copyTime(b, a.UpdatedAt)
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
