package imports

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"

	"github.com/tradesense/tradesense/core/trading"
)

func readAll(t *testing.T, b []byte) []*Record {
	t.Helper()
	r := NewReader(bytes.NewReader(b))
	var out []*Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil && rec == nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
}

func utf16(t *testing.T, s string, e unicode.Endianness, bom unicode.BOMPolicy) []byte {
	t.Helper()
	b, err := unicode.UTF16(e, bom).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestReaderEncodingsAndLines(t *testing.T) {
	text := "symbol,side\r\n\"AA\nPL\",buy,,\r\n\r\nMSFT,sell\r\n"
	want := []struct {
		line   int
		fields []string
		raw    string
	}{
		{1, []string{"symbol", "side"}, "symbol,side"},
		{2, []string{"AA\nPL", "buy", "", ""}, "\"AA\nPL\",buy,,"},
		{5, []string{"MSFT", "sell"}, "MSFT,sell"},
	}
	inputs := map[string][]byte{
		"utf-8":           []byte(text),
		"utf-8 BOM":       append([]byte{0xEF, 0xBB, 0xBF}, text...),
		"utf-16le BOM":    utf16(t, text, unicode.LittleEndian, unicode.UseBOM),
		"utf-16be BOM":    utf16(t, text, unicode.BigEndian, unicode.UseBOM),
		"utf-16le no BOM": utf16(t, text, unicode.LittleEndian, unicode.IgnoreBOM),
		"tab separated":   []byte(strings.ReplaceAll(text, ",", "\t")),
		"semicolons":      []byte(strings.ReplaceAll(text, ",", ";")),
		"LF line endings": []byte(strings.ReplaceAll(text, "\r\n", "\n")),
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			got := readAll(t, in)
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d: %+v", len(got), len(want), got)
			}
			for i, w := range want {
				wantRaw := w.raw
				if strings.HasPrefix(name, "tab") {
					wantRaw = strings.ReplaceAll(wantRaw, ",", "\t")
				}
				if strings.HasPrefix(name, "semi") {
					wantRaw = strings.ReplaceAll(wantRaw, ",", ";")
				}
				if !strings.HasPrefix(name, "LF") {
					wantRaw = strings.ReplaceAll(wantRaw, "\n", "\n") // embedded newline kept as written
				}
				if got[i].Line != w.line || !slices.Equal(got[i].Fields, w.fields) || strings.ReplaceAll(got[i].Raw, "\r", "") != strings.ReplaceAll(wantRaw, "\r", "") {
					t.Errorf("record %d = line %d %q raw %q, want line %d %q raw %q", i, got[i].Line, got[i].Fields, got[i].Raw, w.line, w.fields, wantRaw)
				}
			}
		})
	}
}

func TestReaderFileEndingMidRow(t *testing.T) {
	recs := readAll(t, []byte("symbol,side,quantity,price,executed_at\nAAPL,buy,1,2,2026-05-01T10:00:00Z\nMSFT,\"sel"))
	if len(recs) != 3 || recs[2].Line != 3 {
		t.Fatalf("records = %+v", recs)
	}
	p := parseBytes(t, PresetGeneric, []byte("symbol,side,quantity,price,executed_at\nAAPL,buy,1,2,2026-05-01T10:00:00Z\nMSFT,\"sel"), time.UTC, nil)
	if len(p.fills) != 1 || len(p.bad) != 1 || p.bad[0].Line != 3 {
		t.Fatalf("fills %d, rejected %+v: the cut row must be rejected with its line", len(p.fills), p.bad)
	}
}

