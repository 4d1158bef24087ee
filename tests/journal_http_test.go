package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal/journaltest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// The trading journal over HTTP (#13): every test runs the api program as
// wire assembles it (SQLite, the directory blob store under DATA_DIR) and
// talks to it as a client would.

// journalStacks runs f on the api program over SQLite and, when
// TEST_POSTGRES_URL is set (always in CI), over a PostgreSQL database of
// its own.
func journalStacks(t *testing.T, f func(t *testing.T, st *stack)) {
	t.Run("SQLite", func(t *testing.T) { f(t, newStack(t)) })
	t.Run("PostgreSQL", func(t *testing.T) {
		url := testenv.PostgresDB(t)
		f(t, buildStack(t, stackSpec{hashing: identity.TestParams, env: map[string]string{"DATABASE_URL": url}}))
	})
}

// call sends a request with a JSON body (or raw bytes) and extra headers.
func (st *stack) call(method, path, token string, body any, hdr map[string]string) resp {
	st.t.Helper()
	var rd io.Reader
	ct := "application/json"
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, _ := http.NewRequest(method, st.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return st.send(req)
}

func (st *stack) send(req *http.Request) resp {
	st.t.Helper()
	res, err := st.client.Do(req)
	if err != nil {
		st.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// upload posts a multipart form: fields first, then the file.
func (st *stack) upload(token string, fields map[string]string, filename string, data []byte, hdr map[string]string) resp {
	st.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", filename)
	_, _ = fw.Write(data)
	_ = w.Close()
	req, _ := http.NewRequest("POST", st.url+"/api/v1/attachments", &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return st.send(req)
}

// problem checks a problem+json answer of status and code.
func (st *stack) problem(r resp, status int, code string) {
	st.t.Helper()
	st.expect(r, status, code)
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		st.t.Fatalf("content type %q, want application/problem+json\n%s", ct, r.raw)
	}
}

func (r resp) obj(k string) map[string]any { m, _ := r.body[k].(map[string]any); return m }

func (r resp) list(k string) []any { l, _ := r.body[k].([]any); return l }

func field(m any, k string) string {
	mm, _ := m.(map[string]any)
	s, _ := mm[k].(string)
	return s
}

// decEq checks that a JSON value is a string holding exactly want.
func decEq(t testing.TB, what string, got any, want string) {
	t.Helper()
	s, ok := got.(string)
	if !ok {
		t.Fatalf("%s = %#v: not a JSON string", what, got)
	}
	g, err := decimal.NewFromString(s)
	if err != nil || !g.Equal(decimal.RequireFromString(want)) {
		t.Fatalf("%s = %q, want %s", what, s, want)
	}
}

// trader is a registered user with an account.
type trader struct {
	token   string
	account string
}

func newTrader(st *stack, email string) trader {
	st.t.Helper()
	access, _ := st.registerVerified(email)
	r := st.call("POST", "/api/v1/accounts", access, map[string]any{"name": "Main", "broker": "IBKR", "currency": "USD", "starting_balance": "25000.00"}, nil)
	st.expect(r, 201, "")
	return trader{token: access, account: r.str("id")}
}

// roundTrip records a buy and a sell of AAPL and returns the closed trade.
func (st *stack) roundTrip(tr trader, day string) map[string]any {
	st.t.Helper()
	r := st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": []map[string]any{
		{"account_id": tr.account, "symbol": "aapl", "asset_class": "stock", "side": "buy", "quantity": "100", "price": "187.25", "commission": "1.00", "executed_at": day + "T14:31:00.123456789Z"},
		{"account_id": tr.account, "symbol": "AAPL", "asset_class": "stock", "side": "sell", "quantity": "100", "price": "189.10", "commission": "1.00", "fees": "0.03", "executed_at": day + "T15:02:00Z"},
	}}, nil)
	st.expect(r, 201, "")
	trades := r.list("trades")
	if len(trades) != 1 {
		st.t.Fatalf("trades = %s", r.raw)
	}
	return trades[0].(map[string]any)
}

func TestJournalHTTPTradeFromFills(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "fills@example.com")
		trade := st.roundTrip(tr, "2026-03-02")
		// (189.10 − 187.25) × 100 = 185; net = 185 − 2 − 0.03.
		decEq(t, "gross_pnl", trade["gross_pnl"], "185")
		decEq(t, "net_pnl", trade["net_pnl"], "182.97")
		decEq(t, "avg_entry_price", trade["avg_entry_price"], "187.25")
		if trade["status"] != "closed" || trade["direction"] != "long" || trade["symbol"] != "AAPL" {
			t.Fatalf("trade = %v", trade)
		}
		got := st.call("GET", "/api/v1/trades/"+field(trade, "id"), tr.token, nil, nil)
		st.expect(got, 200, "")
		legs, _ := got.body["executions"].([]any)
		if len(legs) != 2 || got.header.Get("ETag") != `"1"` {
			t.Fatalf("GET trade: %d legs, ETag %q\n%s", len(legs), got.header.Get("ETag"), got.raw)
		}
		list := st.call("GET", "/api/v1/trades?status=closed&from=2026-03-01&to=2026-03-31&symbol=AAPL", tr.token, nil, nil)
		st.expect(list, 200, "")
		if items := list.list("items"); len(items) != 1 || list.body["next_cursor"] != nil {
			t.Fatalf("list = %s", list.raw)
		}
		none := st.call("GET", "/api/v1/trades?from=2026-04-01", tr.token, nil, nil)
		if items := none.list("items"); none.status != 200 || len(items) != 0 {
			t.Fatalf("April list = %s", none.raw)
		}
		// The nanoseconds of executed_at survive.
		ex := st.call("GET", "/api/v1/executions?account_id="+tr.account, tr.token, nil, nil)
		if !strings.Contains(ex.raw, "14:31:00.123456789Z") {
			t.Fatalf("executions = %s", ex.raw)
		}
	})
}

