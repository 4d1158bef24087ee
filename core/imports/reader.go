package imports

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// MaxRawBytes bounds the raw text of a rejected row that is kept, the
// "…" that marks a cut included.
const MaxRawBytes = 2048

// Record is one CSV record of an export: its fields, the line it starts
// on (1-based, counted in the file as uploaded: a quoted field with
// embedded newlines makes the next record start further down) and its raw
// text without the line ending.
type Record struct {
	Line   int
	Fields []string
	Raw    string
	// Unended: no line end follows the record, the file ends on it (a
	// complete last line without a final newline, or one cut off: the
	// parser rejects it when it has fewer fields than its header).
	Unended bool
}

// Blank reports whether every field is empty or spaces (a separator row).
func (r *Record) Blank() bool {
	for _, f := range r.Fields {
		if strings.TrimSpace(f) != "" {
			return false
		}
	}
	return true
}

// Reader is the one CSV reader every parser shares: encoding/csv over the
// file decoded to UTF-8 (a UTF-8 BOM is dropped; UTF-16 with a BOM, or
// without one when the first bytes look like it, is decoded), with lazy
// quotes, any number of fields per record, CR LF or LF line ends, and the
// delimiter sniffed from the first line (comma, else tab or semicolon).
// It streams: memory stays constant in the file's size (one record and
// the csv package's buffer).
type Reader struct {
	csv   *csv.Reader
	comma byte // the delimiter: a comma, tab or semicolon
	rec   *recorder
	prev  int64 // input offset where the next record starts
	err   error
	// After a runaway quote (see Next), sub reads the lines it swallowed,
	// numbered from subLine + 1; depth counts the runaways above this
	// reader. Past maxRunaways the lines are rejected one by one (lines),
	// so a file of stray quotes costs linear time, not quadratic.
	sub     *Reader
	subLine int
	depth   int
	// width is the most fields a record that fits on its line had so
	// far: a quoted field whose lines hold as many is a stray quote's.
	width  int
	lines  *string
	lineNo int // the last of lines rejected
}

// maxRunaways bounds the runaway quotes of one file that are recovered
// from by reading the lines after them as CSV again.
const maxRunaways = 16

// recorder keeps the decoded bytes from the start of the current record,
// so that Record.Raw is the text as the file had it.
type recorder struct {
	r    io.Reader
	buf  []byte
	base int64 // input offset of buf[0]
}

func (c *recorder) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.buf = append(c.buf, p[:n]...)
	return n, err
}

// cut returns the bytes in [from, to) and forgets everything before to.
func (c *recorder) cut(from, to int64) string {
	lo, hi := int(from-c.base), int(to-c.base)
	if lo < 0 {
		lo = 0
	}
	if hi > len(c.buf) {
		hi = len(c.buf)
	}
	if lo > hi {
		lo = hi
	}
	s := string(c.buf[lo:hi])
	n := copy(c.buf, c.buf[hi:])
	c.buf = c.buf[:n]
	c.base += int64(hi)
	return s
}

// NewReader prepares r for reading records.
func NewReader(r io.Reader) *Reader {
	br := bufio.NewReaderSize(r, 64<<10)
	var src io.Reader = br
	head, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		_, _ = br.Discard(3)
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}), bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		src = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	case len(head) == 4 && head[0] != 0 && head[1] == 0 && head[2] != 0 && head[3] == 0:
		src = transform.NewReader(br, unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM).NewDecoder())
	case len(head) == 4 && head[0] == 0 && head[1] != 0 && head[2] == 0 && head[3] != 0:
		src = transform.NewReader(br, unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM).NewDecoder())
	}
	dec := bufio.NewReaderSize(src, 64<<10)
	return newCSVReader(dec, sniffDelimiter(dec))
}