// TestRunawayQuoteLosesNoRow: a stray quote at the start of a field that
// is never closed would make one field of the rest of the file: its line
// is rejected, every line after it is read on its own (a second stray
// quote further down too), and a strict import fails.
func TestRunawayQuoteLosesNoRow(t *testing.T) {
	csv := "symbol,side,quantity,price,executed_at\r\n" +
		"Q1,buy,1,10,2026-05-15T14:00:00Z\r\n" +
		"\"Q2,buy,1,10,2026-05-15T14:00:00Z\r\n" +
		"Q3,buy,1,10,2026-05-15T14:01:00Z\r\n" +
		"\"Q4,buy,1,10,2026-05-15T14:02:00Z\r\n" +
		"Q5,buy,1,10,2026-05-15T14:03:00Z\r\n" +
		"Q6,buy,1,10,2026-05-15T14:04:00Z\r\n"
	var got []string
	for _, rec := range readAll(t, []byte(csv)) {
		got = append(got, fmt.Sprintf("%d %d %s", rec.Line, len(rec.Fields), rec.Raw))
	}
	want := []string{"1 5 symbol,side,quantity,price,executed_at", "2 5 Q1,buy,1,10,2026-05-15T14:00:00Z", "3 0 \"Q2,buy,1,10,2026-05-15T14:00:00Z",
		"4 5 Q3,buy,1,10,2026-05-15T14:01:00Z", "5 0 \"Q4,buy,1,10,2026-05-15T14:02:00Z", "6 5 Q5,buy,1,10,2026-05-15T14:03:00Z", "7 5 Q6,buy,1,10,2026-05-15T14:04:00Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("records\n%q\nwant\n%q", got, want)
	}
	p := parseBytes(t, PresetGeneric, []byte(csv), time.UTC, nil)
	var fills []string
	for _, f := range p.fills {
		fills = append(fills, f.Input.Symbol)
	}
	if !slices.Equal(fills, []string{"Q1", "Q3", "Q5", "Q6"}) || len(p.bad) != 2 || p.bad[0].Line != 3 || p.bad[1].Line != 5 ||
		!strings.Contains(p.bad[0].Reason, "never closed") {
		t.Fatalf("fills %q, rejected %+v", fills, p.bad)
	}
}

// TestManyRunawayQuotes: past maxRunaways the lines are rejected one by
// one, each with its number; none is lost.
func TestManyRunawayQuotes(t *testing.T) {
	var b strings.Builder
	b.WriteString("symbol,side,quantity,price,executed_at\n")
	for i := range maxRunaways + 4 {
		fmt.Fprintf(&b, "\"S%d,buy,1,10,2026-05-15T14:00:00Z\nG%d,buy,1,10,2026-05-15T14:00:00Z\n\n", i, i)
	}
	recs := readAll(t, []byte(b.String()))
	good, rejected := 0, 0
	for i, rec := range recs[1:] {
		if len(rec.Fields) == 5 {
			good++
		} else {
			rejected++
		}
		if want := 2 + (i/2)*3 + i%2; rec.Line != want {
			t.Fatalf("record %d on line %d, want %d: %q", i, rec.Line, want, rec.Raw)
		}
	}
	// Each runaway's line is rejected; the good line after each is read as
	// CSV up to the last recovered runaway, then rejected line by line.
	if good != maxRunaways || rejected != maxRunaways+8 {
		t.Fatalf("%d good, %d rejected of %d records", good, rejected, len(recs)-1)
	}
}