func TestJournalHTTPDecimalsRoundTripExactly(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "decimals@example.com")
		// Beyond float64: 18 significant digits and 12 decimal places.
		price, qty, fee := "123456.123456789012", "0.000000000001", "-0.000000000007"
		r := st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": []map[string]any{
			{"account_id": tr.account, "symbol": "BTC-USD", "asset_class": "crypto", "side": "buy", "quantity": qty, "price": price, "fees": fee, "executed_at": "2026-03-02T10:00:00Z"},
		}}, nil)
		st.expect(r, 201, "")
		e := r.list("executions")[0]
		got := st.call("GET", "/api/v1/executions/"+field(e, "id"), tr.token, nil, nil)
		st.expect(got, 200, "")
		decEq(t, "price", got.body["price"], price)
		decEq(t, "quantity", got.body["quantity"], qty)
		decEq(t, "fees", got.body["fees"], fee)
		if got.body["price"] != price {
			t.Fatalf("price text %q, want %q", got.body["price"], price)
		}
		acct := st.call("GET", "/api/v1/accounts/"+tr.account, tr.token, nil, nil)
		decEq(t, "starting_balance", acct.body["starting_balance"], "25000")

		// A JSON number is refused: money is never a float.
		bad := st.call("POST", "/api/v1/executions", tr.token, `{"executions":[{"account_id":"`+tr.account+`","symbol":"AAPL","side":"buy","quantity":100,"price":"1","executed_at":"2026-03-02T10:00:00Z"}]}`, nil)
		st.problem(bad, 400, "validation_failed")
		if _, ok := bad.obj("errors")["executions[0].quantity"]; !ok {
			t.Fatalf("errors = %s", bad.raw)
		}
	})
}

func TestJournalHTTPBadInputIsAProblemWithFields(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "bad@example.com")
		cases := []struct {
			method, path string
			body         any
			code, field  string
		}{
			{"GET", "/api/v1/trades?limit=500", nil, "validation_failed", "limit"},
			{"GET", "/api/v1/trades?from=2026-13-01", nil, "filter_invalid", "from"},
			{"GET", "/api/v1/trades?min_net_pnl=10&max_net_pnl=-10", nil, "filter_invalid", "max_net_pnl"},
			{"GET", "/api/v1/trades?tag_id=not-a-uuid", nil, "filter_invalid", "tag_id"},
			{"GET", "/api/v1/trades?sort=newest", nil, "validation_failed", "sort"},
			{"GET", "/api/v1/trades?cursor=garbage", nil, "cursor_invalid", "cursor"},
			{"GET", "/api/v1/trades?limit=1&cursor=%zz", nil, "validation_failed", "query"},
			{"GET", "/api/v1/analytics/summary?symbol=MSFT&x=%zz", nil, "validation_failed", "query"},
			{"GET", "/api/v1/trades?symbol=A%00", nil, "validation_failed", "query"},
			{"GET", "/api/v1/trades?symbol=%2C", nil, "filter_invalid", "symbol"},
			{"GET", "/api/v1/analytics/summary?tag_id=+%2C+", nil, "filter_invalid", "tag_id"},
			{"POST", "/api/v1/tags", `{"name": "t\u0000", "kind": "custom"}`, "validation_failed", "body"},
			{"POST", "/api/v1/accounts", `{"name": "x", "currency": "USD", "broker": "a\u0000b"}`, "validation_failed", "body"},
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{{"account_id": tr.account, "symbol": "AAPL", "side": "buy", "quantity": "1e3", "price": "1", "executed_at": "2026-03-02T10:00:00Z"}}}, "validation_failed", "executions[0].quantity"},
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{{"account_id": tr.account, "symbol": "AAPL", "side": "buy", "quantity": "1234567890123456789", "price": "1", "executed_at": "2026-03-02T10:00:00Z"}}}, "decimal_invalid", "executions[0].quantity"},
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{
				{"account_id": tr.account, "symbol": "AAPL", "side": "buy", "quantity": "1", "price": "1", "executed_at": "2026-03-02T10:00:00Z"},
				{"account_id": uuid.NewString(), "symbol": "AAPL", "side": "buy", "quantity": "1", "price": "1", "executed_at": "2026-03-02T10:00:00Z"}}},
				"validation_failed", "executions[1].account_id"},
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{{"account_id": tr.account, "symbol": "ESZ6", "side": "buy", "quantity": "1", "price": "1", "multiplier": "0", "executed_at": "2026-03-02T10:00:00Z"}}}, "validation_failed", "executions[0].multiplier"},
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{{"account_id": tr.account, "symbol": "FDAXH6", "side": "buy", "quantity": "1", "price": "1", "currency": "ZZZ", "executed_at": "2026-03-02T10:00:00Z"}}}, "validation_failed", "executions[0].currency"},
			{"POST", "/api/v1/trades", map[string]any{"account_id": tr.account, "symbol": "ESZ6", "direction": "long", "multiplier": "-5", "entries": []map[string]any{{"price": "1", "quantity": "1", "at": "2026-03-02T10:00:00Z"}}}, "validation_failed", "multiplier"},
			{"POST", "/api/v1/accounts", map[string]any{"name": "X", "currency": "USD", "unknown": 1}, "validation_failed", ""},
			{"POST", "/api/v1/accounts", `{"name": "X",`, "validation_failed", "body"},
			{"POST", "/api/v1/tags", map[string]any{"name": "x", "kind": "mood"}, "validation_failed", "kind"},
			{"PUT", "/api/v1/journal/2026-03-02", map[string]any{"mood": 9}, "validation_failed", "mood"},
			{"GET", "/api/v1/journal?from=2026-03-10&to=2026-03-01", nil, "validation_failed", "to"},
			{"GET", "/api/v1/journal?from=2025-01-01&to=2026-01-02", nil, "validation_failed", "to"}, // 367 days
			{"PATCH", "/api/v1/accounts/" + tr.account, map[string]any{"name": "Y"}, "if_match_invalid", "If-Match"},
		}
		for _, c := range cases {
			hdr := map[string]string{}
			if c.code == "if_match_invalid" {
				hdr["If-Match"] = "banana"
			}
			r := st.call(c.method, c.path, tr.token, c.body, hdr)
			st.problem(r, 400, c.code)
			if c.field != "" {
				if _, ok := r.obj("errors")[c.field]; !ok {
					t.Errorf("%s %s: no error on %s: %s", c.method, c.path, c.field, r.raw)
				}
			}
		}
	})
}

