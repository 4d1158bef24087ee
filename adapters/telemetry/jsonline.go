package telemetry

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// jsonLine writes the common JSON lines (the access log's above all)
// without slog's general machinery: the same bytes slog.JSONHandler with
// replaceAttr writes (TestJSONLineMatchesSlog compares them), appended
// into a pooled buffer. It covers a line whose attributes, after
// replaceAttr, are strings, integers, booleans, durations or non-empty
// groups of those, with non-empty keys, and a standard level; for
// anything else (floats, times, errors, any other value, empty groups or
// keys, a handler with a group) encode reports false and the line goes
// to slog.JSONHandler, which writes to the same locked writer.
type jsonLine struct {
	w *lockedWriter
	// prefix is the handler's WithAttrs attributes, encoded (",k":v...).
	prefix []byte
}

// lockedWriter serialises the lines of both writers of a logger, one
// Write per line, as slog.JSONHandler's own mutex does for its lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// maxPooledLine is slog's bound on the buffers it keeps for reuse.
const maxPooledLine = 16 << 10

// write encodes r, then pre (attributes already encoded, ",k":v...),
// then extra, then the trace and span IDs (hexIDs: 32 and 16 hex digits,
// or nil for none) as one line and writes it; false (and nothing
// written) when the line is outside what jsonLine covers.
func (j *jsonLine) write(r *slog.Record, pre []byte, extra []slog.Attr, hexIDs []byte) (bool, error) {
	bp := linePool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= maxPooledLine {
			linePool.Put(bp)
		}
	}()
	buf, ok := j.encode((*bp)[:0], r, pre, extra, hexIDs)
	*bp = buf
	if !ok {
		return false, nil
	}
	_, err := j.w.Write(buf)
	return true, err
}

func (j *jsonLine) encode(buf []byte, r *slog.Record, pre []byte, extra []slog.Attr, hexIDs []byte) ([]byte, bool) {
	var level string
	switch r.Level {
	case slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError:
		level = r.Level.String()
	default:
		return buf, false
	}
	if r.Time.IsZero() {
		return buf, false
	}
	// The built-in keys go through replaceAttr as slog passes them: the
	// time and the level as they are (replaceAttr leaves both alone:
	// neither key is sensitive nor either value a string), the message
	// as a string.
	if IsSensitiveKey(slog.TimeKey) || IsSensitiveKey(slog.LevelKey) {
		return buf, false
	}
	t := r.Time.Round(0)
	if y := t.Year(); y < 0 || y >= 10000 {
		return buf, false
	}
	buf = append(buf, `{"time":"`...)
	buf = t.AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `","level":"`...)
	buf = append(buf, level...)
	buf = append(buf, '"')
	buf, ok := appendAttr(buf, nil, slog.String(slog.MessageKey, r.Message), false)
	if !ok {
		return buf, false
	}
	buf = append(buf, j.prefix...)
	r.Attrs(func(a slog.Attr) bool {
		buf, ok = appendAttr(buf, nil, a, false)
		return ok
	})
	if !ok {
		return buf, false
	}
	buf = append(buf, pre...)
	for _, a := range extra {
		if buf, ok = appendAttr(buf, nil, a, false); !ok {
			return buf, false
		}
	}
	if len(hexIDs) == 48 {
		// What appendAttr writes for slog.String("trace_id", hex) and
		// slog.String("span_id", hex): neither key is sensitive, and hex
		// needs no escaping nor redaction.
		buf = append(buf, `,"trace_id":"`...)
		buf = append(buf, hexIDs[:32]...)
		buf = append(buf, `","span_id":"`...)
		buf = append(buf, hexIDs[32:]...)
		buf = append(buf, '"')
	}
	return append(buf, "}\n"...), true
}

// appendAttr appends "key":value for a, in groups, preceded by a comma
// unless first, as slog's JSON handler does (value resolved, replaceAttr
// applied to a non-group).
func appendAttr(buf []byte, groups []string, a slog.Attr, first bool) ([]byte, bool) {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() != slog.KindGroup {
		a = replaceAttr(groups, a)
		a.Value = a.Value.Resolve()
	}
	if a.Key == "" {
		return buf, false
	}
	if !first {
		buf = append(buf, ',')
	}
	buf = append(buf, '"')
	buf = appendEscaped(buf, a.Key)
	buf = append(buf, '"', ':')
	v := a.Value
	switch v.Kind() {
	case slog.KindString:
		buf = append(buf, '"')
		buf = appendEscaped(buf, v.String())
		buf = append(buf, '"')
	case slog.KindInt64:
		buf = strconv.AppendInt(buf, v.Int64(), 10)
	case slog.KindUint64:
		buf = strconv.AppendUint(buf, v.Uint64(), 10)
	case slog.KindBool:
		buf = strconv.AppendBool(buf, v.Bool())
	case slog.KindDuration:
		buf = strconv.AppendInt(buf, int64(v.Duration()), 10)
	case slog.KindGroup:
		as := v.Group()
		if len(as) == 0 {
			return buf, false
		}
		gs := append(groups[:len(groups):len(groups)], a.Key)
		buf = append(buf, '{')
		for i, c := range as {
			var ok bool
			if buf, ok = appendAttr(buf, gs, c, i == 0); !ok {
				return buf, false
			}
		}
		buf = append(buf, '}')
	default:
		return buf, false
	}
	return buf, true
}

// appendEscaped is slog's appendEscapedJSONString (log/slog/json_handler.go,
// itself encoding/json's string encoder without HTML escaping): the
// inside of a JSON string for s.
func appendEscaped(buf []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if jsonSafe(b) {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\')
			switch b {
			case '\\', '"':
				buf = append(buf, b)
			case '\n':
				buf = append(buf, 'n')
			case '\r':
				buf = append(buf, 'r')
			case '\t':
				buf = append(buf, 't')
			default:
				buf = append(buf, 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\u202`...)
			buf = append(buf, hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(buf, s[start:]...)
}

const hexDigits = "0123456789abcdef"

// jsonSafe: an ASCII byte that needs no escape inside a JSON string
// (encoding/json's safeSet: printable, not '"' or '\\').
func jsonSafe(b byte) bool { return b >= 0x20 && b != '"' && b != '\\' && b < utf8.RuneSelf }