func TestParseAmount(t *testing.T) {
	good := map[string]string{
		"1234.50": "1234.5", "-0.5": "-0.5", "+3": "3", "1,234.50": "1234.5", "$1,234.50": "1234.5", "(33.50)": "-33.5", "$(33.50)": "-33.5",
		"($1,705.00)": "-1705", "-$17,050.00": "-17050", "2 350.50": "2350.5", "1\u00a0234": "1234", "12.50 USD": "12.5", "€5": "5", ".25": "0.25",
		"1,000": "1000", "10,000,000": "10000000",
	}
	for in, want := range good {
		d, err := ParseAmount(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseAmount(%q) = %s, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"", "abc", "1.234,50", "1,23", "--5", "-(5)", "1e5", "NaN", "1.2.3", "(5", "$", "12,34.5", "1" + strings.Repeat("0", 30)} {
		if d, err := ParseAmount(in); err == nil {
			t.Errorf("ParseAmount(%q) = %s, want an error", in, d)
		}
	}
}

func TestPlaceDST(t *testing.T) {
	loc := ny(t)
	cases := []struct {
		wall string
		want string
		dst  DST
	}{
		{"2026-05-01 10:15:00", "2026-05-01T14:15:00Z", DSTExact},
		{"2026-01-15 10:15:00", "2026-01-15T15:15:00Z", DSTExact},
		// Fall back on 2026-11-01: 01:30 happens at 05:30Z (EDT) and 06:30Z (EST); the first is taken.
		{"2026-11-01 01:30:00", "2026-11-01T05:30:00Z", DSTAmbiguous},
		{"2026-11-01 00:59:59", "2026-11-01T04:59:59Z", DSTExact},
		{"2026-11-01 02:00:00", "2026-11-01T07:00:00Z", DSTExact},
		// Spring forward on 2026-03-08: 02:30 does not exist; read with EST, it is 07:30Z (03:30 EDT).
		{"2026-03-08 02:30:00", "2026-03-08T07:30:00Z", DSTGap},
		{"2026-03-08 03:30:00", "2026-03-08T07:30:00Z", DSTExact},
	}
	for _, c := range cases {
		wall, _ := time.Parse("2006-01-02 15:04:05", c.wall)
		got, dst := Place(wall, loc)
		if got.UTC().Format(time.RFC3339) != c.want || dst != c.dst {
			t.Errorf("Place(%s) = %s, %d; want %s, %d", c.wall, got.UTC().Format(time.RFC3339), dst, c.want, c.dst)
		}
	}
}

func TestAmbiguousTimeIsWarned(t *testing.T) {
	csv := "symbol,side,quantity,price,executed_at\nAAPL,buy,1,2,2026-11-01 01:30:00\nAAPL,sell,1,3,2026-11-01 03:00:00\n"
	p := parseBytes(t, PresetGeneric, []byte(csv), ny(t), nil)
	if len(p.fills) != 2 || p.fills[0].Input.ExecutedAt.Format(time.RFC3339) != "2026-11-01T05:30:00Z" {
		t.Fatalf("fills = %+v", p.fills)
	}
	if len(p.c.warnings) != 1 || !strings.Contains(p.c.warnings[0], "line 2") || !strings.Contains(p.c.warnings[0], "twice") {
		t.Fatalf("warnings = %q", p.c.warnings)
	}
}

func TestGenericMapping(t *testing.T) {
	csv := "Ticker,Dir,Shares,Fill Price,Trade Date,Trade Time,Fee\nAAPL,B,10,\"1,000.5\",05/01/2026,10:00:00,1.5\nAAPL,S,10,1001,05/01/2026,10:05:00,\n"
	m := map[string]string{"symbol": "Ticker", "side": "Dir", "quantity": "Shares", "price": "Fill Price", "date": "Trade Date", "time": "Trade Time", "commission": "Fee"}
	if bad := ValidateMapping(m); len(bad) > 0 {
		t.Fatal(bad)
	}
	p := parseBytes(t, PresetGeneric, []byte(csv), ny(t), m)
	var got []string
	for _, f := range p.fills {
		got = append(got, describe(f))
	}
	want := []string{"L2 stock buy 10 AAPL@1000.5 c=1.5 f=0 2026-05-01T14:00:00Z", "L3 stock sell 10 AAPL@1001 c=0 f=0 2026-05-01T14:05:00Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if p.c.columns["price"] != "Fill Price" {
		t.Errorf("columns = %v", p.c.columns)
	}
	if bad := ValidateMapping(map[string]string{"symbol": "a", "bogus": "b"}); bad["bogus"] == "" || bad["quantity"] == "" || bad["price"] == "" {
		t.Errorf("ValidateMapping = %v", bad)
	}
}

// TestGenericDateAndTimeWithoutMapping: the generic preset without a
// mapping takes the executions export's header with date (and an optional
// time) instead of executed_at, as docs/imports.md says; detection finds
// it too.
func TestGenericDateAndTimeWithoutMapping(t *testing.T) {
	csv := "symbol,side,quantity,price,date,time\nAAPL,buy,1,10,2026-05-01,10:00:00\nAAPL,sell,1,11,2026-05-01,10:30:00\n"
	p := parseBytes(t, PresetGeneric, []byte(csv), ny(t), nil)
	var got []string
	for _, f := range p.fills {
		got = append(got, describe(f))
	}
	want := []string{"L2 stock buy 1 AAPL@10 c=0 f=0 2026-05-01T14:00:00Z", "L3 stock sell 1 AAPL@11 c=0 f=0 2026-05-01T14:30:00Z"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (warnings %q)", got, want, p.c.warnings)
	}
	if det, ok := Detect(headRecords([]byte(csv))); !ok || det.ID() != PresetGeneric {
		t.Fatalf("detected %v, %v", det, ok)
	}
}

func TestWrongPresetIsAFormatError(t *testing.T) {
	p, _ := Lookup(PresetIBKRFlex)
	err := p.Parse(context.Background(), NewReader(strings.NewReader("a,b\n1,2\n")), Options{}, &collector{})
	var fe *FormatError
	if !errors.As(err, &fe) {
		t.Fatalf("err = %v, want a FormatError", err)
	}
}

// A US abbreviation after a time: a fixed one (EDT, PST) is an exact
// offset; ET and CT name a zone, read with that date's rule; all of them
// win over the file's zone (UTC here).
func TestZoneAbbreviationsAfterATime(t *testing.T) {
	csv := "symbol,side,quantity,price,executed_at\n" +
		"AAPL,buy,1,2,05/01/2026 10:15:00 EDT\n" +
		"AAPL,sell,1,3,05/01/2026 10:15:00 ET\n" +
		"AAPL,buy,1,2,01/15/2026 10:15:00 ET\n" +
		"AAPL,sell,1,3,01/15/2026 09:15:00 CT\n" +
		"AAPL,buy,1,2,01/15/2026 07:15:00 PST\n" +
		"AAPL,sell,1,3,01/15/2026 15:15:00 UTC\n"
	p := parseBytes(t, PresetGeneric, []byte(csv), time.UTC, nil)
	want := []string{"2026-05-01T14:15:00Z", "2026-05-01T14:15:00Z", "2026-01-15T15:15:00Z", "2026-01-15T15:15:00Z", "2026-01-15T15:15:00Z", "2026-01-15T15:15:00Z"}
	if len(p.fills) != len(want) {
		t.Fatalf("%d fills, want %d (warnings %q)", len(p.fills), len(want), p.c.warnings)
	}
	for i, w := range want {
		if got := p.fills[i].Input.ExecutedAt.UTC().Format(time.RFC3339); got != w {
			t.Errorf("line %d: %s, want %s", i+2, got, w)
		}
	}
}

// TestRowsCountRowsNotFills: a round-trip row (two fills of one line)
// counts once in counts.rows, as docs/imports.md says; a rejected row
// counts once too.
func TestRowsCountRowsNotFills(t *testing.T) {
	c := &collector{}
	c.Fill(Fill{Line: 2})
	c.Fill(Fill{Line: 2})
	c.Fill(Fill{Line: 3})
	c.Reject(RejectedRow{Line: 4})
	c.Fill(Fill{Line: 5})
	c.Fill(Fill{Line: 5})
	if c.rows() != 4 || len(c.fills) != 5 {
		t.Fatalf("%d rows, %d fills; want 4 rows, 5 fills", c.rows(), len(c.fills))
	}
}

// TestInferredClassIsTradings: a file that names no asset class gets the
// class manual entry would give the same symbol (trading.InferAssetClass):
// a dated future of a known root in any of its spellings is a future (its
// multiplier applied, not a stock's 1), an OCC symbol an option, a bare
// root or a ticker a stock.
func TestInferredClassIsTradings(t *testing.T) {
	csv := "symbol,side,quantity,price,executed_at\n" +
		"ESZ6,buy,1,6000,2026-05-01 10:00:00\n" +
		"/ESZ26,sell,1,6001,2026-05-01 10:01:00\n" +
		"MNQ DEC26,buy,2,21000,2026-05-01 10:02:00\n" +
		"AAPL  261218C00150000,buy,1,2.5,2026-05-01 10:03:00\n" +
		"ES,buy,1,5,2026-05-01 10:04:00\n" +
		"ESZ6,sell,1,6002,2026-05-01 10:05:00\n" +
		"AAPL,buy,1,190,2026-05-01 10:06:00\n"
	p := parseBytes(t, PresetGeneric, []byte(csv), ny(t), nil)
	var got []string
	for _, f := range p.fills {
		got = append(got, string(f.Input.AssetClass)+" "+f.Input.Symbol)
	}
	want := []string{"future ESZ6", "future /ESZ26", "future MNQ DEC26", "option AAPL  261218C00150000", "stock ES", "future ESZ6", "stock AAPL"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q (warnings %q)", got, want, p.c.warnings)
	}
	b := &binding{}
	for i := range maxMemoClasses + 10 {
		if c := b.classOf(fmt.Sprintf("ESZ%d", i%10)); c != trading.Future {
			t.Fatalf("memoised class %s", c)
		}
		b.classOf(fmt.Sprintf("T%d", i))
	}
	if len(b.classes) != maxMemoClasses || b.classes["ESZ3"] != trading.Future {
		t.Fatalf("memo holds %d symbols, ESZ3 %q", len(b.classes), b.classes["ESZ3"])
	}
}

// A cut raw text, its "…" included, stays within MaxRawBytes, ends on a
// rune boundary and keeps as much of the row as fits.
func TestClipHoldsTheCapWithTheEllipsis(t *testing.T) {
	for _, r := range []string{"a", "é", "€", "😀"} {
		for extra := range 8 {
			s := strings.Repeat("x", extra) + strings.Repeat(r, MaxRawBytes+1)
			got := clip(s)
			if len(got) > MaxRawBytes || len(got) < MaxRawBytes-len(r)+1 || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") ||
				!strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
				t.Errorf("clip of %d bytes of %q: %d bytes, ends %q", len(s), r, len(got), got[max(0, len(got)-8):])
			}
		}
	}
	if s := strings.Repeat("a", MaxRawBytes); clip(s) != s {
		t.Error("a raw text of exactly MaxRawBytes was cut")
	}
	if got := clip("a\x00b"); got != "ab" {
		t.Errorf("clip kept a NUL: %q", got)
	}
	// Through a parse: the rejected row of a long line.
	long := "AAPL,buy,ten,170," + strings.Repeat("é", 3000) + "\n"
	p := parseBytes(t, PresetGeneric, []byte("symbol,side,quantity,price,executed_at\n"+long), time.UTC, nil)
	if len(p.bad) != 1 || len(p.bad[0].Raw) > MaxRawBytes || !strings.HasSuffix(p.bad[0].Raw, "…") {
		t.Fatalf("rejected %d rows, raw of %d bytes", len(p.bad), len(p.bad[0].Raw))
	}
}

