package httpapi

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

func TestParseTradeFilterReadsEveryCriterion(t *testing.T) {
	a1, a2 := uuid.New(), uuid.New()
	t1, t2 := uuid.New(), uuid.New()
	pb := uuid.New()
	q := url.Values{
		"account_id":          {a1.String() + "," + a2.String()},
		"symbol":              {"esz26", " aapl "},
		"asset_class":         {"future,stock"},
		"direction":           {"short"},
		"status":              {"closed"},
		"outcome":             {"win,breakeven"},
		"breakeven_band":      {"0.50"},
		"tag_id":              {t1.String(), t2.String(), t1.String()},
		"tag_mode":            {"all"},
		"playbook_id":         {pb.String()},
		"date_field":          {"opened"},
		"from":                {"2026-03-01"},
		"to":                  {"2026-03-31"},
		"weekday":             {"1,5"},
		"hour":                {"9", "15"},
		"min_holding_seconds": {"60"},
		"max_holding_seconds": {"3600"},
		"min_net_pnl":         {"-250.5"},
		"max_net_pnl":         {"1000"},
		"min_r":               {"-1"},
		"max_r":               {"3.25"},
		"unrelated":           {"ignored"},
	}
	f, errs := parseTradeFilter(q)
	if errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	want := trading.Filter{
		AccountIDs:    []uuid.UUID{a1, a2},
		Symbols:       []string{"ESZ26", "AAPL"},
		AssetClasses:  []trading.AssetClass{trading.Future, trading.Stock},
		Direction:     trading.Short,
		Status:        trading.Closed,
		Outcomes:      []trading.Outcome{trading.Win, trading.Breakeven},
		BreakevenBand: decimal.NewNullDecimal(decimal.RequireFromString("0.50")),
		TagIDs:        []uuid.UUID{t1, t2},
		TagMode:       trading.AllTags,
		PlaybookIDs:   []uuid.UUID{pb},
		DateField:     trading.ByOpen,
		From:          trading.Date{Year: 2026, Month: time.March, Day: 1},
		To:            trading.Date{Year: 2026, Month: time.March, Day: 31},
		Weekdays:      []time.Weekday{time.Monday, time.Friday},
		Hours:         []int{9, 15},
		MinHolding:    time.Minute,
		MaxHolding:    time.Hour,
		MinNetPnL:     decimal.NewNullDecimal(decimal.RequireFromString("-250.5")),
		MaxNetPnL:     decimal.NewNullDecimal(decimal.RequireFromString("1000")),
		MinR:          decimal.NewNullDecimal(decimal.RequireFromString("-1")),
		MaxR:          decimal.NewNullDecimal(decimal.RequireFromString("3.25")),
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("filter\n got %+v\nwant %+v", f, want)
	}
}

func TestParseTradeFilterDefaults(t *testing.T) {
	f, errs := parseTradeFilter(url.Values{})
	if errs != nil {
		t.Fatalf("errors: %v", errs)
	}
	if f.TagMode != trading.AnyTag || f.DateField != trading.ByClose || f.AccountIDs != nil || f.Location != nil {
		t.Fatalf("defaults: %+v", f)
	}
	lq, errs := parseTradeListQuery(url.Values{})
	if errs != nil || lq.Sort != (trading.Sort{Key: trading.SortOpened}) || lq.Page != (trading.Page{}) {
		t.Fatalf("list defaults: %+v %v", lq, errs)
	}
	lq, errs = parseTradeListQuery(url.Values{"sort": {"net_pnl"}, "order": {"asc"}, "limit": {"200"}, "cursor": {"abc"}})
	if errs != nil || lq.Sort != (trading.Sort{Key: trading.SortNetPnL, Asc: true}) || lq.Page != (trading.Page{Limit: 200, Cursor: "abc"}) {
		t.Fatalf("list query: %+v %v", lq, errs)
	}
}