func TestJournalHTTPStaleIfMatchIs412(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "etag@example.com")
		trade := st.roundTrip(tr, "2026-03-02")
		path := "/api/v1/trades/" + field(trade, "id")
		// Two devices read version 1; the first write wins, the second is
		// refused instead of overwriting it.
		etag := st.call("GET", path, tr.token, nil, nil).header.Get("ETag")
		first := st.call("PATCH", path, tr.token, map[string]any{"notes": "from the phone", "initial_risk": "100"}, map[string]string{"If-Match": etag})
		st.expect(first, 200, "")
		if first.header.Get("ETag") != `"2"` {
			t.Fatalf("ETag after the write = %q", first.header.Get("ETag"))
		}
		decEq(t, "r_multiple", first.body["r_multiple"], "1.8297")
		second := st.call("PATCH", path, tr.token, map[string]any{"notes": "from the laptop"}, map[string]string{"If-Match": etag})
		st.problem(second, 412, "version_mismatch")
		if got := st.call("GET", path, tr.token, nil, nil); got.str("notes") != "from the phone" {
			t.Fatalf("notes = %q", got.str("notes"))
		}

		// The same for the account, a tag, a playbook and a journal day.
		acct := "/api/v1/accounts/" + tr.account
		st.expect(st.call("PATCH", acct, tr.token, map[string]any{"broker": "Tastytrade"}, map[string]string{"If-Match": `"1"`}), 200, "")
		st.problem(st.call("PATCH", acct, tr.token, map[string]any{"broker": "Schwab"}, map[string]string{"If-Match": `"1"`}), 412, "version_mismatch")
		tag := st.call("POST", "/api/v1/tags", tr.token, map[string]any{"name": "FOMO", "kind": "emotion"}, nil)
		st.expect(tag, 201, "")
		tagPath := "/api/v1/tags/" + tag.str("id")
		st.expect(st.call("PATCH", tagPath, tr.token, map[string]any{"color": "#ff0000"}, map[string]string{"If-Match": tag.header.Get("ETag")}), 200, "")
		st.problem(st.call("PATCH", tagPath, tr.token, map[string]any{"color": "#00ff00"}, map[string]string{"If-Match": tag.header.Get("ETag")}), 412, "version_mismatch")
		pb := st.call("POST", "/api/v1/playbooks", tr.token, map[string]any{"name": "ORB", "rules": []string{"Wait 5 minutes"}}, nil)
		st.expect(pb, 201, "")
		pbPath := "/api/v1/playbooks/" + pb.str("id")
		st.expect(st.call("PATCH", pbPath, tr.token, map[string]any{"description": "Opening range"}, map[string]string{"If-Match": `"1"`}), 200, "")
		st.problem(st.call("PATCH", pbPath, tr.token, map[string]any{"description": "Other"}, map[string]string{"If-Match": `"1"`}), 412, "version_mismatch")
		day := "/api/v1/journal/2026-03-02"
		empty := st.call("GET", day, tr.token, nil, nil)
		if empty.status != 200 || empty.body["exists"] != false || empty.header.Get("ETag") != `"0"` || len(empty.list("trade_ids")) != 1 {
			t.Fatalf("empty day = %d %s %s", empty.status, empty.header.Get("ETag"), empty.raw)
		}
		st.expect(st.call("PUT", day, tr.token, map[string]any{"pre_market": "Plan A", "mood": 4}, map[string]string{"If-Match": `"0"`}), 200, "")
		st.problem(st.call("PUT", day, tr.token, map[string]any{"pre_market": "Plan B"}, map[string]string{"If-Match": `"0"`}), 412, "version_mismatch")
		if got := st.call("GET", day, tr.token, nil, nil); got.str("pre_market") != "Plan A" || got.header.Get("ETag") != `"1"` {
			t.Fatalf("day = %s", got.raw)
		}
	})
}

func TestJournalHTTPIdempotentPOST(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "idem@example.com")
		key := map[string]string{"Idempotency-Key": "mobile-retry-1"}
		body := map[string]any{"executions": []map[string]any{
			{"account_id": tr.account, "symbol": "MSFT", "asset_class": "stock", "side": "buy", "quantity": "10", "price": "410.5", "executed_at": "2026-03-03T14:31:00Z"},
		}}
		first := st.call("POST", "/api/v1/executions", tr.token, body, key)
		st.expect(first, 201, "")
		again := st.call("POST", "/api/v1/executions", tr.token, body, key)
		st.expect(again, 201, "")
		if again.raw != first.raw || again.header.Get("Idempotent-Replayed") != "true" || first.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("replay differs:\n%s\n%s", first.raw, again.raw)
		}
		list := st.call("GET", "/api/v1/executions?account_id="+tr.account+"&symbol=MSFT", tr.token, nil, nil)
		if n := len(list.list("items")); n != 1 {
			t.Fatalf("%d executions after a retried POST, want 1", n)
		}
		// The key with another body is refused; another user's same key is theirs.
		body["executions"].([]map[string]any)[0]["quantity"] = "11"
		st.problem(st.call("POST", "/api/v1/executions", tr.token, body, key), 422, "idempotency_key_reused")
		other := newTrader(st, "idem-other@example.com")
		a := st.call("POST", "/api/v1/tags", other.token, map[string]any{"name": "A", "kind": "setup"}, key)
		st.expect(a, 201, "")
		if a.header.Get("Idempotent-Replayed") != "" {
			t.Fatal("another user's request replayed the first user's answer")
		}
		// An error answer is not stored: the retry runs again.
		dup := map[string]any{"name": "Main", "currency": "USD"}
		k2 := map[string]string{"Idempotency-Key": "dup-name"}
		st.problem(st.call("POST", "/api/v1/accounts", tr.token, dup, k2), 409, "account_name_taken")
		st.expect(st.call("PATCH", "/api/v1/accounts/"+tr.account, tr.token, map[string]any{"name": "Renamed"}, nil), 200, "")
		st.expect(st.call("POST", "/api/v1/accounts", tr.token, dup, k2), 201, "")
	})
}

