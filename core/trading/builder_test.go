package trading

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 3, 2, 14, 30, 0, 123456789, time.UTC) // a Monday

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// fill is an execution at t0 + sec seconds: "buy 100 10.5" with optional
// commission and fees.
func fill(sec int, side Side, qty, price string, cf ...string) Execution {
	e := Execution{ID: uuid.New(), Side: side, Quantity: dec(qty), Price: dec(price), ExecutedAt: t0.Add(time.Duration(sec) * time.Second)}
	if len(cf) > 0 {
		e.Commission = dec(cf[0])
	}
	if len(cf) > 1 {
		e.Fees = dec(cf[1])
	}
	return e
}

// want is the expected shape of one trade; "" leaves a field unchecked.
type want struct {
	dir                             Direction
	status                          Status
	qty, maxPos, openQty, costBasis string
	avgEntry, avgExit               string
	gross, comm, fees, net          string
	outcome                         Outcome
	legs                            int
	exitsRealized                   []string // realised P&L of the exit legs, in order
	holding                         time.Duration
}

func check(t *testing.T, got Trade, w want) {
	t.Helper()
	eq := func(name string, d decimal.Decimal, s string) {
		t.Helper()
		if s != "" && !d.Equal(dec(s)) {
			t.Errorf("%s = %s; want %s", name, d, s)
		}
	}
	if got.Direction != w.dir || got.Status != w.status {
		t.Errorf("direction, status = %s, %s; want %s, %s", got.Direction, got.Status, w.dir, w.status)
	}
	eq("quantity", got.Quantity, w.qty)
	eq("max position", got.MaxPosition, w.maxPos)
	eq("open quantity", got.OpenQuantity, w.openQty)
	eq("cost basis", got.CostBasis, w.costBasis)
	eq("avg entry", got.AvgEntryPrice, w.avgEntry)
	if w.avgExit == "-" {
		if got.AvgExitPrice.Valid {
			t.Errorf("avg exit = %s; want none", got.AvgExitPrice.Decimal)
		}
	} else if w.avgExit != "" {
		eq("avg exit", got.AvgExitPrice.Decimal, w.avgExit)
	}
	eq("gross", got.GrossPnL, w.gross)
	eq("commission", got.Commission, w.comm)
	eq("fees", got.Fees, w.fees)
	eq("net", got.NetPnL, w.net)
	if (w.status == Open && got.Outcome != "") || (w.outcome != "" && got.Outcome != w.outcome) {
		t.Errorf("outcome = %q; want %q", got.Outcome, w.outcome)
	}
	if w.legs != 0 && len(got.Legs) != w.legs {
		t.Errorf("%d legs; want %d", len(got.Legs), w.legs)
	}
	if w.exitsRealized != nil {
		var r []string
		for _, l := range got.Legs {
			if l.Role == Exit {
				r = append(r, l.RealizedPnL.String())
			}
		}
		if fmt.Sprint(r) != fmt.Sprint(w.exitsRealized) {
			t.Errorf("exit P&L = %v; want %v", r, w.exitsRealized)
		}
	}
	if w.holding != 0 && got.Holding != w.holding {
		t.Errorf("holding = %v; want %v", got.Holding, w.holding)
	}
	if got.Status == Closed && (!got.OpenQuantity.IsZero() || !got.CostBasis.IsZero()) {
		t.Errorf("closed trade with open quantity %s, cost basis %s", got.OpenQuantity, got.CostBasis)
	}
}

