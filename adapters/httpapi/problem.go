package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
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
	case apperr.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case apperr.Conflict:
		return http.StatusConflict
	case apperr.TooLarge:
		return http.StatusRequestEntityTooLarge
	case apperr.UnsupportedMedia:
		return http.StatusUnsupportedMediaType
	case apperr.RateLimited:
		return http.StatusTooManyRequests
	case apperr.Unavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// normalize turns the errors the HTTP layer itself meets into application
// errors, so that StatusOf sees a kind for each.
func normalize(err error) *apperr.Error {
	if e, ok := apperr.As(err); ok {
		return e
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return apperr.Wrap(err, apperr.TooLarge, "body_too_large", "The request body is larger than the server accepts.")
	case errors.Is(err, context.DeadlineExceeded):
		return apperr.Wrap(err, apperr.Unavailable, "timeout", "The request took too long; try again.")
	}
	return apperr.Wrap(err, apperr.Internal, "internal", internalDetail)
}

// Problem builds the RFC 9457 body for err.
func Problem(ctx context.Context, err error) (int, gen.Problem) {
	e := normalize(err)
	status := StatusOf(e.Kind)
	detail := e.Message
	if e.Kind == apperr.Internal {
		detail = internalDetail
	}
	p := gen.Problem{
		Type:   "about:blank",
		Title:  http.StatusText(status),
		Status: status,
		Code:   apperr.CodeOf(e),
	}
	if detail != "" {
		p.Detail = &detail
	}
	if id := reqctx.RequestID(ctx); id != "" {
		p.RequestId = &id
	}
	if len(e.Fields) > 0 {
		fields := e.Fields
		p.Errors = &fields
	}
	return status, p
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
		log.InfoContext(ctx, "request abandoned: the client went away", "would_be_status", status, "code", p.Code, "error", err)
	case status >= 500:
		log.ErrorContext(ctx, "request failed", "status", status, "code", p.Code, "error", err)
	case status != http.StatusNotFound:
		log.DebugContext(ctx, "request rejected", "status", status, "code", p.Code, "error", err)
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
