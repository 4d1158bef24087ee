package imports

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzPreset checks that no input makes a preset panic (a recovered row
// panic counts), hang, or report a row without a line or with an
// unbounded raw text. The fixtures and their truncations are the seed
// corpus, run by every go test.
func fuzzPreset(f *testing.F, preset string, files ...string) {
	for _, file := range files {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[:len(b)*9/10])
		f.Add(bytes.ReplaceAll(b, []byte(","), []byte(",\"")))
	}
	f.Add([]byte{})
	f.Add([]byte("\xff\xfe\x00"))
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, _ := Lookup(preset)
		c := &collector{maxWarn: 10}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = p.Parse(ctx, NewReader(bytes.NewReader(data)), Options{Location: loc}, c)
		if ctx.Err() != nil {
			t.Fatal("the parse did not end")
		}
		last := 0
		for _, fl := range c.fills {
			if fl.Line < 1 || fl.Line < last || len(fl.Raw) > MaxRawBytes || !utf8.ValidString(fl.Raw) {
				t.Fatalf("fill with line %d (after %d), raw of %d bytes", fl.Line, last, len(fl.Raw))
			}
			last = fl.Line
			if !fl.Input.Quantity.IsPositive() && fl.Input.Side != "" {
				t.Fatalf("line %d: a fill of quantity %s", fl.Line, fl.Input.Quantity)
			}
		}
		for _, r := range c.rejected {
			if r.Line < 1 || r.Reason == "" || len(r.Raw) > MaxRawBytes {
				t.Fatalf("rejected row %+v", r)
			}
			if r.Reason == "the row could not be read" {
				t.Fatalf("a row function panicked on line %d: %q", r.Line, r.Raw)
			}
		}
		s := &Service{cfg: DefaultConfig()}
		s.validate(c.fills, nil)
	})
}

func FuzzIBKRFlex(f *testing.F) {
	fuzzPreset(f, PresetIBKRFlex, "ibkr_flex.csv", "ibkr_flex_sections.csv", "ibkr_flex_positions.csv")
}
func FuzzIBKRActivity(f *testing.F) { fuzzPreset(f, PresetIBKRActivity, "ibkr_activity.csv") }
func FuzzTradovate(f *testing.F) {
	fuzzPreset(f, PresetTradovate, "tradovate_performance.csv", "tradovate_orders.csv")
}
func FuzzNinjaTrader(f *testing.F) {
	fuzzPreset(f, PresetNinjaTrader, "ninjatrader_executions.csv", "ninjatrader_trades.csv")
}
func FuzzThinkorswim(f *testing.F) { fuzzPreset(f, PresetThinkorswim, "thinkorswim.csv") }
func FuzzSchwab(f *testing.F)      { fuzzPreset(f, PresetSchwab, "schwab.csv") }
func FuzzRobinhood(f *testing.F)   { fuzzPreset(f, PresetRobinhood, "robinhood.csv") }
func FuzzWebull(f *testing.F)      { fuzzPreset(f, PresetWebull, "webull.csv") }
func FuzzTradeZero(f *testing.F)   { fuzzPreset(f, PresetTradeZero, "tradezero.csv") }
func FuzzMT5(f *testing.F)         { fuzzPreset(f, PresetMT5, "mt5.csv") }
func FuzzGeneric(f *testing.F)     { fuzzPreset(f, PresetGeneric, "generic.csv") }

// FuzzDetect: detection reads any head without panicking.
func FuzzDetect(f *testing.F) {
	for _, file := range []string{"ibkr_flex.csv", "mt5.csv", "thinkorswim.csv", "schwab.csv"} {
		b, err := os.ReadFile(filepath.Join("testdata", file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		Detect(headRecords(data))
	})
}

// FuzzParseAmount: an amount either fails or is a decimal whose text
// parses back to itself.
func FuzzParseAmount(f *testing.F) {
	for _, s := range []string{"1,234.50", "$(33.50)", "2 350.50", "-$1", "(5)", "12.50 USD", "1e9", "", "..", "1,2,3", "1,,000", "12,34,567", "0,123", "1'234 567"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseAmount(s)
		if err != nil {
			return
		}
		back, err := ParseAmount(d.String())
		if err != nil || !back.Equal(d) {
			t.Fatalf("ParseAmount(%q) = %s, which reads back as %s, %v", s, d, back, err)
		}
	})
}

// FuzzTime: a date-time either fails or lands in its zone's day.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"20260501;101500", "2026-05-01, 10:15:00", "5/1/2026 9:31:05 AM", "2026.05.01 10:15", "05/01/2026 10:00:00 EDT", "2026-11-01 01:30:00", "2026-05-01T10:00:00+02:00"} {
		f.Add(s)
	}
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p timeParser
		if _, _, _, err := p.parse(s, loc); err != nil {
			return
		}
	})
}

// FuzzReaderLines: any input reads to its end, each record (or rejected
// one) on a later line than the one before and within the input's lines,
// runaway quotes included.
func FuzzReaderLines(f *testing.F) {
	f.Add([]byte("a,b\n\"x,y\nc,d\n\"e\nf,g\n"))
	f.Add([]byte("a,b\n\"x\ny\",z\n1,2"))
	f.Add([]byte("a;b\r\n \"x;y\r\n\"\"q\r\n"))
	f.Add([]byte("a,b,c\n1,2,\"x\n3,4,5\n6,7,\"ok\"\n8,9,0"))
	f.Add([]byte("a,b,c\n1,2,\"x\n3\",4,5\n\"p\nq\",1,2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReader(bytes.NewReader(data))
		lines, last := bytes.Count(data, []byte("\n"))+1, 0
		for {
			rec, err := r.Next()
			if errors.Is(err, io.EOF) {
				return
			}
			if rec == nil {
				t.Fatalf("no record with %v", err)
			}
			if rec.Line <= last || rec.Line > lines {
				t.Fatalf("record on line %d after line %d (%d lines): %q", rec.Line, last, lines, rec.Raw)
			}
			last = rec.Line
		}
	})
}