// TestJournalHTTPIdempotentPOSTWhoseAnswerWasLost: a process that dies
// after its request's transaction committed and before the answer was
// stored (here: a trigger refuses to store it) leaves the key applied, by
// the commit itself: the retry past the lease is told so (409
// idempotency_applied) and creates nothing twice. PostgreSQL only (the
// trigger); the store's contract suite covers both dialects.
func TestJournalHTTPIdempotentPOSTWhoseAnswerWasLost(t *testing.T) {
	url := testenv.PostgresDB(t)
	st := buildStack(t, stackSpec{hashing: identity.TestParams, env: map[string]string{"DATABASE_URL": url}})
	tr := newTrader(st, "lost-answer@example.com")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `CREATE FUNCTION lost_answer() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.state = 'done' AND NEW.key = 'lost-answer' THEN RAISE EXCEPTION 'the process died'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER lost_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION lost_answer()`); err != nil {
		t.Fatal(err)
	}
	key := map[string]string{"Idempotency-Key": "lost-answer"}
	body := map[string]any{"executions": []map[string]any{
		{"account_id": tr.account, "symbol": "MSFT", "asset_class": "stock", "side": "buy", "quantity": "10", "price": "410.5", "executed_at": "2026-03-03T14:31:00Z"},
	}}
	st.expect(st.call("POST", "/api/v1/executions", tr.token, body, key), 201, "")
	var state string
	if err := conn.QueryRow(ctx, `SELECT state FROM idempotency_keys WHERE key = 'lost-answer'`).Scan(&state); err != nil || state != "applied" {
		t.Fatalf("key state after the commit = %q, %v; want applied", state, err)
	}
	st.problem(st.call("POST", "/api/v1/executions", tr.token, body, key), 409, "idempotency_in_progress")
	// The lease passes (the process is gone for good).
	if _, err := conn.Exec(ctx, `UPDATE idempotency_keys SET created_at = created_at - interval '2 minutes' WHERE key = 'lost-answer'`); err != nil {
		t.Fatal(err)
	}
	st.problem(st.call("POST", "/api/v1/executions", tr.token, body, key), 409, "idempotency_applied")
	list := st.call("GET", "/api/v1/executions?account_id="+tr.account+"&symbol=MSFT", tr.token, nil, nil)
	if n := len(list.list("items")); n != 1 {
		t.Fatalf("%d executions after the retries, want 1", n)
	}
}

// testPNG is a w×h PNG with a text chunk (metadata that must go).
func testPNG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.RGBA{uint8(x), uint8(y), 90, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestJournalHTTPAttachments(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "shots@example.com")
		trade := st.roundTrip(tr, "2026-03-02")

		// EXIF (GPS, camera) is gone from the stored JPEG.
		withExif := journaltest.JPEGWithEXIF(t)
		if !bytes.Contains(withExif, []byte("GPSLatitude")) {
			t.Fatal("fixture has no EXIF")
		}
		up := st.upload(tr.token, map[string]string{"trade_id": field(trade, "id")}, "chart.jpg", withExif, nil)
		st.expect(up, 201, "")
		if up.str("content_type") != "image/jpeg" || up.body["width"] != float64(40) {
			t.Fatalf("upload = %s", up.raw)
		}
		dl := st.call("GET", "/api/v1/attachments/"+up.str("id")+"/content", tr.token, nil, nil)
		if dl.status != 200 || dl.header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("download = %d %s", dl.status, dl.header.Get("Content-Type"))
		}
		stored := []byte(dl.raw)
		for _, secret := range []string{"Exif", "GPSLatitude", "SecretCam"} {
			if bytes.Contains(stored, []byte(secret)) {
				t.Fatalf("stored image still holds %q", secret)
			}
		}
		if _, err := jpeg.Decode(bytes.NewReader(stored)); err != nil {
			t.Fatalf("stored image: %v", err)
		}

		// The trade lists its screenshot.
		if l := st.call("GET", "/api/v1/attachments?trade_id="+field(trade, "id"), tr.token, nil, nil); len(l.list("items")) != 1 || field(l.list("items")[0], "id") != up.str("id") {
			t.Fatalf("trade's attachments = %s", l.raw)
		}
		// A journal day's screenshot shows on the day.
		shot := st.upload(tr.token, map[string]string{"date": "2026-03-02"}, "day.png", testPNG(t, 20, 10), nil)
		st.expect(shot, 201, "")
		day := st.call("GET", "/api/v1/journal/2026-03-02", tr.token, nil, nil)
		if atts := day.list("attachments"); len(atts) != 1 || field(atts[0], "id") != shot.str("id") {
			t.Fatalf("day = %s", day.raw)
		}
		if l := st.call("GET", "/api/v1/attachments?date=2026-03-02", tr.token, nil, nil); len(l.list("items")) != 1 || field(l.list("items")[0], "id") != shot.str("id") {
			t.Fatalf("day's attachments = %s", l.raw)
		}
		st.problem(st.call("GET", "/api/v1/attachments", tr.token, nil, nil), 400, "validation_failed")

		// Not an image: refused from the bytes, whatever the name says.
		st.problem(st.upload(tr.token, map[string]string{"trade_id": field(trade, "id")}, "chart.png", []byte("%PDF-1.7 not a picture at all"), nil), 400, "attachment_not_an_image")
		// Over 5 MB: 413, by the journal's bound and by the body limit.
		big := append(testPNG(t, 8, 8), bytes.Repeat([]byte{0}, 5<<20)...)
		st.problem(st.upload(tr.token, map[string]string{"trade_id": field(trade, "id")}, "big.png", big, nil), 413, "attachment_too_large")
		huge := bytes.Repeat([]byte{0}, 7<<20)
		st.problem(st.upload(tr.token, map[string]string{"trade_id": field(trade, "id")}, "huge.png", huge, nil), 413, "body_too_large")
		// An idempotent retry of an upload stores one attachment: a client
		// builds the form again with a new random boundary, which does not
		// make it another request; another file under the key does.
		key := map[string]string{"Idempotency-Key": "upload-1"}
		send := func(png []byte) resp {
			var buf bytes.Buffer
			w := multipart.NewWriter(&buf) // a random boundary each time
			_ = w.WriteField("trade_id", field(trade, "id"))
			fw, _ := w.CreateFormFile("file", "again.png")
			_, _ = fw.Write(png)
			_ = w.Close()
			req, _ := http.NewRequest("POST", st.url+"/api/v1/attachments", &buf)
			req.Header.Set("Content-Type", w.FormDataContentType())
			req.Header.Set("Authorization", "Bearer "+tr.token)
			req.Header.Set("Idempotency-Key", key["Idempotency-Key"])
			return st.send(req)
		}
		a1, a2 := send(testPNG(t, 5, 5)), send(testPNG(t, 5, 5))
		if a1.status != 201 || a2.status != 201 || a1.str("id") != a2.str("id") || a2.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("idempotent upload: %d %s / %d %s", a1.status, a1.raw, a2.status, a2.raw)
		}
		st.problem(send(testPNG(t, 6, 6)), 422, "idempotency_key_reused")

		st.expect(st.call("DELETE", "/api/v1/attachments/"+up.str("id"), tr.token, nil, nil), 204, "")
		st.problem(st.call("GET", "/api/v1/attachments/"+up.str("id")+"/content", tr.token, nil, nil), 404, "attachment_not_found")
	})
}

