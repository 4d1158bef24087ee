package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
	"gorm.io/gorm"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/tests/testenv"
)

// TestTradeCopyRowsMatchTheGenericEncoding: the trades the rebuild's
// binary COPY stores are, column for column as PostgreSQL prints them
// (numeric scales, microseconds, nulls), what the generic path stores
// from the values insertTrades would pass (COPY text of copyText): open
// and closed trades, nulls, annotation, text that needs COPY's escapes,
// decimals of every shape.
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
	ts := []*trading.Trade{closed, open, &odd}
	for i, v := range decimalShapes {
		x := *open
		x.ID, x.OpeningExecutionID, x.CostBasis, x.AvgEntryPrice = uuid.New(), uuid.New(), d(v), d(v)
		x.Annotation.PlannedStop = decimal.NewNullDecimal(d(v).Neg())
		x.UpdatedAt = at.Add(time.Duration(i) * 999 * time.Nanosecond)
		ts = append(ts, &x)
	}
	fast, generic := copiedTradesForTest(t, ts)
	if len(fast) != len(ts) {
		t.Fatalf("%d rows stored by the binary COPY, want %d", len(fast), len(ts))
	}
	for i := range fast {
		if fast[i] != generic[i] {
			t.Errorf("row %d:\n%s\nwant\n%s", i, fast[i], generic[i])
		}
	}
}

// decimalShapes are decimal texts whose numeric digits, weight and scale
// differ: zeros, digit groups cut at every place, long fractions, big
// integers.
var decimalShapes = []string{"0", "0.0", "1", "-1", "9999", "10000", "10001", "-0.0001", "0.00001", "0.1", "0.12345678", "1.5", "12.25",
	"123.456", "1234.5678", "12345.6789", "100000000", "1e8", "5000.2500", "-1234567890.123456789", "98765432109876543210.0123456789",
	"0.000000000000000000001", "170.125", "4999.5", "-0.01", "1000000000000000000000000"}

// copiedTradesForTest stores ts in two temporary tables shaped like
// trades, by the binary COPY and by the generic text COPY, and returns
// each table's rows as text in the order of ts.
func copiedTradesForTest(t *testing.T, ts []*trading.Trade) (fast, generic []string) {
	t.Helper()
	ctx := context.Background()
	db := openPostgresForTest(t)
	read := func(g *gorm.DB, table string) ([]string, error) {
		var out []string
		err := query(g, func(r *sql.Rows) error {
			var s string
			if err := r.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
			return nil
		}, "SELECT c::text FROM "+table+" c JOIN unnest(?::uuid[]) WITH ORDINALITY o(id, n) ON o.id = c.id ORDER BY o.n", pgUUIDsText(ts))
		return out, err
	}
	err := db.inTx(ctx, func(ctx context.Context) error {
		return db.run(ctx, func(g *gorm.DB) error {
			for _, table := range []string{"trades_bin", "trades_generic"} {
				if err := g.Exec("CREATE TEMP TABLE " + table + " (LIKE trades INCLUDING DEFAULTS) ON COMMIT DROP").Error; err != nil {
					return err
				}
			}
			w := &writer{ctx: ctx, db: db, g: g}
			ok, err := w.copyFunc("trades_bin", tradeColList, len(ts), func(i int, b []byte) []byte { return copyTradeRow(b, ts[i]) })
			if err != nil || !ok {
				return fmt.Errorf("binary copy: %v, %w", ok, err)
			}
			if err := w.bulkFunc("trades_generic", tradeColList, len(ts), func(i int, dst []any) []any {
				dst = append(append(dst, ts[i].ID), derivedArgs(ts[i])...)
				return append(dst, annotationArgs(&ts[i].Annotation)...)
			}); err != nil {
				return err
			}
			if fast, err = read(g, "trades_bin"); err != nil {
				return err
			}
			generic, err = read(g, "trades_generic")
			return err
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return fast, generic
}

// pgUUIDsText is the PostgreSQL array text of ts' IDs.
func pgUUIDsText(ts []*trading.Trade) string {
	b := []byte{'{'}
	for i, t := range ts {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUUID(b, t.ID)
	}
	return string(append(b, '}'))
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

// TestNumericTextIsNumericOut: numericText of the binary numeric
// PostgreSQL sends is, byte for byte, the text of a ::text cast, for
// decimals of every shape and scales with trailing zeros.
func TestNumericTextIsNumericOut(t *testing.T) {
	ctx := context.Background()
	db := openPostgresForTest(t)
	shapes := append([]string{"1.500", "0.000", "-0.0100", "100.00000000", "-9999.9999", "0.0001000", "123456789012345678901234567890.1234567890",
		"1e-20", "-7000000"}, decimalShapes...)
	arr := "{" + strings.Join(shapes, ",") + "}"
	var got, want []string
	err := db.inTx(ctx, func(ctx context.Context) error {
		ok, err := db.pgRows(ctx, "SELECT v::numeric, v::numeric::text FROM unnest($1::text[]) WITH ORDINALITY u(v, n) ORDER BY n", []any{arr},
			func(v [][]byte) error {
				b, err := numericText(nil, v[0])
				if err != nil {
					return err
				}
				got, want = append(got, string(b)), append(want, string(v[1]))
				return nil
			})
		if !ok {
			return fmt.Errorf("pgRows did not run")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(shapes) {
		t.Fatalf("%d values read, want %d", len(got), len(shapes))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("%s: numericText %q, numeric_out %q", shapes[i], got[i], want[i])
		}
	}
}

// openPostgresForTest opens a migrated database of its own on
// TEST_POSTGRES_URL's server (skipped without it).
func openPostgresForTest(t *testing.T) *DB {
	t.Helper()
	return openMigratedForTest(t, testenv.PostgresDB(t))
}

// openMigratedForTest opens url and migrates it up, closing it when t ends.
func openMigratedForTest(t *testing.T, url string) *DB {
	t.Helper()
	ctx := context.Background()
	cfg := DefaultConfig()
	cfg.URL = url
	db, cleanup, err := Open(ctx, cfg, nil, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	if err := db.Migrate(ctx, MigrateUp, io.Discard); err != nil {
		t.Fatal(err)
	}
	return db
}
