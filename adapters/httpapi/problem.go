package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/reqctx"
)

// ProblemContentType is the media type of every error body (RFC 9457).
const ProblemContentType = "application/problem+json"

// internalDetail is all a caller learns of an internal error; the cause is in
// the log under the same request ID.
const internalDetail = "An unexpected error occurred. Quote the request ID if you contact support."

// StatusOf is the one place that maps an error kind to an HTTP status.
func StatusOf(kind apperr.Kind) int {
	switch kind {
	case apperr.Invalid:
		return http.StatusBadRequest
	case apperr.Unauthenticated:
		return http.StatusUnauthorized
	case apperr.Forbidden:
		return http.StatusForbidden
	case apperr.NotFound:
		return http.StatusNotFound
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// protocolError is a failure of the HTTP exchange itself, which the domain
// has no word for: a body over the size limit (413), a method the resource
// does not support (405), a body of a content type the operation does not
// accept (415). Only this package makes them, so they are not apperr kinds;
// each carries its status and its stable code.
type protocolError struct {
	status  int
	code    string
	message string
	cause   error
}

func (e *protocolError) Error() string {
	msg := fmt.Sprintf("%d [%s]: %s", e.status, e.code, e.message)
	if e.cause != nil {
		msg += ": " + e.cause.Error()
	}
	return msg
}

func (e *protocolError) Unwrap() error { return e.cause }

func errTooLarge(cause error, message string) error {
	return &protocolError{status: http.StatusRequestEntityTooLarge, code: "body_too_large", message: message, cause: cause}
}

func errMethodNotAllowed() error {
	return &protocolError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", message: "This resource does not support the method."}
}

func errUnsupportedMedia(cause error) error {
	return &protocolError{status: http.StatusUnsupportedMediaType, code: "unsupported_media_type",
		message: "The request body's content type is not accepted here.", cause: cause}
}

// codeStatus are the domain errors whose HTTP status is more precise
// than their kind's: a stale version is a failed precondition of the
// If-Match the client sent (412), an attachment over the journal's bound
// a body too large (413), a reused idempotency key with another body an
// unprocessable request (422, as the IETF Idempotency-Key draft says).
var codeStatus = map[string]int{
	"version_mismatch":        http.StatusPreconditionFailed,
	"attachment_too_large":    http.StatusRequestEntityTooLarge,
	idempotency.CodeKeyReused: http.StatusUnprocessableEntity,
}

// described is what a problem body says about an error.
type described struct {
	status       int
	code, detail string
	fields       map[string]string
}

// describe turns any error into its problem: a protocol error as it is,
// an application error by its kind (an internal one shows only
// internalDetail), and the errors the HTTP layer itself meets (an
// oversize body, a deadline) as the protocol or application errors they
// mean. Anything else is internal.
func describe(err error) described {
	var pe *protocolError
	if errors.As(err, &pe) {
		return described{status: pe.status, code: pe.code, detail: pe.message}
	}
	var tooLarge *http.MaxBytesError
	e, ok := apperr.As(err)
	switch {
	case ok:
	case errors.As(err, &tooLarge):
		return describe(errTooLarge(err, "The request body is larger than the server accepts."))
	case errors.Is(err, context.DeadlineExceeded):
		e = apperr.Wrap(err, apperr.Unavailable, "timeout", "The request took too long; try again.")
	default:
		e = apperr.Wrap(err, apperr.Internal, "internal", internalDetail)
	}
	d := described{status: StatusOf(e.Kind), code: apperr.CodeOf(e), detail: e.Message, fields: e.Fields}
	if s, ok := codeStatus[d.code]; ok {
		d.status = s
	}
	if e.Kind == apperr.Internal {
		d.detail = internalDetail
	}
	return d
}

// Problem builds the RFC 9457 body for err.
func Problem(ctx context.Context, err error) (int, gen.Problem) {
	d := describe(err)
	p := gen.Problem{
		Type:   "about:blank",
		Title:  http.StatusText(d.status),
		Status: d.status,
		Code:   d.code,
	}
	if d.detail != "" {
		p.Detail = &d.detail
	}
	if id := reqctx.RequestID(ctx); id != "" {
		p.RequestId = &id
	}
	if len(d.fields) > 0 {
		fields := fieldNames(d.fields)
		p.Errors = &fields
	}
	return d.status, p
}

// fieldNames spells every field of a problem one way, whichever layer
// named it: a top-level field by its name ("kind"), a nested one as a path
// of names and [indexes] ("executions[0].price"). The spec validator names
// body fields by JSON pointer ("/executions/0/price", "/kind"), the
// handlers' decimal checks by a slash path ("executions/0/price") and the
// domain by the dotted path; a client reads one form.
func fieldNames(in map[string]string) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		out[fieldName(k)] = v
	}
	return out
}

// fieldName is the dotted path of a slash path or a JSON pointer (RFC 6901:
// "~1" is a "/" and "~0" a "~" inside a name); any other name is kept.
func fieldName(k string) string {
	if !strings.Contains(k, "/") {
		return k
	}
	var b strings.Builder
	for i, seg := range strings.Split(strings.TrimPrefix(k, "/"), "/") {
		switch {
		case i > 0 && seg != "" && strings.Trim(seg, "0123456789") == "":
			b.WriteString("[" + seg + "]")
		default:
			if i > 0 {
				b.WriteByte('.')
			}
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~"))
		}
	}
	return b.String()
}