// TestJournalHTTPIsolation: every id-bearing route answers 404 to another
// user, the same problem as for an id that does not exist, and changes
// nothing of the owner's.
func TestJournalHTTPIsolation(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		owner := newTrader(st, "owner@example.com")
		trade := st.roundTrip(owner, "2026-03-02")
		tradeID := field(trade, "id")
		exec := st.call("GET", "/api/v1/executions?account_id="+owner.account, owner.token, nil, nil).list("items")[0]
		execID := field(exec, "id")
		tag := st.call("POST", "/api/v1/tags", owner.token, map[string]any{"name": "Breakout", "kind": "setup"}, nil).str("id")
		pb := st.call("POST", "/api/v1/playbooks", owner.token, map[string]any{"name": "ORB", "rules": []string{"Wait"}}, nil).str("id")
		att := st.upload(owner.token, map[string]string{"trade_id": tradeID}, "c.png", testPNG(t, 4, 4), nil).str("id")
		st.expect(st.call("PUT", "/api/v1/journal/2026-03-02", owner.token, map[string]any{"pre_market": "secret plan"}, nil), 200, "")
		if tag == "" || pb == "" || att == "" {
			t.Fatal("setup failed")
		}

		intruder := newTrader(st, "intruder@example.com")
		mine := st.roundTrip(intruder, "2026-03-03")
		cases := []struct {
			method, path string
			body         any
		}{
			{"GET", "/api/v1/accounts/" + owner.account, nil},
			{"PATCH", "/api/v1/accounts/" + owner.account, map[string]any{"name": "pwned"}},
			{"DELETE", "/api/v1/accounts/" + owner.account + "?cascade=true", nil},
			{"GET", "/api/v1/executions/" + execID, nil},
			{"PATCH", "/api/v1/executions/" + execID, map[string]any{"price": "1"}},
			{"DELETE", "/api/v1/executions/" + execID, nil},
			{"GET", "/api/v1/trades/" + tradeID, nil},
			{"PATCH", "/api/v1/trades/" + tradeID, map[string]any{"notes": "pwned"}},
			{"DELETE", "/api/v1/trades/" + tradeID, nil},
			{"GET", "/api/v1/tags/" + tag, nil},
			{"PATCH", "/api/v1/tags/" + tag, map[string]any{"name": "pwned"}},
			{"DELETE", "/api/v1/tags/" + tag, nil},
			{"GET", "/api/v1/playbooks/" + pb, nil},
			{"PATCH", "/api/v1/playbooks/" + pb, map[string]any{"name": "pwned"}},
			{"DELETE", "/api/v1/playbooks/" + pb, nil},
			{"GET", "/api/v1/attachments/" + att, nil},
			{"GET", "/api/v1/attachments?trade_id=" + tradeID, nil},
			{"GET", "/api/v1/attachments/" + att + "/content", nil},
			{"DELETE", "/api/v1/attachments/" + att, nil},
			// Another user's ids in filters (an empty answer would be the
			// same as for ids of one's own without trades).
			{"GET", "/api/v1/trades?account_id=" + owner.account, nil},
			{"GET", "/api/v1/trades?tag_id=" + tag, nil},
			{"GET", "/api/v1/trades?playbook_id=" + pb, nil},
			{"GET", "/api/v1/executions?account_id=" + owner.account, nil},
			{"GET", "/api/v1/analytics/summary?account_id=" + owner.account, nil},
			{"GET", "/api/v1/analytics/breakdown?by=symbol&tag_id=" + tag, nil},
			// Another user's ids inside bodies.
			{"POST", "/api/v1/executions", map[string]any{"executions": []map[string]any{{"account_id": owner.account, "symbol": "AAPL", "side": "buy", "quantity": "1", "price": "1", "executed_at": "2026-03-04T10:00:00Z"}}}},
			{"POST", "/api/v1/trades", map[string]any{"account_id": owner.account, "symbol": "AAPL", "direction": "long", "entries": []map[string]any{{"price": "1", "quantity": "1", "at": "2026-03-04T10:00:00Z"}}}},
			{"POST", "/api/v1/trades/bulk", map[string]any{"trade_ids": []string{tradeID}, "add_tags": []string{}}},
			{"PATCH", "/api/v1/trades/" + field(mine, "id"), map[string]any{"tags": []string{tag}}},
			{"PATCH", "/api/v1/trades/" + field(mine, "id"), map[string]any{"playbook_id": pb}},
			{"PUT", "/api/v1/journal/2026-03-03", map[string]any{"trade_ids": []string{tradeID}}},
		}
		covered := map[string]bool{}
		for _, c := range cases {
			r := st.call(c.method, c.path, intruder.token, c.body, nil)
			if r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
				t.Errorf("%s %s as another user: %d %s", c.method, c.path, r.status, r.raw)
			}
			if c.method == "GET" { // HEAD runs the GET handler (answerHead)
				if r := st.call("HEAD", c.path, intruder.token, nil, nil); r.status != 404 || r.raw != "" {
					t.Errorf("HEAD %s as another user: %d %s", c.path, r.status, r.raw)
				}
			}
			p, _, _ := strings.Cut(c.path, "?")
			for _, id := range []string{owner.account, execID, tradeID, field(mine, "id"), tag, pb, att} {
				p = strings.ReplaceAll(p, id, "{id}")
			}
			covered[c.method+" "+p] = true
		}
		// Every id-bearing operation of the journal's resources is in the
		// table: a route added to the spec without its isolation case fails.
		for _, op := range idBearingJournalOperations(t) {
			if !covered[op] {
				t.Errorf("%s is not tested with another user's id", op)
			}
		}
		bulk := st.call("POST", "/api/v1/trades/bulk", intruder.token, map[string]any{"trade_ids": []string{field(mine, "id")}, "add_tags": []string{tag}}, nil)
		if bulk.status != 404 {
			t.Errorf("bulk tagging with another user's tag: %d %s", bulk.status, bulk.raw)
		}
		upload := st.upload(intruder.token, map[string]string{"trade_id": tradeID}, "x.png", testPNG(t, 4, 4), nil)
		if upload.status != 404 {
			t.Errorf("upload to another user's trade: %d %s", upload.status, upload.raw)
		}
		// Days are the caller's own (lists filtered by another user's
		// account are 404: the table above).
		if d := st.call("GET", "/api/v1/journal/2026-03-02", intruder.token, nil, nil); strings.Contains(d.raw, "secret plan") || d.body["exists"] != false {
			t.Errorf("another user's day: %s", d.raw)
		}

		// Nothing of the owner's changed.
		got := st.call("GET", "/api/v1/trades/"+tradeID, owner.token, nil, nil)
		st.expect(got, 200, "")
		if got.str("notes") != "" || len(got.list("tags")) != 0 || got.header.Get("ETag") != `"1"` {
			t.Fatalf("owner's trade changed: %s", got.raw)
		}
		for _, p := range []string{"/api/v1/accounts/" + owner.account, "/api/v1/executions/" + execID, "/api/v1/tags/" + tag,
			"/api/v1/playbooks/" + pb, "/api/v1/attachments/" + att, "/api/v1/attachments/" + att + "/content"} {
			if r := st.call("GET", p, owner.token, nil, nil); r.status != 200 || strings.Contains(r.raw, "pwned") {
				t.Errorf("owner's %s: %d %s", p, r.status, r.raw)
			}
		}
		if n := len(st.call("GET", "/api/v1/executions?account_id="+owner.account, owner.token, nil, nil).list("items")); n != 2 {
			t.Errorf("owner has %d executions, want 2", n)
		}
	})
}

