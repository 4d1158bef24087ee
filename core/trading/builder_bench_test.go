package trading

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

// BenchmarkBuild100k builds 100,000 fills of one position (50,000 round
// trips, some scaled), the CPU part of a rebuild.
func BenchmarkBuild100k(b *testing.B) {
	fills := make([]Execution, 0, 100000)
	for i := range 50000 {
		at := t0.Add(time.Duration(i) * time.Minute)
		p := decimal.New(int64(10000+(i*37)%5000), -2)
		fills = append(fills,
			Execution{ID: uuid.New(), Side: Buy, Quantity: decimal.NewFromInt(100), Price: p, Commission: decimal.NewFromInt(1), ExecutedAt: at},
			Execution{ID: uuid.New(), Side: Sell, Quantity: decimal.NewFromInt(100), Price: p.Add(decimal.New(int64(i%41-20), -2)), Commission: decimal.NewFromInt(1), ExecutedAt: at.Add(30 * time.Second)})
	}
	p := BuildParams{Multiplier: decimal.NewFromInt(1)}
	b.ReportAllocs()
	for b.Loop() {
		if got := Build(fills, p); len(got) != 50000 {
			b.Fatalf("%d trades", len(got))
		}
	}
}
