package sqlstore

import (
	"encoding/binary"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// numericBody returns the binary numeric of a copyDec field (its length
// checked and stripped).
func numericBody(t testing.TB, field []byte) []byte {
	t.Helper()
	if len(field) < 4 {
		t.Fatalf("field of %d bytes", len(field))
	}
	n := int(binary.BigEndian.Uint32(field))
	if n != len(field)-4 {
		t.Fatalf("field length %d, body %d bytes", n, len(field)-4)
	}
	return field[4:]
}

// TestNumericBinaryRoundTrip needs no database: the binary numeric copyDec
// sends decodes, with numericText, to the text trading.AppendDecimal
// writes for the same decimal (TestNumericTextIsNumericOut pins
// numericText to PostgreSQL's own numeric_out, with services). Shapes:
// decimalShapes, a few trailing zeros and signs more, and 2,000 random
// decimals.
func TestNumericBinaryRoundTrip(t *testing.T) {
	shapes := append([]string{"0.00000000", "-10000.0001", "-0.000000000000000001", "0.10000", "-5.50",
		"99999999.9999", "100000000.00000001", "42.4200"}, decimalShapes...)
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		coef := r.Int64N(1<<62) >> r.IntN(62)
		if r.IntN(2) == 0 {
			coef = -coef
		}
		shapes = append(shapes, decimal.New(coef, -int32(r.IntN(21))).String())
	}
	for _, s := range shapes {
		d, err := decimal.NewFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		want := string(trading.AppendDecimal(nil, d))
		got, err := numericText(nil, numericBody(t, copyDec(nil, d)))
		if err != nil || string(got) != want {
			t.Fatalf("%s: numericText(copyDec) = %q, %v; want %q", s, got, err, want)
		}
	}
	if got := copyNullDec(nil, decimal.NullDecimal{}); string(got) != "\xff\xff\xff\xff" {
		t.Fatalf("NULL numeric = %x", got)
	}
	if got, err := numericText(nil, numericBody(t, copyNullDec(nil, decimal.NewNullDecimal(decimal.RequireFromString("-2.25"))))); err != nil || string(got) != "-2.25" {
		t.Fatalf("non-NULL numeric = %q, %v", got, err)
	}
}

// TestCopyBinaryFields: the fixed-width fields are big-endian with their
// lengths; a nil UUID is NULL; a time is microseconds since 2000-01-01 UTC.
func TestCopyBinaryFields(t *testing.T) {
	id := uuid.MustParse("0193b0a4-6f1e-7c3a-9b2d-4e5f60718293")
	if got := copyUUID(nil, id); binary.BigEndian.Uint32(got) != 16 || uuid.UUID(got[4:]) != id {
		t.Fatalf("uuid field %x", got)
	}
	if got := copyNullUUID(nil, uuid.Nil); string(got) != "\xff\xff\xff\xff" {
		t.Fatalf("nil uuid = %x", got)
	}
	if got := copyInt64(nil, -2); binary.BigEndian.Uint32(got) != 8 || int64(binary.BigEndian.Uint64(got[4:])) != -2 { //nolint:gosec // the bits of -2
		t.Fatalf("int8 field %x", got)
	}
	if got := copyInt16(nil, 7); binary.BigEndian.Uint32(got) != 2 || binary.BigEndian.Uint16(got[4:]) != 7 {
		t.Fatalf("int2 field %x", got)
	}
	at := time.Date(2000, 1, 1, 0, 0, 1, 500_000_999, time.UTC)
	if got := copyTime(nil, at); binary.BigEndian.Uint32(got) != 8 || int64(binary.BigEndian.Uint64(got[4:])) != 1_500_000 { //nolint:gosec // microseconds
		t.Fatalf("timestamptz field %x (want 1,500,000 µs: nanoseconds dropped as normTime does)", got)
	}
	if got := copyStr(copyFields(nil, 2), "ab"); string(got) != "\x00\x02\x00\x00\x00\x02ab" {
		t.Fatalf("field count and text %x", got)
	}
}

// numericSyntax is numeric_out's text of a finite value.
var numericSyntax = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// FuzzNumericText: numericText reads bytes that come from the server; any
// input either errors or gives numeric_out's form of a number, and a
// decimal that text parses to round-trips through copyDec.
func FuzzNumericText(f *testing.F) {
	for _, s := range []string{"0", "-1.5", "10000.0001", "0.00001"} {
		f.Add(numericBody(f, copyDec(nil, decimal.RequireFromString(s))))
	}
	f.Add([]byte{0, 1, 0, 0, 0, 0, 0, 0, 0x27, 0x10})
	f.Add([]byte{0, 0, 0, 0, 0xc0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		out, err := numericText(nil, v)
		if err != nil {
			return
		}
		s := string(out)
		if s == "NaN" || strings.Contains(s, "Infinity") {
			return
		}
		if !numericSyntax.MatchString(s) {
			t.Fatalf("numericText(%x) = %q: not numeric_out's form", v, s)
		}
		// A scale PostgreSQL allows (up to 16,383) can exceed what the
		// decimal parser takes (10,000): the reader then gets that error.
		d, perr := decimal.NewFromString(s)
		if perr != nil {
			return
		}
		back, err := numericText(nil, numericBody(t, copyDec(nil, d)))
		if err != nil {
			t.Fatalf("round trip of %q: %v", s, err)
		}
		if bd := decimal.RequireFromString(string(back)); !bd.Equal(d) {
			t.Fatalf("round trip of %q gave %q", s, back)
		}
	})
}
