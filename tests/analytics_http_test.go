package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/wire"
)

// The analytics figures and the reports over HTTP, on the api program as
// wire assembles it (InitializeStack, local profile: SQLite, in-process
// jobs, the outbox for the notifications service's mail), with its job
// worker running, inside a synctest bubble: the bubble's clock starts on
// Saturday 2000-01-01 00:00 UTC, so the trades below close in the last
// week of 1999 and the weekly report of that week is due on Monday
// 2000-01-03 at 07:00 (the users' zone is UTC).

type analyticsStack struct {
	*stack
	app     *wire.Stack
	dataDir string
}

func buildAnalyticsStack(t *testing.T) *analyticsStack {
	t.Helper()
	dir := t.TempDir()
	st := &stack{t: t, bubble: true, mail: &identitytest.Mailer{}, logs: &syncBuffer{}, bodies: &syncBuffer{}}
	env := map[string]string{
		"APP_ENV": "test", "DATA_DIR": dir, "LOG_FORMAT": "json", "LOG_LEVEL": "info",
		"PUBLIC_URL":      "https://app.tradesense.test",
		"JWT_SIGNING_KEY": string(testSigningKey), "MFA_ENCRYPTION_KEY": testMFAKey,
		"AUTH_JWT_ISSUER": testJWTConfig.Issuer, "AUTH_JWT_AUDIENCE": testJWTConfig.Audience,
		"AUTH_NOTIFY_NEW_LOGIN": "false",
		// Periodic jobs off: the test runs the fan-out itself, twice.
		"JOBS_PURGE_SCHEDULE": "off", "IDENTITY_PURGE_SCHEDULE": "off", "REPORTS_SCHEDULE_TICK": "off", "REPORTS_PURGE_SCHEDULE": "off",
		"IMPORTS_REQUEUE_SCHEDULE": "off",
	}
	cfg, err := wire.LoadConfig(func(k string) string { return env[k] }, "test")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Argon2 = identity.TestParams
	app, cleanup, err := wire.InitializeStack(context.Background(), cfg, wire.LogOutput{Writer: st.logs}, st.mail, wire.ProviderClient{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	st.svc, st.ring, st.tokens, st.db, st.cache = app.Identity, app.Keys, app.Tokens, app.DB, app.Cache
	st.url, st.client = serve(t, app.Server.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.Jobs.Worker.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return &analyticsStack{stack: st, app: app, dataDir: dir}
}

// raw sends a request and returns the status, the content type and the
// body as it came.
func (a *analyticsStack) raw(method, path, token string) (int, string, []byte) {
	a.t.Helper()
	req, _ := http.NewRequest(method, a.url+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := a.client.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Content-Type"), b
}

// problem checks a problem+json answer.
func (a *analyticsStack) problem(r resp, status int, code string) {
	a.t.Helper()
	a.expect(r, status, code)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		a.t.Fatalf("content type %q, want problem+json\n%s", ct, r.raw)
	}
}

// book gives the user an account with a starting balance and three round
// trips closing in the week of Monday 1999-12-27: +100 (long AAPL), −50
// (long AAPL), +30 (short MSFT), no fees. It returns the account ID.
func (a *analyticsStack) book(token string) string {
	a.t.Helper()
	r := a.do("POST", "/api/v1/accounts", token, map[string]any{"name": "Main", "currency": "USD", "starting_balance": "10000"})
	a.expect(r, 201, "")
	acct := r.str("id")
	at := func(day, hour int) string {
		return time.Date(1999, 12, day, hour, 0, 0, 0, time.UTC).Format(time.RFC3339)
	}
	fill := func(sym, side, qty, price, when string) map[string]any {
		return map[string]any{"account_id": acct, "symbol": sym, "asset_class": "stock", "side": side, "quantity": qty, "price": price, "executed_at": when}
	}
	a.expect(a.do("POST", "/api/v1/executions", token, map[string]any{"executions": []any{
		fill("AAPL", "buy", "10", "100", at(27, 14)), fill("AAPL", "sell", "10", "110", at(27, 15)),
		fill("AAPL", "buy", "10", "100", at(28, 14)), fill("AAPL", "sell", "10", "95", at(28, 16)),
		fill("MSFT", "sell", "10", "50", at(29, 14)), fill("MSFT", "buy", "10", "47", at(30, 15)),
	}}), 201, "")
	return acct
}

func first(t *testing.T, r resp, key string) map[string]any {
	t.Helper()
	list, _ := r.body[key].([]any)
	if len(list) != 1 {
		t.Fatalf("%s has %d entries, want 1\n%s", key, len(list), r.raw)
	}
	m, _ := list[0].(map[string]any)
	return m
}

func TestAnalyticsFiguresOverHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := buildAnalyticsStack(t)
		alice, _ := a.registerVerified("alice@example.com")
		bob, _ := a.registerVerified("bob@example.com")
		acct := a.book(alice)

		r := a.do("GET", "/api/v1/analytics/summary", alice, nil)
		a.expect(r, 200, "")
		s := first(t, r, "by_currency")
		for k, want := range map[string]any{"currency": "USD", "trade_count": 3.0, "wins": 2.0, "losses": 1.0, "breakevens": 0.0,
			"win_rate": "0.6667", "net_pnl": "80", "gross_pnl": "80", "profit_factor": "2.6", "avg_win": "65", "avg_loss": "-50",
			"largest_win": "100", "largest_loss": "-50", "max_drawdown": "50", "max_consecutive_wins": 1.0, "max_consecutive_losses": 1.0,
			"expectancy": "26.6667", "expectancy_r": nil, "starting_balance": "10000"} {
			if got := s[k]; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("summary %s = %v, want %v", k, got, want)
			}
		}
		if reasons, _ := s["null_reasons"].(map[string]any); reasons["expectancy_r"] != "no_trades_with_risk" {
			t.Errorf("null_reasons %v", reasons)
		}
		// The same filter as the trade list: only AAPL.
		r = a.do("GET", "/api/v1/analytics/summary?symbol=aapl&basis=gross", alice, nil)
		a.expect(r, 200, "")
		if s := first(t, r, "by_currency"); s["trade_count"] != 2.0 || s["net_pnl"] != "50" || s["basis"] != "gross" {
			t.Errorf("AAPL summary %v", s)
		}

		r = a.do("GET", "/api/v1/analytics/breakdown?by=symbol", alice, nil)
		a.expect(r, 200, "")
		rows, _ := r.body["rows"].([]any)
		if len(rows) != 2 || rows[0].(map[string]any)["key"] != "AAPL" || rows[0].(map[string]any)["net_pnl"] != "50" || rows[1].(map[string]any)["net_pnl"] != "30" {
			t.Errorf("breakdown %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/equity?per_trade=true", alice, nil)
		a.expect(r, 200, "")
		e := first(t, r, "by_currency")
		if days, _ := e["by_day"].([]any); len(days) != 3 || days[2].(map[string]any)["equity"] != "10080" {
			t.Errorf("equity %s", r.raw)
		}
		if trades, _ := e["by_trade"].([]any); len(trades) != 3 {
			t.Errorf("equity by trade %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/drawdown", alice, nil)
		a.expect(r, 200, "")
		if d := first(t, r, "by_currency"); d["max_drawdown"] != "50" || d["max"] == nil {
			t.Errorf("drawdown %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/calendar?month=1999-12", alice, nil)
		a.expect(r, 200, "")
		if days, _ := first(t, r, "by_currency")["days"].([]any); len(days) != 3 || days[0].(map[string]any)["date"] != "1999-12-27" {
			t.Errorf("calendar %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/calendar?month=2000-01", alice, nil)
		a.expect(r, 200, "")
		if list, _ := r.body["by_currency"].([]any); len(list) != 0 {
			t.Errorf("calendar of January %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/distribution?of=pnl", alice, nil)
		a.expect(r, 200, "")
		if d := first(t, r, "by_currency"); d["count"] != 3.0 {
			t.Errorf("distribution %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/streaks", alice, nil)
		a.expect(r, 200, "")
		if s := first(t, r, "by_currency"); s["max_consecutive_wins"] != 1.0 || s["current"].(map[string]any)["outcome"] != "win" {
			t.Errorf("streaks %s", r.raw)
		}

		// Bob sees none of it, not even through Alice's account ID.
		r = a.do("GET", "/api/v1/analytics/summary", bob, nil)
		a.expect(r, 200, "")
		if list, _ := r.body["by_currency"].([]any); len(list) != 0 {
			t.Errorf("bob's summary %s", r.raw)
		}
		r = a.do("GET", "/api/v1/analytics/summary?account_id="+acct, bob, nil)
		if r.status == 200 {
			if list, _ := r.body["by_currency"].([]any); len(list) != 0 {
				t.Errorf("bob's summary over alice's account %s", r.raw)
			}
		} else if r.status != 404 {
			t.Errorf("bob's summary over alice's account: %d %s", r.status, r.raw)
		}

		// Bad filters and parameters: 400 problems, never a 500.
		for _, path := range []string{
			"/api/v1/analytics/summary?account_id=not-a-uuid",
			"/api/v1/analytics/summary?from=2026-13-01",
			"/api/v1/analytics/summary?basis=both",
			"/api/v1/analytics/summary?status=open",
			"/api/v1/analytics/summary?min_net_pnl=12abc",
			"/api/v1/analytics/summary?hour=25",
			"/api/v1/analytics/breakdown?by=colour",
			"/api/v1/analytics/breakdown",
			"/api/v1/analytics/distribution?of=mood",
			"/api/v1/analytics/calendar?month=1999-13",
			"/api/v1/analytics/calendar?month=1999-12&from=1999-12-01",
			"/api/v1/analytics/equity?per_trade=perhaps",
		} {
			r := a.do("GET", path, alice, nil)
			if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s: %d %s %s", path, r.status, r.header.Get("Content-Type"), r.raw)
			}
		}
		a.problem(a.do("GET", "/api/v1/analytics/summary?status=open", alice, nil), 400, "analytics_closed_only")
		a.problem(a.do("GET", "/api/v1/analytics/summary", "", nil), 401, "")
	})
}

// reportID extracts the first report ID from the links of an email.
var reportLink = regexp.MustCompile(`https://app\.tradesense\.test/reports/([0-9a-f-]{36})`)

func TestReportsOverHTTP(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := buildAnalyticsStack(t)
		alice, _ := a.registerVerified("alice@example.com")
		bob, _ := a.registerVerified("bob@example.com")
		aliceAccount := a.book(alice)

		// Another user's account (or tag, or playbook) in a report's filter
		// is a 404, as on every route; the owner's is accepted.
		a.problem(a.do("POST", "/api/v1/reports", bob, map[string]any{"period": "weekly", "filters": map[string]any{"account_id": aliceAccount}}), 404, "account_not_found")
		a.problem(a.do("POST", "/api/v1/reports", bob, map[string]any{"period": "weekly", "filters": map[string]any{"tag_id": uuid.NewString()}}), 404, "")
		r := a.do("POST", "/api/v1/reports", alice, map[string]any{"period": "weekly", "filters": map[string]any{"account_id": aliceAccount}})
		a.expect(r, 202, "")
		a.expect(a.do("DELETE", "/api/v1/reports/"+r.str("id"), alice, nil), 204, "")

		// Requested → rendered by reports.render → downloadable by its owner.
		ids := map[string]string{}
		for _, format := range []string{"pdf", "csv", "xlsx"} {
			r := a.do("POST", "/api/v1/reports", alice, map[string]any{"from": "1999-12-01", "to": "1999-12-31", "format": format,
				"filters": map[string]any{"symbol": []string{"AAPL", "MSFT"}}})
			a.expect(r, 202, "")
			if r.str("state") != "queued" || r.str("format") != format || r.body["scheduled"] != false {
				t.Fatalf("requested %s", r.raw)
			}
			if f, _ := r.body["filters"].(map[string]any); len(f) != 1 || f["symbol"] != "AAPL,MSFT" {
				t.Fatalf("the report does not echo its filter: %s", r.raw)
			}
			ids[format] = r.str("id")
		}
		synctest.Wait() // the worker has rendered them
		for format, id := range ids {
			r := a.do("GET", "/api/v1/reports/"+id, alice, nil)
			a.expect(r, 200, "")
			if r.str("state") != "ready" || r.str("file_url") != "/api/v1/reports/"+id+"/file" {
				t.Fatalf("%s report %s", format, r.raw)
			}
			status, ctype, body := a.raw("GET", "/api/v1/reports/"+id+"/file", alice)
			if status != 200 || len(body) == 0 || fmt.Sprint(len(body)) != fmt.Sprint(r.body["size"]) {
				t.Fatalf("%s file: %d %s %d bytes (size %v)", format, status, ctype, len(body), r.body["size"])
			}
			switch format {
			case "pdf":
				if ctype != "application/pdf" || !strings.HasPrefix(string(body), "%PDF") {
					t.Errorf("pdf: %s %q", ctype, body[:8])
				}
			case "csv":
				if !strings.HasPrefix(ctype, "text/csv") || !strings.Contains(string(body), "AAPL") || !strings.Contains(string(body), "80") {
					t.Errorf("csv: %s\n%s", ctype, body)
				}
			case "xlsx":
				if !strings.HasPrefix(string(body), "PK") {
					t.Errorf("xlsx: %s %q", ctype, body[:4])
				}
			}
		}

		// Every ID-bearing route answers another user's report as a
		// missing one: 404, and nothing of it.
		for _, path := range []string{"/api/v1/reports/" + ids["pdf"], "/api/v1/reports/" + ids["pdf"] + "/file"} {
			r := a.do("GET", path, bob, nil)
			a.problem(r, 404, "report_not_found")
			if strings.Contains(r.raw, ids["pdf"]) {
				t.Errorf("404 names the report: %s", r.raw)
			}
		}
		a.problem(a.do("DELETE", "/api/v1/reports/"+ids["csv"], bob, nil), 404, "report_not_found")
		a.expect(a.do("GET", "/api/v1/reports/"+ids["csv"], alice, nil), 200, "") // still there
		r = a.do("GET", "/api/v1/reports?limit=2", alice, nil)
		a.expect(r, 200, "")
		if items, _ := r.body["items"].([]any); len(items) != 2 || r.str("next_cursor") == "" {
			t.Fatalf("first page %s", r.raw)
		}
		r = a.do("GET", "/api/v1/reports?limit=2&cursor="+r.str("next_cursor"), alice, nil)
		a.expect(r, 200, "")
		if items, _ := r.body["items"].([]any); len(items) != 1 {
			t.Fatalf("second page %s", r.raw)
		}
		a.problem(a.do("GET", "/api/v1/reports?cursor=bm9wZQ", alice, nil), 400, "")
		r = a.do("GET", "/api/v1/reports", bob, nil)
		a.expect(r, 200, "")
		if items, _ := r.body["items"].([]any); len(items) != 0 {
			t.Fatalf("bob's reports %s", r.raw)
		}
		// A report of the whole book echoes no filter.
		r = a.do("POST", "/api/v1/reports", alice, map[string]any{"from": "1999-12-01", "to": "1999-12-31", "format": "csv"})
		a.expect(r, 202, "")
		if _, has := r.body["filters"]; has {
			t.Fatalf("a whole-book report with filters: %s", r.raw)
		}
		a.expect(a.do("DELETE", "/api/v1/reports/"+r.str("id"), alice, nil), 204, "")
		a.expect(a.do("DELETE", "/api/v1/reports/"+ids["csv"], alice, nil), 204, "")
		a.problem(a.do("GET", "/api/v1/reports/"+ids["csv"], alice, nil), 404, "report_not_found")
		a.problem(a.do("GET", "/api/v1/reports/"+ids["csv"]+"/file", alice, nil), 404, "report_not_found")
		a.problem(a.do("GET", "/api/v1/reports/0190a7e0-0000-7000-8000-000000000001", alice, nil), 404, "report_not_found")
		a.problem(a.do("GET", "/api/v1/reports/not-a-uuid", alice, nil), 400, "")
		a.problem(a.do("GET", "/api/v1/reports/"+ids["pdf"]+"/file", "", nil), 401, "")

		// Bad requests.
		for _, body := range []map[string]any{
			{"format": "doc", "period": "weekly"},
			{"period": "yearly"},
			{},
			{"from": "1999-12-31", "to": "1999-12-01"},
			{"period": "weekly", "filters": map[string]any{"from": "1999-01-01"}},
			{"period": "weekly", "filters": map[string]any{"symbol": 5}},
			{"period": "weekly", "filters": map[string]any{"symbol": ""}},
			{"period": "weekly", "filters": map[string]any{"symbol": []string{}}},
			{"period": "weekly", "filters": map[string]any{"tag_id": []string{""}}},
			{"period": "weekly", "filters": map[string]any{"symbol": " , "}},
			{"period": "weekly", "filters": map[string]any{"account_id": "nope"}},
			{"period": "weekly", "colour": "red"},
			{"period": "weekly", "from": "2026-06-01", "to": "2026-06-30"}, // one or the other
			{"period": "monthly", "from": "2026-06-01"},
		} {
			r := a.do("POST", "/api/v1/reports", alice, body)
			if r.status != 400 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%v: %d %s", body, r.status, r.raw)
			}
		}

		// The schedule is the caller's own.
		r = a.do("PUT", "/api/v1/reports/schedule", alice, map[string]any{"weekly": true, "monthly": false})
		a.expect(r, 200, "")
		if r.body["weekly"] != true || r.body["monthly"] != false {
			t.Fatalf("schedule %s", r.raw)
		}
		r = a.do("GET", "/api/v1/reports/schedule", bob, nil)
		a.expect(r, 200, "")
		if r.body["weekly"] != false {
			t.Fatalf("bob's schedule %s", r.raw)
		}
		a.problem(a.do("PUT", "/api/v1/reports/schedule", alice, map[string]any{"weekly": "yes", "monthly": false}), 400, "")

		// Monday 2000-01-03 07:05 UTC: the weekly report of 27 December is
		// due. Two ticks (or a tick and a worker restart) make one report
		// and one email.
		time.Sleep(time.Until(time.Date(2000, 1, 3, 7, 5, 0, 0, time.UTC)))
		for range 2 {
			if _, err := a.app.Reports.FanOut(context.Background()); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		mails := a.outbox("alice@example.com", "Weekly performance report")
		if len(mails) != 1 {
			t.Fatalf("alice got %d weekly report emails, want 1", len(mails))
		}
		m := reportLink.FindStringSubmatch(mails[0])
		if m == nil || !strings.Contains(mails[0], "Week of Monday 27 December 1999") || !strings.Contains(mails[0], "80.00") {
			t.Fatalf("report email:\n%s", mails[0])
		}
		alice, _ = a.login("alice@example.com", goodPassword, "") // the access tokens expired meanwhile
		bob, _ = a.login("bob@example.com", goodPassword, "")
		r = a.do("GET", "/api/v1/reports/"+m[1], alice, nil)
		a.expect(r, 200, "")
		if r.str("state") != "ready" || r.body["scheduled"] != true || r.str("from") != "1999-12-27" || r.str("to") != "2000-01-02" {
			t.Fatalf("scheduled report %s", r.raw)
		}
		status, ctype, body := a.raw("GET", "/api/v1/reports/"+m[1]+"/file", alice)
		if status != 200 || ctype != "application/pdf" || !strings.HasPrefix(string(body), "%PDF") {
			t.Fatalf("scheduled file: %d %s", status, ctype)
		}
		a.problem(a.do("GET", "/api/v1/reports/"+m[1]+"/file", bob, nil), 404, "report_not_found")
		if n := len(a.outbox("bob@example.com", "performance report")); n != 0 {
			t.Fatalf("bob got %d report emails without a schedule", n)
		}
		// A third tick a day later finds nothing due.
		time.Sleep(24 * time.Hour)
		if n, err := a.app.Reports.FanOut(context.Background()); err != nil || n != 0 {
			t.Fatalf("a day later: %d enqueued, %v", n, err)
		}
	})
}

// outbox returns the emails to `to` in the outbox whose text contains
// subject, decoded from quoted-printable soft line breaks.
func (a *analyticsStack) outbox(to, subject string) []string {
	a.t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.dataDir, "outbox", "*.eml"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			a.t.Fatal(err)
		}
		s := strings.NewReplacer("=\r\n", "", "=\n", "", "=3D", "=").Replace(string(b))
		if strings.Contains(s, to) && strings.Contains(s, subject) {
			out = append(out, s)
		}
	}
	return out
}
