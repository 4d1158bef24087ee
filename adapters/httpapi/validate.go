package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
)

// validator checks each request that matches a spec operation against it:
// parameters, content type and body schema. The operation comes from the
// route table (one map lookup; operations with nothing to validate stop
// there). Requests that match no route pass through to the 404/405
// handlers. It runs after the authenticator, which has already answered
// 401/403 for protected operations, so kin-openapi's own security check is
// switched off.
func validator(routes routeTable, log *slog.Logger) gin.HandlerFunc {
	// Parameters, then the body: the body's UUIDs are checked as the
	// decoder reads them (uuid.Parse), so that a malformed one in a body is
	// a field error like any other instead of an unreadable request. The
	// parameters' formats stay the handlers' (the trade filter answers its
	// own filter_invalid for a bad tag_id).
	// A date-time, in a body or a parameter (the executions' from and to),
	// holds at most nanoseconds (dateTime).
	instant := openapi3.WithStringFormatValidator("date-time", openapi3.NewCallbackValidator(dateTime))
	params := &openapi3filter.Options{
		MultiError:              true,
		AuthenticationFunc:      openapi3filter.NoopAuthenticationFunc,
		ExcludeRequestBody:      true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{instant},
	}
	body := *params
	body.ExcludeRequestBody = false
	body.SchemaValidationOptions = []openapi3.SchemaValidationOption{openapi3.WithStringFormatValidator("uuid",
		openapi3.NewCallbackValidator(func(s string) error { _, err := uuid.Parse(s); return err })), instant}
	return func(c *gin.Context) {
		r := routes.of(c)
		if r == nil {
			c.Next()
			return
		}
		if err := checkJSONBody(c); err != nil {
			writeProblem(c, log, err)
			return
		}
		var query url.Values
		if raw := c.Request.URL.RawQuery; raw != "" {
			var err error
			if query, err = parseQuery(raw); err == nil && !r.anyQuery {
				err = unknownQuery(query, r.query)
			}
			if err != nil {
				writeProblem(c, log, err)
				return
			}
		}
		if r.validate == nil {
			c.Next()
			return
		}
		c.Set(queryKey, query) // rawQuery's, for the handlers
		pathParams := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			pathParams[p.Key] = p.Value
		}
		in := &openapi3filter.RequestValidationInput{
			Request: c.Request, PathParams: pathParams, QueryParams: query, Route: r.validate, Options: params,
		}
		var errs openapi3.MultiError
		if err := openapi3filter.ValidateRequest(c.Request.Context(), in); err != nil {
			errs = appendErrors(errs, err)
		}
		// A multipart body is streamed by its handler: validating it here
		// would buffer the whole upload.
		if rb := r.validate.Operation.RequestBody; rb != nil && rb.Value != nil && !r.upload {
			in.Options = &body
			if err := openapi3filter.ValidateRequestBody(c.Request.Context(), in, rb.Value); err != nil {
				errs = appendErrors(errs, err)
			}
		}
		if len(errs) > 0 {
			writeProblem(c, log, requestProblem(errs))
			return
		}
		c.Next()
	}
}

// rfc3339 is kin-openapi's own date-time check, which dateTime extends.
var rfc3339 = openapi3.SchemaStringFormats["date-time"]

// errSubNanosecond is why a date-time of a body with more than nine
// digits of a fraction of a second is refused: time.Time (and the
// databases' BIGINT nanoseconds) would keep the first nine and drop the
// rest without a word.
var errSubNanosecond = errors.New("has more than 9 digits of a fraction of a second: times are kept to the nanosecond")

// dateTime validates a date-time (executed_at, at, from, any other): an
// RFC 3339 instant of at most nanosecond precision, so that what is
// stored is what was sent.
func dateTime(s string) error {
	if err := rfc3339.Validate(s); err != nil {
		return err
	}
	if dot := strings.IndexByte(s, '.'); dot >= 0 {
		digits := len(s[dot+1:]) - len(strings.TrimLeft(s[dot+1:], "0123456789"))
		if digits > 9 {
			return errSubNanosecond
		}
	}
	return nil
}

// appendErrors adds err to errs, the errors of a MultiError one by one
// (err itself, not one it wraps: a RequestError wraps its schema errors).
func appendErrors(errs openapi3.MultiError, err error) openapi3.MultiError {
	if me, ok := err.(openapi3.MultiError); ok { //nolint:errorlint // only the top level is flattened
		return append(errs, me...)
	}
	return append(errs, err)
}

