package httpapi

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/reqctx"
)

// RequestIDHeader carries the request ID in and out.
const RequestIDHeader = "X-Request-ID"

// requestIDKey is RequestIDHeader in net/http's canonical form, the key
// of its header maps.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// newRequestID is a random (version 4) UUID, the request ID of a request
// that came without a sane one. Its bits come from math/rand/v2's
// per-thread ChaCha8 generator, seeded by the operating system, rather
// than from crypto/rand: a request ID names a request in logs and
// answers, it is neither a secret nor a capability, and a system call
// per request is most of uuid.New's cost.
func newRequestID() string {
	var u uuid.UUID
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64()) // #nosec G404 -- an identifier, not a secret
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64()) // #nosec G404 -- an identifier, not a secret
	u[6] = u[6]&0x0f | 0x40                             // version 4
	u[8] = u[8]&0x3f | 0x80                             // RFC 4122 variant
	return u.String()
}

// headerCarrier is propagation.HeaderCarrier without the allocation of
// http.Header.Get for a key that is not in canonical form (the W3C
// "traceparent", "tracestate" and "baggage" the propagators ask for): the
// key is canonicalised into a stack buffer and looked up as is, which Go
// does without allocating. Set and Keys are propagation.HeaderCarrier's.
type headerCarrier http.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (hc headerCarrier) Get(key string) string {
	var buf [64]byte
	if k, ok := canonicalKey(buf[:0], key); ok {
		if v := hc[string(k)]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	return propagation.HeaderCarrier(hc).Get(key)
}

func (hc headerCarrier) Set(key, value string) { propagation.HeaderCarrier(hc).Set(key, value) }

func (hc headerCarrier) Keys() []string { return propagation.HeaderCarrier(hc).Keys() }

// canonicalKey appends key in the form textproto.CanonicalMIMEHeaderKey
// gives it (upper case first and after each '-', lower case elsewhere),
// for a key of letters, digits and '-' that fits buf; ok is false for any
// other key, which the caller hands to net/http instead.
func canonicalKey(buf []byte, key string) ([]byte, bool) {
	if key == "" || len(key) > cap(buf) {
		return nil, false
	}
	upper := true
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z':
			if upper {
				c -= 'a' - 'A'
			}
		case c >= 'A' && c <= 'Z':
			if !upper {
				c += 'a' - 'A'
			}
		case c >= '0' && c <= '9', c == '-':
		default:
			return nil, false
		}
		buf = append(buf, c)
		upper = c == '-'
	}
	return buf, true
}

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