// TestJournalHTTPConcurrentWritersOneWins: devices that read one version
// and write at once: exactly one write lands, the others get 412.
func TestJournalHTTPConcurrentWritersOneWins(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "race@example.com")
		trade := st.roundTrip(tr, "2026-03-02")
		path := "/api/v1/trades/" + field(trade, "id")
		const writers = 6
		statuses := make(chan int, writers)
		var wg sync.WaitGroup
		for i := range writers {
			wg.Go(func() {
				req, _ := http.NewRequest("PATCH", st.url+path, strings.NewReader(fmt.Sprintf(`{"notes":"device %d"}`, i)))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tr.token)
				req.Header.Set("If-Match", `"1"`)
				res, err := st.client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_ = res.Body.Close()
				statuses <- res.StatusCode
			})
		}
		wg.Wait()
		close(statuses)
		won, lost := 0, 0
		for s := range statuses {
			switch s {
			case 200:
				won++
			case 412:
				lost++
			default:
				t.Errorf("status %d", s)
			}
		}
		if won != 1 || lost != writers-1 {
			t.Fatalf("%d writes won, %d refused; want 1 and %d", won, lost, writers-1)
		}
		if got := st.call("GET", path, tr.token, nil, nil); got.header.Get("ETag") != `"2"` || !strings.HasPrefix(got.str("notes"), "device ") {
			t.Fatalf("after the race: %s %s", got.header.Get("ETag"), got.raw)
		}
	})
}

