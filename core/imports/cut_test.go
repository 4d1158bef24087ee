package imports

import (
	"strings"
	"testing"
	"time"
)

// TestFileCutOffInItsLastRowIsRejected: a file that ends inside its last
// record (inside a quoted field, or with fewer fields than the header and
// no line end after it, as a `head -c` cut leaves it) gives that record
// rejected with its line, raw text and reason, never a fill and never a
// skipped note row, in every preset the tester cut.
func TestFileCutOffInItsLastRowIsRejected(t *testing.T) {
	const flexHeader = `"ClientAccountID","AssetClass","Symbol","CurrencyPrimary","Multiplier","DateTime","Buy/Sell","Quantity","TradePrice","IBCommission","Taxes","FifoPnlRealized","IBExecID","LevelOfDetail"` + "\n" +
		`"U1","STK","AAPL","USD","1","20260501;100000","BUY","100","100","-1","0","0","X1","EXECUTION"` + "\n"
	const generic = "symbol,side,quantity,price,executed_at\nAAPL,buy,1,100,2026-05-01T14:00:00Z\n"
	const schwab = `"Date","Action","Symbol","Description","Quantity","Price","Fees & Comm","Amount"` + "\n" +
		`"05/01/2026","Buy","AAPL","APPLE INC","100","$170.50","",""` + "\n"
	cases := []struct {
		name, preset, file, cut string
	}{
		{"flex in a quoted price", PresetIBKRFlex, flexHeader, `"U1","STK","AAPL","USD","1","20260501;100100","SELL","-100","10`},
		{"flex after a field", PresetIBKRFlex, flexHeader, `"U1","STK","AAPL","USD","1","20260501;100100","SELL","-100","10",`},
		{"flex in the first field", PresetIBKRFlex, flexHeader, `"U`},
		{"schwab in a quoted price", PresetSchwab, schwab, `"05/04/2026","Sell","AAPL","APPLE INC","100","$172.0`},
		{"generic in the first field", PresetGeneric, generic, "AAP"},
		{"generic after the first field", PresetGeneric, generic, "AAPL,"},
		{"generic in a quoted first field", PresetGeneric, generic, `"AAPL`},
		{"generic in the price", PresetGeneric, generic, "AAPL,sell,1,1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := parseBytes(t, c.preset, []byte(c.file+c.cut), time.UTC, nil)
			if len(p.fills) != 1 || p.fills[0].Line != 2 {
				t.Fatalf("fills %+v: only line 2 is a fill", p.fills)
			}
			if len(p.bad) != 1 || p.bad[0].Line != 3 || p.bad[0].Raw != c.cut || !strings.Contains(p.bad[0].Reason, "the file ends inside") {
				t.Fatalf("rejected %+v, skipped %v: line 3 %q must be rejected as cut off", p.bad, p.c.skipped, c.cut)
			}
		})
	}
}

// TestCompleteLastRowWithoutALineEnd: a last row that is complete (the
// header's width) and has no line end after it is read as usual, and so is
// a short row that does end with a line end (a note row is skipped).
func TestCompleteLastRowWithoutALineEnd(t *testing.T) {
	p := parseBytes(t, PresetGeneric, []byte("symbol,side,quantity,price,executed_at\nAAPL,buy,1,100,2026-05-01T14:00:00Z\nnote\nAAPL,sell,1,101,\"2026-05-01T14:01:00Z\""), time.UTC, nil)
	if len(p.fills) != 2 || len(p.bad) != 0 || p.c.skipped["a note or blank row"] != 1 {
		t.Fatalf("fills %d, rejected %+v, skipped %v", len(p.fills), p.bad, p.c.skipped)
	}
}

// TestSectionFileCutOffInItsLastRow: in a preset whose sections end at a
// title row (MetaTrader), a cut that leaves one field of the last row is
// not read as the next section's title: it is rejected.
func TestSectionFileCutOffInItsLastRow(t *testing.T) {
	file := "Positions\nTime,Position,Symbol,Type,Volume,Price,S / L,T / P,Time,Price,Commission,Swap,Profit\n" +
		"2026.05.01 10:15:00,5001,EURUSD,buy,1.00,1.08500,,,2026.05.01 12:30:00,1.08650,-7.00,0.00,150.00\n"
	for _, cut := range []string{"2026.05.01 13:0", "2026.05.01 13:00:00,5002,GBPUSD,sell,0.50,1.25000,,,2026.05.02 09:00:00,1.24800,-3.50,-1.20"} {
		p := parseBytes(t, PresetMT5, []byte(file+cut), time.UTC, nil)
		if len(p.fills) != 2 || len(p.bad) != 1 || p.bad[0].Line != 4 || !strings.Contains(p.bad[0].Reason, "the file ends inside") {
			t.Fatalf("cut %q: %d fills, rejected %+v", cut, len(p.fills), p.bad)
		}
	}
}
