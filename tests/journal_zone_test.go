package tests

import (
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
)

// TestJournalHTTPUserZoneRebuildsFollowingAccounts: the opening weekday and
// hour of a trade are its account's zone's, the user's for an account
// without one, so changing the user's zone (PATCH /auth/me) moves them for
// those accounts at once (trade filters, breakdowns), as changing an
// account's own zone does; an account with its own zone keeps its hours.
func TestJournalHTTPUserZoneRebuildsFollowingAccounts(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "zone@example.com") // follows the user's zone (UTC so far)
		own := st.call("POST", "/api/v1/accounts", tr.token, map[string]any{"name": "London", "broker": "x", "currency": "USD", "timezone": "Europe/London"}, nil)
		st.expect(own, 201, "")
		for _, acct := range []string{tr.account, own.str("id")} {
			// Monday 2026-06-01 02:00 UTC: Sunday 22:00 in New York, Monday 03:00 in London.
			st.expect(st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": []map[string]any{
				{"account_id": acct, "symbol": "WK", "side": "buy", "quantity": "1", "price": "10", "executed_at": "2026-06-01T02:00:00Z"},
				{"account_id": acct, "symbol": "WK", "side": "sell", "quantity": "1", "price": "11", "executed_at": "2026-06-01T03:00:00Z"},
			}}, nil), 201, "")
		}
		count := func(acct, q string) int {
			t.Helper()
			r := st.call("GET", "/api/v1/trades?account_id="+acct+"&"+q, tr.token, nil, nil)
			st.expect(r, 200, "")
			return len(r.list("items"))
		}
		if n := count(tr.account, "hour=2&weekday=1"); n != 1 {
			t.Fatalf("before: %d trades at Monday 02:00 UTC; want 1", n)
		}
		me := st.call("PATCH", "/api/v1/auth/me", tr.token, map[string]any{"timezone": "America/New_York"}, nil)
		st.expect(me, 200, "")
		if me.str("timezone") != "America/New_York" {
			t.Fatalf("profile = %s", me.raw)
		}
		if got, stale := count(tr.account, "hour=22&weekday=0"), count(tr.account, "hour=2"); got != 1 || stale != 0 {
			t.Fatalf("after the user's zone change: %d trades at Sunday 22:00 New York (want 1), %d still at 02:00 (want 0)", got, stale)
		}
		br := st.call("GET", "/api/v1/analytics/breakdown?account_id="+tr.account+"&by=hour", tr.token, nil, nil)
		st.expect(br, 200, "")
		if !strings.Contains(br.raw, `"key":"22"`) || strings.Contains(br.raw, `"key":"2"`) {
			t.Fatalf("by hour after the zone change = %s; want the 22 o'clock row", br.raw)
		}
		if n := count(own.str("id"), "hour=3&weekday=1"); n != 1 {
			t.Fatalf("the account with its own zone: %d trades at Monday 03:00 London; want 1", n)
		}
		// And back: no change of zone, no rebuild needed, still right.
		st.expect(st.call("PATCH", "/api/v1/auth/me", tr.token, map[string]any{"timezone": "UTC", "display_name": "Z"}, nil), 200, "")
		if n := count(tr.account, "hour=2&weekday=1"); n != 1 {
			t.Fatalf("back to UTC: %d trades at Monday 02:00; want 1", n)
		}
	})
}

// TestEveryZoneFieldRefusesWhatIsNoZone: the profile's, an account's and
// an import's timezone take the same names (core/zone), and refuse with
// their 400 problem what time.LoadLocation accepts but the IANA database
// does not define: "Local" (the host's zone), files of the host's
// zoneinfo directory, paths. "" keeps its documented meaning on each.
func TestEveryZoneFieldRefusesWhatIsNoZone(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "nozone@example.com")
		for _, name := range []string{"Local", "localtime", "posixrules", "posix/Europe/Paris", "./UTC", "Europe//Paris", "Mars/Olympus"} {
			st.expect(st.call("PATCH", "/api/v1/auth/me", tr.token, map[string]any{"timezone": name}, nil), 400, identity.CodeTimezoneInvalid)
			st.expect(st.call("POST", "/api/v1/accounts", tr.token, map[string]any{"name": "Z", "broker": "x", "currency": "USD", "timezone": name}, nil), 400, "validation_failed")
			st.expect(st.importUpload("/api/v1/imports", tr.token, map[string]string{"account_id": tr.account, "timezone": name}, []byte(importstest.FlexFile)), 400, imports.CodeTimezoneInvalid)
		}
		if me := st.call("GET", "/api/v1/auth/me", tr.token, nil, nil); me.str("timezone") != "UTC" {
			t.Fatalf("profile after the refusals = %s", me.raw)
		}
		me := st.call("PATCH", "/api/v1/auth/me", tr.token, map[string]any{"timezone": ""}, nil)
		st.expect(me, 200, "")
		acct := st.call("POST", "/api/v1/accounts", tr.token, map[string]any{"name": "Follows", "broker": "x", "currency": "USD", "timezone": ""}, nil)
		st.expect(acct, 201, "")
		if acct.str("timezone") != "" {
			t.Fatalf("account with the user's zone = %s", acct.raw)
		}
	})
}
