// Package analyticstest is the contract suite of analytics.Source, run
// through analytics.Service against every adapter over the golden data
// set (testdata/golden.csv), whose every figure is worked out again by an
// independent calculator (calc.go) from the CSV alone.
package analyticstest

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
)

//go:embed testdata/golden.csv
var goldenCSV []byte

// GoldenTrade is one round trip of the golden set: one entry fill, one
// exit fill.
type GoldenTrade struct {
	Account                    string
	Symbol                     string
	AssetClass                 trading.AssetClass
	Multiplier                 decimal.Decimal
	Direction                  trading.Direction
	Quantity, Entry, Exit      decimal.Decimal
	EntryAt, ExitAt            time.Time
	EntryCommission, EntryFees decimal.Decimal
	ExitCommission, ExitFees   decimal.Decimal
	InitialRisk                decimal.NullDecimal
	Playbook                   string
	Followed                   int
	Tags                       []string
	ID                         uuid.UUID // filled in by Seed
	AccountID                  uuid.UUID
	PlaybookID                 uuid.UUID
	TagIDs                     []uuid.UUID
	OpenWeekday                time.Weekday
	OpenHour                   int
}

// GoldenAccount is an account of the golden set.
type GoldenAccount struct {
	Name            string
	Currency        string
	StartingBalance decimal.NullDecimal
	Band            decimal.Decimal
	Timezone        string
}

// GoldenAccounts are the accounts the CSV names.
var GoldenAccounts = []GoldenAccount{
	{"US Main", "USD", decimal.NewNullDecimal(decimal.RequireFromString("25000")), decimal.RequireFromString("1.00"), ""},
	{"US Futures", "USD", decimal.NewNullDecimal(decimal.RequireFromString("15000")), decimal.Zero, ""},
	{"Zürich Swing €", "EUR", decimal.NewNullDecimal(decimal.RequireFromString("10000")), decimal.Zero, "Europe/Berlin"},
}

// GoldenPlaybooks are the playbooks the CSV names, with their rule counts.
var GoldenPlaybooks = map[string]int{"Opening Range Breakout": 3, "Trend Pullback": 2}

// LoadGolden parses testdata/golden.csv.
func LoadGolden(t testing.TB) []GoldenTrade {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(goldenCSV))
	head, err := r.Read()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[h] = i
	}
	var out []GoldenTrade
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		get := func(k string) string { return rec[col[k]] }
		dec := func(k string) decimal.Decimal { return decimal.RequireFromString(get(k)) }
		ts := func(k string) time.Time {
			v, err := time.Parse(time.RFC3339, get(k))
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		g := GoldenTrade{Account: get("account"), Symbol: get("symbol"), AssetClass: trading.AssetClass(get("asset_class")),
			Multiplier: dec("multiplier"), Direction: trading.Direction(get("direction")), Quantity: dec("quantity"),
			Entry: dec("entry_price"), Exit: dec("exit_price"), EntryAt: ts("entry_at"), ExitAt: ts("exit_at"),
			EntryCommission: dec("entry_commission"), EntryFees: dec("entry_fees"), ExitCommission: dec("exit_commission"), ExitFees: dec("exit_fees"),
			Playbook: get("playbook")}
		if v := get("initial_risk"); v != "" {
			g.InitialRisk = decimal.NewNullDecimal(decimal.RequireFromString(v))
		}
		if v := get("followed"); v != "" {
			if _, err := fmt.Sscan(v, &g.Followed); err != nil {
				t.Fatal(err)
			}
		}
		if v := get("tags"); v != "" {
			g.Tags = strings.Split(v, "|")
		}
		out = append(out, g)
	}
	return out
}

// Golden is the golden set stored through the trading service.
type Golden struct {
	User      uuid.UUID
	Zone      *time.Location
	Trades    []GoldenTrade
	Accounts  map[string]uuid.UUID
	Tags      map[string]uuid.UUID
	Playbooks map[string]uuid.UUID
	Rules     map[string][]uuid.UUID
}