// TestMissingColumnIsNamed: a file whose header lacks a column of the
// preset's, or one a mapping names, is refused with that column named
// (and the line of the header), not only with "no header row of this
// format was found"; a file with nothing like a header keeps that
// answer.
func TestMissingColumnIsNamed(t *testing.T) {
	for _, tc := range []struct {
		name, preset, file string
		mapping            map[string]string
		want               string
	}{
		{name: "schwab without Price", preset: PresetSchwab,
			file: "Date,Action,Symbol,Description,Quantity,Fees & Comm,Amount\n05/01/2026,Buy,AAPL,x,10,,1\n",
			want: `not a Charles Schwab transactions file: no header row of this format was found: the nearest, on line 1, has no column "price"`},
		{name: "mapping names a column the file lacks", preset: PresetGeneric,
			file:    "note: exported 2026-05-01\nSymbol,Qty,Price,Time,Comm\nAAPL,1,2,2026-05-01T10:00:00Z,0\n",
			mapping: map[string]string{"symbol": "Symbol", "quantity": "Qty", "price": "Nope", "executed_at": "Time", "side": "Side"},
			want:    `not a generic CSV file: no header row of this format was found: the nearest, on line 2, has no columns "Nope" (the mapping's price), "Side" (the mapping's side)`},
		{name: "flex Trades header without TradePrice", preset: PresetIBKRFlex,
			file: `"BOS","TRNT","Trades"` + "\n" + `"HEADER","TRNT","Symbol","Quantity","DateTime"` + "\n" + `"DATA","TRNT","AAPL","1","20260501;100000"` + "\n",
			want: `not a Interactive Brokers Flex Query file: no header row of this format was found: the nearest, on line 2, has no column "tradeprice"`},
		{name: "nothing like a header", preset: PresetSchwab, file: "a,b\n1,2\n",
			want: "not a Charles Schwab transactions file: no header row of this format was found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := Lookup(tc.preset)
			err := p.Parse(context.Background(), NewReader(strings.NewReader(tc.file)), Options{Mapping: tc.mapping}, &collector{})
			var fe *FormatError
			if !errors.As(err, &fe) || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant %s", err, tc.want)
			}
		})
	}
}