func TestParseTradeFilterRefusesBadInput(t *testing.T) {
	long := strings.Repeat("x", 65)
	many := strings.TrimSuffix(strings.Repeat(uuid.NewString()+",", 201), ",")
	cases := []struct {
		query string
		field string
	}{
		{"account_id=42", "account_id"},
		{"account_id=00000000-0000-0000-0000-000000000000", "account_id"},
		{"account_id=" + many, "account_id"},
		{"symbol=" + long, "symbol"},
		{"asset_class=bond", "asset_class"},
		{"direction=up", "direction"},
		{"direction=long&direction=short", "direction"},
		{"status=pending", "status"},
		{"outcome=draw", "outcome"},
		{"breakeven_band=-1", "breakeven_band"},
		{"breakeven_band=1e3", "breakeven_band"},
		{"tag_id=nope", "tag_id"},
		{"tag_mode=some", "tag_mode"},
		{"playbook_id={x}", "playbook_id"},
		{"date_field=created", "date_field"},
		{"from=", "from"},
		{"symbol=AAPL&symbol=", "symbol"},
		{"symbol=,", "symbol"},
		{"symbol=%20,%20", "symbol"},
		{"account_id=&account_id=", "account_id"},
		{"to=", "to"},
		{"from=&to=", "from"},
		{"min_net_pnl=", "min_net_pnl"},
		{"min_holding_seconds=", "min_holding_seconds"},
		{"from=2026-13-01", "from"},
		{"from=01/03/2026", "from"},
		{"from=1969-12-31", "from"},
		{"from=2026-03-02&to=2026-03-01", "to"},
		{"weekday=7", "weekday"},
		{"weekday=-1", "weekday"},
		{"hour=24", "hour"},
		{"hour=%2B3", "hour"},
		{"min_holding_seconds=-5", "min_holding_seconds"},
		{"min_holding_seconds=1.5", "min_holding_seconds"},
		{"min_holding_seconds=99999999999", "min_holding_seconds"},
		{"min_holding_seconds=100&max_holding_seconds=10", "max_holding_seconds"},
		{"min_net_pnl=NaN", "min_net_pnl"},
		{"min_net_pnl=1,000", "min_net_pnl"},
		{"min_net_pnl=10&max_net_pnl=-10", "max_net_pnl"},
		{"max_r=" + strings.Repeat("9", 19), "max_r"},
		{"min_r=2&max_r=1", "max_r"},
		{"sort=newest", "sort"},
		{"order=up", "order"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"limit=ten", "limit"},
		{"cursor=" + strings.Repeat("a", 513), "cursor"},
	}
	for _, c := range cases {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatalf("%s: %v", c.query, err)
		}
		_, errs := parseTradeListQuery(q)
		if _, ok := errs[c.field]; !ok {
			t.Errorf("%.80s: want an error on %s, got %v", c.query, c.field, errs)
		}
		if e := filterError(errs); e == nil {
			t.Errorf("%s: no error value", c.query)
		}
	}
}

// FuzzParseTradeFilter: no input panics; an accepted query gives a filter
// the domain accepts and that survives the round trip through its query
// form; no error message echoes the input.
func FuzzParseTradeFilter(f *testing.F) {
	for _, s := range []string{
		"",
		"account_id=7f8f4a44-9d61-4f6e-9a51-0b6e3e2d8c11&symbol=ESZ26,aapl&status=closed",
		"tag_id=7f8f4a44-9d61-4f6e-9a51-0b6e3e2d8c11&tag_mode=all&from=2026-01-01&to=2026-01-31&date_field=opened",
		"outcome=win,loss&breakeven_band=0.25&weekday=1,2&hour=9&hour=10",
		"min_net_pnl=-100.5&max_net_pnl=.5&min_r=-1&max_r=%2B2&min_holding_seconds=60&max_holding_seconds=0",
		"sort=r&order=asc&limit=10&cursor=eyJrIjoiciJ9",
		"symbol=%00&symbol=,,,&hour=00023&weekday=0006",
		"from=2026-02-30&to=2200-12-31&limit=-1",
		"asset_class=<script>&direction=<b>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, _ := url.ParseQuery(raw)
		lq, errs := parseTradeListQuery(q)
		for k, msg := range errs {
			if strings.Contains(msg, "<") {
				t.Fatalf("message of %s echoes the input: %q", k, msg)
			}
		}
		fl, ferrs := parseTradeFilter(q)
		if ferrs != nil {
			return
		}
		if !reflect.DeepEqual(fl, lq.Filter) {
			t.Fatalf("the list query's filter differs from the filter's")
		}
		if err := fl.Validate(); err != nil {
			t.Fatalf("accepted a filter the domain refuses: %v", err)
		}
		again, errs := parseTradeFilter(tradeFilterQuery(fl))
		if errs != nil {
			t.Fatalf("round trip refused: %v (query %s)", errs, tradeFilterQuery(fl).Encode())
		}
		if !reflect.DeepEqual(normal(again), normal(fl)) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, fl)
		}
	})
}

// normal makes decimals comparable by value (1.50 and 1.5 are one bound).
func normal(f trading.Filter) trading.Filter {
	for _, d := range []*decimal.NullDecimal{&f.BreakevenBand, &f.MinNetPnL, &f.MaxNetPnL, &f.MinR, &f.MaxR} {
		if d.Valid {
			d.Decimal = decimal.RequireFromString(d.Decimal.String())
		}
	}
	return f
}
