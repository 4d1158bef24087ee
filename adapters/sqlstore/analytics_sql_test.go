package sqlstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

// TestAnalyticsSQLFigures: the SQL figures the analytics benchmarks
// compare against the Go pass (a bare sum, and count, sum and maximum
// drawdown with window functions) agree with the trades they read, count
// only closed trades and only the user's own, and ANALYZE runs on both
// dialects.
func TestAnalyticsSQLFigures(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := context.Background()
			db := openMigrated(t, testConfig(dc.url(t)))
			st := tradingStores(db)
			env := tradingtest.NewEnv(t, st)
			src := sqlstore.NewAnalyticsSource(db)
			user, other := st.NewUser(t), st.NewUser(t)
			base := time.Date(2026, 3, 2, 15, 0, 0, 0, time.UTC)
			// Net P&L per closed trade, in closing order: +30, -50, -20, +100.
			// Cumulative 30, -20, -40, 60: peak 30, deepest -40: drawdown 70.
			pnls := []int64{30, -50, -20, 100}
			book := func(u uuid.UUID, pnls []int64, open bool) {
				acct, err := env.Svc.CreateAccount(ctx, u, trading.AccountInput{Name: "SQL figures", Currency: "USD"})
				if err != nil {
					t.Fatal(err)
				}
				var fills []trading.ExecutionInput
				for i, p := range pnls {
					at := base.Add(time.Duration(i) * time.Hour)
					fills = append(fills,
						trading.ExecutionInput{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(100), ExecutedAt: at},
						trading.ExecutionInput{Symbol: "AAPL", AssetClass: trading.Stock, Side: trading.Sell, Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(100 + p), ExecutedAt: at.Add(time.Minute)})
				}
				if open {
					fills = append(fills, trading.ExecutionInput{Symbol: "MSFT", AssetClass: trading.Stock, Side: trading.Buy, Quantity: decimal.NewFromInt(1), Price: decimal.NewFromInt(5), ExecutedAt: base})
				}
				if _, err := env.Svc.AddExecutions(ctx, u, acct.ID, fills, trading.AddOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			book(user, pnls, true)
			book(other, []int64{1000}, false)

			if err := src.Analyze(ctx); err != nil {
				t.Fatalf("Analyze: %v", err)
			}
			sum, err := src.SumNetPnL(ctx, user)
			if err != nil || !decimal.RequireFromString(sum).Equal(decimal.NewFromInt(60)) {
				t.Fatalf("SumNetPnL = %q, %v; want 60", sum, err)
			}
			n, net, dd, err := src.WindowSummary(ctx, user)
			if err != nil || n != 4 || !decimal.RequireFromString(net).Equal(decimal.NewFromInt(60)) || !decimal.RequireFromString(dd).Equal(decimal.NewFromInt(70)) {
				t.Fatalf("WindowSummary = %d, %q, %q, %v; want 4, 60, 70", n, net, dd, err)
			}
			nobody := st.NewUser(t)
			if sum, err := src.SumNetPnL(ctx, nobody); err != nil || sum != "" {
				t.Fatalf("SumNetPnL of a user without trades = %q, %v; want no sum", sum, err)
			}
			if n, net, dd, err := src.WindowSummary(ctx, nobody); err != nil || n != 0 || !decimal.RequireFromString(net).IsZero() || !decimal.RequireFromString(dd).IsZero() {
				t.Fatalf("WindowSummary of a user without trades = %d, %q, %q, %v", n, net, dd, err)
			}
		})
	}
}