// writeProblem renders err as problem+json and aborts the chain. Internal
// errors and unavailability are logged with their cause; the body never
// carries the cause.
func writeProblem(c *gin.Context, log *slog.Logger, err error) {
	ctx := c.Request.Context()
	status, p := Problem(ctx, err)
	switch {
	case ClientGone(ctx):
		// Whatever failed, it failed because the client hung up (a
		// cancelled query, a transaction rolled back under it): not a
		// server error. The access log records the request as 499.
		cause := any(err)
		if status < 500 {
			cause = deref(p.Detail) // as for a rejection below: never the refused value
		}
		log.InfoContext(ctx, "request abandoned: the client went away", "would_be_status", status, "code", p.Code, "error", cause)
	case status == http.StatusServiceUnavailable && shedding(err):
		// Load shed on purpose (every password-hashing slot busy): the
		// server works as designed, and a flood must not flood the log
		// at error level too.
		log.WarnContext(ctx, "request shed: at capacity", "status", status, "code", p.Code)
		c.Set(shedKey, true)
	case status >= 500:
		log.ErrorContext(ctx, "request failed", "status", status, "code", p.Code, "error", err)
	case status != http.StatusNotFound:
		// What the client is told, not err: the spec validator's error
		// quotes the value it refused (a whole login body, a refresh
		// token), and secrets are never logged.
		log.DebugContext(ctx, "request rejected", "status", status, "code", p.Code, "detail", deref(p.Detail), "errors", problemFields(p.Errors))
	}
	if status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests {
		c.Header("Retry-After", retryAfter(err))
	}
	body, mErr := json.Marshal(p)
	if mErr != nil { // a Problem is plain strings and ints: unreachable
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500,"code":"internal"}`)
		status = http.StatusInternalServerError
	}
	c.Abort()
	if c.Writer.Written() {
		return
	}
	c.Data(status, ProblemContentType, body)
}

// shedKey marks a request whose 503 was load shedding, for the access log.
const shedKey = "tradesense.shed"

// shedding reports whether err refuses work the server chose not to take
// now (identity.HashBusyError), as opposed to a dependency failing.
func shedding(err error) bool {
	var busy *identity.HashBusyError
	return errors.As(err, &busy)
}

// retryAfter is the Retry-After of a 429 or 503: what the error says
// (ratelimit.ExceededError and anything else with a RetryAfter method), in
// whole seconds rounded up, else 1.
func retryAfter(err error) string {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return strconv.Itoa(ratelimit.RetryAfterSeconds(ra.RetryAfter()))
	}
	return "1"
}

func errOriginRefused() error {
	return &protocolError{status: http.StatusForbidden, code: "cors_origin_refused",
		message: "Requests from this origin are not allowed (CORS_ALLOWED_ORIGINS)."}
}

// netHTTPErrorHeaders is what net/http writes after the status line of the
// errors it answers itself, before any handler runs (a malformed request
// line or header, headers over MaxHeaderBytes): a text/plain body and a
// closed connection.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// netHTTPProblem rewrites one such error, as net/http writes it (one
// Write of "HTTP/1.1 <status> <text>" + netHTTPErrorHeaders + body), into
// the same status with a problem+json body. ok is false for anything else:
// a handler's response always carries a Date header after its status line
// and sorts Connection before Content-Type, so it never matches. No
// handler ran, so the request has no ID yet: it gets one (newID, called
// only for a match), in the body and in X-Request-ID as every other
// answer, and the caller logs it with the problem (status, code).
func netHTTPProblem(p []byte, newID func() string, headers []byte) (a netHTTPAnswer, ok bool) {
	rest, found := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	// Only a 4xx or 5xx can be one of net/http's own answers: any other
	// write (every response the handlers send) is passed on without a
	// scan for net/http's error headers.
	if !found || len(rest) < 3 || (rest[0] != '4' && rest[0] != '5') {
		return netHTTPAnswer{}, false
	}
	line, body, found := bytes.Cut(rest, []byte(netHTTPErrorHeaders))
	if !found || bytes.ContainsAny(line, "\r\n") {
		return netHTTPAnswer{}, false
	}
	status, err := strconv.Atoi(string(line[:3]))
	if err != nil || status < 400 || status > 599 {
		return netHTTPAnswer{}, false
	}
	detail := string(body)
	if _, after, cut := strings.Cut(detail, ": "); cut {
		detail = after
	}
	code := map[int]string{
		http.StatusBadRequest:                  "bad_request",
		http.StatusRequestHeaderFieldsTooLarge: "headers_too_large",
		http.StatusNotImplemented:              "not_implemented",
		http.StatusHTTPVersionNotSupported:     "http_version_not_supported",
	}[status]
	if code == "" {
		code = "protocol_error"
	}
	requestID := newID()
	doc, err := json.Marshal(gen.Problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Code: code, Detail: &detail,
		RequestId: &requestID})
	if err != nil {
		return netHTTPAnswer{}, false
	}
	out := fmt.Appendf(nil, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nX-Request-Id: %s\r\nConnection: close\r\n",
		status, http.StatusText(status), ProblemContentType, len(doc), requestID)
	out = append(append(out, headers...), "\r\n"...)
	return netHTTPAnswer{out: append(out, doc...), requestID: requestID, status: status, code: code}, true
}

// netHTTPAnswer is a net/http answer rewritten (netHTTPProblem): the bytes
// to send and what the log line says of it.
type netHTTPAnswer struct {
	out       []byte
	requestID string
	status    int
	code      string
}

func problemFields(m *map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	return *m
}
