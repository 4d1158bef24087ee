package watermill

import (
	"encoding/json"
	"strconv"
	"strings"
)

// The message body is JSON (body), as written since the first release.
// Its decoding through encoding/json was a tenth of a worker's CPU, so the
// exact form json.Marshal gives it is written and read by hand; any other
// form (another field order, escapes, spaces) takes encoding/json, so
// every message ever written still reads the same.

// plainJSON reports whether s needs no escaping in JSON (json.Marshal
// escapes control characters, '"', '\\', and, for HTML, '<', '>' and
// '&'; non-ASCII is left to encoding/json too).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// encodeBody returns json.Marshal(b)'s bytes.
func encodeBody(b body) ([]byte, error) {
	if !plainJSON(b.JobID) || !plainJSON(b.Queue) || !plainJSON(b.Kind) {
		return json.Marshal(b)
	}
	out := make([]byte, 0, 48+len(b.JobID)+len(b.Queue)+len(b.Kind))
	out = append(out, `{"job_id":"`...)
	out = append(out, b.JobID...)
	out = append(out, `","seq":`...)
	out = strconv.AppendInt(out, int64(b.Seq), 10)
	out = append(out, `,"queue":"`...)
	out = append(out, b.Queue...)
	out = append(out, `","kind":"`...)
	out = append(out, b.Kind...)
	out = append(out, `"}`...)
	return out, nil
}

// decodeBody reads a message body.
func decodeBody(p []byte) (body, error) {
	if b, ok := decodePlainBody(string(p)); ok {
		return b, nil
	}
	var b body
	err := json.Unmarshal(p, &b)
	return b, err
}

// decodePlainBody reads the form encodeBody writes; false for any other.
func decodePlainBody(s string) (body, bool) {
	var b body
	var ok bool
	if s, ok = strings.CutPrefix(s, `{"job_id":"`); !ok {
		return b, false
	}
	if b.JobID, s, ok = strings.Cut(s, `"`); !ok || !plainJSON(b.JobID) {
		return b, false
	}
	if s, ok = strings.CutPrefix(s, `,"seq":`); !ok {
		return b, false
	}
	var seq string
	if seq, s, ok = strings.Cut(s, `,`); !ok {
		return b, false
	}
	n, err := strconv.Atoi(seq)
	if err != nil || strconv.Itoa(n) != seq {
		return b, false
	}
	b.Seq = n
	if s, ok = strings.CutPrefix(s, `"queue":"`); !ok {
		return b, false
	}
	if b.Queue, s, ok = strings.Cut(s, `"`); !ok || !plainJSON(b.Queue) {
		return b, false
	}
	if s, ok = strings.CutPrefix(s, `,"kind":"`); !ok {
		return b, false
	}
	if b.Kind, s, ok = strings.Cut(s, `"`); !ok || !plainJSON(b.Kind) || s != "}" {
		return b, false
	}
	return b, true
}
