package tests

import (
	"slices"
	"testing"
)

// The daily journal over HTTP: what the list of days, the detail of a day
// and the upload to a day agree on.

// fill is one execution of a test trade.
func (st *stack) fills(tr trader, account string, fills ...map[string]any) []any {
	st.t.Helper()
	for _, f := range fills {
		f["account_id"] = account
		f["asset_class"] = "stock"
	}
	r := st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": fills}, nil)
	st.expect(r, 201, "")
	return r.list("trades")
}

// closedTrade records a buy and a sell of symbol on day and returns the
// trade's id.
func (st *stack) closedTrade(tr trader, account, symbol, day string) string {
	st.t.Helper()
	trades := st.fills(tr, account,
		map[string]any{"symbol": symbol, "side": "buy", "quantity": "10", "price": "100", "executed_at": day + "T14:31:00Z"},
		map[string]any{"symbol": symbol, "side": "sell", "quantity": "10", "price": "101", "executed_at": day + "T15:02:00Z"})
	if len(trades) != 1 {
		st.t.Fatalf("trades = %v", trades)
	}
	return field(trades[0], "id")
}

func strs(l []any, key string) []string {
	out := make([]string, 0, len(l))
	for _, x := range l {
		if key == "" {
			s, _ := x.(string)
			out = append(out, s)
		} else {
			out = append(out, field(x, key))
		}
	}
	return out
}

// TestJournalHTTPListAgreesWithDetail: an entry in the list of days shows
// the trade ids and attachments its day's detail shows, for a day left at
// the default links and for a day with a choice.
func TestJournalHTTPListAgreesWithDetail(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "list@example.com")
		a := st.closedTrade(tr, tr.account, "AAPL", "2026-03-02")
		b := st.closedTrade(tr, tr.account, "MSFT", "2026-03-02")
		c := st.closedTrade(tr, tr.account, "NVDA", "2026-03-04")
		// An open trade opened on the 5th counts on the 5th.
		open := st.fills(tr, tr.account, map[string]any{"symbol": "TSLA", "side": "buy", "quantity": "1", "price": "200", "executed_at": "2026-03-05T15:00:00Z"})
		// The 2nd: created by an upload, default links.
		st.expect(st.upload(tr.token, map[string]string{"date": "2026-03-02"}, "day.png", testPNG(t, 20, 10), nil), 201, "")
		st.expect(st.upload(tr.token, map[string]string{"date": "2026-03-02"}, "day2.png", testPNG(t, 10, 10), nil), 201, "")
		// The 4th: a choice of another day's trade.
		st.expect(st.call("PUT", "/api/v1/journal/2026-03-04", tr.token, map[string]any{"mood": 3, "trade_ids": []string{a}}, nil), 200, "")
		// The 5th: written, default links (the open trade).
		st.expect(st.call("PUT", "/api/v1/journal/2026-03-05", tr.token, map[string]any{"mood": 2}, nil), 200, "")

		list := st.call("GET", "/api/v1/journal?from=2026-03-01&to=2026-03-31", tr.token, nil, nil)
		st.expect(list, 200, "")
		items := list.list("items")
		if len(items) != 3 {
			t.Fatalf("list = %s", list.raw)
		}
		want := map[string][]string{"2026-03-02": {a, b}, "2026-03-04": {a}, "2026-03-05": {field(open[0], "id")}}
		for _, it := range items {
			m := it.(map[string]any)
			day := field(m, "date")
			detail := st.call("GET", "/api/v1/journal/"+day, tr.token, nil, nil)
			st.expect(detail, 200, "")
			l, _ := m["trade_ids"].([]any)
			if got, d := strs(l, ""), strs(detail.list("trade_ids"), ""); !slices.Equal(got, d) || !slices.Equal(got, want[day]) {
				t.Errorf("%s: list trade_ids %v, detail %v, want %v", day, got, d, want[day])
			}
			la, _ := m["attachments"].([]any)
			if got, d := strs(la, "id"), strs(detail.list("attachments"), "id"); !slices.Equal(got, d) {
				t.Errorf("%s: list attachments %v, detail %v", day, got, d)
			}
			if m["trade_ids_chosen"] != detail.body["trade_ids_chosen"] || m["version"] != detail.body["version"] {
				t.Errorf("%s: list %v, detail %s", day, m, detail.raw)
			}
		}
		if got := strs(items[0].(map[string]any)["attachments"].([]any), "filename"); !slices.Equal(got, []string{"day.png", "day2.png"}) {
			t.Errorf("attachments of the 2nd in the list = %v", got)
		}
		_ = c
	})
}

// TestJournalHTTPListRangeIsInclusive: from..to counts both days, 366 at
// most (a leap year is the longest range).
func TestJournalHTTPListRangeIsInclusive(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "range@example.com")
		st.expect(st.call("GET", "/api/v1/journal?from=2024-01-01&to=2024-12-31", tr.token, nil, nil), 200, "")
		r := st.call("GET", "/api/v1/journal?from=2025-01-01&to=2026-01-02", tr.token, nil, nil)
		st.problem(r, 400, "validation_failed")
		if _, ok := r.obj("errors")["to"]; !ok {
			t.Fatalf("367 days: %s", r.raw)
		}
	})
}