func TestBuild(t *testing.T) {
	one := dec("1")
	cases := []struct {
		name  string
		mult  decimal.Decimal
		fills []Execution
		want  []want
	}{
		{"long", one, []Execution{fill(0, Buy, "100", "10", "1"), fill(90, Sell, "100", "12", "1", "0.25")}, []want{
			{dir: Long, status: Closed, qty: "100", maxPos: "100", avgEntry: "10", avgExit: "12", gross: "200", comm: "2", fees: "0.25",
				net: "197.75", outcome: Win, legs: 2, exitsRealized: []string{"200"}, holding: 90 * time.Second},
		}},
		{"short", one, []Execution{fill(0, Sell, "50", "20"), fill(60, Buy, "50", "18.5", "0.5")}, []want{
			{dir: Short, status: Closed, qty: "50", gross: "75", comm: "0.5", net: "74.5", outcome: Win, exitsRealized: []string{"75"}},
		}},
		{"short loss", one, []Execution{fill(0, Sell, "10", "20"), fill(60, Buy, "10", "21")}, []want{
			{dir: Short, status: Closed, gross: "-10", net: "-10", outcome: Loss},
		}},
		{"breakeven", one, []Execution{fill(0, Buy, "10", "20"), fill(60, Sell, "10", "20")}, []want{
			{dir: Long, status: Closed, gross: "0", net: "0", outcome: Breakeven},
		}},
		{"scale in", one, []Execution{fill(0, Buy, "100", "10"), fill(1, Buy, "100", "12"), fill(2, Sell, "200", "13")}, []want{
			{dir: Long, status: Closed, qty: "200", maxPos: "200", avgEntry: "11", avgExit: "13", gross: "400", exitsRealized: []string{"400"}, legs: 3},
		}},
		{"scale out", one, []Execution{fill(0, Buy, "300", "10"), fill(1, Sell, "100", "11"), fill(2, Sell, "100", "12"), fill(3, Sell, "100", "9")}, []want{
			{dir: Long, status: Closed, qty: "300", maxPos: "300", avgExit: "10.6666666667", gross: "200", exitsRealized: []string{"100", "200", "-100"}},
		}},
		{"fifo lots", one, []Execution{fill(0, Buy, "100", "10"), fill(1, Buy, "100", "20"), fill(2, Sell, "150", "15")}, []want{
			{dir: Long, status: Open, qty: "200", openQty: "50", costBasis: "1000", avgEntry: "15", avgExit: "15", gross: "250", exitsRealized: []string{"250"}},
		}},
		{"partial exit stays open", one, []Execution{fill(0, Buy, "100", "10", "1"), fill(1, Sell, "40", "12", "0.4")}, []want{
			{dir: Long, status: Open, qty: "100", openQty: "60", costBasis: "600", gross: "80", comm: "1.4", net: "78.6", outcome: ""},
		}},
		{"flip through zero", one, []Execution{fill(0, Buy, "100", "10", "1"), fill(1, Sell, "300", "11", "3", "0.3"), fill(2, Buy, "200", "10", "2")}, []want{
			{dir: Long, status: Closed, qty: "100", gross: "100", comm: "2", fees: "0.1", net: "97.9", legs: 2},
			{dir: Short, status: Closed, qty: "200", maxPos: "200", avgEntry: "11", gross: "200", comm: "4", fees: "0.2", net: "195.8", legs: 2},
		}},
		{"flip leaves the new side open", one, []Execution{fill(0, Sell, "1", "10"), fill(1, Buy, "3", "11", "1")}, []want{
			{dir: Short, status: Closed, gross: "-1", comm: "0.3333333333", net: "-1.3333333333"},
			{dir: Long, status: Open, qty: "2", openQty: "2", costBasis: "22", comm: "0.6666666667", net: "-0.6666666667", avgExit: "-"},
		}},
		{"flat twice", one, []Execution{fill(0, Buy, "1", "10"), fill(1, Sell, "1", "11"), fill(2, Buy, "1", "12"), fill(3, Sell, "1", "11")}, []want{
			{dir: Long, status: Closed, gross: "1"}, {dir: Long, status: Closed, gross: "-1", outcome: Loss},
		}},
		{"same instant from flat: buy first", one, []Execution{fill(5, Sell, "100", "11"), fill(5, Buy, "100", "10")}, []want{
			{dir: Long, status: Closed, gross: "100", outcome: Win},
		}},
		{"same instant while open: reduce first", one, []Execution{fill(0, Buy, "100", "9"), fill(5, Buy, "100", "10"), fill(5, Sell, "100", "11")}, []want{
			{dir: Long, status: Closed, qty: "100", maxPos: "100", gross: "200", outcome: Win},
			{dir: Long, status: Open, qty: "100", openQty: "100", costBasis: "1000"},
		}},
		{"same instant while short: reduce first", one, []Execution{fill(0, Sell, "100", "11"), fill(5, Sell, "100", "10"), fill(5, Buy, "100", "10")}, []want{
			{dir: Short, status: Closed, maxPos: "100", gross: "100"},
			{dir: Short, status: Open, openQty: "100"},
		}},
		// An instant's fills cross zero only when no order of them avoids
		// it: the sells that would reverse the position wait for the buys
		// that add to it (one trade, not a long and a short nobody held).
		{"same instant from flat: no reversal nobody held", one, []Execution{fill(5, Buy, "100", "10"), fill(5, Buy, "100", "10"),
			fill(5, Sell, "50", "10.5"), fill(5, Sell, "150", "10.25")}, []want{
			{dir: Long, status: Closed, qty: "200", maxPos: "150", gross: "62.5", outcome: Win, exitsRealized: []string{"25", "37.5"}},
		}},
		{"same instant while open: the reversal after the add", one, []Execution{fill(0, Buy, "100", "9"), fill(5, Sell, "200", "11"), fill(5, Buy, "50", "10")}, []want{
			{dir: Long, status: Closed, qty: "150", maxPos: "150", gross: "250", outcome: Win},
			{dir: Short, status: Open, openQty: "50", costBasis: "550"},
		}},
		{"same instant while short: the reversal after the add", one, []Execution{fill(0, Sell, "100", "11"), fill(5, Buy, "200", "10"), fill(5, Sell, "50", "12")}, []want{
			{dir: Short, status: Closed, qty: "150", maxPos: "150", gross: "200"},
			{dir: Long, status: Open, openQty: "50", costBasis: "500"},
		}},
		{"ES future multiplier 50", dec("50"), []Execution{fill(0, Buy, "2", "5000", "2.5", "1.2"), fill(30, Sell, "2", "5010.25", "2.5", "1.2")}, []want{
			{dir: Long, status: Closed, gross: "1025", comm: "5", fees: "2.4", net: "1017.6", avgExit: "5010.25"},
		}},
		{"MES open cost basis", dec("5"), []Execution{fill(0, Sell, "3", "5000.25")}, []want{
			{dir: Short, status: Open, openQty: "3", costBasis: "75003.75", gross: "0", avgExit: "-"},
		}},
		{"option multiplier 100", dec("100"), []Execution{fill(0, Buy, "5", "1.20", "3.25"), fill(30, Sell, "5", "1.45", "3.25", "0.07")}, []want{
			{dir: Long, status: Closed, gross: "125", comm: "6.5", fees: "0.07", net: "118.43"},
		}},
		{"fees of a split fill pro rata", one, []Execution{fill(0, Buy, "100", "10", "1"), fill(1, Sell, "150", "10", "1.5", "0.3")}, []want{
			{dir: Long, status: Closed, comm: "2", fees: "0.2", net: "-2.2"},
			{dir: Short, status: Open, comm: "0.5", fees: "0.1", openQty: "50"},
		}},
		{"fractional crypto", one, []Execution{fill(0, Buy, "0.015", "60000"), fill(1, Sell, "0.015", "61000.5")}, []want{
			{dir: Long, status: Closed, gross: "15.0075"},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Build(c.fills, BuildParams{Multiplier: c.mult})
			if len(got) != len(c.want) {
				t.Fatalf("%d trades; want %d: %+v", len(got), len(c.want), got)
			}
			for i := range got {
				check(t, got[i], c.want[i])
			}
		})
	}
}