// observe is the outermost middleware. It names the request (a sane
// X-Request-ID is honoured, otherwise one is generated, and it is echoed),
// opens the request's server span under the caller's W3C trace context,
// installs the request record that logs read, and when the chain returns
// records the RED metrics by route and writes the access log: a debug line
// at the start, a line at the end with method, route, status, duration,
// client IP and bytes.
//
// It replaces otelgin: one middleware computes the client address and the
// route once for the span, the metrics and the log, caches the metric
// attribute sets per route and status, and leaves c.Request alone after the
// chain returns (otelgin rewrites it, which races with handlers that keep
// the context). See BenchmarkMiddlewareChain.
//
// A request whose client went away before the answer (its context
// cancelled while the chain ran) is recorded with status 499, the
// de-facto "client closed request", at info level and without span error,
// whatever the handler made of the cancellation: it is not a server
// error, and must not count as one on dashboards and alerts. A response
// quiet reports as expected (a 503 of a draining readiness probe) is
// logged at info too.
func observe(log *slog.Logger, tp trace.TracerProvider, prop propagation.TextMapPropagator, mp metric.MeterProvider, quiet func(route string, status int) bool) (gin.HandlerFunc, error) {
	tracer := tp.Tracer(instrumentation)
	duration, err := mp.Meter(instrumentation).Float64Histogram("http.server.request.duration",
		metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP server requests."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
	if err != nil {
		return nil, fmt.Errorf("request duration histogram: %w", err)
	}
	var attrSets sync.Map // redKey -> []metric.RecordOption
	var accessPC atomic.Uintptr
	var spanNames sync.Map // routeKey -> string
	// The options are passed as prebuilt slices, shared read-only: a
	// variadic argument of an interface method escapes, so a literal
	// list would be a new slice on every request.
	serverKind := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer)}
	return func(c *gin.Context) {
		start := time.Now()
		// Header maps are read and written with canonical keys directly:
		// Get and Set would canonicalise "X-Request-ID" (an allocation)
		// on every request.
		var id string
		if v := c.Request.Header[requestIDKey]; len(v) > 0 {
			id = v[0]
		}
		if !saneRequestID(id) {
			id = newRequestID()
		}
		c.Writer.Header()[requestIDKey] = []string{id}
		method, route, clientIP := c.Request.Method, routeOf(c), c.ClientIP()

		ctx := prop.Extract(c.Request.Context(), headerCarrier(c.Request.Header))
		// The client facts identity reads (sessions, limits, mails,
		// identity.ClientMetaFrom) go into the same request record: one
		// client address, one context value and one request copy per
		// request.
		ctx, _ = reqctx.WithClient(ctx, id, clientIP, c.Request.UserAgent())
		spanName := spanNameOf(&spanNames, method, route)
		// The attributes go on only when the span records (sampled, and an
		// exporter configured): the samplers in use decide on the trace
		// ID and the parent alone, so they need not see them at Start.
		ctx, span := tracer.Start(ctx, spanName, serverKind...)
		if span.IsRecording() {
			span.SetAttributes(
				attribute.String("http.request.method", method),
				attribute.String("http.route", route),
				attribute.String("url.path", c.Request.URL.Path),
				attribute.String("client.address", clientIP),
				attribute.String("user_agent.original", c.Request.UserAgent()),
				attribute.String("http.request.id", id))
		}
		c.Request = c.Request.WithContext(ctx)
		if log.Enabled(ctx, slog.LevelDebug) {
			log.DebugContext(ctx, "request started", "method", method, "path", c.Request.URL.Path, "client_ip", clientIP)
		}

		c.Next()

		status := c.Writer.Status()
		end := time.Now()
		elapsed := end.Sub(start)
		msg, level := "request completed", slog.LevelInfo
		switch {
		case ClientGone(ctx):
			status, msg = StatusClientClosedRequest, "request canceled by the client"
		case status >= 500 && c.GetBool(shedKey):
			level = slog.LevelWarn // load shed on purpose (writeProblem)
		case status >= 500 && (quiet == nil || !quiet(route, status)):
			level = slog.LevelError
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		if span.IsRecording() {
			span.SetAttributes(attribute.Int("http.response.status_code", status))
		}
		span.End()
		duration.Record(ctx, elapsed.Seconds(), redAttributes(&attrSets, method, route, status)...)
		// The access line is the record log.LogAttrs would make, with
		// the end time already read and the call site's program counter
		// taken once rather than from the stack on every request.
		if h := log.Handler(); h.Enabled(ctx, level) {
			pc := accessPC.Load()
			if pc == 0 {
				var pcs [1]uintptr
				runtime.Callers(1, pcs[:]) // the source of the access line: here
				pc = pcs[0]
				accessPC.Store(pc)
			}
			r := slog.NewRecord(end, level, msg, pc)
			r.AddAttrs(
				slog.String("method", method),
				slog.String("route", route),
				slog.Int("status", status),
				slog.Duration("duration", elapsed),
				slog.String("client_ip", clientIP),
				slog.Int("bytes", max(c.Writer.Size(), 0)))
			_ = h.Handle(ctx, r) // as log.LogAttrs: a failed log write is not the request's error
		}
	}, nil
}

const instrumentation = "github.com/tradesense/tradesense/adapters/httpapi"

// StatusClientClosedRequest is the status recorded (in logs, metrics and
// spans; the client never sees it) for a request whose client went away
// before it was answered: nginx's 499.
const StatusClientClosedRequest = 499

// ClientGone reports whether ctx, a request's context, was cancelled:
// net/http cancels it when the client closes the connection (or an
// HTTP/2 stream) while the handler runs. Deadlines are not cancellations.
func ClientGone(ctx context.Context) bool {
	return errors.Is(ctx.Err(), context.Canceled)
}

// unmatched is the route of requests no route matched (404, 405).
const unmatched = "unmatched"

// routeOf is the matched route template, bounded in cardinality for metrics.
func routeOf(c *gin.Context) string {
	if r := c.FullPath(); r != "" {
		return r
	}
	return unmatched
}

// spanNameOf is the server span's name, "METHOD route" ("METHOD" alone
// for an unmatched request), built once per standard method and route
// (templates: bounded) rather than concatenated on every request; any
// other method is concatenated each time and not kept.
func spanNameOf(cache *sync.Map, method, route string) string {
	if route == unmatched {
		return method
	}
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		return method + " " + route
	}
	k := routeKey{method, route}
	if name, ok := cache.Load(k); ok {
		return name.(string)
	}
	name := method + " " + route
	cache.Store(k, name)
	return name
}

