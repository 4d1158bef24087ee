package analytics

import (
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// TestFilterNames: a report's title page (and the CSV's first line) names
// every criterion of its filter but the dates, accounts, tags and
// playbooks by name (by id when the catalog lacks one), and nothing for
// the whole book.
func TestFilterNames(t *testing.T) {
	tag, gone, pb, acct := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	cat := Catalog{Tags: map[uuid.UUID]string{tag: "Breakout"}, Playbooks: map[uuid.UUID]PlaybookInfo{pb: {Name: "ORB"}}, Accounts: map[uuid.UUID]AccountInfo{acct: {Name: "Main"}}}
	if got := filterNames(&trading.Filter{From: trading.Date{Year: 2026, Month: 1, Day: 1}, Status: trading.Closed, DateField: trading.ByClose, TagMode: trading.AnyTag}, cat); len(got) != 0 {
		t.Fatalf("dates and a report's own criteria only: %q", got)
	}
	// An account is a criterion too: a report of one account says so.
	if got := filterNames(&trading.Filter{AccountIDs: []uuid.UUID{acct, gone}, Status: trading.Closed}, cat); !slices.Equal(got, []string{"account Main, " + gone.String()}) {
		t.Fatalf("accounts: %q", got)
	}
	f := trading.Filter{Symbols: []string{"AAPL", "MSFT"}, Direction: trading.Long, TagIDs: []uuid.UUID{tag, gone}, TagMode: trading.AllTags,
		PlaybookIDs: []uuid.UUID{pb}, Weekdays: []time.Weekday{time.Monday}, Hours: []int{9, 10}, MinHolding: time.Minute,
		MinNetPnL: decimal.NewNullDecimal(decimal.RequireFromString("-50.5")), Outcomes: []trading.Outcome{trading.Win}}
	want := []string{"symbol AAPL, MSFT", "direction long", "outcome win", "tag Breakout, " + gone.String(), "tag_mode all", "playbook ORB",
		"weekday Monday", "hour 9, 10", "min_holding 1m0s", "min_net_pnl -50.5"}
	if got := filterNames(&f, cat); !slices.Equal(got, want) {
		t.Fatalf("filterNames =\n%q\nwant\n%q", got, want)
	}
	// Symbols as the filter holds them after validation (the broker's
	// spelling and the canonical form it added) are shown canonical, once.
	g := trading.Filter{Symbols: []string{"AAPL", "/FDAXH26", "EURUSD"}}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := filterNames(&g, cat); !slices.Equal(got, []string{"symbol AAPL, FDAXH26, EUR/USD"}) {
		t.Fatalf("symbols shown as %q", got)
	}
}