// TestJournalHTTPDayOutOfRange: a day outside 1970–2200 is the same 400
// problem, naming the parameter that carried it, for a read, a write, an
// upload and a list, and an upload to it creates no entry.
func TestJournalHTTPDayOutOfRange(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "old@example.com")
		for _, c := range []struct {
			what, field string
			r           resp
		}{
			{"upload", "date", st.upload(tr.token, map[string]string{"date": "1960-06-01"}, "day.png", testPNG(t, 20, 10), nil)},
			{"GET", "date", st.call("GET", "/api/v1/journal/1960-06-01", tr.token, nil, nil)},
			{"PUT", "date", st.call("PUT", "/api/v1/journal/1960-06-01", tr.token, map[string]any{"mood": 1}, nil)},
			{"GET attachments", "date", st.call("GET", "/api/v1/attachments?date=1960-06-01", tr.token, nil, nil)},
			{"list", "from", st.call("GET", "/api/v1/journal?from=1969-12-01&to=1970-01-31", tr.token, nil, nil)},
		} {
			st.problem(c.r, 400, "validation_failed")
			if errs := c.r.obj("errors"); len(errs) != 1 || errs[c.field] == nil {
				t.Errorf("%s: errors %v, want one on %s\n%s", c.what, errs, c.field, c.r.raw)
			}
		}
		// The upload created nothing: the next valid day's upload is the
		// user's first write of a day.
		st.expect(st.upload(tr.token, map[string]string{"date": "1970-01-01"}, "day.png", testPNG(t, 20, 10), nil), 201, "")
		if r := st.call("GET", "/api/v1/journal?from=1970-01-01&to=1970-01-01", tr.token, nil, nil); len(r.list("items")) != 1 {
			t.Fatalf("1970 list = %s", r.raw)
		}
	})
}

// TestJournalHTTPDeletedTradesLeaveTheChoice: a chosen trade that goes (its
// delete, the delete of its only fill, its account's delete) is no longer
// listed by the day or the list, and what was read can be written back.
func TestJournalHTTPDeletedTradesLeaveTheChoice(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "gone@example.com")
		byDelete := st.closedTrade(tr, tr.account, "AAPL", "2026-03-02")
		// An open trade of one fill: deleting the fill deletes the trade.
		one := st.fills(tr, tr.account, map[string]any{"symbol": "TSLA", "side": "buy", "quantity": "1", "price": "200", "executed_at": "2026-03-02T16:00:00Z"})
		byFill := field(one[0], "id")
		ex := st.call("GET", "/api/v1/executions?account_id="+tr.account+"&symbol=TSLA", tr.token, nil, nil)
		st.expect(ex, 200, "")
		fill := field(ex.list("items")[0], "id")
		other := st.call("POST", "/api/v1/accounts", tr.token, map[string]any{"name": "Second", "currency": "USD"}, nil)
		st.expect(other, 201, "")
		byAccount := st.closedTrade(tr, other.str("id"), "MSFT", "2026-03-02")
		kept := st.closedTrade(tr, tr.account, "NVDA", "2026-03-02")
		chosen := []string{byDelete, byFill, byAccount, kept}
		st.expect(st.call("PUT", "/api/v1/journal/2026-03-02", tr.token, map[string]any{"trade_ids": chosen}, nil), 200, "")

		for _, path := range []string{"/api/v1/trades/" + byDelete, "/api/v1/executions/" + fill, "/api/v1/accounts/" + other.str("id") + "?cascade=true"} {
			if r := st.call("DELETE", path, tr.token, nil, nil); r.status != 200 && r.status != 204 {
				t.Fatalf("DELETE %s = %d %s", path, r.status, r.raw)
			}
		}

		day := st.call("GET", "/api/v1/journal/2026-03-02", tr.token, nil, nil)
		st.expect(day, 200, "")
		if got := strs(day.list("trade_ids"), ""); !slices.Equal(got, []string{kept}) || day.body["trade_ids_chosen"] != true {
			t.Fatalf("day after the deletes lists %v, want [%s]\n%s", got, kept, day.raw)
		}
		list := st.call("GET", "/api/v1/journal?from=2026-03-01&to=2026-03-31", tr.token, nil, nil)
		if items := list.list("items"); len(items) != 1 || !slices.Equal(strs(items[0].(map[string]any)["trade_ids"].([]any), ""), []string{kept}) {
			t.Fatalf("list after the deletes = %s", list.raw)
		}
		back := st.call("PUT", "/api/v1/journal/2026-03-02", tr.token, map[string]any{"mood": 4, "trade_ids": day.list("trade_ids")},
			map[string]string{"If-Match": day.header.Get("ETag")})
		st.expect(back, 200, "")
	})
}
