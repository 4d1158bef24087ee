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
