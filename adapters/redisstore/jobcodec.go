package redisstore

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// The job record's stored form. Records were JSON (jobRow) until
// 2026-12; they are now written in a compact binary form, appended field
// by field without reflection: encoding and decoding the JSON was a
// quarter of a worker's CPU (every start and every finish decodes and
// re-encodes the whole record). Both forms are read, told apart by the
// first byte (JSON records start with '{'), so records written before the
// change, and still unexpired, keep working.
//
// Binary form, version 1: the byte recordV1, then the fields of jobRow in
// declaration order. Strings and byte fields are a uvarint length and the
// bytes; the optional byte fields (payload, progress, result) store
// length+1, 0 for nil, so nil and empty stay apart. Integers are varints,
// booleans one byte, times as appendTime writes them. Errors and Trace are
// a uvarint count and their entries (Trace sorted by key).
//
// The Lua scripts only compare a record's bytes, never parse it, so the
// form is the adapter's own business. A rolling upgrade must start the
// new workers before new producers write binary records (a worker of the
// previous release cannot decode them: it leaves their messages pending,
// which are retried, not lost, but stall until a new worker takes them).
const recordV1 = 0x01

// encodeJob returns j's stored form.
func encodeJob(j *jobs.Job) []byte {
	n := 64 + len(j.ID) + len(j.Kind) + len(j.Queue) + len(j.Payload) + len(j.Owner) + len(j.IdempotencyKey) +
		len(j.Worker) + len(j.Error) + len(j.Progress) + len(j.Result) + 7*11
	for _, e := range j.Errors {
		n += len(e.Error) + 16
	}
	for k, v := range j.Trace {
		n += len(k) + len(v) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, recordV1)
	b = appendString(b, j.ID)
	b = appendString(b, j.Kind)
	b = appendString(b, j.Queue)
	b = appendOptBytes(b, j.Payload)
	b = appendString(b, j.Owner)
	b = appendString(b, j.IdempotencyKey)
	b = appendString(b, string(j.State))
	b = binary.AppendVarint(b, int64(j.Attempt))
	b = binary.AppendVarint(b, int64(j.MaxRetries))
	b = binary.AppendVarint(b, int64(j.Seq))
	b = binary.AppendVarint(b, j.SoftTimeout.Milliseconds())
	b = binary.AppendVarint(b, j.HardTimeout.Milliseconds())
	b = appendTime(b, j.RunAt)
	b = appendBool(b, j.Scheduled)
	b = appendTime(b, j.TimerAt)
	b = appendTime(b, j.CreatedAt)
	b = appendTime(b, j.UpdatedAt)
	b = appendTime(b, j.StartedAt)
	b = appendTime(b, j.FinishedAt)
	b = appendTime(b, j.ExpiresAt)
	b = appendString(b, j.Worker)
	b = appendString(b, j.Error)
	b = binary.AppendUvarint(b, uint64(len(j.Errors)))
	for _, e := range j.Errors {
		b = binary.AppendVarint(b, int64(e.Attempt))
		b = appendTime(b, e.At)
		b = appendString(b, e.Error)
	}
	b = appendOptBytes(b, j.Progress)
	b = appendOptBytes(b, j.Result)
	b = binary.AppendUvarint(b, uint64(len(j.Trace)))
	switch len(j.Trace) {
	case 0:
	case 1:
		for k, v := range j.Trace {
			b = appendString(appendString(b, k), v)
		}
	default:
		keys := make([]string, 0, len(j.Trace))
		for k := range j.Trace {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b = appendString(appendString(b, k), j.Trace[k])
		}
	}
	return b
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// appendOptBytes stores nil, and like the JSON form (omitempty) an empty
// value, as 0.
func appendOptBytes(b []byte, p []byte) []byte {
	if len(p) == 0 {
		return append(b, 0)
	}
	return append(binary.AppendUvarint(b, uint64(len(p))+1), p...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendTime stores the zero time as the single byte 0, any other time
// as a flag byte (1: seconds ≥ 0, 2: negative), the absolute Unix seconds
// (uvarint) and the nanoseconds (varint). Times are read back in UTC, as the
// JSON form read them (the job system keeps UTC times).
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	s := t.Unix()
	if s >= 0 {
		b = append(b, 1)
		b = binary.AppendUvarint(b, uint64(s))
	} else {
		b = append(b, 2)
		b = binary.AppendUvarint(b, uint64(-s))
	}
	return binary.AppendVarint(b, int64(t.Nanosecond()))
}

// decodeJob reads a stored record in either form.
func decodeJob(raw string) (*jobs.Job, error) {
	if len(raw) > 0 && raw[0] == recordV1 {
		j, err := decodeBinary(raw)
		if err != nil {
			return nil, apperr.Wrap(err, apperr.Internal, "job_decode", "a stored job does not decode")
		}
		return j, nil
	}
	var r jobRow
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return nil, apperr.Wrap(err, apperr.Internal, "job_decode", "a stored job does not decode")
	}
	return r.job(), nil
}

var errShortRecord = errors.New("job record truncated or malformed")

// reader walks a binary record; the first error sticks.
type reader struct {
	s   string
	err error
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	var v uint64
	var shift uint
	for i := 0; i < len(r.s); i++ {
		c := r.s[i]
		if i == binary.MaxVarintLen64 {
			break
		}
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break
			}
			r.s = r.s[i+1:]
			return v | uint64(c)<<shift
		}
		v |= uint64(c&0x7f) << shift
		shift += 7
	}
	r.err = errShortRecord
	return 0
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) int() int {
	v := r.varint()
	if v > math.MaxInt32 || v < math.MinInt32 {
		r.err = errShortRecord
		return 0
	}
	return int(v)
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.s) == 0 {
		r.err = errShortRecord
		return 0
	}
	c := r.s[0]
	r.s = r.s[1:]
	return c
}