// newCSVReader reads records of UTF-8 text with the given delimiter.
func newCSVReader(src io.Reader, comma byte) *Reader {
	rec := &recorder{r: src}
	c := csv.NewReader(rec)
	c.Comma = rune(comma)
	c.FieldsPerRecord = -1
	c.LazyQuotes = true
	c.TrimLeadingSpace = comma != '\t'
	return &Reader{csv: c, rec: rec, comma: comma}
}

// sniffDelimiter looks at the decoded head of the file: a comma when the
// first lines have one, else a tab or a semicolon when they do.
func sniffDelimiter(r *bufio.Reader) byte {
	head, _ := r.Peek(4096)
	if bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}) { // a BOM inside UTF-16
		_, _ = r.Discard(3)
		head = head[3:]
	}
	counts := map[byte]int{}
	inQuote := false
	for _, b := range head {
		switch {
		case b == '"':
			inQuote = !inQuote
		case !inQuote && (b == ',' || b == '\t' || b == ';'):
			counts[b]++
		}
	}
	switch {
	case counts[','] > 0 && counts[','] >= counts['\t'] && counts[','] >= counts[';']:
		return ','
	case counts['\t'] >= counts[';'] && counts['\t'] > 0:
		return '\t'
	case counts[';'] > 0:
		return ';'
	}
	return ','
}

// Next returns the next record, io.EOF at the end. A record the csv
// package cannot read is returned with Err set (and no fields): the
// caller rejects its line and goes on.
//
// A quote that opens a field and is never closed (a stray " at the start
// of a field) would, with lazy quotes, make one field of every line to
// the end of the file, and those rows would vanish into it: a record that
// spans lines and ends inside its quoted field is such a runaway.
// Its first line is returned as an error (the caller rejects it, so a
// strict import fails) and the lines after it are read again on their
// own, with their own line numbers.
func (r *Reader) Next() (*Record, error) {
	if r.sub != nil {
		rec, err := r.sub.Next()
		if !errors.Is(err, io.EOF) {
			if rec != nil {
				rec.Line += r.subLine
			}
			var re *RecordError
			if errors.As(err, &re) {
				re.Line = rec.Line
			}
			return rec, err
		}
		r.sub = nil // the runaway ran to the end: nothing is left below
	}
	if r.lines != nil {
		return r.nextLine()
	}
	if r.err != nil {
		return nil, r.err
	}
	fields, err := r.csv.Read()
	end := r.csv.InputOffset()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			raw := trimEOL(r.rec.cut(r.prev, end))
			r.prev = end
			reason := pe.Err.Error()
			return &Record{Line: pe.StartLine, Raw: clip(raw)}, &RecordError{Line: pe.StartLine, Reason: reason}
		}
		r.err = err
		return nil, err
	}
	line, _ := r.csv.FieldPos(0)
	full := r.rec.cut(r.prev, end)
	raw := trimEOL(full)
	r.prev = end
	unended := !strings.HasSuffix(full, "\n")
	first, _, spans := strings.Cut(raw, "\n")
	unclosed, swallows := false, false
	if strings.IndexByte(raw, '"') >= 0 {
		unclosed, swallows = scanQuotes(raw, r.comma, r.csv.TrimLeadingSpace, r.width)
	}
	if spans && !unclosed && r.width > 0 && named(fields) > r.width {
		swallows = true // the fields after a later line's closing quote run past the width
	}
	if spans && (unclosed || swallows) {
		// The lines after the first, as the file has them (its line end
		// after the last one kept, so a cut there is seen again).
		_, rest, _ := strings.Cut(strings.TrimLeft(full, "\r\n"), "\n")
		r.sub, r.subLine = newCSVReader(strings.NewReader(rest), r.comma), line
		r.sub.depth, r.sub.width = r.depth+1, r.width
		if r.sub.depth > maxRunaways {
			r.sub.lines = &rest
		}
		reason := "a quote opens a field here and is never closed (the lines after it are read on their own)"
		if !unclosed {
			reason = "a quote opens a field here that only a quote on a later line closes (the lines after it are read on their own)"
		}
		return &Record{Line: line, Raw: clip(strings.TrimRight(first, "\r"))}, &RecordError{Line: line, Reason: reason}
	}
	if unclosed {
		// One line that ends inside a quoted field: only the end of the
		// file does that (a line end would have been read into the field).
		return &Record{Line: line, Raw: clip(raw), Unended: true},
			&RecordError{Line: line, Reason: "the file ends inside this row, in a quoted field (the file was cut off?)"}
	}
	if !spans {
		r.width = max(r.width, len(fields))
	}
	for i, f := range fields {
		if !utf8.ValidString(f) {
			fields[i] = strings.ToValidUTF8(f, "\uFFFD")
		}
	}
	return &Record{Line: line, Fields: fields, Raw: raw, Unended: unended}, nil
}