func TestBuildLegsOfASplitFill(t *testing.T) {
	b, s := fill(0, Buy, "100", "10", "1"), fill(1, Sell, "300", "11", "3")
	got := Build([]Execution{b, s}, BuildParams{Multiplier: dec("1")})
	if len(got) != 2 || got[0].OpeningExecutionID != b.ID || got[1].OpeningExecutionID != s.ID {
		t.Fatalf("trades %+v; want two, opened by the buy and by the sell", got)
	}
	exit, entry := got[0].Legs[1], got[1].Legs[0]
	if exit.ExecutionID != s.ID || exit.Role != Exit || !exit.Quantity.Equal(dec("100")) || !exit.Commission.Equal(dec("1")) {
		t.Errorf("closing part = %+v", exit)
	}
	if entry.ExecutionID != s.ID || entry.Role != Entry || !entry.Quantity.Equal(dec("200")) || !entry.Commission.Equal(dec("2")) || entry.Seq != 0 {
		t.Errorf("opening part = %+v", entry)
	}
}

func TestBuildLocalWeekdayAndHour(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	// 2026-03-02 14:30:00 UTC is 09:30 in New York, a Monday; 03:30 UTC on
	// the Tuesday is still Monday evening there.
	e1 := fill(0, Buy, "1", "1")
	e2 := fill(13*3600, Sell, "1", "1")
	e3 := fill(13*3600+1, Buy, "1", "1")
	got := Build([]Execution{e1, e2, e3}, BuildParams{Multiplier: dec("1"), Location: ny})
	if got[0].OpenWeekday != time.Monday || got[0].OpenHour != 9 || got[1].OpenWeekday != time.Monday || got[1].OpenHour != 22 {
		t.Fatalf("weekday/hour = %v %d, %v %d; want Monday 9, Monday 22", got[0].OpenWeekday, got[0].OpenHour, got[1].OpenWeekday, got[1].OpenHour)
	}
}

