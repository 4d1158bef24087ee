package sqlstore

import (
	"bytes"
	"testing"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"
)

func TestDecScan(t *testing.T) {
	for _, s := range []string{"0", "-0", "1.5", "-187.4166666667", "0.000000000001", "123456789012345678", "1234567890123456789.5",
		"99999999999999999999999.123", "10.00", ".5", "5."} {
		var got decimal.Decimal
		if err := (dec{&got}).Scan(s); err != nil {
			t.Fatalf("Scan(%q): %v", s, err)
		}
		want, err := decimal.NewFromString(s)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Equal(want) {
			t.Errorf("Scan(%q) = %s; want %s", s, got, want)
		}
	}
	var d decimal.Decimal
	for _, bad := range []string{"", "-", ".", "-.", "1e5x", "abc", "1.2.3"} {
		if err := (dec{&d}).Scan(bad); err == nil {
			t.Errorf("Scan(%q) succeeded", bad)
		}
	}
}

func FuzzDecScan(f *testing.F) {
	for _, s := range []string{"1.5", "-0.000001", "123456789012345678", "1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var got decimal.Decimal
		err := (dec{&got}).Scan(s)
		want, werr := decimal.NewFromString(s)
		if err == nil && werr == nil && !got.Equal(want) {
			t.Fatalf("Scan(%q) = %s; want %s", s, got, want)
		}
		if err == nil && werr != nil {
			t.Fatalf("Scan(%q) accepted what decimal refuses", s)
		}
	})
}

func TestCopyText(t *testing.T) {
	id := uuid.New()
	var b bytes.Buffer
	for _, v := range []any{id, uuid.NullUUID{}, decimal.RequireFromString("-12.50"), decimal.NullDecimal{}, "a\tb\nc\\d", int64(-3), true, nil} {
		copyText(&b, v)
		b.WriteByte('|')
	}
	want := id.String() + `|\N|-12.5|\N|a\tb\nc\\d|-3|t|\N|`
	if b.String() != want {
		t.Fatalf("copyText = %q; want %q", b.String(), want)
	}
}
