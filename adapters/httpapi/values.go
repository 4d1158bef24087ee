package httpapi

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
)

// Conversions between the API's wire values (decimal strings, ETags) and
// the domain's, shared by the trading and journal handlers.

// decoder collects the field errors of one request body's values
// (decimals, ids), so a body with three bad amounts names all three.
type decoder struct {
	fields map[string]string
	other  bool // a field failed for another reason than its decimal
}

// fail records a field that is not a valid value of its kind.
func (d *decoder) fail(field, msg string) {
	d.other = true
	d.failDecimal(field, msg)
}

func (d *decoder) failDecimal(field, msg string) {
	if d.fields == nil {
		d.fields = map[string]string{}
	}
	d.fields[field] = msg
}

// dec parses a required decimal string.
func (d *decoder) dec(field, s string) decimal.Decimal {
	v, err := trading.ParseDecimal(field, s)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Fields[field] != "" {
			d.failDecimal(field, e.Fields[field])
		} else {
			d.failDecimal(field, "is not a decimal")
		}
	}
	return v
}

// opt parses an optional decimal; zero when absent.
func (d *decoder) opt(field string, s *string) decimal.Decimal {
	if s == nil {
		return decimal.Zero
	}
	return d.dec(field, *s)
}

// multiplier parses an optional contract multiplier: zero when absent
// (the instrument's own), and refused unless positive when given (a "0"
// must not read as "none").
func (d *decoder) multiplier(field string, s *string) decimal.Decimal {
	v := d.opt(field, s)
	if _, bad := d.fields[field]; s != nil && !bad && !v.IsPositive() {
		d.fail(field, "must be positive")
	}
	return v
}

// optPtr parses an optional decimal; nil when absent.
func (d *decoder) optPtr(field string, s *string) *decimal.Decimal {
	if s == nil {
		return nil
	}
	v := d.dec(field, *s)
	return &v
}

// null parses a decimal that may be cleared: nil when absent (unchanged),
// a null value for "", the value otherwise.
func (d *decoder) null(field string, s *string) *decimal.NullDecimal {
	if s == nil {
		return nil
	}
	if *s == "" {
		return &decimal.NullDecimal{}
	}
	v := d.dec(field, *s)
	return &decimal.NullDecimal{Decimal: v, Valid: true}
}

// nullOpt is null for a create: absent and "" are both unset.
func (d *decoder) nullOpt(field string, s *string) decimal.NullDecimal {
	if p := d.null(field, s); p != nil {
		return *p
	}
	return decimal.NullDecimal{}
}

// optionalID parses an id that may be cleared ("" = none, uuid.Nil).
func (d *decoder) optionalID(field string, s *string) *uuid.UUID {
	if s == nil {
		return nil
	}
	if *s == "" {
		return &uuid.Nil
	}
	id, err := uuid.Parse(*s)
	if err != nil || len(*s) != 36 {
		d.fail(field, "must be a UUID or \"\"")
		return nil
	}
	return &id
}

// err is the Invalid error of the collected fields, nil when none: code
// decimal_invalid when every one is a bad decimal, else validation_failed.
func (d *decoder) err() error {
	if len(d.fields) == 0 {
		return nil
	}
	e := apperr.Validation("The request has invalid values.", d.fields)
	if !d.other {
		e.Code = trading.CodeDecimalInvalid
	}
	return e
}

// str renders a decimal as the API's decimal string (no exponent).
func str(d decimal.Decimal) string { return string(trading.AppendDecimal(nil, d)) }

func strPtr(d decimal.NullDecimal) *string {
	if !d.Valid {
		return nil
	}
	s := str(d.Decimal)
	return &s
}

func idPtr(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func intPtr(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func ids(in []uuid.UUID) []uuid.UUID {
	if in == nil {
		return []uuid.UUID{}
	}
	return in
}

func val[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// bodies converts records to their wire bodies, in order; none is an
// empty (not nil) slice, so a list answers [] rather than null.
func bodies[S, T any](xs []S, body func(*S) T) []T {
	out := make([]T, len(xs))
	for i := range xs {
		out[i] = body(&xs[i])
	}
	return out
}

// etag renders a record version as a strong entity tag.
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// ifMatch reads an If-Match header into the version a conditional write
// expects: 0 (unconditional) when absent or "*"; -1 for "0", the ETag of a
// journal day not written yet, which no stored record has (the journal
// creates only, everything else answers 412). A tag that is no version of
// ours is refused; a stale one reaches the service, which answers
// version_mismatch (412).
func ifMatch(h *string) (int64, error) {
	if h == nil {
		return 0, nil
	}
	v := strings.TrimSpace(*h)
	if v == "" || v == "*" {
		return 0, nil
	}
	v = strings.TrimPrefix(v, "W/")
	v = strings.Trim(v, `"`)
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		e := apperr.Validation("If-Match is not an entity tag of this API.", map[string]string{"If-Match": `must be the ETag read, such as "3"`})
		e.Code = "if_match_invalid"
		return 0, e
	}
	if n == 0 {
		return -1, nil
	}
	return n, nil
}

// authenticatedIfMatch is the caller of a conditional write and the version
// its If-Match header expects (see ifMatch): an Unauthenticated error comes
// before any If-Match error.
func authenticatedIfMatch(ctx context.Context, h *string) (identity.Principal, int64, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return p, 0, err
	}
	v, err := ifMatch(h)
	return p, v, err
}

// rawQuery is the request's query string: the trade filter is parsed from
// it (parseTradeFilter) rather than from the generated parameters, so that
// lists and analytics read one syntax with one set of messages. It is the
// validator's parse (queryKey) when there is one; callers only read it.
func rawQuery(ctx context.Context) url.Values {
	c, ok := ctx.(*gin.Context)
	if !ok || c.Request == nil {
		return url.Values{}
	}
	if v, ok := c.Get(queryKey); ok {
		if q, _ := v.(url.Values); q != nil {
			return q
		}
		return url.Values{}
	}
	return c.Request.URL.Query()
}

// unexpected is the error of a state the spec rules out (a handler bug).
func unexpected(what string) error {
	return apperr.New(apperr.Internal, "internal", fmt.Sprintf("unexpected %s", what))
}
