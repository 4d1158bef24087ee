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

// MaxRawBytes bounds the raw text of a rejected row that is kept.
const MaxRawBytes = 2048

// Record is one CSV record of an export: its fields, the line it starts
// on (1-based, counted in the file as uploaded: a quoted field with
// embedded newlines makes the next record start further down) and its raw
// text without the line ending.
type Record struct {
	Line   int
	Fields []string
	Raw    string
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
	csv  *csv.Reader
	rec  *recorder
	prev int64 // input offset where the next record starts
	err  error
}

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
	comma := sniffDelimiter(dec)
	rec := &recorder{r: dec}
	c := csv.NewReader(rec)
	c.Comma = comma
	c.FieldsPerRecord = -1
	c.LazyQuotes = true
	c.TrimLeadingSpace = comma != '\t'
	return &Reader{csv: c, rec: rec}
}

// sniffDelimiter looks at the decoded head of the file: a comma when the
// first lines have one, else a tab or a semicolon when they do.
func sniffDelimiter(r *bufio.Reader) rune {
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
func (r *Reader) Next() (*Record, error) {
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
	raw := trimEOL(r.rec.cut(r.prev, end))
	r.prev = end
	for i, f := range fields {
		if !utf8.ValidString(f) {
			fields[i] = strings.ToValidUTF8(f, "\uFFFD")
		}
	}
	return &Record{Line: line, Fields: fields, Raw: raw}, nil
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

func clip(s string) string {
	s = strings.ReplaceAll(s, "\x00", "") // no database text holds NUL
	if len(s) <= MaxRawBytes {
		return s
	}
	s = s[:MaxRawBytes]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…"
}
