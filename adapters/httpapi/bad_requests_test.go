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
