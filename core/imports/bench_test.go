package imports_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

const benchRows = 100_000

type countSink struct{ fills, rejected int }

func (c *countSink) Fill(imports.Fill)          { c.fills++ }
func (c *countSink) Reject(imports.RejectedRow) { c.rejected++ }
func (c *countSink) Skip(int, string)           {}
func (c *countSink) Warn(int, string)           {}
func (c *countSink) Columns(map[string]string)  {}

// BenchmarkCSVFloor reads the file with encoding/csv alone: the floor
// the parser is compared with.
func BenchmarkCSVFloor(b *testing.B) {
	data := importstest.FlexRows(benchRows)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		n, err := importstest.CSVRecords(data)
		if err != nil {
			b.Fatal(err)
		}
		if n != benchRows+1 {
			b.Fatalf("%d records", n)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkParseFlex parses the same file with the ibkr_flex preset
// (decimals, times in New York, fills built).
func BenchmarkParseFlex(b *testing.B) {
	data := importstest.FlexRows(benchRows)
	p, _ := imports.Lookup(imports.PresetIBKRFlex)
	loc, _ := time.LoadLocation("America/New_York")
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		s := &countSink{}
		if err := p.Parse(context.Background(), imports.NewReader(bytes.NewReader(data)), imports.Options{Location: loc}, s); err != nil {
			b.Fatal(err)
		}
		if s.fills != benchRows || s.rejected != 0 {
			b.Fatalf("%d fills, %d rejected", s.fills, s.rejected)
		}
	}
	b.ReportMetric(float64(benchRows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

type fakeTrading struct{ imports.Trading }

func (fakeTrading) OnAccountDelete(trading.AccountDeleteHook) {}

func (fakeTrading) GetAccount(_ context.Context, userID, id uuid.UUID) (*trading.Account, error) {
	return &trading.Account{ID: id, UserID: userID, Currency: "USD"}, nil
}

type noEvents struct{}

func (noEvents) Publish(context.Context, realtime.Event) error { return nil }

// BenchmarkPreview10MB previews a 95,000-row file (about 10 MB): only
// its head is read.
func BenchmarkPreview10MB(b *testing.B) {
	data := importstest.FlexRows(benchRows * 95 / 100) // just under IMPORT_MAX_BYTES
	svc, err := imports.NewService(imports.DefaultConfig(), imports.Deps{Imports: struct{ imports.Imports }{}, Mappings: struct{ imports.Mappings }{},
		Trading: fakeTrading{}, Blobs: blobtest.NewMem(), Jobs: &importstest.Queue{}, Events: noEvents{}, Tx: noTx{},
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return time.UTC, nil })})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		p, err := svc.Preview(context.Background(), uuid.New(), imports.Upload{AccountID: uuid.New(), Body: bytes.NewReader(data), Size: int64(len(data))})
		if err != nil {
			b.Fatal(err)
		}
		if p.Broker != imports.PresetIBKRFlex || len(p.Fills) != 50 {
			b.Fatalf("preview: %s, %d fills", p.Broker, len(p.Fills))
		}
	}
}

type noTx struct{}

func (noTx) Do(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }
