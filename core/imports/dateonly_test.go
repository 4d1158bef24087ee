package imports

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/trading"
)

const (
	schwabHeader    = `"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"` + "\n"
	robinhoodHeader = `"Activity Date","Process Date","Settle Date","Instrument","Description","Trans Code","Quantity","Price","Amount"` + "\n"
)

// tradeText prints what a trade's direction and figures are.
func tradeText(tr trading.Trade) string {
	exit := "-"
	if tr.AvgExitPrice.Valid {
		exit = tr.AvgExitPrice.Decimal.String()
	}
	return fmt.Sprintf("%s %s %s qty=%s open=%s entry=%s exit=%s net=%s", tr.Symbol, tr.Direction, tr.Status, tr.Quantity, tr.OpenQuantity,
		tr.AvgEntryPrice, exit, tr.NetPnL)
}

func instants(fills []Fill) []string {
	var out []string
	for _, f := range fills {
		out = append(out, fmt.Sprintf("L%d %s %s", f.Line, f.Input.Side, f.Input.ExecutedAt.UTC().Format(time.RFC3339Nano)))
	}
	return out
}

// In a date-only export every fill of a day has the same date; the
// action says which fills open a short, and those come first, so a
// same-day short round trip stays a short (the builder, from flat, takes
// the buys of one instant before the sells).
func TestDateOnlySameDayShortsStayShort(t *testing.T) {
	loc := ny(t)
	cases := []struct {
		name, preset, file string
		instants, trades   []string
	}{
		{name: "schwab short partly covered", preset: PresetSchwab, file: schwabHeader +
			`"05/07/2026","Sell Short","TSLA","TESLA INC","100","$250.00","","$25,000.00"` + "\n" +
			`"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$245.00","","-$12,250.00"` + "\n",
			instants: []string{"L2 sell 2026-05-07T15:59:59.999999999Z", "L3 buy 2026-05-07T16:00:00Z"},
			trades:   []string{"TSLA short open qty=100 open=50 entry=250 exit=245 net=250"}},
		// The cover listed first (exports are often newest first): the
		// same instants.
		{name: "schwab cover listed first", preset: PresetSchwab, file: schwabHeader +
			`"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$245.00","","-$12,250.00"` + "\n" +
			`"05/07/2026","Sell Short","TSLA","TESLA INC","100","$250.00","","$25,000.00"` + "\n",
			instants: []string{"L2 buy 2026-05-07T16:00:00Z", "L3 sell 2026-05-07T15:59:59.999999999Z"},
			trades:   []string{"TSLA short open qty=100 open=50 entry=250 exit=245 net=250"}},
		{name: "schwab options sold to open", preset: PresetSchwab, file: schwabHeader +
			`"05/07/2026","Buy to Close","SPY 06/19/2026 500.00 P","PUT SPDR S&P500 $500 EXP 06/19/26","1","$3.50","$0.65",""` + "\n" +
			`"05/07/2026","Sell to Open","SPY 06/19/2026 500.00 P","PUT SPDR S&P500 $500 EXP 06/19/26","1","$3.00","$0.65",""` + "\n",
			instants: []string{"L2 buy 2026-05-07T16:00:00Z", "L3 sell 2026-05-07T15:59:59.999999999Z"},
			trades:   []string{"SPY260619P00500000 short closed qty=1 open=0 entry=3 exit=3.5 net=-51.3"}},
		{name: "robinhood put sold to open", preset: PresetRobinhood, file: robinhoodHeader +
			`"5/5/2026","5/5/2026","5/6/2026","SPY","SPY 6/19/2026 Put $500.00","STO","2","$3.00","$600.00"` + "\n" +
			`"5/5/2026","5/5/2026","5/6/2026","SPY","SPY 6/19/2026 Put $500.00","BTC","2","$3.50","($700.00)"` + "\n",
			instants: []string{"L2 sell 2026-05-05T15:59:59.999999999Z", "L3 buy 2026-05-05T16:00:00Z"},
			trades:   []string{"SPY260619P00500000 short closed qty=2 open=0 entry=3 exit=3.5 net=-100"}},
		// A generic file with a date and no time, its side column in a
		// broker's words.
		{name: "generic date only", preset: PresetGeneric, file: "symbol,side,quantity,price,date\n" +
			"TSLA,buy to cover,50,245,2026-05-07\nTSLA,sell short,100,250,2026-05-07\n",
			instants: []string{"L2 buy 2026-05-07T16:00:00Z", "L3 sell 2026-05-07T15:59:59.999999999Z"},
			trades:   []string{"TSLA short open qty=100 open=50 entry=250 exit=245 net=250"}},
		// Longs keep noon: the builder closes an open position before a
		// fill of the same instant adds to it, so a position closed and
		// opened again on one day is two trades.
		{name: "schwab long closed and reopened", preset: PresetSchwab, file: schwabHeader +
			`"05/04/2026","Buy","AAPL","APPLE INC","50","$175.00","",""` + "\n" +
			`"05/04/2026","Sell","AAPL","APPLE INC","100","$172.00","",""` + "\n" +
			`"05/01/2026","Buy","AAPL","APPLE INC","100","$170.00","",""` + "\n",
			instants: []string{"L2 buy 2026-05-04T16:00:00Z", "L3 sell 2026-05-04T16:00:00Z", "L4 buy 2026-05-01T16:00:00Z"},
			trades:   []string{"AAPL long closed qty=100 open=0 entry=170 exit=172 net=200", "AAPL long open qty=50 open=50 entry=175 exit=- net=0"}},
		{name: "robinhood long round trip", preset: PresetRobinhood, file: robinhoodHeader +
			`"5/5/2026","5/5/2026","5/6/2026","AAPL","Apple","Sell","10","$172.00",""` + "\n" +
			`"5/5/2026","5/5/2026","5/6/2026","AAPL","Apple","Buy","10","$170.00",""` + "\n",
			instants: []string{"L2 sell 2026-05-05T16:00:00Z", "L3 buy 2026-05-05T16:00:00Z"},
			trades:   []string{"AAPL long closed qty=10 open=0 entry=170 exit=172 net=20"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := parseBytes(t, tc.preset, []byte(tc.file), loc, nil)
			if len(p.bad) != 0 {
				t.Fatalf("rejected %+v", p.bad)
			}
			if got := instants(p.fills); !slices.Equal(got, tc.instants) {
				t.Errorf("instants:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.instants, "\n     "))
			}
			var got []string
			for _, tr := range build(t, p.fills).Trades {
				got = append(got, tradeText(tr))
			}
			if !slices.Equal(got, tc.trades) {
				t.Errorf("trades:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.trades, "\n     "))
			}
		})
	}
}

// An overlapping export, with more fills on the same day and in another
// order, places the fills it shares with the first at the same instants:
// their fingerprints match and a re-import adds none of them again.
func TestDateOnlyInstantsDoNotDependOnTheFile(t *testing.T) {
	loc := ny(t)
	short := `"05/07/2026","Sell Short","TSLA","TESLA INC","100","$250.00","","$25,000.00"` + "\n"
	cover := `"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$245.00","","-$12,250.00"` + "\n"
	first := parseBytes(t, PresetSchwab, []byte(schwabHeader+short+cover), loc, nil)
	later := parseBytes(t, PresetSchwab, []byte(schwabHeader+
		`"05/07/2026","Buy to Cover","TSLA","TESLA INC","50","$244.00","",""`+"\n"+cover+
		`"05/07/2026","Buy","AAPL","APPLE INC","10","$170.00","",""`+"\n"+
		`"05/07/2026","Sell Short","TSLA","TESLA INC","20","$251.00","",""`+"\n"+short), loc, nil)
	fp := func(f Fill) string {
		in := f.Input
		e := trading.Execution{Side: in.Side, Quantity: in.Quantity, Price: in.Price, ExecutedAt: in.ExecutedAt}
		return trading.Fingerprint(&e, in.Symbol, in.AssetClass, 0)
	}
	have := map[string]bool{}
	for _, f := range later.fills {
		have[fp(f)] = true
	}
	for _, f := range first.fills {
		if !have[fp(f)] {
			t.Errorf("%s is placed elsewhere in the overlapping export", describe(f))
		}
	}
	var got []string
	for _, tr := range build(t, later.fills).Trades {
		got = append(got, tradeText(tr))
	}
	// Shorts 20 @251 and 100 @250 (one instant: by quantity), covered by
	// 50 @244 and 50 @245 first in, first out: 20 × 7 + 30 × 6 + 50 × 5,
	// 20 left open.
	want := []string{"TSLA short open qty=120 open=20 entry=250.1666666667 exit=244.5 net=570", "AAPL long open qty=10 open=10 entry=170 exit=- net=0"}
	if !slices.Equal(got, want) {
		t.Errorf("trades:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

// A short sale and its cover in the same second of an export to the
// second (TradeZero's SS and BC, Webull's Short, NinjaTrader's SellShort)
// are a short, as the file says, in whichever order it lists them:
// before, the builder took the cover first (buys before sells from flat)
// and made the pair a long. Fills in other seconds keep their instants,
// and a time with a fraction of a second is not moved.
func TestSameSecondShortSaleOpensAShort(t *testing.T) {
	const tzHeader = "Account,T/D,S/D,Currency,Type,Side,Symbol,Qty,Price,Exec Time,Comm,SEC,TAF,NSCC,Nasdaq,ECN Remove,ECN Add,Gross Proceeds,Net Proceeds,Clr Broker,Liq,Note\n"
	const wbHeader = "Name,Symbol,Side,Status,Filled,Total Qty,Price,Avg Price,Time-in-Force,Placed Time,Filled Time\n"
	cases := []struct {
		name, preset, file string
		instants, trades   []string
	}{
		{name: "tradezero SS then BC", preset: PresetTradeZero, file: tzHeader +
			`TZ1,05/01/2026,05/04/2026,USD,2,SS,AMC,"1,000",5.00,10:00:00,1.00,0,0,0,0,0,0,5000,4999,VELOX,R,` + "\n" +
			`TZ1,05/01/2026,05/04/2026,USD,2,BC,AMC,"1,000",4.50,10:00:00,1.00,0,0,0,0,0,0,-4500,-4501,VELOX,R,` + "\n",
			instants: []string{"L2 sell 2026-05-01T13:59:59.999999999Z", "L3 buy 2026-05-01T14:00:00Z"},
			trades:   []string{"AMC short closed qty=1000 open=0 entry=5 exit=4.5 net=498"}},
		{name: "tradezero BC listed first", preset: PresetTradeZero, file: tzHeader +
			`TZ1,05/01/2026,05/04/2026,USD,2,BC,AMC,"1,000",4.50,10:00:00,1.00,0,0,0,0,0,0,-4500,-4501,VELOX,R,` + "\n" +
			`TZ1,05/01/2026,05/04/2026,USD,2,SS,AMC,"1,000",5.00,10:00:00,1.00,0,0,0,0,0,0,5000,4999,VELOX,R,` + "\n",
			instants: []string{"L2 buy 2026-05-01T14:00:00Z", "L3 sell 2026-05-01T13:59:59.999999999Z"},
			trades:   []string{"AMC short closed qty=1000 open=0 entry=5 exit=4.5 net=498"}},
		// A long closed by a sale in the second before: 1 ns does not
		// reach it.
		{name: "tradezero other seconds", preset: PresetTradeZero, file: tzHeader +
			`TZ1,05/01/2026,05/04/2026,USD,2,B,AMC,100,5.00,09:59:59,0,0,0,0,0,0,0,-500,-500,VELOX,R,` + "\n" +
			`TZ1,05/01/2026,05/04/2026,USD,2,S,AMC,100,5.10,10:00:00,0,0,0,0,0,0,0,510,510,VELOX,R,` + "\n" +
			`TZ1,05/01/2026,05/04/2026,USD,2,SS,AMC,100,5.20,10:00:01,0,0,0,0,0,0,0,520,520,VELOX,R,` + "\n" +
			`TZ1,05/01/2026,05/04/2026,USD,2,BC,AMC,100,5.00,10:00:02,0,0,0,0,0,0,0,-500,-500,VELOX,R,` + "\n",
			instants: []string{"L2 buy 2026-05-01T13:59:59Z", "L3 sell 2026-05-01T14:00:00Z", "L4 sell 2026-05-01T14:00:00.999999999Z", "L5 buy 2026-05-01T14:00:02Z"},
			trades:   []string{"AMC long closed qty=100 open=0 entry=5 exit=5.1 net=10", "AMC short closed qty=100 open=0 entry=5.2 exit=5 net=20"}},
		{name: "webull Short then Buy", preset: PresetWebull, file: wbHeader +
			"Tesla Inc,TSLA,Buy,Filled,10,10,@248.00,248.00,DAY,05/01/2026 10:04:00 EDT,05/01/2026 10:05:00 EDT\n" +
			"Tesla Inc,TSLA,Short,Filled,10,10,@250.00,250.00,DAY,05/01/2026 10:04:00 EDT,05/01/2026 10:05:00 EDT\n",
			instants: []string{"L2 buy 2026-05-01T14:05:00Z", "L3 sell 2026-05-01T14:04:59.999999999Z"},
			trades:   []string{"TSLA short closed qty=10 open=0 entry=250 exit=248 net=20"}},
		// Nanoseconds (the executions export's times) are taken as they
		// are: 1 ns before could pass a fill of the file.
		{name: "generic with nanoseconds", preset: PresetGeneric, file: "symbol,side,quantity,price,executed_at\n" +
			"AMC,ss,10,5,2026-05-01T14:00:00.000000001Z\nAMC,bc,10,4,2026-05-01T14:00:00.000000002Z\n",
			instants: []string{"L2 sell 2026-05-01T14:00:00.000000001Z", "L3 buy 2026-05-01T14:00:00.000000002Z"},
			trades:   []string{"AMC short closed qty=10 open=0 entry=5 exit=4 net=10"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := parseBytes(t, tc.preset, []byte(tc.file), ny(t), nil)
			if len(p.bad) != 0 {
				t.Fatalf("rejected %+v", p.bad)
			}
			if got := instants(p.fills); !slices.Equal(got, tc.instants) {
				t.Errorf("instants:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.instants, "\n     "))
			}
			var got []string
			for _, tr := range build(t, p.fills).Trades {
				got = append(got, tradeText(tr))
			}
			if !slices.Equal(got, tc.trades) {
				t.Errorf("trades:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.trades, "\n     "))
			}
		})
	}
}
