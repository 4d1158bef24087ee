package sqlstore

import (
	"encoding/binary"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/trading"
)

// COPY … (FORMAT binary) rows, for the two hot streams (a rebuild's
// trades, an import's executions): PostgreSQL reads each field with the
// type's receive function (numeric_recv takes base-10000 digits as they
// are, uuid_recv 16 bytes, textrecv the bytes) instead of parsing text
// (numeric_in, uuid_in, timestamptz_in, COPY's escapes and line split),
// which is per-row work in the one backend a rebuild or an import runs on.
// The values stored are the ones the text form gives: a numeric is built
// from trading.AppendDecimal's text (its scale is that text's digits after
// the point, as numeric_in takes it), a timestamp is normTime's
// microseconds.

// pgcopyHeader starts a binary COPY stream: the signature, no flags, no
// header extension.
var pgcopyHeader = []byte("PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00")

// pgcopyTrailer ends it (a field count of -1).
var pgcopyTrailer = []byte{0xff, 0xff}

func copyFields(b []byte, n int) []byte {
	return binary.BigEndian.AppendUint16(b, uint16(n)) //nolint:gosec // a table's column count (at most 1,664)
}

// copyLen appends a field's length (PostgreSQL's fields are below 1 GB).
func copyLen(b []byte, n int) []byte {
	return binary.BigEndian.AppendUint32(b, uint32(n)) //nolint:gosec // below 1 GB, as above
}

func copyNull(b []byte) []byte { return append(b, 0xff, 0xff, 0xff, 0xff) }

func copyUUID(b []byte, id uuid.UUID) []byte {
	b = binary.BigEndian.AppendUint32(b, 16)
	return append(b, id[:]...)
}

// copyNullUUID is NULL for uuid.Nil.
func copyNullUUID(b []byte, id uuid.UUID) []byte {
	if id == uuid.Nil {
		return copyNull(b)
	}
	return copyUUID(b, id)
}

func copyStr(b []byte, s string) []byte {
	return append(copyLen(b, len(s)), s...)
}

func copyInt64(b []byte, v int64) []byte {
	b = binary.BigEndian.AppendUint32(b, 8)
	return binary.BigEndian.AppendUint64(b, uint64(v)) //nolint:gosec // two's complement, as sent
}

// copyInt16 is a smallint: v is a weekday, an hour, a rating or a
// confidence (small values the core validates).
func copyInt16(b []byte, v int) []byte {
	b = binary.BigEndian.AppendUint32(b, 2)
	return binary.BigEndian.AppendUint16(b, uint16(int16(v))) //nolint:gosec // two's complement of a small value
}

// copyTime is a timestamptz: normTime's instant in microseconds since
// PostgreSQL's epoch.
func copyTime(b []byte, t time.Time) []byte {
	return copyInt64(b, normTime(t).UnixMicro()-pgEpochMicros)
}

func copyDec(b []byte, d decimal.Decimal) []byte {
	var tmp [40]byte
	return copyNumericText(b, trading.AppendDecimal(tmp[:0], d))
}

func copyNullDec(b []byte, d decimal.NullDecimal) []byte {
	if !d.Valid {
		return copyNull(b)
	}
	return copyDec(b, d.Decimal)
}

// copyNumericText appends the numeric that numeric_in makes of s, a plain
// decimal text ([-]digits[.digits], what trading.AppendDecimal writes), in
// numeric_send's form: ndigits, weight, sign, dscale (int16 each) and the
// base-10000 digits, leading and trailing zero digits stripped.
func copyNumericText(b []byte, s []byte) []byte {
	const pos, neg = 0x0000, 0x4000
	sign := uint16(pos)
	if len(s) > 0 && s[0] == '-' {
		sign, s = neg, s[1:]
	}
	intp, frac := s, s[:0]
	for i, c := range s {
		if c == '.' {
			intp, frac = s[:i], s[i+1:]
			break
		}
	}
	dscale := len(frac)
	for len(intp) > 0 && intp[0] == '0' {
		intp = intp[1:]
	}
	// The digit groups: the integer part's from the left of the point
	// (the first possibly short), the fraction's padded with zeros.
	var groups [16]uint16
	ds := groups[:0]
	nInt := (len(intp) + 3) / 4
	first := len(intp) - (nInt-1)*4
	for g := 0; g < nInt; g++ {
		lo, hi := 0, first
		if g > 0 {
			lo, hi = first+(g-1)*4, first+g*4
		}
		v := uint16(0)
		for _, c := range intp[lo:hi] {
			v = v*10 + uint16(c-'0')
		}
		ds = append(ds, v)
	}
	for lo := 0; lo < len(frac); lo += 4 {
		v := uint16(0)
		for k := lo; k < lo+4; k++ {
			c := byte('0')
			if k < len(frac) {
				c = frac[k]
			}
			v = v*10 + uint16(c-'0')
		}
		ds = append(ds, v)
	}
	weight := nInt - 1
	for len(ds) > 0 && ds[0] == 0 {
		ds, weight = ds[1:], weight-1
	}
	for len(ds) > 0 && ds[len(ds)-1] == 0 {
		ds = ds[:len(ds)-1]
	}
	if len(ds) == 0 {
		weight, sign = 0, pos
	}
	// ndigits, weight and dscale are within numeric's limits (a decimal
	// text of at most 131,072 digits before the point, 16,383 after).
	b = copyLen(b, 8+2*len(ds))
	b = binary.BigEndian.AppendUint16(b, uint16(len(ds)))       //nolint:gosec // within numeric's limits
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight))) //nolint:gosec // two's complement, within numeric's limits
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale)) //nolint:gosec // within numeric's limits
	for _, v := range ds {
		b = binary.BigEndian.AppendUint16(b, v)
	}
	return b
}

// numericText appends to dst the text numeric_out gives for the binary
// numeric v (numeric_send's form): the same text a ::text cast sends, so
// a value read in binary parses to the decimal its text gives.
func numericText(dst, v []byte) ([]byte, error) {
	n, weight, sign, dscale, err := numericHeader(v)
	if err != nil {
		return dst, err
	}
	digit := func(i int) uint16 {
		if i < 0 || i >= n {
			return 0
		}
		return binary.BigEndian.Uint16(v[8+2*i:])
	}
	if sign == numericNeg {
		dst = append(dst, '-')
	}
	if weight < 0 {
		dst = append(dst, '0')
	} else {
		dst = strconv.AppendInt(dst, int64(digit(0)), 10)
		for i := 1; i <= weight; i++ {
			ds := digits4(digit(i))
			dst = append(dst, ds[:]...)
		}
	}
	if dscale > 0 {
		dst = append(dst, '.')
		for i, left := weight+1, dscale; left > 0; i++ {
			ds := digits4(digit(i))
			for _, c := range ds[:] {
				if left > 0 {
					dst, left = append(dst, c), left-1
				}
			}
		}
	}
	return dst, nil
}

// digits4 is a base-10000 digit's four decimal digits (d < 10000: the
// remainders and d/1000 are below 10).
func digits4(d uint16) [4]byte {
	return [4]byte{byte('0' + d/1000%10), byte('0' + d/100%10), byte('0' + d/10%10), byte('0' + d%10)} //nolint:gosec // each below 10
}
