package imports

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestStrayQuoteClosedByALaterQuotedField: a stray quote whose field a
// later line's quoted field closes (lazy quotes) would swallow the lines
// between: its line is rejected and the lines after it are read on their
// own, whichever way the later quote closes it.
func TestStrayQuoteClosedByALaterQuotedField(t *testing.T) {
	const head = "symbol,side,quantity,price,executed_at,note\n" +
		"AAPL,buy,1,100,2026-05-01T14:00:00Z,\"stray\n"
	cases := map[string]struct {
		rest string
		want []string // the quantities of the fills
		bad  []int    // the rejected lines
	}{
		"a quoted field later": {"AAPL,buy,2,100,2026-05-01T14:01:00Z,fine\nAAPL,buy,3,100,2026-05-01T14:02:00Z,\"ok\"\nAAPL,buy,4,100,2026-05-01T14:03:00Z,ok\n",
			[]string{"2", "3", "4"}, []int{2}},
		"a quoted field on the next line": {"AAPL,buy,2,100,2026-05-01T14:01:00Z,\"ok\"\nAAPL,buy,3,100,2026-05-01T14:02:00Z,ok\n",
			[]string{"2", "3"}, []int{2}},
		"a quote that ends a field on the next line": {"AAPL,buy,2,100,2026-05-01T14:01:00Z,5\" screen\nAAPL,buy,3,100,2026-05-01T14:02:00Z,5\",x\nAAPL,buy,4,100,2026-05-01T14:03:00Z,ok\n",
			[]string{"2", "3", "4"}, []int{2}},
		"a quote that closes it early on the next line": {"AAPL\",buy,2,100,2026-05-01T14:01:00Z,ok\nAAPL,buy,3,100,2026-05-01T14:02:00Z,ok\n",
			[]string{"3"}, []int{2, 3}}, // line 3 read on its own: its symbol AAPL" is refused
		"a quoted field in the middle": {"AAPL,buy,2,100,2026-05-01T14:01:00Z,fine\nAAPL,buy,3,100,\"2026-05-01T14:02:00Z\",ok\n",
			[]string{"2", "3"}, []int{2}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			p := parseBytes(t, PresetGeneric, []byte(head+c.rest), time.UTC, nil)
			var got []string
			for _, f := range p.fills {
				got = append(got, f.Input.Quantity.String())
			}
			var bad []int
			for _, r := range p.bad {
				bad = append(bad, r.Line)
			}
			if !slices.Equal(got, c.want) || !slices.Equal(bad, c.bad) {
				t.Fatalf("fills %q, rejected %+v; want fills %q, rejected lines %v", got, p.bad, c.want, c.bad)
			}
			if !strings.Contains(p.bad[0].Reason, "quote opens a field") || p.bad[0].Raw != "AAPL,buy,1,100,2026-05-01T14:00:00Z,\"stray" {
				t.Fatalf("rejected %+v", p.bad[0])
			}
		})
	}
}

// TestQuotedFieldsWithNewlinesStillRead: a quoted field that spans lines
// as RFC 4180 writes it (inner quotes doubled, closed before a delimiter
// or the line end, its lines not whole rows) is one field.
func TestQuotedFieldsWithNewlinesStillRead(t *testing.T) {
	csv := "symbol,side,quantity,price,executed_at,note\n" +
		"AAPL,buy,1,100,2026-05-01T14:00:00Z,\"first line\nsecond, with a comma\nthird \"\"quoted\"\"\"\n" +
		"AAPL,buy,2,100,2026-05-01T14:01:00Z,\"a\r\nb\"\n" +
		"\"MS\nFT\",buy,3,100,2026-05-01T14:02:00Z,\"x, y\nz\",,\n" +
		"AAPL,buy,4,100,2026-05-01T14:03:00Z,\"lazy \"q\" in one line\"\n"
	recs := readAll(t, []byte(csv))
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%d:%q", r.Line, r.Fields[len(r.Fields)-1]))
	}
	want := []string{`1:"note"`, "2:\"first line\\nsecond, with a comma\\nthird \\\"quoted\\\"\"", "5:\"a\\nb\"", `7:""`, "10:\"lazy \\\"q\\\" in one line\""}
	if len(recs) != 5 || recs[3].Fields[0] != "MS\nFT" || recs[3].Fields[5] != "x, y\nz" {
		t.Fatalf("records %s", got)
	}
	for i := range want {
		if strings.ReplaceAll(got[i], `\r`, "") != want[i] {
			t.Errorf("record %d = %s, want %s", i, got[i], want[i])
		}
	}
	p := parseBytes(t, PresetGeneric, []byte(csv), time.UTC, nil)
	if len(p.fills) != 4 || len(p.bad) != 0 {
		t.Fatalf("%d fills, rejected %+v", len(p.fills), p.bad)
	}
}