// Seed stores the golden set for a new user of env: accounts, tags,
// playbooks, the fills (one batch per account) and the annotations.
func Seed(t testing.TB, env *tradingtest.Env) *Golden {
	t.Helper()
	ctx := context.Background()
	g := &Golden{User: env.NewUser(t), Zone: env.Zone, Trades: LoadGolden(t), Accounts: map[string]uuid.UUID{}, Tags: map[string]uuid.UUID{},
		Playbooks: map[string]uuid.UUID{}, Rules: map[string][]uuid.UUID{}}
	for _, a := range GoldenAccounts {
		acct, err := env.Svc.CreateAccount(ctx, g.User, trading.AccountInput{Name: a.Name, Currency: a.Currency, StartingBalance: a.StartingBalance,
			BreakevenBand: a.Band, Timezone: a.Timezone})
		if err != nil {
			t.Fatal(err)
		}
		g.Accounts[a.Name] = acct.ID
	}
	for i := range g.Trades {
		for _, tag := range g.Trades[i].Tags {
			if _, ok := g.Tags[tag]; !ok {
				g.Tags[tag] = env.NewTag(t, g.User)
			}
		}
	}
	for name, n := range GoldenPlaybooks {
		g.Playbooks[name], g.Rules[name] = env.NewPlaybook(t, g.User, n)
	}
	byAccount := map[string][]trading.ExecutionInput{}
	for _, tr := range g.Trades {
		in, out := trading.Buy, trading.Sell
		if tr.Direction == trading.Short {
			in, out = trading.Sell, trading.Buy
		}
		fill := func(side trading.Side, price decimal.Decimal, at time.Time, c, f decimal.Decimal) trading.ExecutionInput {
			e := trading.ExecutionInput{Symbol: tr.Symbol, AssetClass: tr.AssetClass, Side: side, Quantity: tr.Quantity, Price: price,
				Commission: c, Fees: f, ExecutedAt: at}
			if tr.AssetClass == trading.Future {
				e.Multiplier = tr.Multiplier
			}
			return e
		}
		byAccount[tr.Account] = append(byAccount[tr.Account], fill(in, tr.Entry, tr.EntryAt, tr.EntryCommission, tr.EntryFees),
			fill(out, tr.Exit, tr.ExitAt, tr.ExitCommission, tr.ExitFees))
	}
	for name, fills := range byAccount {
		if _, err := env.Svc.AddExecutions(ctx, g.User, g.Accounts[name], fills, trading.AddOptions{ImportID: uuid.New()}); err != nil {
			t.Fatalf("add %s: %v", name, err)
		}
	}
	// Match the stored trades to the CSV rows by account and opening.
	stored := map[string]trading.Trade{}
	page := trading.Page{Limit: trading.MaxPageSize}
	for {
		p, err := env.Svc.ListTrades(ctx, g.User, trading.Filter{}, trading.Sort{}, page)
		if err != nil {
			t.Fatal(err)
		}
		for _, tr := range p.Items {
			stored[tr.AccountID.String()+tr.Symbol+tr.OpenedAt.Format(time.RFC3339)] = tr
		}
		if p.NextCursor == "" {
			break
		}
		page.Cursor = p.NextCursor
	}
	if len(stored) != len(g.Trades) {
		t.Fatalf("%d trades stored for %d round trips", len(stored), len(g.Trades))
	}
	for i := range g.Trades {
		tr := &g.Trades[i]
		tr.AccountID = g.Accounts[tr.Account]
		s, ok := stored[tr.AccountID.String()+tr.Symbol+tr.EntryAt.Format(time.RFC3339)]
		if !ok || s.Status != trading.Closed {
			t.Fatalf("round trip %d (%s %s) has no closed trade", i, tr.Account, tr.Symbol)
		}
		tr.ID, tr.OpenWeekday, tr.OpenHour = s.ID, s.OpenWeekday, s.OpenHour
		var patch trading.AnnotationPatch
		if tr.InitialRisk.Valid {
			patch.InitialRisk = &tr.InitialRisk
		}
		for _, name := range tr.Tags {
			tr.TagIDs = append(tr.TagIDs, g.Tags[name])
		}
		if len(tr.TagIDs) > 0 {
			patch.TagIDs = &tr.TagIDs
		}
		if tr.Playbook != "" {
			tr.PlaybookID = g.Playbooks[tr.Playbook]
			rules := slices.Clone(g.Rules[tr.Playbook][:tr.Followed])
			patch.PlaybookID, patch.FollowedRules = &tr.PlaybookID, &rules
		}
		if patch != (trading.AnnotationPatch{}) {
			if _, err := env.Svc.UpdateAnnotation(ctx, g.User, tr.ID, patch, s.Annotation.Version); err != nil {
				t.Fatalf("annotate %s: %v", tr.ID, err)
			}
		}
	}
	return g
}