// scanQuotes reads a record's text as the csv package reads it with lazy
// quotes: a quote opens a field only at its start (after spaces when they
// are trimmed), "" is a quote inside one, and a quote closes it only
// before the delimiter, a line end or the end; any other quote is text (a
// bare quote). It reports whether the text ends inside a quoted field
// (unclosed), and whether a quoted field that spans lines looks like a
// stray quote that a later line's quote closed (swallows): it holds a
// bare quote (RFC 4180 doubles every quote inside a quoted field, and the
// opening quote of a later line's quoted field is bare in it), or one of
// its lines after the first, up to the closing quote, has width fields or
// more (a whole row of the file). width is the widest record read so far
// (0: none yet).
func scanQuotes(raw string, comma byte, trimSpace bool, width int) (unclosed, swallows bool) {
	in, start := false, true
	spans, bare, delims := false, false, 0 // of the quoted field being read
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		switch {
		case !in && c == '"' && start:
			in, start = true, false
			spans, bare, delims = false, false, 0
		case !in && (c == comma || c == '\n'):
			start = true
		case !in && (c == '\r' || (c == ' ' && trimSpace && start)):
		case !in:
			start = false
		case c == '"' && i+1 < len(raw) && raw[i+1] == '"':
			i++
		case c == '"' && (i+1 == len(raw) || raw[i+1] == comma || raw[i+1] == '\r' || raw[i+1] == '\n'):
			in = false
			if spans && (bare || width > 0 && delims+1 >= width) {
				swallows = true
			}
		case c == '"':
			bare = true
		case c == '\n':
			if spans && width > 0 && delims+1 >= width {
				swallows = true
			}
			spans, delims = true, 0
		case c == comma:
			delims++
		}
	}
	return in, swallows
}

// nextLine rejects the next of the lines left after too many runaway
// quotes, each with its own number.
func (r *Reader) nextLine() (*Record, error) {
	for *r.lines != "" {
		line, rest, _ := strings.Cut(*r.lines, "\n")
		*r.lines = rest
		r.lineNo++
		if raw := trimEOL(line); strings.TrimSpace(raw) != "" {
			return &Record{Line: r.lineNo, Raw: clip(raw)},
				&RecordError{Line: r.lineNo, Reason: fmt.Sprintf("not read as CSV: the file has more than %d quotes that are never closed", maxRunaways)}
		}
	}
	return nil, io.EOF
}

// RecordError is a record the CSV reader could not read.
type RecordError struct {
	Line   int
	Reason string
}

func (e *RecordError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

func trimEOL(s string) string {
	s = strings.Trim(s, "\r\n") // blank lines before the record, the line end after
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// clip removes NUL bytes and bounds s to MaxRawBytes.
func clip(s string) string {
	s = strings.ReplaceAll(s, "\x00", "") // no database text holds NUL
	if len(s) <= MaxRawBytes {
		return s
	}
	// The cut is marked with an ellipsis, within the cap, on a rune
	// boundary (s is valid UTF-8: see the reader).
	n := MaxRawBytes - len(clipMark)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + clipMark
}

// clipMark ends a raw text that clip cut.
const clipMark = "…"
