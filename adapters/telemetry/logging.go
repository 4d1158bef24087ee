package telemetry

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/reqctx"
)

// Redacted replaces every value that must not reach a log.
const Redacted = "[REDACTED]"

// isSensitive reports whether key, already folded (lower case, '-' as
// '_'), is one whose values are never logged, wherever it appears. A
// switch rather than a map: Go compiles it to comparisons by length and
// content, cheaper than hashing the key for every attribute of every line.
func isSensitive(key string) bool {
	switch key {
	case "password", "new_password", "current_password", "passwd",
		"secret", "client_secret", "token", "access_token",
		"refresh_token", "id_token", "mfa_token", "authorization",
		"proxy_authorization", "cookie", "set_cookie", "api_key",
		"apikey", "x_api_key", "private_key", "backup_code",
		"otp", "totp", "dsn", "database_url", "redis_url",
		"smtp_url":
		return true
	}
	return false
}

// IsSensitiveKey reports whether values under key are redacted from logs
// (compared case-insensitively, with '-' folded to '_').
func IsSensitiveKey(key string) bool {
	if isSensitive(key) {
		return true
	}
	if !needsFolding(key) { // most keys: no allocation, no second lookup
		return false
	}
	return isSensitive(strings.ReplaceAll(strings.ToLower(key), "-", "_"))
}

// needsFolding reports whether key has a byte IsSensitiveKey folds: an
// upper-case or non-ASCII letter, or '-'.
func needsFolding(key string) bool {
	for i := 0; i < len(key); i++ {
		if c := key[i]; c == '-' || c >= 0x80 || (c >= 'A' && c <= 'Z') {
			return true
		}
	}
	return false
}

// NewLogger returns the process logger: JSON or text on w, with source
// locations, request correlation and redaction. Modules derive theirs with
// Component, so every line names the module that wrote it. When w can be
// flushed (a LogWriter), every warn or error line is flushed at once,
// with everything before it.
func NewLogger(cfg Config, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{
		AddSource:   true,
		Level:       cfg.LogLevel,
		ReplaceAttr: replaceAttr,
	}
	ch := contextHandler{}
	if f, ok := w.(flusher); ok {
		ch.flush = f
	}
	if cfg.LogFormat == "text" {
		ch.Handler = slog.NewTextHandler(w, opts)
	} else {
		// The JSON source object is built once per call site (sources)
		// rather than by slog for every line from the program counter
		// (runtime.CallersFrames and an allocation per line): the same
		// "source" object with function, file and line.
		opts.AddSource = false
		// Both writers of the lines (jsonLine for the common ones,
		// slog's handler for the rest) write through one lock, one
		// Write per line.
		lw := &lockedWriter{w: w}
		ch.Handler = slog.NewJSONHandler(lw, opts)
		ch.sources = new(sync.Map)
		ch.fast = &jsonLine{w: lw}
	}
	return slog.New(ch)
}

type flusher interface{ Flush() error }

// Component returns a logger for one module; its lines carry logger=name.
func Component(log *slog.Logger, name string) *slog.Logger {
	return log.With("logger", name)
}

func replaceAttr(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.SourceKey {
		if src, ok := a.Value.Any().(*slog.Source); ok {
			src.File = trimSourcePath(src.File)
		}
		return a
	}
	if IsSensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	if a.Value.Kind() == slog.KindString {
		if s := a.Value.String(); strings.Contains(s, "://") && strings.Contains(s, "@") {
			return slog.String(a.Key, redactURL(s))
		}
	}
	return a
}

// redactURL hides the password of a URL with user info, so a DSN that slips
// into a log line or an error message shows its host but not its secret.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
		return u.String()
	}
	return s
}

// modulePrefix is the directory of this module in the build, derived from this
// file's own path, so sources print relative to the repository root. With
// -trimpath paths are already module-relative and nothing is cut.
var modulePrefix = func() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file))) + string(filepath.Separator)
}()

func trimSourcePath(file string) string {
	if modulePrefix != "" {
		if rest, ok := strings.CutPrefix(file, modulePrefix); ok {
			return rest
		}
	}
	return file
}

