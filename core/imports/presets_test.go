package imports

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

func ny(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// parsed is what one parse of a fixture gave.
type parsed struct {
	c     *collector
	fills []Fill
	bad   []RejectedRow
}

func parseFile(t *testing.T, preset, file string, loc *time.Location, mapping map[string]string) parsed {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return parseBytes(t, preset, b, loc, mapping)
}

func parseBytes(t *testing.T, preset string, b []byte, loc *time.Location, mapping map[string]string) parsed {
	t.Helper()
	p, ok := Lookup(preset)
	if !ok {
		t.Fatalf("no preset %s", preset)
	}
	c := &collector{maxWarn: 100}
	if err := p.Parse(context.Background(), NewReader(bytes.NewReader(b)), Options{Location: loc, Mapping: mapping}, c); err != nil {
		t.Fatalf("parse %s: %v", preset, err)
	}
	s := &Service{cfg: DefaultConfig()}
	fills, bad := s.validate(c.fills, nil)
	bad = append(bad, c.rejected...)
	slices.SortFunc(bad, func(a, b RejectedRow) int { return a.Line - b.Line })
	return parsed{c: c, fills: fills, bad: bad}
}

// describe prints every field of a fill the parser sets.
func describe(f Fill) string {
	in := f.Input
	s := fmt.Sprintf("L%d %s %s %s %s@%s c=%s f=%s %s", f.Line, in.AssetClass, in.Side, in.Quantity, in.Symbol, in.Price, in.Commission, in.Fees,
		in.ExecutedAt.UTC().Format(time.RFC3339Nano))
	if in.BrokerExecutionID != "" {
		s += " id=" + in.BrokerExecutionID
	}
	if !in.Multiplier.IsZero() {
		s += " m=" + in.Multiplier.String()
	}
	if f.BrokerPnL.Valid {
		s += " pnl=" + f.BrokerPnL.Decimal.String()
		if f.PnLNet {
			s += "(net)"
		}
	}
	return s
}

// build records fills the way trading.Service does (one position per
// canonical instrument, the builder's FIFO) and returns what
// AddExecutions would: the executions in input order and the trades.
func build(t *testing.T, fills []Fill) *trading.AddResult {
	t.Helper()
	type pos struct {
		mult  decimal.Decimal
		execs []trading.Execution
	}
	positions := map[string]*pos{}
	res := &trading.AddResult{}
	var keys []string
	for _, f := range fills {
		in := f.Input
		inst, err := trading.ResolveInstrument(trading.InstrumentSpec{Symbol: in.Symbol, AssetClass: in.AssetClass, Multiplier: in.Multiplier}, in.ExecutedAt)
		if err != nil {
			t.Fatalf("line %d: %v", f.Line, err)
		}
		e := trading.Execution{ID: uuid.New(), Symbol: inst.Symbol, AssetClass: inst.AssetClass, Side: in.Side, Quantity: in.Quantity, Price: in.Price,
			Commission: in.Commission, Fees: in.Fees, ExecutedAt: in.ExecutedAt, BrokerExecutionID: in.BrokerExecutionID}
		e.Fingerprint = trading.Fingerprint(&e, inst.Symbol, inst.AssetClass, 0) + e.ID.String()
		k := string(inst.AssetClass) + "|" + inst.Symbol
		if positions[k] == nil {
			positions[k] = &pos{mult: inst.Multiplier}
			keys = append(keys, k)
		}
		positions[k].execs = append(positions[k].execs, e)
		res.Executions = append(res.Executions, e)
		res.IDs = append(res.IDs, e.ID)
	}
	for _, k := range keys {
		res.Trades = append(res.Trades, trading.Build(positions[k].execs, trading.BuildParams{Multiplier: positions[k].mult})...)
	}
	return res
}

func lines(rs []RejectedRow) []int {
	var out []int
	for _, r := range rs {
		out = append(out, r.Line)
	}
	return out
}

func mismatchText(ms []Mismatch) []string {
	var out []string
	for _, m := range ms {
		out = append(out, fmt.Sprintf("L%d broker=%s computed=%s", m.Line, m.BrokerPnL, m.ComputedPnL))
	}
	return out
}

type presetCase struct {
	preset, file string
	loc          *time.Location
	want         []string
	rejected     []int
	mismatches   []string
	trades       int    // trades the builder makes of the fills
	netPnL       string // Σ net P&L of the closed trades
}

func TestPresets(t *testing.T) {
	loc := ny(t)
	cases := []presetCase{
		{preset: PresetIBKRFlex, file: "ibkr_flex.csv", loc: loc, want: []string{
			"L5 stock buy 100 AAPL@170.5 c=1 f=0 2026-05-01T14:15:00Z id=0000e0d5.6630a1b2.01.01",
			"L6 stock sell 60 AAPL@172 c=0.6 f=0 2026-05-01T14:30:00Z id=0000e0d5.6630a1b3.01.01 pnl=88.8(net)",
			"L7 stock sell 40 AAPL@169 c=0.4 f=0 2026-05-01T15:00:00Z id=0000e0d5.6630a1b4.01.01 pnl=-60.8(net)",
			"L9 stock sell 50 TSLA@250 c=0.5 f=0 2026-05-01T16:00:00Z id=0000e0d5.6630a1c1.01.01",
			"L10 stock buy 80 TSLA@245 c=0.8 f=0 2026-05-01T16:30:00Z id=0000e0d5.6630a1c2.01.01 pnl=249(net)",
			"L11 stock sell 30 TSLA@246 c=0.3 f=0 2026-05-01T17:00:00Z id=0000e0d5.6630a1c3.01.01 pnl=30.4(net)",
			"L12 future buy 2 ESM6@5300.25 c=4.24 f=0 2026-05-01T18:00:00Z id=0000e0d5.6630a1d1.01.01 m=50",
			"L13 future sell 2 ESM6@5302.25 c=4.24 f=0 2026-05-01T18:15:00Z id=0000e0d5.6630a1d2.01.01 m=50 pnl=191.52(net)",
		}, rejected: []int{14}, mismatches: []string{"L11 broker=30.4 computed=29.4"},
			// AAPL 88.8 − 60.8; TSLA short 249 (the flip's closing part), long 29.4; ES 191.52
			trades: 4, netPnL: "497.92"},
		{preset: PresetIBKRActivity, file: "ibkr_activity.csv", loc: loc, want: []string{
			"L9 stock buy 1000 MSFT@410.1 c=5 f=0 2026-05-01T13:45:00Z",
			"L11 stock sell 1000 MSFT@412.2 c=5 f=0 2026-05-01T19:30:00Z pnl=2090(net)",
			"L13 stock sell 200 NVDA@900 c=1 f=0 2026-05-01T14:00:00Z",
			"L14 stock buy 100 NVDA@895 c=1 f=0 2026-05-01T14:30:00Z pnl=498.5(net)",
			"L16 option buy 2 AAPL260619C00150000@22.5 c=1.3 f=0 2026-05-01T16:00:00Z",
			"L19 forex buy 10000 EUR.USD@1.085 c=2 f=0 2026-05-01T16:00:00Z",
		}, rejected: []int{15}, trades: 4, netPnL: "2090"},
		{preset: PresetTradovate, file: "tradovate_performance.csv", loc: loc, want: []string{
			"L2 future buy 2 MESM6@5300.25 c=0 f=0 2026-05-01T13:31:05Z id=perf:1001-1002:B",
			"L2 future sell 2 MESM6@5302.75 c=0 f=0 2026-05-01T13:35:10Z id=perf:1001-1002:S pnl=25",
			"L3 future sell 1 MESM6@5312.5 c=0 f=0 2026-05-01T14:01:00Z id=perf:1004-1003:S",
			"L3 future buy 1 MESM6@5310 c=0 f=0 2026-05-01T14:05:00Z id=perf:1004-1003:B pnl=12.5",
			"L4 future buy 1 MESM6@5305.5 c=0 f=0 2026-05-01T15:00:00Z id=perf:1010-1011:B",
			"L4 future sell 1 MESM6@5298.75 c=0 f=0 2026-05-01T15:20:00Z id=perf:1010-1011:S pnl=-30",
			"L5 future buy 1 MESM6@5305.5 c=0 f=0 2026-05-01T15:00:00Z id=perf:1010-1012:B",
			"L5 future sell 1 MESM6@5306 c=0 f=0 2026-05-01T15:25:00Z id=perf:1010-1012:S pnl=2.5",
		}, rejected: []int{6}, mismatches: []string{"L4 broker=-30 computed=-33.75"}, trades: 3, netPnL: "6.25"},
		{preset: PresetTradovate, file: "tradovate_orders.csv", loc: loc, want: []string{
			"L2 future buy 3 MNQM6@18250.25 c=0 f=0 2026-05-01T13:30:01Z id=2001",
			"L3 future sell 1 MNQM6@18260 c=0 f=0 2026-05-01T13:40:00Z id=2002",
			"L5 future sell 4 MNQM6@18245.5 c=0 f=0 2026-05-01T14:00:00Z id=2004",
			"L6 future buy 2 MNQM6@18240 c=0 f=0 2026-05-01T14:30:00Z id=2005",
			// a cancelled order of 3 that filled 1: that one is a fill
			"L8 future buy 1 MNQM6@18230 c=0 f=0 2026-05-01T14:45:00Z id=2007",
			"L9 future sell 1 MNQM6@18231 c=0 f=0 2026-05-01T14:50:00Z id=2008",
		}, rejected: []int{7},
			// long 3: +9.75×1 −4.75×2 = 0.25 pt → 0.5; short 2: +5.5×2 = 11 pt → 22; long 1: +1 pt → 2 (MNQ $2/pt)
			trades: 3, netPnL: "24.5"},
		{preset: PresetNinjaTrader, file: "ninjatrader_executions.csv", loc: loc, want: []string{
			"L2 future buy 2 ES 06-26@5300.25 c=4.3 f=0 2026-05-01T13:31:05Z id=a1b2c3",
			"L3 future sell 1 ES 06-26@5302.25 c=2.15 f=0 2026-05-01T13:40:00Z id=a1b2c4",
			"L4 future sell 3 ES 06-26@5301 c=6.45 f=0 2026-05-01T13:45:00Z id=a1b2c5",
			"L5 future buy 2 ES 06-26@5299 c=4.3 f=0 2026-05-01T17:15:00Z id=a1b2c6",
		}, rejected: []int{6},
			// long: (2 + 0.75) pt × 50 = 137.5 − 4.3 − 2.15 − 2.15 = 128.9; short: 2 × 2 × 50 = 200 − 4.3 − 4.3 = 191.4
			trades: 2, netPnL: "320.3"},
		{preset: PresetNinjaTrader, file: "ninjatrader_trades.csv", loc: loc, want: []string{
			"L2 future buy 1 NQ 06-26@18250.25 c=2.15 f=0 2026-05-01T13:31:05Z",
			"L2 future sell 1 NQ 06-26@18260.75 c=2.15 f=0 2026-05-01T13:45:00Z pnl=210",
			"L3 future sell 2 NQ 06-26@18270 c=4.3 f=0 2026-05-01T14:00:00Z",
			"L3 future buy 2 NQ 06-26@18275 c=4.3 f=0 2026-05-01T14:20:00Z pnl=-200",
			"L4 future buy 1 NQ 06-26@18280 c=2.15 f=0 2026-05-01T15:00:00Z",
			"L4 future sell 1 NQ 06-26@18285 c=2.15 f=0 2026-05-01T15:30:00Z pnl=110",
		}, rejected: []int{5}, mismatches: []string{"L4 broker=110 computed=100"}, trades: 3, netPnL: "92.8"},
		{preset: PresetThinkorswim, file: "thinkorswim.csv", loc: loc, want: []string{
			"L9 stock buy 100 AAPL@170.5 c=0 f=0 2026-05-01T14:15:00Z",
			"L10 stock sell 100 AAPL@171.25 c=0 f=0 2026-05-01T15:00:00Z",
			"L11 option buy 2 SPY260619C00550000@4.1 c=0 f=0 2026-05-01T16:00:00Z",
			"L12 option sell 1 SPY260619C00550000@4.5 c=0 f=0 2026-05-01T17:00:00Z",
			"L13 option buy 1 SPY260619C00555000@3.7 c=0 f=0 2026-05-01T17:00:00Z",
			"L14 stock sell 50 QQQ@480 c=0 f=0 2026-05-01T18:00:00Z",
			"L15 stock buy 50 QQQ@478 c=0 f=0 2026-05-01T18:30:00Z",
		}, rejected: []int{16}, trades: 4, netPnL: "175"},
		{preset: PresetSchwab, file: "schwab.csv", loc: loc, want: []string{
			"L2 stock sell 40 AAPL@172 c=0.03 f=0 2026-05-04T16:00:00Z",
			"L3 stock buy 100 AAPL@170.5 c=0 f=0 2026-05-01T16:00:00Z",
			"L4 stock sell 20 TSLA@250 c=0.05 f=0 2026-05-01T15:59:59.999999999Z", // a short sale: 1 ns before noon
			"L5 stock buy 20 TSLA@245 c=0 f=0 2026-05-02T16:00:00Z",
			"L7 option buy 1 AAPL260619C00150000@22.5 c=0.65 f=0 2026-05-03T16:00:00Z",
		}, rejected: []int{8}, trades: 3, netPnL: "99.95"},
		{preset: PresetRobinhood, file: "robinhood.csv", loc: loc, want: []string{
			"L2 stock buy 10 AAPL@170.5 c=0 f=0 2026-05-01T16:00:00Z",
			"L4 stock sell 4 AAPL@172 c=0 f=0 2026-05-02T16:00:00Z",
			"L6 option buy 1 AAPL260619C00150000@22.5 c=0 f=0 2026-05-02T16:00:00Z",
		}, rejected: []int{8}, trades: 2, netPnL: "0"},
		{preset: PresetWebull, file: "webull.csv", loc: time.UTC, want: []string{
			"L2 stock buy 100 AAPL@170.5 c=0 f=0 2026-05-01T13:30:01Z",
			"L3 stock sell 100 AAPL@171 c=0 f=0 2026-05-01T14:00:00Z",
			"L4 stock sell 10 TSLA@250 c=0 f=0 2026-05-01T14:04:59.999999999Z", // Short: 1 ns before its second
			"L6 stock buy 10 TSLA@248 c=0 f=0 2026-05-01T15:00:00Z",
			// a cancelled order of 10 that filled 4: those 4 are a fill
			"L8 stock buy 4 TSLA@245 c=0 f=0 2026-05-01T16:00:05Z",
			"L9 stock sell 4 TSLA@246 c=0 f=0 2026-05-01T16:10:00Z",
		}, rejected: []int{7}, trades: 3, netPnL: "74"},
		{preset: PresetTradeZero, file: "tradezero.csv", loc: loc, want: []string{
			"L2 stock buy 200 AMD@160.1 c=0 f=0.62 2026-05-01T13:35:12Z",
			"L3 stock sell 100 AMD@161 c=0 f=0.12 2026-05-01T13:50:00Z",
			"L4 stock sell 100 AMD@159.5 c=0 f=0.62 2026-05-01T14:10:00Z",
			"L5 stock sell 300 GME@25 c=0 f=1.1 2026-05-01T13:59:59.999999999Z", // SS: 1 ns before its second
			"L6 stock buy 300 GME@24.5 c=0 f=0.92 2026-05-01T14:30:00Z",
		}, rejected: []int{7},
			// AMD: 90 − 60 − 1.36 fees = 28.64; GME: 150 − 2.02 = 147.98
			trades: 2, netPnL: "176.62"},
		{preset: PresetMT5, file: "mt5.csv", loc: time.UTC, want: []string{
			"L8 forex buy 1 EURUSD@1.085 c=3.5 f=0 2026-05-01T10:15:00Z id=mt5:5001:open m=100000",
			"L8 forex sell 1 EURUSD@1.0865 c=3.5 f=0 2026-05-01T12:30:00Z id=mt5:5001:close m=100000 pnl=150",
			"L9 forex sell 0.5 GBPUSD@1.25 c=1.75 f=0 2026-05-01T13:00:00Z id=mt5:5002:open m=100000",
			"L9 forex buy 0.5 GBPUSD@1.248 c=1.75 f=1.2 2026-05-02T09:00:00Z id=mt5:5002:close m=100000 pnl=100",
			"L10 cfd buy 0.1 XAUUSD@2350.5 c=0 f=0 2026-05-02T10:00:00Z id=mt5:5003:open",
			"L10 cfd sell 0.1 XAUUSD@2355.5 c=0 f=0 2026-05-02T11:00:00Z id=mt5:5003:close pnl=50",
		}, rejected: []int{11}, mismatches: []string{"L10 broker=50 computed=0.5"},
			// 150 − 7 + 100 − 3.5 − 1.2 + 0.5
			trades: 3, netPnL: "238.8"},
		{preset: PresetGeneric, file: "generic.csv", loc: loc, want: []string{
			"L2 stock buy 100 AAPL@170.5 c=1 f=0.02 2026-05-01T14:15:00Z id=G-1",
			"L3 stock sell 100 AAPL@171.5 c=1 f=0.02 2026-05-01T15:15:00Z id=G-2",
			"L4 future sell 1 ESM6@5300.25 c=2.15 f=0 2026-05-01T14:00:00Z",
			"L5 future buy 1 ESM6@5298 c=2.15 f=0 2026-05-01T14:30:00Z",
			`L6 stock buy 1 MSFT@410 c=0 f=0 2026-05-01T14:15:00Z id==HYPERLINK("http://evil.example/?x=1","click")`,
		}, rejected: []int{7}, trades: 3, netPnL: "206.16"},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			p := parseFile(t, tc.preset, tc.file, tc.loc, nil)
			var got []string
			for _, f := range p.fills {
				got = append(got, describe(f))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fills:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			if g := lines(p.bad); !slices.Equal(g, tc.rejected) {
				t.Errorf("rejected lines = %v, want %v (%+v)", g, tc.rejected, p.bad)
			}
			for _, r := range p.bad {
				if r.Reason == "" || r.Raw == "" {
					t.Errorf("rejected row without raw text or reason: %+v", r)
				}
			}
			res := build(t, p.fills)
			if g := mismatchText(checksOf(p.fills, res).mismatches()); !slices.Equal(g, tc.mismatches) {
				t.Errorf("mismatches = %v, want %v", g, tc.mismatches)
			}
			if len(res.Trades) != tc.trades {
				t.Errorf("trades = %d, want %d", len(res.Trades), tc.trades)
			}
			net := decimal.Zero
			for _, tr := range res.Trades {
				if tr.Status == trading.Closed {
					net = net.Add(tr.NetPnL)
				}
			}
			if !net.Equal(decimal.RequireFromString(tc.netPnL)) {
				t.Errorf("net P&L of closed trades = %s, want %s", net, tc.netPnL)
			}
		})
	}
}