// queryKey holds, in the Gin context, the query string as the validator
// parsed it.
const queryKey = "tradesense.query"

// parseQuery parses a query string, refusing one that does not decode (a
// bad %-escape: url's parser would drop the pair, and a mangled cursor or
// filter would be ignored, answering another page than asked) or that
// holds a NUL (%00), which no value accepts. Nil for an empty one.
func parseQuery(raw string) (url.Values, error) {
	if raw == "" {
		return nil, nil
	}
	malformed := func(why string) error {
		return apperr.Validation("The query string is malformed.", map[string]string{"query": why})
	}
	query, err := url.ParseQuery(raw)
	if err != nil {
		return nil, malformed(err.Error())
	}
	hasNUL := func(s string) bool { return strings.IndexByte(s, 0) >= 0 }
	for name, vs := range query {
		if hasNUL(name) || slices.ContainsFunc(vs, hasNUL) {
			return nil, malformed("a parameter holds a NUL character (%00), which no value accepts")
		}
	}
	return query, nil
}

// unknownQuery refuses a query naming a parameter the operation does not
// declare (known, sorted): a misspelt filter (symbl=AAPL) or one of
// another endpoint would otherwise be ignored and the answer would hold
// what the trader filtered out. The field is the parameter's name (cut
// to 64 bytes), the message lists the ones the operation takes; values
// are never echoed.
func unknownQuery(query url.Values, known []string) error {
	var fields map[string]string
	for name := range query {
		if _, ok := slices.BinarySearch(known, name); ok {
			continue
		}
		if fields == nil {
			fields = map[string]string{}
		}
		if len(name) > 64 {
			name = strings.ToValidUTF8(name[:64], "")
		}
		if len(known) == 0 {
			fields[name] = "unknown parameter: this operation takes no query parameters"
		} else {
			fields[name] = "unknown parameter: this operation takes " + strings.Join(known, ", ")
		}
	}
	if fields == nil {
		return nil
	}
	return apperr.Validation("The query string names a parameter this operation does not take.", fields)
}

const prefixInvalidContentType = "header Content-Type has unexpected value"

// requestProblem turns kin-openapi's validation errors into one Invalid error
// with a message per field. Field names are the parameter name or the JSON
// pointer into the body; messages never echo the offending value.
func requestProblem(err error) error {
	var errs []error
	var me openapi3.MultiError
	if errors.As(err, &me) {
		errs = me
	} else {
		errs = []error{err}
	}
	fields := map[string]string{}
	for _, e := range errs {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			var rte *routers.RouteError
			if errors.As(e, &rte) {
				return apperr.Wrap(e, apperr.NotFound, "not_found", "No such resource.")
			}
			fields["request"] = "is invalid"
			continue
		}
		var tooLarge *http.MaxBytesError
		if errors.As(re.Err, &tooLarge) {
			return errTooLarge(e, "The request body is larger than the server accepts.")
		}
		if strings.HasPrefix(re.Reason, prefixInvalidContentType) {
			return errUnsupportedMedia(e)
		}
		switch {
		case re.Parameter != nil:
			fields[re.Parameter.Name] = reasonOf(re)
		case re.RequestBody != nil:
			collectBodyErrors(fields, re)
		default:
			fields["request"] = reasonOf(re)
		}
	}
	return &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed",
		Message: "The request does not match the API contract.", Fields: fields, Cause: err}
}

func collectBodyErrors(fields map[string]string, re *openapi3filter.RequestError) {
	var inner []error
	var me openapi3.MultiError
	if errors.As(re.Err, &me) {
		inner = me
	} else {
		inner = []error{re.Err}
	}
	for _, e := range inner {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			key := "/" + strings.Join(se.JSONPointer(), "/")
			if key == "/" {
				key = "body"
			}
			fields[key] = se.Reason
			continue
		}
		if e == nil {
			fields["body"] = reasonOf(re)
			continue
		}
		fields["body"] = bodyReason(e)
	}
}

// bodyReason keeps decoder messages short and value-free.
func bodyReason(err error) string {
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) {
		return "is not valid JSON"
	}
	if errors.Is(err, openapi3filter.ErrInvalidRequired) {
		return "is required"
	}
	return "is invalid"
}

func reasonOf(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return se.Reason
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		return "is required"
	}
	if re.Reason != "" {
		return re.Reason
	}
	return "is invalid"
}

// maxJSONDepth bounds the nesting strictJSON walks (the decoder's own
// limit is far higher; no body of this API nests past a few levels).
const maxJSONDepth = 64

