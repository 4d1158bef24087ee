package sqlstore

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// copyRowsForTest formats what the COPY of ts (their legs in their legs
// column) sends, and what the generic path (copyText of insertTrades'
// values) would: the test holds them equal.
func copyRowsForTest(ts []*trading.Trade) (fast, generic string) {
	var f []byte
	var g bytes.Buffer
	for _, t := range ts {
		f = append(appendTradeRow(f, t), '\n')
		vals := append([]any{t.ID}, derivedArgs(t)...)
		vals = append(vals, annotationArgs(&t.Annotation)...)
		writeGeneric(&g, vals)
	}
	return string(f), g.String()
}

func writeGeneric(g *bytes.Buffer, vals []any) {
	for i, v := range vals {
		if i > 0 {
			g.WriteByte('\t')
		}
		copyText(g, v)
	}
	g.WriteByte('\n')
}

// TestTradeCopyRowsMatchTheGenericEncoding: the rows the rebuild's COPY
// formats itself are, byte for byte, what copyText gives for the values
// insertTrades would pass (open and closed trades, nulls,
// annotation, text that needs escaping).
func TestTradeCopyRowsMatchTheGenericEncoding(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)
	d := decimal.RequireFromString
	closed := &trading.Trade{
		ID: uuid.New(), UserID: uuid.New(), AccountID: uuid.New(), InstrumentID: uuid.New(), Symbol: "ES\\Z6\t", AssetClass: trading.Future,
		Direction: trading.Short, Status: trading.Closed, OpeningExecutionID: uuid.New(), Multiplier: d("50"), Quantity: d("2"),
		MaxPosition: d("2"), AvgEntryPrice: d("5000.25"), AvgExitPrice: decimal.NewNullDecimal(d("4999.5")), GrossPnL: d("75.00"),
		Commission: d("4.2"), Fees: d("-0.01"), NetPnL: d("70.81"), OpenedAt: at, ClosedAt: at.Add(time.Hour), Holding: time.Hour,
		Outcome: trading.Win, RMultiple: decimal.NewNullDecimal(d("1.5")), OpenWeekday: time.Monday, OpenHour: 9, Digest: "abc",
		UpdatedAt: at, Annotation: trading.Annotation{PlaybookID: uuid.New(), Notes: "line\nnext\ttab \\ back", PlannedStop: decimal.NewNullDecimal(d("5010")),
			InitialRisk: decimal.NewNullDecimal(d("50")), Rating: 4, Confidence: 7, FollowedRules: []uuid.UUID{uuid.New(), uuid.New()}, Version: 3, UpdatedAt: at.Add(time.Minute)},
		Legs: []trading.Leg{
			{ExecutionID: uuid.New(), Role: trading.Entry, Side: trading.Sell, Quantity: d("2"), Price: d("5000.25"), Commission: d("2.1"), ExecutedAt: at},
			{ExecutionID: uuid.New(), Role: trading.Exit, Side: trading.Buy, Quantity: d("2"), Price: d("4999.5"), Commission: d("2.1"), Fees: d("-0.01"),
				RealizedPnL: d("75.00"), ExecutedAt: at.Add(time.Hour), Seq: 1},
		},
	}
	open := &trading.Trade{ID: uuid.New(), UserID: uuid.New(), AccountID: uuid.New(), InstrumentID: uuid.New(), Symbol: "AAPL", AssetClass: trading.Stock,
		Direction: trading.Long, Status: trading.Open, OpeningExecutionID: uuid.New(), Multiplier: d("1"), Quantity: d("100"), MaxPosition: d("100"),
		OpenQuantity: d("100"), CostBasis: d("17012.5"), AvgEntryPrice: d("170.125"), OpenedAt: at, UpdatedAt: at, Annotation: trading.Annotation{Version: 1}}
	odd := *closed // a leg text that needs JSON's escapes, and then COPY's
	odd.ID, odd.Legs = uuid.New(), []trading.Leg{{ExecutionID: uuid.New(), Role: "en\"try\\", Side: "bu\ty\u00e9", Quantity: d("1"), Price: d("2"), ExecutedAt: at}}
	fast, generic := copyRowsForTest([]*trading.Trade{closed, open, &odd})
	if fast != generic {
		t.Fatalf("COPY rows differ:\n%s\nwant\n%s", fast, generic)
	}
}

// TestLegsJSONRoundTrip: parseLegs reads back every field appendLegsJSON
// writes (escaped texts, decimals' exponents, nanoseconds, seq order), and
// parseLegKeys the keys; a broken text is an error.
func TestLegsJSONRoundTrip(t *testing.T) {
	at := time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC)
	d := decimal.RequireFromString
	legs := []trading.Leg{
		{ExecutionID: uuid.New(), Role: trading.Entry, Side: trading.Sell, Quantity: d("2.5"), Price: d("5000.25"), Commission: d("2.1"),
			Fees: d("-0.01"), ExecutedAt: at},
		{ExecutionID: uuid.New(), Role: trading.Exit, Side: trading.Buy, Quantity: d("2.5"), Price: d("4999.5"), Commission: d("0"),
			RealizedPnL: d("-1234567890.123456789"), ExecutedAt: at.Add(time.Nanosecond), Seq: 1},
		{ExecutionID: uuid.New(), Role: "odd\"\\\n", Side: "é\t", Quantity: d("1"), Price: d("1"), ExecutedAt: nsTime(-5), Seq: 2},
	}
	text := appendLegsJSON(nil, legs)
	got, err := parseLegs(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(legs) {
		t.Fatalf("%d legs back from %s", len(got), text)
	}
	for i := range legs {
		w, g := &legs[i], &got[i]
		if !trading.SameLeg(w, g) || w.ExecutionID != g.ExecutionID || w.Role != g.Role || w.Side != g.Side || w.Seq != g.Seq ||
			!w.ExecutedAt.Equal(g.ExecutedAt) || !w.Quantity.Equal(g.Quantity) || !w.Price.Equal(g.Price) || !w.Commission.Equal(g.Commission) ||
			!w.Fees.Equal(g.Fees) || !w.RealizedPnL.Equal(g.RealizedPnL) {
			t.Fatalf("leg %d: got %+v, want %+v (text %s)", i, *g, *w, text)
		}
	}
	keys, err := parseLegKeys(nil, text)
	if err != nil || len(keys) != 3 || keys[2].ExecutionID != legs[2].ExecutionID || keys[2].Role != legs[2].Role {
		t.Fatalf("keys %v, %v", keys, err)
	}
	if none, err := parseLegs([]byte("[]")); err != nil || none != nil {
		t.Fatalf("empty legs: %v, %v", none, err)
	}
	if _, err := parseLegs(text[:len(text)-1]); err == nil {
		t.Fatal("a cut legs text parsed")
	}
}