func TestDetect(t *testing.T) {
	files := map[string]string{
		"ibkr_flex.csv": PresetIBKRFlex, "ibkr_activity.csv": PresetIBKRActivity, "tradovate_performance.csv": PresetTradovate,
		"tradovate_orders.csv": PresetTradovate, "ninjatrader_executions.csv": PresetNinjaTrader, "ninjatrader_trades.csv": PresetNinjaTrader,
		"thinkorswim.csv": PresetThinkorswim, "schwab.csv": PresetSchwab, "robinhood.csv": PresetRobinhood, "webull.csv": PresetWebull,
		"tradezero.csv": PresetTradeZero, "mt5.csv": PresetMT5, "generic.csv": PresetGeneric,
		"ibkr_flex_sections.csv": PresetIBKRFlex, "ibkr_flex_positions.csv": PresetIBKRFlex,
	}
	for file, want := range files {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		p, ok := Detect(headRecords(b))
		if !ok || p.ID() != want {
			got := "none"
			if ok {
				got = p.ID()
			}
			t.Errorf("%s: detected %s, want %s", file, got, want)
		}
	}
	if p, ok := Detect(headRecords([]byte("a,b,c\n1,2,3\n"))); ok {
		t.Errorf("an unknown file was detected as %s", p.ID())
	}
}

