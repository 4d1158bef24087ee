package imports_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/imports"
)

// recorder is a Sink that keeps what a parse gave.
type recorder struct {
	fills    []string
	rejected int
	skipped  int
}

func (r *recorder) Fill(f imports.Fill) {
	in := f.Input
	r.fills = append(r.fills, fmt.Sprintf("%s %s %s %s@%s c=%s f=%s at=%s id=%s m=%s pnl=%v/%v", in.AssetClass, in.Side, in.Quantity,
		in.Symbol, in.Price, in.Commission, in.Fees, in.ExecutedAt.UTC().Format(time.RFC3339Nano), in.BrokerExecutionID, in.Multiplier, f.BrokerPnL, f.PnLNet))
}
func (r *recorder) Reject(imports.RejectedRow) { r.rejected++ }
func (r *recorder) Skip(int, string)           { r.skipped++ }
func (r *recorder) Warn(int, string)           {}
func (r *recorder) Columns(map[string]string)  {}

func parseRecords(p imports.Parser, recs [][]string, loc *time.Location) (*recorder, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(recs); err != nil {
		return nil, err
	}
	r := &recorder{}
	err := p.Parse(context.Background(), imports.NewReader(bytes.NewReader(b.Bytes())), imports.Options{Location: loc}, r)
	return r, err
}

// garbage is what a field is replaced by.
const garbage = "x!"

// newFills returns the fills of got that are not in want (as a multiset),
// leaving out those that carry the garbage itself in a text field (a
// symbol or an ID taken verbatim, which the user sees as it is).
func newFills(got, want []string) []string {
	rest := slices.Clone(want)
	var out []string
	for _, g := range got {
		if i := slices.Index(rest, g); i >= 0 {
			rest = slices.Delete(rest, i, i+1)
			continue
		}
		if !strings.Contains(strings.ToLower(g), garbage) {
			out = append(out, g)
		}
	}
	return out
}

var number = regexp.MustCompile(`^\(?-?\$?[0-9][0-9,]*(\.[0-9]+)?\)?$`)

// isDataRecord reports whether rec holds a number: header and title rows
// do not (a garbage header changes which column a value is read from,
// which is the format's business, not a value read wrong).
func isDataRecord(rec []string) bool {
	return slices.ContainsFunc(rec, func(f string) bool { return number.MatchString(strings.TrimSpace(f)) })
}

// TestAGarbageFieldNeverBecomesADifferentFill: in every broker fixture,
// each field of each row is in turn replaced by garbage. The parse must
// then give the same fills (the column is not read), or fewer with the
// row rejected or skipped, or refuse the file: never a panic, and never a
// fill that was not in the original, since that would put a wrong price,
// quantity, time or fee in the user's book without a word.
func TestAGarbageFieldNeverBecomesADifferentFill(t *testing.T) {
	loc, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	for file, preset := range map[string]string{
		"ibkr_activity.csv": imports.PresetIBKRActivity, "ibkr_flex.csv": imports.PresetIBKRFlex, "mt5.csv": imports.PresetMT5,
		"ninjatrader_executions.csv": imports.PresetNinjaTrader, "ninjatrader_trades.csv": imports.PresetNinjaTrader,
		"robinhood.csv": imports.PresetRobinhood, "schwab.csv": imports.PresetSchwab, "thinkorswim.csv": imports.PresetThinkorswim,
		"tradezero.csv": imports.PresetTradeZero, "tradovate_orders.csv": imports.PresetTradovate,
		"tradovate_performance.csv": imports.PresetTradovate, "webull.csv": imports.PresetWebull,
	} {
		t.Run(file, func(t *testing.T) {
			p, ok := imports.Lookup(preset)
			if !ok {
				t.Fatalf("no preset %s", preset)
			}
			raw, err := os.ReadFile(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			cr := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
			cr.FieldsPerRecord, cr.LazyQuotes = -1, true
			recs, err := cr.ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			base, err := parseRecords(p, recs, loc)
			if err != nil || len(base.fills) == 0 {
				t.Fatalf("the fixture, rewritten as CSV: %d fills, %v", len(base.fills), err)
			}
			mutations := 0
			for i := range recs {
				if !isDataRecord(recs[i]) {
					continue
				}
				for j := range recs[i] {
					if recs[i][j] == "" {
						continue
					}
					mut := slices.Clone(recs)
					mut[i] = slices.Clone(recs[i])
					mut[i][j] = garbage
					var got *recorder
					func() {
						defer func() {
							if r := recover(); r != nil {
								t.Errorf("record %d field %d (%q) as garbage: panic %v", i+1, j+1, recs[i][j], r)
							}
						}()
						got, err = parseRecords(p, mut, loc)
					}()
					if got == nil || err != nil {
						continue // refused (or panicked, reported above)
					}
					mutations++
					switch {
					case len(newFills(got.fills, base.fills)) > 0:
						t.Errorf("record %d field %d (%q) as garbage gave a fill not in the file: %v", i+1, j+1, recs[i][j], newFills(got.fills, base.fills))
					case len(got.fills) < len(base.fills) && got.rejected+got.skipped <= base.rejected+base.skipped && strings.ContainsAny(recs[i][j], "0123456789"):
						// A value (amount, quantity, time) that cannot be read
						// rejects its row; a record-type marker ("Trades",
						// "TRNT") turned into garbage makes the row one of a
						// section the format does not read.
						t.Errorf("record %d field %d (%q) as garbage lost a fill without rejecting or skipping a row", i+1, j+1, recs[i][j])
					}
				}
			}
			if mutations == 0 {
				t.Fatal("no mutation was parsed")
			}
		})
	}
}