// take returns the next n bytes.
func (r *reader) take(n uint64) string {
	if n > uint64(len(r.s)) {
		r.err = errShortRecord
		return ""
	}
	s := r.s[:n]
	r.s = r.s[n:]
	return s
}

func (r *reader) string() string {
	n := r.uvarint()
	if r.err != nil {
		return ""
	}
	return r.take(n)
}

func (r *reader) optBytes() json.RawMessage {
	n := r.uvarint()
	if r.err != nil || n == 0 {
		return nil
	}
	s := r.take(n - 1)
	if r.err != nil {
		return nil
	}
	return []byte(s)
}

func (r *reader) bool() bool { return r.byte() == 1 }

func (r *reader) time() time.Time {
	flag := r.byte()
	if flag == 0 {
		return time.Time{}
	}
	if flag > 2 {
		r.err = errShortRecord
		return time.Time{}
	}
	s := r.uvarint()
	ns := r.varint()
	if s > math.MaxInt64 || ns < 0 || ns >= 1e9 {
		r.err = errShortRecord
		return time.Time{}
	}
	sec := int64(s)
	if flag == 2 {
		sec = -sec
	}
	return time.Unix(sec, ns).UTC()
}

// count reads a collection's length, bounded by what is left (every
// entry takes at least one byte).
func (r *reader) count() int {
	n := r.uvarint()
	if n > math.MaxInt32 || n > uint64(len(r.s)) {
		r.err = errShortRecord
		return 0
	}
	return int(n)
}

func decodeBinary(raw string) (*jobs.Job, error) {
	r := &reader{s: raw[1:]}
	j := &jobs.Job{}
	// The strings share raw's memory: one allocation for all of them.
	j.ID = r.string()
	j.Kind = r.string()
	j.Queue = r.string()
	j.Payload = r.optBytes()
	j.Owner = r.string()
	j.IdempotencyKey = r.string()
	j.State = jobs.State(r.string())
	j.Attempt = r.int()
	j.MaxRetries = r.int()
	j.Seq = r.int()
	j.SoftTimeout = time.Duration(r.varint()) * time.Millisecond
	j.HardTimeout = time.Duration(r.varint()) * time.Millisecond
	j.RunAt = r.time()
	j.Scheduled = r.bool()
	j.TimerAt = r.time()
	j.CreatedAt = r.time()
	j.UpdatedAt = r.time()
	j.StartedAt = r.time()
	j.FinishedAt = r.time()
	j.ExpiresAt = r.time()
	j.Worker = r.string()
	j.Error = r.string()
	if n := r.count(); n > 0 {
		j.Errors = make([]jobs.AttemptError, n)
		for i := range j.Errors {
			j.Errors[i] = jobs.AttemptError{Attempt: r.int(), At: r.time(), Error: r.string()}
		}
	}
	j.Progress = r.optBytes()
	j.Result = r.optBytes()
	if n := r.count(); n > 0 {
		j.Trace = make(map[string]string, n)
		for range n {
			k := r.string()
			j.Trace[k] = r.string()
		}
	}
	if r.err == nil && len(r.s) != 0 {
		r.err = errShortRecord
	}
	if r.err != nil {
		return nil, r.err
	}
	return j, nil
}