// checksOf feeds the P&L check as the import does: the stored fills with
// a broker P&L (res.IDs in fill order), then the rebuilt trades.
func checksOf(fills []Fill, res *trading.AddResult) *pnlChecks {
	p := &pnlChecks{}
	for i, f := range fills {
		if f.BrokerPnL.Valid {
			p.expect(res.IDs[i], f.Line, f.BrokerPnL.Decimal, f.PnLNet)
		}
	}
	for i := range res.Trades {
		p.add(&res.Trades[i])
	}
	return p
}

// TestIBKRFlexTradeDateAndTime: a Flex query with TradeDate and TradeTime
// columns instead of DateTime, in IBKR's own compact forms (20260501,
// 101500), reads as DateTime does.
func TestIBKRFlexTradeDateAndTime(t *testing.T) {
	csv := `"ClientAccountID","AssetClass","Symbol","CurrencyPrimary","Multiplier","TradeDate","TradeTime","Quantity","TradePrice","IBCommission","TradeID","LevelOfDetail"` + "\n" +
		`"U1","STK","KO","USD","1","20260501","101500","10","60","-1","T1","EXECUTION"` + "\n" +
		`"U1","STK","KO","USD","1","20260501","11:15:00","-10","61","-1","T2","EXECUTION"` + "\n"
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	p := parseBytes(t, PresetIBKRFlex, []byte(csv), loc, nil)
	if len(p.bad) != 0 || len(p.fills) != 2 {
		t.Fatalf("fills %d, rejected %+v", len(p.fills), p.bad)
	}
	for i, want := range []string{"2026-05-01T14:15:00Z", "2026-05-01T15:15:00Z"} {
		if got := p.fills[i].Input.ExecutedAt.UTC().Format(time.RFC3339); got != want {
			t.Errorf("fill %d at %s, want %s", i, got, want)
		}
	}
}