// contextHandler adds the request and trace identity found in the record's
// context to every line, and the source of the JSON lines (sources: PC ->
// the "source" group's value, nil for the text format, where slog adds it).
type contextHandler struct {
	slog.Handler
	sources *sync.Map
	flush   flusher // nil unless the output buffers
	// fast writes the JSON lines it covers (nil: text, or after WithGroup
	// or WithAttrs attributes it does not cover).
	fast *jsonLine
}

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	// One AddAttrs call: the record grows its attribute slice once.
	var extra [5]slog.Attr
	n := 0
	var src *source
	if h.sources != nil {
		src = sourceOf(h.sources, r.PC)
		extra[n] = slog.Attr{Key: slog.SourceKey, Value: src.value}
		n++
	}
	if info := reqctx.From(ctx); info != nil {
		extra[n] = slog.String("request_id", info.RequestID)
		n++
		if uid := info.UserID(); uid != "" {
			extra[n] = slog.String("user_id", uid)
			n++
		}
	}
	// The trace and span IDs, in hex, come last: jsonLine appends them
	// from this buffer as they are (hex needs no escaping and replaceAttr
	// leaves both keys alone); only slog's handler needs them as strings.
	var ids [48]byte
	var hexIDs []byte
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		tid, sid := sc.TraceID(), sc.SpanID()
		hex.Encode(ids[:32], tid[:])
		hex.Encode(ids[32:], sid[:])
		hexIDs = ids[:]
	}
	var err error
	done := false
	if h.fast != nil && (src == nil || src.json != nil) {
		// The source object (extra[0]) is appended as encoded once for
		// its call site, not encoded again on every line.
		var pre []byte
		rest := extra[:n]
		if src != nil {
			pre, rest = src.json, extra[1:n]
		}
		done, err = h.fast.write(&r, pre, rest, hexIDs)
	}
	if !done {
		if hexIDs != nil {
			// Both IDs in one string: one allocation instead of two.
			both := string(hexIDs)
			extra[n], extra[n+1] = slog.String("trace_id", both[:32]), slog.String("span_id", both[32:])
			n += 2
		}
		r.AddAttrs(extra[:n]...)
		err = h.Handler.Handle(ctx, r)
	}
	if h.flush != nil && r.Level >= slog.LevelWarn {
		if ferr := h.flush.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	h.Handler = h.Handler.WithAttrs(attrs)
	if h.fast != nil && len(attrs) > 0 {
		prefix, ok := slices.Clip(h.fast.prefix), true
		for _, a := range attrs {
			if prefix, ok = appendAttr(prefix, nil, a, false); !ok {
				break
			}
		}
		if ok {
			h.fast = &jsonLine{w: h.fast.w, prefix: prefix}
		} else {
			h.fast = nil // slog's handler writes this logger's lines
		}
	}
	return h
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	h.Handler = h.Handler.WithGroup(name)
	if name != "" {
		h.fast = nil // jsonLine writes no groups of the handler
	}
	return h
}

// source is the "source" attribute of one call site: its value for
// slog's handler and, for jsonLine, the attribute as appendAttr encodes
// it (nil when appendAttr cannot: then slog's handler writes the line).
type source struct {
	value slog.Value
	json  []byte
}

// sourceOf is the "source" of a line logged from pc, as slog's AddSource
// writes it (function, file relative to the module, line), computed and
// encoded once per call site.
func sourceOf(cache *sync.Map, pc uintptr) *source {
	if v, ok := cache.Load(pc); ok {
		return v.(*source)
	}
	var as []slog.Attr
	if pc != 0 {
		f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
		if f.Function != "" {
			as = append(as, slog.String("function", f.Function))
		}
		if f.File != "" {
			as = append(as, slog.String("file", trimSourcePath(f.File)))
		}
		if f.Line != 0 {
			as = append(as, slog.Int("line", f.Line))
		}
	}
	src := &source{value: slog.GroupValue(as...)}
	if enc, ok := appendAttr(nil, nil, slog.Attr{Key: slog.SourceKey, Value: src.value}, false); ok {
		src.json = enc
	}
	cache.Store(pc, src)
	return src
}