// TestJournalHTTPAttachmentsOnS3: with S3_BUCKET set the program keeps
// attachments in the object store (an in-process S3, gofakes3), sanitised,
// and nothing under DATA_DIR.
func TestJournalHTTPAttachmentsOnS3(t *testing.T) {
	be := s3mem.New()
	if err := be.CreateBucket("journal"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	dataDir := t.TempDir()
	st := buildStack(t, stackSpec{hashing: identity.TestParams, env: map[string]string{
		"DATA_DIR": dataDir, "S3_BUCKET": "journal", "S3_PREFIX": "ts/", "S3_REGION": "us-east-1", "S3_ENDPOINT": srv.URL,
		"S3_FORCE_PATH_STYLE": "true", "S3_ACCESS_KEY_ID": "test", "S3_SECRET_ACCESS_KEY": "test-secret",
	}})
	tr := newTrader(st, "s3@example.com")
	trade := st.roundTrip(tr, "2026-03-02")
	up := st.upload(tr.token, map[string]string{"trade_id": field(trade, "id")}, "chart.jpg", journaltest.JPEGWithEXIF(t), nil)
	st.expect(up, 201, "")
	objs, err := be.ListBucket("journal", &gofakes3.Prefix{}, gofakes3.ListBucketPage{})
	if err != nil || len(objs.Contents) != 1 || !strings.HasPrefix(objs.Contents[0].Key, "ts/attachments/") {
		t.Fatalf("bucket: %+v, %v", objs, err)
	}
	obj, err := be.GetObject("journal", objs.Contents[0].Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(obj.Contents)
	_ = obj.Contents.Close()
	if bytes.Contains(stored, []byte("GPSLatitude")) || bytes.Contains(stored, []byte("SecretCam")) {
		t.Fatal("the object still holds the EXIF")
	}
	dl := st.call("GET", "/api/v1/attachments/"+up.str("id")+"/content", tr.token, nil, nil)
	if dl.status != 200 || !bytes.Equal([]byte(dl.raw), stored) {
		t.Fatalf("download: %d, %d bytes (stored %d)", dl.status, len(dl.raw), len(stored))
	}
	if entries, _ := os.ReadDir(filepath.Join(dataDir, "blobs")); len(entries) != 0 {
		t.Fatalf("DATA_DIR/blobs has %d entries with S3 configured", len(entries))
	}
}

// idBearingJournalOperations lists "METHOD /path/{id}" of every operation
// of openapi.yaml under the trading journal's resources that takes an id
// in its path. (/journal/{date} names the caller's own day, not a record:
// the isolation test reads another user's day separately.)
func idBearingJournalOperations(t *testing.T) []string {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.SpecYAML())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for path, item := range doc.Paths.Map() {
		if !strings.Contains(path, "{id}") {
			continue
		}
		for _, prefix := range []string{"/api/v1/accounts/", "/api/v1/executions/", "/api/v1/trades/", "/api/v1/tags/", "/api/v1/playbooks/", "/api/v1/attachments/"} {
			if strings.HasPrefix(path, prefix) {
				for method := range item.Operations() {
					out = append(out, method+" "+path)
				}
			}
		}
	}
	if len(out) < 18 {
		t.Fatalf("only %d id-bearing operations found in the spec", len(out))
	}
	return out
}

// TestJournalHTTPEveryOperation walks the success paths the other tests
// do not: manual entry, correcting and deleting fills, pages, bulk
// tagging, deleting a tag or a trade, archiving and deleting an account.
func TestJournalHTTPEveryOperation(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "every@example.com")
		if l := st.call("GET", "/api/v1/accounts", tr.token, nil, nil); len(l.list("items")) != 1 {
			t.Fatalf("accounts = %s", l.raw)
		}
		first := st.roundTrip(tr, "2026-03-02")
		// A manual short trade with two exits and its annotation.
		pb := st.call("POST", "/api/v1/playbooks", tr.token, map[string]any{"name": "Fade", "rules": []string{"Wait for the reclaim"}}, nil)
		st.expect(pb, 201, "")
		manual := st.call("POST", "/api/v1/trades", tr.token, map[string]any{
			"account_id": tr.account, "symbol": "NQH26", "asset_class": "future", "direction": "short",
			"entries": []map[string]any{{"price": "18000.25", "quantity": "2", "at": "2026-03-03T15:00:00Z", "commission": "2.50"}},
			"exits": []map[string]any{
				{"price": "17990", "quantity": "1", "at": "2026-03-03T15:10:00Z", "commission": "1.25"},
				{"price": "17995.50", "quantity": "1", "at": "2026-03-03T15:20:00Z", "commission": "1.25"},
			},
			"annotation": map[string]any{"playbook_id": pb.str("id"), "notes": "typed in", "rating": 3},
		}, nil)
		st.expect(manual, 201, "")
		mt := manual.list("trades")[0]
		// NQ multiplier 20: (18000.25 − 17990) × 20 + (18000.25 − 17995.5) × 20 − 5 = 205 + 95 − 5.
		decEq(t, "manual net_pnl", mt.(map[string]any)["net_pnl"], "295")
		if field(mt, "playbook_id") != pb.str("id") || field(mt, "notes") != "typed in" {
			t.Fatalf("manual trade = %v", mt)
		}

		// Pages: one trade per page, then the last page has no cursor.
		p1 := st.call("GET", "/api/v1/trades?limit=1&sort=closed", tr.token, nil, nil)
		cur, _ := p1.body["next_cursor"].(string)
		if len(p1.list("items")) != 1 || cur == "" {
			t.Fatalf("page 1 = %s", p1.raw)
		}
		p2 := st.call("GET", "/api/v1/trades?limit=1&sort=closed&cursor="+cur, tr.token, nil, nil)
		if len(p2.list("items")) != 1 || p2.body["next_cursor"] != nil || field(p2.list("items")[0], "id") == field(p1.list("items")[0], "id") {
			t.Fatalf("page 2 = %s", p2.raw)
		}
		st.problem(st.call("GET", "/api/v1/trades?limit=1&sort=opened&cursor="+cur, tr.token, nil, nil), 400, "cursor_invalid")

		// Bulk tagging, the any/all filter, and a deleted tag leaving the trades.
		a := st.call("POST", "/api/v1/tags", tr.token, map[string]any{"name": "A", "kind": "setup"}, nil).str("id")
		b := st.call("POST", "/api/v1/tags", tr.token, map[string]any{"name": "B", "kind": "mistake"}, nil).str("id")
		bulk := st.call("POST", "/api/v1/trades/bulk", tr.token, map[string]any{"trade_ids": []string{field(first, "id"), field(mt, "id")}, "add_tags": []string{a}}, nil)
		st.expect(bulk, 200, "")
		st.expect(st.call("PATCH", "/api/v1/trades/"+field(mt, "id"), tr.token, map[string]any{"tags": []string{a, b}}, nil), 200, "")
		if l := st.call("GET", "/api/v1/trades?tag_id="+a+","+b+"&tag_mode=all", tr.token, nil, nil); len(l.list("items")) != 1 {
			t.Fatalf("all of A and B = %s", l.raw)
		}
		if l := st.call("GET", "/api/v1/trades?tag_id="+a+"&tag_id="+b, tr.token, nil, nil); len(l.list("items")) != 2 {
			t.Fatalf("any of A or B = %s", l.raw)
		}
		if l := st.call("GET", "/api/v1/tags?kind=mistake", tr.token, nil, nil); len(l.list("items")) != 1 {
			t.Fatalf("mistake tags = %s", l.raw)
		}
		st.expect(st.call("DELETE", "/api/v1/tags/"+a, tr.token, nil, nil), 204, "")
		if got := st.call("GET", "/api/v1/trades/"+field(first, "id"), tr.token, nil, nil); len(got.list("tags")) != 0 {
			t.Fatalf("a deleted tag stayed on the trade: %s", got.raw)
		}
		if l := st.call("GET", "/api/v1/playbooks", tr.token, nil, nil); len(l.list("items")) != 1 {
			t.Fatalf("playbooks = %s", l.raw)
		}
		st.expect(st.call("DELETE", "/api/v1/playbooks/"+pb.str("id"), tr.token, nil, nil), 204, "")
		if got := st.call("GET", "/api/v1/trades/"+field(mt, "id"), tr.token, nil, nil); got.body["playbook_id"] != nil {
			t.Fatalf("a deleted playbook stayed on the trade: %s", got.raw)
		}

		// Correct a fill: the trade is rebuilt and answered.
		legs, _ := st.call("GET", "/api/v1/trades/"+field(first, "id"), tr.token, nil, nil).body["executions"].([]any)
		sell := field(legs[1], "execution_id")
		fix := st.call("PATCH", "/api/v1/executions/"+sell, tr.token, map[string]any{"price": "190.10"}, map[string]string{"If-Match": `"1"`})
		st.expect(fix, 200, "")
		if trades := fix.list("trades"); len(trades) != 1 {
			t.Fatalf("rebuilt = %s", fix.raw)
		} else {
			decEq(t, "net after the correction", trades[0].(map[string]any)["net_pnl"], "282.97")
		}
		// Deleting the exit reopens the trade; deleting the trade takes its fills.
		del := st.call("DELETE", "/api/v1/executions/"+sell, tr.token, nil, nil)
		st.expect(del, 200, "")
		if trades := del.list("trades"); len(trades) != 1 || field(trades[0], "status") != "open" {
			t.Fatalf("after deleting the exit: %s", del.raw)
		}
		st.expect(st.call("DELETE", "/api/v1/trades/"+field(first, "id"), tr.token, nil, nil), 200, "")
		st.problem(st.call("GET", "/api/v1/trades/"+field(first, "id"), tr.token, nil, nil), 404, "trade_not_found")
		if l := st.call("GET", "/api/v1/executions?symbol=AAPL", tr.token, nil, nil); len(l.list("items")) != 0 {
			t.Fatalf("AAPL fills left: %s", l.raw)
		}
		if l := st.call("GET", "/api/v1/journal?from=2026-03-01&to=2026-03-31", tr.token, nil, nil); l.status != 200 || len(l.list("items")) != 0 {
			t.Fatalf("journal list = %s", l.raw)
		}

		// Archive: read-only. Delete: refused with executions unless cascade.
		st.expect(st.call("PATCH", "/api/v1/accounts/"+tr.account, tr.token, map[string]any{"archived": true}, nil), 200, "")
		st.problem(st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": []map[string]any{
			{"account_id": tr.account, "symbol": "AAPL", "side": "buy", "quantity": "1", "price": "1", "executed_at": "2026-03-05T10:00:00Z"}}}, nil), 409, "account_archived")
		if l := st.call("GET", "/api/v1/accounts", tr.token, nil, nil); len(l.list("items")) != 0 {
			t.Fatalf("archived account listed by default: %s", l.raw)
		}
		if l := st.call("GET", "/api/v1/accounts?archived=true", tr.token, nil, nil); len(l.list("items")) != 1 {
			t.Fatalf("archived=true = %s", l.raw)
		}
		st.problem(st.call("DELETE", "/api/v1/accounts/"+tr.account, tr.token, nil, nil), 409, "account_has_executions")
		st.expect(st.call("DELETE", "/api/v1/accounts/"+tr.account+"?cascade=true", tr.token, nil, nil), 204, "")
		st.problem(st.call("GET", "/api/v1/accounts/"+tr.account, tr.token, nil, nil), 404, "account_not_found")
	})
}