// TestSignedQuantities: a sell's quantity may carry its sign (IBKR writes
// SELL with -100), a quantity without a side gives it; a buy of a
// negative quantity is rejected with its row, not imported as a buy.
func TestSignedQuantities(t *testing.T) {
	body := "symbol,side,quantity,price,executed_at\n" +
		"AAPL,sell,-10,101,2026-05-01 10:00:00\n" +
		"AAPL,,-5,101,2026-05-01 10:01:00\n" +
		"AAPL,,15,100,2026-05-01 10:02:00\n" +
		"AAPL,buy,-10,100,2026-05-01 10:03:00\n"
	p := parseBytes(t, PresetGeneric, []byte(body), time.UTC, nil)
	var got []string
	for _, f := range p.fills {
		got = append(got, describe(f))
	}
	want := []string{
		"L2 stock sell 10 AAPL@101 c=0 f=0 2026-05-01T10:00:00Z",
		"L3 stock sell 5 AAPL@101 c=0 f=0 2026-05-01T10:01:00Z",
		"L4 stock buy 15 AAPL@100 c=0 f=0 2026-05-01T10:02:00Z",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("fills\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	if len(p.bad) != 1 || p.bad[0].Line != 5 || !strings.Contains(p.bad[0].Reason, "negative") {
		t.Fatalf("rejected %+v; want line 5 for its negative buy", p.bad)
	}
}

// TestNinjaTraderActionNames: NinjaTrader writes its OrderAction names
// (SellShort, BuyToCover) as well as the spaced ones.
func TestNinjaTraderActionNames(t *testing.T) {
	for _, v := range []struct {
		word  string
		side  trading.Side
		short bool
	}{{"SellShort", trading.Sell, true}, {"Sell short", trading.Sell, true}, {"BuyToCover", trading.Buy, false}, {"Buy to cover", trading.Buy, false}} {
		s, ok := sideOf(v.word)
		if !ok || s != v.side || opensShort(v.word) != v.short {
			t.Errorf("%q: side %s %v, opens a short %v", v.word, s, ok, opensShort(v.word))
		}
	}
}

// TestCurrencyMustBeISO: a row whose currency is not of ISO 4217 (a
// formula, a made-up code) is rejected with its line and the reason
// naming the currency; a lower-case ISO code is read as upper case.
func TestCurrencyMustBeISO(t *testing.T) {
	body := "symbol,side,quantity,price,executed_at,currency\n" +
		"XYZ,buy,10,100,2026-05-01T14:15:00Z,=1+1\n" +
		"XYZ,buy,10,100,2026-05-01T14:16:00Z,ZZZ\n" +
		"SAP,buy,10,100,2026-05-01T14:17:00Z,eur\n"
	p := parseBytes(t, PresetGeneric, []byte(body), time.UTC, nil)
	if len(p.fills) != 1 || p.fills[0].Line != 4 {
		t.Fatalf("fills %+v; want line 4 only", p.fills)
	}
	if len(p.bad) != 2 || p.bad[0].Line != 2 || p.bad[1].Line != 3 ||
		!strings.Contains(p.bad[0].Reason, `currency "=1+1"`) || !strings.Contains(p.bad[1].Reason, "ISO 4217") {
		t.Fatalf("rejected %+v; want lines 2 and 3 for their currency", p.bad)
	}
}

// TestMT5CrossCurrencyPairs: MetaTrader gives commission, swap and profit
// in the deposit currency (the account's, USD here), the trade's figures
// are in the pair's quote currency. USDJPY's are converted at the close
// price (1 USD = 149.5 JPY: 0.70 USD of commission is 104.65 JPY, split
// over the two fills; 0.10 USD of swap is 14.95 JPY); EURGBP's at the
// rate its profit implies (gross 50 GBP for 63.50 USD: 0.70 USD is
// 0.7 × 50 / 63.5 = 0.5511811024 GBP); neither profit is compared, and
// one warning per pair says so. EURUSD, quoted in USD, is as given.
func TestMT5CrossCurrencyPairs(t *testing.T) {
	body := "Trade History Report\nAccount:,\"1 (USD, Demo)\"\nPositions\n" +
		"Time,Position,Symbol,Type,Volume,Price,S / L,T / P,Time,Price,Commission,Swap,Profit\n" +
		"2026.11.01 01:30:00,7001,USDJPY,sell,0.10,150.000,,,2026.11.01 02:30:00,149.500,-0.70,-0.10,33.44\n" +
		"2026.11.02 01:30:00,7002,EURGBP,buy,0.10,0.85000,,,2026.11.02 02:30:00,0.85500,-0.70,0.00,63.50\n" +
		"2026.11.03 01:30:00,7003,USDJPY,buy,0.10,150.000,,,2026.11.03 02:30:00,150.500,-0.70,0.00,33.22\n" +
		"2026.11.04 01:30:00,7004,EURUSD,buy,0.10,1.08500,,,2026.11.04 02:30:00,1.08650,-0.70,-0.20,15.00\n" +
		"2026.11.05 13:00:00,7005,EURGBP,sell,0.50,0.86000,,,2026.11.06 09:00:00,0.85500,-3.50,-1.26,-315.00\n" +
		"2026.11.06 13:00:00,7006,EURGBP,sell,0.50,0.86000,,,2026.11.07 09:00:00,0.85500,-3.50,0.00,0\n"
	p, _ := Lookup(PresetMT5)
	c := &collector{maxWarn: 100}
	if err := p.Parse(context.Background(), NewReader(strings.NewReader(body)), Options{Location: time.UTC, Currency: "USD"}, c); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range c.fills {
		in := f.Input
		got[in.BrokerExecutionID] = fmt.Sprintf("c=%s f=%s pnl=%v", in.Commission, in.Fees, f.BrokerPnL.Valid)
	}
	want := map[string]string{
		"mt5:7001:open": "c=52.325 f=0 pnl=false", "mt5:7001:close": "c=52.325 f=14.95 pnl=false",
		"mt5:7002:open": "c=0.2755905512 f=0 pnl=false", "mt5:7002:close": "c=0.2755905512 f=0 pnl=false",
		"mt5:7003:open": "c=52.675 f=0 pnl=false", "mt5:7003:close": "c=52.675 f=0 pnl=false",
		"mt5:7004:open": "c=0.35 f=0 pnl=false", "mt5:7004:close": "c=0.35 f=0.2 pnl=true",
		"mt5:7005:open": "c=1.75 f=0 pnl=false", "mt5:7005:close": "c=1.75 f=1.26 pnl=false",
		"mt5:7006:open": "c=1.75 f=0 pnl=false", "mt5:7006:close": "c=1.75 f=0 pnl=false",
	}
	if !maps.Equal(got, want) {
		t.Fatalf("fills\n got %v\nwant %v", got, want)
	}
	// 7005's profit is a loss against a gain of 250 GBP, 7006's is 0: both
	// are left unconverted, each named, 7005's signs flagged.
	joined := strings.Join(c.warnings, "\n")
	if strings.Count(joined, "USDJPY is quoted in JPY") != 1 || strings.Count(joined, "EURGBP is quoted in GBP") != 3 ||
		strings.Count(joined, "recorded unconverted") != 2 || strings.Count(joined, "opposite signs") != 1 || strings.Contains(joined, "EURUSD") {
		t.Fatalf("warnings %q; want one for USDJPY, one for EURGBP converted and two unconverted, the signs of 7005, none for EURUSD", c.warnings)
	}
}

// TestIBKRFlexReadsOnlyTheTradesSection: a Flex query of several
// sections gives the fills of its Trades section alone. Before, the
// DATA rows of a Cash Transactions or Option Exercises section whose
// header looked like a trades header were imported as fills (CASH1,
// OPT1), and an Option Exercises header without DateTime failed the whole
// file ("the header has no column for executed_at or date"). Each other
// section is one warning with its name and row count.
func TestIBKRFlexReadsOnlyTheTradesSection(t *testing.T) {
	for _, tc := range []struct {
		file     string
		want     []string
		warnings []string
	}{
		{file: "ibkr_flex_sections.csv", want: []string{
			"L10 stock buy 100 AAPL@170 c=1 f=0 2026-05-01T14:00:00Z id=T1",
			"L11 stock sell 100 AAPL@171.5 c=1 f=0 2026-05-01T15:30:00Z id=T2",
		}, warnings: []string{
			`2 rows skipped: the section "Cash Transactions" (code "CTRN"): only the Trades section (TRNT) is imported`,
			`1 row skipped: the section "Option exercises" (code "OPTNT"): only the Trades section (TRNT) is imported`,
		}},
		{file: "ibkr_flex_positions.csv", want: []string{
			"L9 stock buy 50 MSFT@405 c=1 f=0 2026-05-01T13:35:00Z id=P1",
		}, warnings: []string{
			`1 row skipped: the section "Open Positions" (code "POST"): only the Trades section (TRNT) is imported`,
			`2 rows skipped: the section "Option Exercises, Assignments and Expirations" (code "OPTNT"): only the Trades section (TRNT) is imported`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			p := parseFile(t, PresetIBKRFlex, tc.file, ny(t), nil)
			var got []string
			for _, f := range p.fills {
				got = append(got, describe(f))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("fills:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(tc.want, "\n     "))
			}
			if len(p.bad) != 0 {
				t.Errorf("rejected %+v", p.bad)
			}
			if w := p.c.allWarnings(); !slices.Equal(w, tc.warnings) {
				t.Errorf("warnings:\n got %q\nwant %q", w, tc.warnings)
			}
		})
	}
}

// TestIBKRFlexSectionsWithoutBOS: HEADER and DATA rows without BOS rows
// are read by their section code: TRNT is Trades, any other is skipped;
// a BOS row naming its section "Trades" makes its code the Trades one.
func TestIBKRFlexSectionsWithoutBOS(t *testing.T) {
	csv := `"HEADER","CTRN","Symbol","Quantity","TradePrice","DateTime","Buy/Sell"` + "\n" +
		`"DATA","CTRN","AAPL","100","1","20260501;101500","BUY"` + "\n" +
		`"HEADER","TRNT","Symbol","Quantity","TradePrice","DateTime","Buy/Sell"` + "\n" +
		`"DATA","TRNT","AAPL","100","170","20260501;100000","BUY"` + "\n" +
		`"BOS","TRD","Trades"` + "\n" +
		`"HEADER","TRD","Symbol","Quantity","TradePrice","DateTime","Buy/Sell"` + "\n" +
		`"DATA","TRD","KO","10","60","20260501;110000","BUY"` + "\n" +
		`"EOS","TRD"` + "\n"
	p := parseBytes(t, PresetIBKRFlex, []byte(csv), time.UTC, nil)
	var got []string
	for _, f := range p.fills {
		got = append(got, describe(f))
	}
	want := []string{"L4 stock buy 100 AAPL@170 c=0 f=0 2026-05-01T10:00:00Z", "L7 stock buy 10 KO@60 c=0 f=0 2026-05-01T11:00:00Z"}
	if !slices.Equal(got, want) {
		t.Errorf("fills:\n got %s\nwant %s", strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
	wantWarn := []string{`1 row skipped: the section of code "CTRN": only the Trades section (TRNT) is imported`}
	if w := p.c.allWarnings(); !slices.Equal(w, wantWarn) {
		t.Errorf("warnings %q, want %q", w, wantWarn)
	}
}

// TestFuturesMayFillBelowZero: as manual entry, an import takes a future
// filled at a negative price (WTI's May 2020 contract at −37.63, its
// class given or inferred from a dated contract) and rejects a stock's.
func TestFuturesMayFillBelowZero(t *testing.T) {
	body := "symbol,asset_class,side,quantity,price,executed_at\n" +
		"CLK20,future,buy,1,18.00,2020-04-17T14:00:00Z\n" +
		"CLK20,,sell,1,-37.63,2020-04-20T18:00:00Z\n" +
		"AAPL,stock,buy,1,-1,2020-04-20T18:00:00Z\n"
	p := parseBytes(t, PresetGeneric, []byte(body), time.UTC, nil)
	if len(p.fills) != 2 || p.fills[1].Line != 3 || p.fills[1].Input.Price.String() != "-37.63" {
		t.Fatalf("fills %+v; want lines 2 and 3", p.fills)
	}
	if len(p.bad) != 1 || p.bad[0].Line != 4 || !strings.Contains(p.bad[0].Reason, "negative") {
		t.Fatalf("rejected %+v; want line 4 for the stock's negative price", p.bad)
	}
}

// TestGenericWithoutSide: without a mapping, a file of the export's
// column names but no side column is generic too, each side the sign of
// its quantity (docs/imports.md: side optional).
func TestGenericWithoutSide(t *testing.T) {
	body := "symbol,quantity,price,executed_at\nAAPL,100,170,2026-05-01T14:00:00Z\nAAPL,-100,171.5,2026-05-01T15:00:00Z\n"
	if d, ok := Detect(headRecords([]byte(body))); !ok || d.ID() != PresetGeneric {
		t.Fatalf("detected %v %v, want generic", d, ok)
	}
	p := parseBytes(t, PresetGeneric, []byte(body), time.UTC, nil)
	var got []string
	for _, f := range p.fills {
		got = append(got, describe(f))
	}
	want := []string{"L2 stock buy 100 AAPL@170 c=0 f=0 2026-05-01T14:00:00Z", "L3 stock sell 100 AAPL@171.5 c=0 f=0 2026-05-01T15:00:00Z"}
	if !slices.Equal(got, want) || len(p.bad) != 0 {
		t.Fatalf("fills %q, rejected %+v; want %q", got, p.bad, want)
	}
}

// TestTimesFinerThanNanosecondsAreRejected: a time of ten fractional
// digits rejects its row (the API answers 400 on it) instead of being cut
// to nanoseconds; nine are kept as they are, and a dotted date is a date.
func TestTimesFinerThanNanosecondsAreRejected(t *testing.T) {
	body := "symbol,side,quantity,price,executed_at\n" +
		"QQQ,buy,1,1,2026-06-09T10:00:00.1234567891Z\n" +
		"QQQ,buy,1,1,2026-06-09T10:00:00.123456789Z\n"
	p := parseBytes(t, PresetGeneric, []byte(body), time.UTC, nil)
	if len(p.fills) != 1 || p.fills[0].Line != 3 || p.fills[0].Input.ExecutedAt.Nanosecond() != 123456789 {
		t.Fatalf("fills %+v; want line 3 with its nanoseconds", p.fills)
	}
	if len(p.bad) != 1 || p.bad[0].Line != 2 || !strings.Contains(p.bad[0].Reason, "more than 9 fractional digits") {
		t.Fatalf("rejected %+v; want line 2 for its ten digits", p.bad)
	}
	for s, want := range map[string]bool{"2026.11.01 01:30:00": false, "2026.11.01 01:30:00.1234567890": true, "1.5": false, "x.": false} {
		if finerThanNanoseconds(s) != want {
			t.Errorf("finerThanNanoseconds(%q) = %v", s, !want)
		}
	}
}
