package httpapi

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/reqctx"
)

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-ID"

const maxRequestIDLen = 128

// saneRequestID accepts 1-128 characters of A-Z a-z 0-9 - _ . : / so that a
// caller's ID can be echoed and logged without injection.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/':
		default:
			return false
		}
	}
	return true
}

// requestID honours a sane X-Request-ID, generates one otherwise, echoes it,
// and installs the request record that logs read.
func requestID() gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader(RequestIDHeader)
		if !saneRequestID(id) {
			id = uuid.NewString()
		}
		c.Header(RequestIDHeader, id)
		ctx, _ := reqctx.With(c.Request.Context(), id)
		trace.SpanFromContext(ctx).SetAttributes(attribute.String("http.request.id", id))
		c.Request = c.Request.WithContext(ctx)
		c.Next()
	}
}

// routeOf is the matched route template, bounded in cardinality for metrics.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return "unmatched"
}

// accessLog records every request: a debug line at the start and a line at
// the end with method, route, status, duration, client IP and bytes.
func accessLog(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		start := time.Now()
		ctx := c.Request.Context()
		if log.Enabled(ctx, slog.LevelDebug) {
			log.DebugContext(ctx, "request started", "method", c.Request.Method, "path", c.Request.URL.Path, "client_ip", c.ClientIP())
		}
		c.Next()
		status := c.Writer.Status()
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(ctx, level, "request completed",
			slog.String("method", c.Request.Method),
			slog.String("route", routeOf(c)),
			slog.Int("status", status),
			slog.Duration("duration", time.Since(start)),
			slog.String("client_ip", c.ClientIP()),
			slog.Int("bytes", max(c.Writer.Size(), 0)))
	}
}

// recovery turns a panic into a logged stack and a 500 problem carrying the
// request ID. A client that went away (http.ErrAbortHandler) is not an error.
func recovery(log *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if err, ok := p.(error); ok && errors.Is(err, http.ErrAbortHandler) {
				c.Abort()
				return
			}
			ctx := c.Request.Context()
			log.ErrorContext(ctx, "panic while serving request", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			trace.SpanFromContext(ctx).SetAttributes(attribute.Bool("panic", true))
			writeProblem(c, log, apperr.New(apperr.Internal, "internal", internalDetail))
		}()
		c.Next()
	}
}

// securityHeaders sets the headers every response carries. The API serves
// JSON only, so its CSP forbids everything; the docs page needs its own
// scripts and styles and gets a CSP allowing exactly those. The header sets
// are built once: keys are canonical and values are full-capacity slices, so
// assigning them per request allocates nothing and a later Add copies.
func securityHeaders(hsts bool) gin.HandlerFunc {
	const apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	common := http.Header{}
	common.Set("X-Content-Type-Options", "nosniff")
	common.Set("X-Frame-Options", "DENY")
	common.Set("Referrer-Policy", "no-referrer")
	common.Set("Cross-Origin-Opener-Policy", "same-origin")
	common.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if hsts {
		common.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	api, docs := common.Clone(), common.Clone()
	api.Set("Content-Security-Policy", apiCSP)
	api.Set("Cache-Control", "no-store")
	docs.Set("Content-Security-Policy", docsCSP)
	return func(c *gin.Context) {
		set := api
		if strings.HasPrefix(c.Request.URL.Path, "/docs") {
			set = docs
		}
		h := c.Writer.Header()
		for k, v := range set {
			h[k] = v[:len(v):len(v)]
		}
		c.Next()
	}
}

// bodyLimit answers 413 at once when the declared length is too large and
// caps the bytes a handler can read when it is not declared.
func bodyLimit(log *slog.Logger, limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			writeProblem(c, log, apperr.New(apperr.TooLarge, "body_too_large",
				fmt.Sprintf("The request body is larger than the %d bytes the server accepts.", limit)))
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}
