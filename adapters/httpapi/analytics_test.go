package httpapi

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/trading"
)

func TestReportFilter(t *testing.T) {
	in := map[string]any{"symbol": []any{"aapl", "MSFT"}, "direction": "long", "tag_mode": "all"}
	f, err := reportFilter(&in)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Symbols) != 2 || f.Symbols[0] != "AAPL" || f.Direction != trading.Long {
		t.Fatalf("filter %+v", f)
	}
	for _, bad := range []map[string]any{
		{"from": "2026-01-01"}, {"status": "open"}, {"sort": "closed"},
		{"symbol": 5.0}, {"symbol": []any{"A", 1.0}}, {"account_id": "nope"}, {"hour": "25"},
	} {
		_, err := reportFilter(&bad)
		e, ok := apperr.As(err)
		if !ok || e.Kind != apperr.Invalid || len(e.Fields) == 0 {
			t.Errorf("%v: %v", bad, err)
		}
		for k := range e.Fields {
			if len(k) < 8 || k[:8] != "filters." {
				t.Errorf("%v: field %q not under filters.", bad, k)
			}
		}
	}
}

// FuzzReportFilter: any JSON object as a report's filters gives a filter
// or an Invalid error with field messages, never a panic.
func FuzzReportFilter(f *testing.F) {
	for _, s := range []string{`{}`, `{"symbol":["AAPL","MSFT"]}`, `{"tag_id":"0190a7e0-0000-7000-8000-000000000001","tag_mode":"any"}`,
		`{"min_net_pnl":"-1e9","max_r":"3"}`, `{"weekday":["1","7"]}`, `{"symbol":null}`, `{"hour":[[]]}`, `{"from":"x"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var in map[string]any
		if json.Unmarshal([]byte(s), &in) != nil {
			return
		}
		if _, err := reportFilter(&in); err != nil {
			if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || len(e.Fields) == 0 {
				t.Fatalf("%s: %v", s, err)
			}
		}
	})
}

// TestSummaryJSONMatchesGenerated: the bytes summaryJSON makes and
// rawJSON writes are the generated GetAnalyticsSummary200JSONResponse's
// (status, Content-Type, body with its newline) for no currency, one
// with every field set and two.
func TestSummaryJSONMatchesGenerated(t *testing.T) {
	full := filled[analytics.Summary]()
	for _, sums := range [][]analytics.Summary{nil, {}, {full}, {full, {Currency: "EUR", Basis: analytics.Gross}}} {
		gr := gen.GetAnalyticsSummary200JSONResponse{ByCurrency: make([]gen.AnalyticsSummary, len(sums))}
		for i := range sums {
			gr.ByCurrency[i] = summaryBody(&sums[i])
		}
		want := httptest.NewRecorder()
		if err := gr.VisitGetAnalyticsSummaryResponse(want); err != nil {
			t.Fatal(err)
		}
		b, err := summaryJSON.Encode(sums)
		if err != nil {
			t.Fatal(err)
		}
		got := httptest.NewRecorder()
		if err := rawJSON(b).VisitGetAnalyticsSummaryResponse(got); err != nil {
			t.Fatal(err)
		}
		if got.Code != want.Code || got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || got.Body.String() != want.Body.String() {
			t.Fatalf("%d currencies: rawJSON wrote %d %q\n%s\ngenerated %d %q\n%s", len(sums), got.Code, got.Header().Get("Content-Type"), got.Body,
				want.Code, want.Header().Get("Content-Type"), want.Body)
		}
	}
}
