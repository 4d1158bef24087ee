package httpapi

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

func TestIfMatch(t *testing.T) {
	s := func(v string) *string { return &v }
	for _, c := range []struct {
		in   *string
		want int64
	}{{nil, 0}, {s(""), 0}, {s("*"), 0}, {s(`"3"`), 3}, {s(`W/"3"`), 3}, {s("17"), 17}, {s(`"0"`), -1}} {
		got, err := ifMatch(c.in)
		if err != nil || got != c.want {
			t.Errorf("ifMatch(%v) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{`"abc"`, `"-2"`, `"1", "2"`, `"99999999999999999999"`} {
		if _, err := ifMatch(&bad); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("ifMatch(%q) = %v, want Invalid", bad, err)
		}
	}
	if etag(42) != `"42"` {
		t.Fatal(etag(42))
	}
}

func TestDomainCodesWithTheirOwnStatus(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
	}{
		{apperr.New(apperr.Conflict, trading.CodeVersionMismatch, "stale"), 412},
		{apperr.New(apperr.Invalid, journal.CodeAttachmentTooLarge, "big"), 413},
		{apperr.New(apperr.Invalid, idempotency.CodeKeyReused, "reused"), 422},
		{apperr.New(apperr.Conflict, idempotency.CodeInProgress, "busy"), 409},
		{apperr.New(apperr.Invalid, journal.CodeNotAnImage, "pdf"), 400},
	} {
		if status, p := Problem(context.Background(), c.err); status != c.status || p.Status != c.status {
			t.Errorf("%v: %d, want %d", c.err, status, c.status)
		}
	}
}

func TestDecoderNamesEveryBadDecimal(t *testing.T) {
	var d decoder
	s := func(v string) *string { return &v }
	_ = d.dec("price", "1e3")
	_ = d.opt("fees", s("1,5"))
	if v := d.null("stop", s("")); v == nil || v.Valid {
		t.Fatalf("\"\" clears: %+v", v)
	}
	if v := d.null("stop", nil); v != nil {
		t.Fatal("absent changes nothing")
	}
	if v := d.dec("ok", "-0.000000000001"); str(v) != "-0.000000000001" {
		t.Fatalf("str = %s", str(v))
	}
	e, ok := apperr.As(d.err())
	if !ok || len(e.Fields) != 2 || e.Fields["price"] == "" || e.Fields["fees"] == "" {
		t.Fatalf("errors = %v", d.err())
	}
}

// TestFieldNamesAreOneForm: the three spellings of a field that the
// layers produce come out as one.
func TestFieldNamesAreOneForm(t *testing.T) {
	for in, want := range map[string]string{
		"/executions/0/price":  "executions[0].price",
		"executions/12/price":  "executions[12].price",
		"executions[0].price":  "executions[0].price",
		"/kind":                "kind",
		"kind":                 "kind",
		"/mapping/Fill~1Price": "mapping.Fill/Price",
		"/rules/2":             "rules[2]",
		"/a~0b/0/c":            "a~b[0].c",
		"body":                 "body",
		"If-Match":             "If-Match",
	} {
		if got := fieldName(in); got != want {
			t.Errorf("fieldName(%q) = %q, want %q", in, got, want)
		}
	}
	_, p := Problem(context.Background(), apperr.Validation("bad", map[string]string{"/executions/0/quantity": "x", "executions/1/account_id": "y", "exits[0].at": "z"}))
	if got := *p.Errors; len(got) != 3 || got["executions[0].quantity"] != "x" || got["executions[1].account_id"] != "y" || got["exits[0].at"] != "z" {
		t.Fatalf("errors = %v", got)
	}
}

// TestRawJSONStatesItsLength: cached bytes go out with Content-Length,
// not chunked.
func TestRawJSONStatesItsLength(t *testing.T) {
	rec := httptest.NewRecorder()
	if err := rawJSON(`{"items":[]}`).write(rec); err != nil {
		t.Fatal(err)
	}
	if got := rec.Header().Get("Content-Length"); got != "12" || rec.Body.String() != `{"items":[]}` {
		t.Fatalf("Content-Length %q, body %q", got, rec.Body.String())
	}
}