// Why a body is not one strict JSON value.
var (
	errJSONTrailing  = errors.New("has data after the JSON value")
	errJSONDuplicate = errors.New("repeats a key in one object")
	errJSONDeep      = errors.New("nests too deeply")
	// No text column stores U+0000 (PostgreSQL refuses it; SQLite would
	// keep it and the two would disagree), so no string may hold one.
	errJSONNul = errors.New("has a string with a NUL character (U+0000), which no text field accepts")
)

// strictJSON reports whether body is exactly one JSON value, with nothing
// but white space after it, and no object holding the same key twice.
// encoding/json (and kin-openapi after it) would take the first value of
// `{"a":1}{"a":2}` and the last of `{"a":1,"a":2}`; the validator and the
// handler could then read different documents. Keys are compared the way
// encoding/json matches them to struct fields, case-insensitively, so
// `{"email":…,"EMAIL":…}` cannot slip a value past the schema either (a
// template's data therefore cannot use two keys differing only in case).
// Syntax errors are left to the schema validator, which names them.
func strictJSON(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := walkJSON(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errJSONTrailing
	}
	return nil
}

func walkJSON(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		if str, isStr := tok.(string); isStr && strings.IndexByte(str, 0) >= 0 {
			return errJSONNul
		}
		return nil
	}
	if depth >= maxJSONDepth {
		return errJSONDeep
	}
	var seen map[string]struct{}
	if delim == '{' {
		seen = map[string]struct{}{}
	}
	for dec.More() {
		if seen != nil {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := kt.(string)
			if strings.IndexByte(key, 0) >= 0 {
				return errJSONNul
			}
			folded := foldKey(key)
			if _, dup := seen[folded]; dup {
				return errJSONDuplicate
			}
			seen[folded] = struct{}{}
		}
		if err := walkJSON(dec, depth+1); err != nil {
			return err
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// foldKey maps a key to one representative of its case-folding class (the
// smallest rune of each rune's simple-folding orbit), so that two keys are
// equal under strings.EqualFold exactly when their foldKeys are equal.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

// isJSON reports whether a Content-Type is JSON (application/json or a
// +json suffix).
func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// checkJSONBody reads a JSON request body (already bounded by bodyLimit),
// refuses it unless strictJSON holds, and puts it back for the validator
// and the handler.
func checkJSONBody(c *gin.Context) error {
	req := c.Request
	if req.Body == nil || req.Body == http.NoBody || !isJSON(req.Header.Get("Content-Type")) {
		return nil
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return errTooLarge(err, "The request body is larger than the server accepts.")
		}
		return apperr.Wrap(err, apperr.Invalid, "invalid_request", "The request body could not be read.")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	// JSON text is UTF-8 (RFC 8259 §8.1); the decoder would store U+FFFD
	// for each bad byte, changing what the client sent without a word.
	if !utf8.Valid(body) {
		return &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed",
			Message: "The request does not match the API contract.", Fields: map[string]string{"body": "must be UTF-8 text: it holds bytes that are not"}}
	}
	if err := strictJSON(body); err != nil {
		reason := err.Error()
		var syn *json.SyntaxError
		if errors.As(err, &syn) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil // the schema validator reports malformed JSON
		}
		return &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed",
			Message: "The request does not match the API contract.", Fields: map[string]string{"body": reason}, Cause: err}
	}
	return nil
}

// paramFailure matches the messages of the generated parameter binding
// (adapters/httpapi/gen): each names its parameter.
var paramFailure = regexp.MustCompile(`^(?:Invalid format for parameter|Query argument|Header parameter|Expected one value for|Cookie parameter) ([A-Za-z0-9_.\-]+)`)

// paramProblem turns a parameter the generated binding could not read (a
// path id that is not a UUID, a query integer that is not a number) into
// a validation problem naming the parameter. The message never echoes the
// value (the binding's own error does, and stays in the cause).
func paramProblem(err error) error {
	m := paramFailure.FindStringSubmatch(err.Error())
	if m == nil {
		return apperr.Wrap(err, apperr.Invalid, "invalid_request", "The request parameters are invalid.")
	}
	reason := "is invalid"
	switch msg := err.Error(); {
	case strings.Contains(msg, "is required"):
		reason = "is required"
	case strings.Contains(strings.ToLower(msg), "uuid"):
		reason = "must be a UUID"
	}
	return &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed",
		Message: "The request does not match the API contract.", Fields: map[string]string{m[1]: reason}, Cause: err}
}