// TestJournalHTTPInfersTheAssetClass: a symbol sent without its asset
// class is a future when it is a dated contract of a known root (with
// that root's multiplier), an option when it is an OCC symbol, else a
// stock; a manual trade and a batch of executions alike.
func TestJournalHTTPInfersTheAssetClass(t *testing.T) {
	journalStacks(t, func(t *testing.T, st *stack) {
		tr := newTrader(st, "infer@example.com")
		manual := st.call("POST", "/api/v1/trades", tr.token, map[string]any{
			"account_id": tr.account, "symbol": "MNQM6", "direction": "long",
			"entries": []map[string]any{{"price": "18000", "quantity": "2", "at": "2026-05-05T13:30:00Z"}},
			"exits":   []map[string]any{{"price": "18010", "quantity": "2", "at": "2026-05-05T13:45:00Z"}},
		}, nil)
		st.expect(manual, 201, "")
		mt := manual.list("trades")[0].(map[string]any)
		if field(mt, "asset_class") != "future" || field(mt, "symbol") != "MNQM26" {
			t.Fatalf("MNQM6 without a class: %s", manual.raw)
		}
		decEq(t, "MNQ multiplier", mt["multiplier"], "2")
		decEq(t, "MNQ net_pnl", mt["net_pnl"], "40") // 10 points × 2 contracts × 2
		// The filter finds it by the symbol as the broker prints it.
		for _, sym := range []string{"MNQM6", "mnqm26", "/MNQM26"} {
			if l := st.call("GET", "/api/v1/trades?symbol="+url.QueryEscape(sym), tr.token, nil, nil); len(l.list("items")) != 1 {
				t.Fatalf("symbol=%s: %s", sym, l.raw)
			}
		}
		r := st.call("POST", "/api/v1/executions", tr.token, map[string]any{"executions": []map[string]any{
			{"account_id": tr.account, "symbol": "msft", "side": "buy", "quantity": "10", "price": "400", "executed_at": "2026-05-06T14:00:00Z"},
			{"account_id": tr.account, "symbol": "AAPL261218C00150000", "side": "buy", "quantity": "1", "price": "2.5", "executed_at": "2026-05-06T14:00:00Z"},
		}}, nil)
		st.expect(r, 201, "")
		classes := map[string]string{}
		for _, tr := range r.list("trades") {
			classes[field(tr, "symbol")] = field(tr, "asset_class")
		}
		if classes["MSFT"] != "stock" || classes["AAPL261218C00150000"] != "option" {
			t.Fatalf("classes %v: %s", classes, r.raw)
		}
	})
}