type redKey struct {
	method, route string
	status        int
}

// redAttributes returns the record options (the metric attributes) of
// one method, route and status, built once per combination and shared
// read-only by every request of it. Cardinality is bounded: routes are
// templates (or "unmatched") and any method outside the standard set is
// folded into _OTHER, as OpenTelemetry's conventions say.
func redAttributes(cache *sync.Map, method, route string, status int) []metric.RecordOption {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
	default:
		method = "_OTHER"
	}
	k := redKey{method, route, status}
	if opts, ok := cache.Load(k); ok {
		return opts.([]metric.RecordOption)
	}
	opts := []metric.RecordOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("http.request.method", method),
		attribute.String("http.route", route),
		attribute.Int("http.response.status_code", status)))}
	cache.Store(k, opts)
	return opts
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
	const docsCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	api, docs := apiSecurityHeaders(hsts), commonSecurityHeaders(hsts)
	docs.Set("Content-Security-Policy", docsCSP)
	// Kept as lists of pairs: assigning from a slice is a plain loop,
	// ranging over a map is the map iterator's work on every request.
	apiSet, docsSet := headerPairs(api), headerPairs(docs)
	return func(c *gin.Context) {
		set := apiSet
		if strings.HasPrefix(c.Request.URL.Path, "/docs") {
			set = docsSet
		}
		h := c.Writer.Header()
		for _, kv := range set {
			h[kv.key] = kv.values
		}
		c.Next()
	}
}

// commonSecurityHeaders are the headers every response carries, the
// docs page's included.
func commonSecurityHeaders(hsts bool) http.Header {
	h := http.Header{}
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if hsts {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	return h
}

// apiSecurityHeaders are those of every API answer: the common ones, a
// CSP that forbids everything (the API serves JSON only) and no caching.
// net/http's own answers (netHTTPProblem) carry them too.
func apiSecurityHeaders(hsts bool) http.Header {
	h := commonSecurityHeaders(hsts)
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	h.Set("Cache-Control", "no-store")
	return h
}

type headerPair struct {
	key    string
	values []string
}

// headerPairs lists h in key order with full-capacity value slices, so
// that a later Add to a response's header copies instead of writing into
// the shared array.
func headerPairs(h http.Header) []headerPair {
	out := make([]headerPair, 0, len(h))
	for _, k := range slices.Sorted(maps.Keys(h)) {
		v := h[k]
		out = append(out, headerPair{k, v[:len(v):len(v)]})
	}
	return out
}

// bodyLimit answers 413 at once when the declared length is too large and
// caps the bytes a handler can read when it is not declared. Upload
// routes (routes.go) may read uploadLimit; routes in larger (method and
// Gin path: the broker imports) have their own cap.
func bodyLimit(log *slog.Logger, bodyLimit, uploadLimit int64, routes routeTable, larger map[routeKey]int64) gin.HandlerFunc {
	if uploadLimit <= 0 {
		uploadLimit = bodyLimit
	}
	return func(c *gin.Context) {
		limit := bodyLimit
		if r := routes.of(c); r != nil && r.upload {
			limit = uploadLimit
		}
		if l, ok := larger[routeKey{c.Request.Method, c.FullPath()}]; ok {
			limit = l
		}
		if c.Request.ContentLength > limit {
			writeProblem(c, log, errTooLarge(nil, fmt.Sprintf("The request body is larger than the %d bytes the server accepts.", limit)))
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}

// corsGate answers a cross-origin request from an origin that is not
// allowed with a 403 problem. gin-contrib/cors, which serves the allowed
// ones, answers that refusal with an empty body; this runs before it with
// the same rule: no Origin, or the request's own host (a same-origin fetch
// still sends Origin), is not a cross-origin request; otherwise the origin
// must be one of the exact allowed origins.
func corsGate(log *slog.Logger, allowed []string) gin.HandlerFunc {
	ok := make(map[string]bool, len(allowed))
	for _, o := range allowed {
		ok[o] = true
	}
	return func(c *gin.Context) {
		origin := c.GetHeader("Origin")
		host := c.Request.Host
		if origin == "" || ok[origin] || origin == "http://"+host || origin == "https://"+host {
			c.Next()
			return
		}
		writeProblem(c, log, errOriginRefused())
	}
}
