package tests

import "testing"

// The daily journal over HTTP: what the list of days, the detail of a day
// and the upload to a day agree on.

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
