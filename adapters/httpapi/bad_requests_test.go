package httpapi

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// TestBadRequestsAreProblems: a body nested deeper than the server reads,
// a missing required query parameter, a parameter of the wrong type and
// an enum value out of the spec are each a 400 problem naming what is
// wrong, and never reach a service (the services here would fail the
// request with a 5xx if called).
func TestBadRequestsAreProblems(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	d.Identity = bearerIdentity{user: uuid.New()}
	d.Journal, d.Trading, d.Analytics = failingJournal{&serviceCalls{}}, failingTrading{&serviceCalls{}}, failingAnalytics{&serviceCalls{}}
	s := newTestServer(t, DefaultConfig(), d)
	deep := `{"name":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `,"kind":"setup"}`
	for _, c := range []struct {
		name, method, path, body, field string
	}{
		{"deep body", "POST", "/api/v1/tags", deep, ""},
		{"missing from", "GET", "/api/v1/journal?to=2026-03-31", "", "from"},
		{"missing by", "GET", "/api/v1/analytics/breakdown", "", "by"},
		{"bad date", "GET", "/api/v1/journal?from=yesterday&to=2026-03-31", "", "from"},
		{"bad enum", "GET", "/api/v1/analytics/breakdown?by=horoscope", "", "by"},
		{"body not an object", "POST", "/api/v1/tags", `["setup"]`, ""},
		// A malformed UUID inside a body is a field error, as the decoder
		// would refuse it; path and query UUIDs are the handlers' (filters).
		{"bad uuid in a body", "PATCH", "/api/v1/trades/" + uuid.NewString(), `{"followed_rules":["nope"]}`, "followed_rules[0]"},
		{"bad uuid in a body list", "POST", "/api/v1/trades/bulk", `{"trade_ids":["` + uuid.NewString() + `","x"]}`, "trade_ids[1]"},
		// An instant finer than nanoseconds would be cut to them without a
		// word: refused, named, wherever a body carries one.
		{"executed_at past nanoseconds", "POST", "/api/v1/executions", `{"executions":[{"account_id":"` + uuid.NewString() +
			`","symbol":"AAPL","side":"buy","quantity":"1","price":"1","executed_at":"2026-10-02T15:00:00.1234567891Z"}]}`, "executions[0].executed_at"},
		{"an edit's executed_at past nanoseconds", "PATCH", "/api/v1/executions/" + uuid.NewString(), `{"executed_at":"2026-10-02T15:00:00.0000000000+02:00"}`, "executed_at"},
		{"a manual fill's at past nanoseconds", "POST", "/api/v1/trades", `{"account_id":"` + uuid.NewString() +
			`","symbol":"AAPL","direction":"long","entries":[{"quantity":"1","price":"1","at":"2026-10-02T15:00:00.1234567891Z"}]}`, "entries[0].at"},
		{"a list's from past nanoseconds", "GET", "/api/v1/executions?from=2026-10-02T15:00:00.1234567891Z", "", "from"},
	} {
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(c.body))
		req.Header.Set("Authorization", "Bearer ok")
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		rec := serve(s, req)
		var body map[string]any
		if rec.Code != 400 || rec.Header().Get("Content-Type") != ProblemContentType || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["code"] != "validation_failed" {
			t.Errorf("%s: %d %s %s; want a 400 validation_failed problem", c.name, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
			continue
		}
		if c.field != "" {
			errs, _ := body["errors"].(map[string]any)
			if _, ok := errs[c.field]; !ok {
				t.Errorf("%s: errors %v do not name %s", c.name, body["errors"], c.field)
			}
		}
	}
}

// TestUnknownQueryParametersAreRefused: a query naming a parameter the
// operation does not declare (a misspelt filter, one of another endpoint)
// is a 400 naming it and listing what the operation takes, before any
// service is called; the operations marked x-extra-query: allowed take any.
func TestUnknownQueryParametersAreRefused(t *testing.T) {
	d := testDeps(t, io.Discard, nil)
	d.Identity = bearerIdentity{user: uuid.New()}
	d.Journal, d.Trading, d.Analytics = failingJournal{&serviceCalls{}}, failingTrading{&serviceCalls{}}, failingAnalytics{&serviceCalls{}}
	s := newTestServer(t, DefaultConfig(), d)
	for _, c := range []struct {
		name, path, field, lists string
	}{
		{"misspelt filter", "/api/v1/trades?symbl=AAPL&status=closed", "symbl", "symbol"},
		{"another endpoint's parameter", "/api/v1/analytics/summary?by=symbol", "by", "basis"},
		{"an operation without query parameters", "/api/v1/executions/" + uuid.NewString() + "?expand=trades", "expand", "takes no query parameters"},
		{"a long name is cut", "/api/v1/auth/me?" + strings.Repeat("n", 100) + "=1", strings.Repeat("n", 64), "takes no query parameters"},
	} {
		req := httptest.NewRequest("GET", c.path, nil)
		req.Header.Set("Authorization", "Bearer ok")
		rec := serve(s, req)
		var body struct {
			Code   string            `json:"code"`
			Errors map[string]string `json:"errors"`
		}
		if rec.Code != 400 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Code != "validation_failed" {
			t.Errorf("%s: %d %s; want a 400 validation_failed problem", c.name, rec.Code, rec.Body)
			continue
		}
		if msg, ok := body.Errors[c.field]; !ok || !strings.Contains(msg, c.lists) || len(body.Errors) != 1 {
			t.Errorf("%s: errors %v; want only %q, saying %q", c.name, body.Errors, c.field, c.lists)
		}
	}
	// Declared parameters pass; the probes take any query.
	for _, path := range []string{"/health?probe=kubelet", "/api/v1/analytics/summary?basis=gross"} {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer ok")
		if rec := serve(s, req); rec.Code == 400 {
			t.Errorf("%s: 400 %s", path, rec.Body)
		}
	}
}

func TestExtraQueryExtensionValue(t *testing.T) {
	doc, err := loadSpec(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	doc.Paths.Value("/health").Get.Extensions[extraQueryExtension] = "yes"
	if _, err := routesOf(doc); err == nil || !strings.Contains(err.Error(), extraQueryExtension) {
		t.Fatalf("routesOf with x-extra-query: yes = %v; want an error naming it", err)
	}
}

// TestDateTimeKeepsNanosecondsAtMost: a body's date-time passes with up to
// nine fractional digits (what time.Time holds) and is refused, never
// truncated, with a tenth; the RFC 3339 check still applies.
func TestDateTimeKeepsNanosecondsAtMost(t *testing.T) {
	for s, ok := range map[string]bool{
		"2026-10-02T15:00:00Z":                 true,
		"2026-10-02T15:00:00.1Z":               true,
		"2026-10-02T15:00:00.123456789Z":       true,
		"2026-10-02T15:00:00.123456789+02:00":  true,
		"2026-10-02T15:00:00.1234567891Z":      false,
		"2026-10-02T15:00:00.0000000000-05:00": false,
		"2026-10-02 15:00:00Z":                 false,
		"2026-02-30T15:00:00Z":                 false,
	} {
		if err := dateTime(s); (err == nil) != ok {
			t.Errorf("dateTime(%q) = %v; want ok %v", s, err, ok)
		}
	}
}