// genFills draws a position's fills: small integer or two-place
// quantities, prices and fees, instants that often tie.
func genFills(t *rapid.T) []Execution {
	n := rapid.IntRange(1, 40).Draw(t, "n")
	fills := make([]Execution, n)
	sec := 0
	for i := range fills {
		sec += rapid.IntRange(0, 3).Draw(t, "gap")
		side := Buy
		if rapid.Bool().Draw(t, "sell") {
			side = Sell
		}
		fills[i] = Execution{
			ID: uuid.New(), Side: side,
			Quantity:   decimal.New(int64(rapid.IntRange(1, 500).Draw(t, "qty")), -int32(rapid.IntRange(0, 2).Draw(t, "qscale"))),
			Price:      decimal.New(int64(rapid.IntRange(0, 100000).Draw(t, "price")), -2),
			Commission: decimal.New(int64(rapid.IntRange(0, 300).Draw(t, "comm")), -2),
			Fees:       decimal.New(int64(rapid.IntRange(0, 7).Draw(t, "fees")), -3),
			ExecutedAt: t0.Add(time.Duration(sec) * time.Second),
		}
	}
	return fills
}

var multipliers = []decimal.Decimal{dec("1"), dec("50"), dec("100"), dec("0.5"), dec("12500000")}

// TestBuildCashFlowsBalance: the P&L of the trades plus the value locked
// in open lots equals the cash the fills moved, to the last digit.
func TestBuildCashFlowsBalance(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fills := genFills(t)
		m := rapid.SampledFrom(multipliers).Draw(t, "multiplier")
		cash := decimal.Zero
		for _, f := range fills {
			notional := f.Quantity.Mul(f.Price).Mul(m)
			if f.Side == Buy {
				notional = notional.Neg()
			}
			cash = cash.Add(notional).Sub(f.Commission).Sub(f.Fees)
		}
		trades := Build(fills, BuildParams{Multiplier: m})
		sum := decimal.Zero
		for _, tr := range trades {
			sum = sum.Add(tr.NetPnL)
			if tr.Status == Open {
				if tr.Direction == Long {
					sum = sum.Sub(tr.CostBasis)
				} else {
					sum = sum.Add(tr.CostBasis)
				}
			}
		}
		if !sum.Equal(cash) {
			t.Fatalf("Σ net P&L ∓ open cost basis = %s; fills' cash flows = %s", sum, cash)
		}
	})
}

// TestBuildConservesQuantities: every fill is fully allotted (its legs add
// up to it, fees included), entries and exits balance, and only the last
// trade may be open.
func TestBuildConservesQuantities(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fills := genFills(t)
		trades := Build(fills, BuildParams{Multiplier: dec("1")})
		type tot struct{ q, c, f decimal.Decimal }
		byExec := map[uuid.UUID]tot{}
		for i, tr := range trades {
			if tr.Status == Open && i != len(trades)-1 {
				t.Fatalf("trade %d of %d is open", i, len(trades))
			}
			in, out := decimal.Zero, decimal.Zero
			pos := decimal.Zero
			for j, l := range tr.Legs {
				if l.Seq != j {
					t.Fatalf("leg %d has seq %d", j, l.Seq)
				}
				x := byExec[l.ExecutionID]
				byExec[l.ExecutionID] = tot{x.q.Add(l.Quantity), x.c.Add(l.Commission), x.f.Add(l.Fees)}
				if l.Role == Entry {
					in = in.Add(l.Quantity)
					pos = pos.Add(l.Quantity)
				} else {
					out = out.Add(l.Quantity)
					pos = pos.Sub(l.Quantity)
				}
				if pos.IsNegative() || pos.GreaterThan(tr.MaxPosition) || (pos.IsZero() && j != len(tr.Legs)-1) {
					t.Fatalf("trade %d: position %s after leg %d (max %s)", i, pos, j, tr.MaxPosition)
				}
			}
			if !in.Equal(tr.Quantity) || !in.Sub(out).Equal(tr.OpenQuantity) {
				t.Fatalf("trade %d: entries %s, exits %s, quantity %s, open %s", i, in, out, tr.Quantity, tr.OpenQuantity)
			}
		}
		for _, f := range fills {
			x := byExec[f.ID]
			if !x.q.Equal(f.Quantity) || !x.c.Equal(f.Commission) || !x.f.Equal(f.Fees) {
				t.Fatalf("fill %s %s: legs carry %s, commission %s of %s, fees %s of %s", f.Side, f.Quantity, x.q, x.c, f.Commission, x.f, f.Fees)
			}
		}
	})
}

// TestBuildIgnoresInsertionOrder: any permutation of the fills gives the
// same trades.
func TestBuildIgnoresInsertionOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		fills := genFills(t)
		want := Build(fills, BuildParams{Multiplier: dec("50")})
		shuffled := rapid.Permutation(fills).Draw(t, "order")
		got := Build(shuffled, BuildParams{Multiplier: dec("50")})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("trades differ by insertion order:\n got %+v\nwant %+v", got, want)
		}
	})
}
