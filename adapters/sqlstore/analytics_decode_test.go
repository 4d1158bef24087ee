package sqlstore

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/shopspring/decimal"
)

// amountCases are decimals around every edge of the int64 units: many
// places, places below 10^-FixScale, beyond the int64 range, zero, signs.
func amountCases() []string {
	out := []string{"0", "-0", "1", "-1", "0.01", "-0.01", "1234.5", "100.0000000000", "0.0000000001", "-0.0000000001",
		"0.00000000001", "12.34567890123", "922337203.6854775807", "922337203.6854775808", "-922337203.6854775807",
		"-922337203.6854775808", "99999999999999999999.5", "123456789012345678901234567890.123456789012", "10000", "-10000.0001",
		"0.1", "0.12", "0.123", "0.12345", "0.123456789", "5e-11"}
	r := rand.New(rand.NewPCG(7, 15))
	for range 2000 {
		c := big.NewInt(r.Int64N(1 << 62))
		if r.IntN(4) == 0 {
			c.Mul(c, big.NewInt(r.Int64N(1<<40)))
		}
		if r.IntN(2) == 0 {
			c.Neg(c)
		}
		out = append(out, decimal.NewFromBigInt(c, -int32(r.IntN(16))).String())
	}
	return out
}

func TestBinAmountIsTheNumericExactly(t *testing.T) {
	m := pgtype.NewMap()
	for _, s := range amountCases() {
		want := decimal.RequireFromString(s)
		n := pgtype.Numeric{Int: want.Coefficient(), Exp: want.Exponent(), Valid: true}
		buf, err := m.Encode(pgtype.NumericOID, pgx.BinaryFormatCode, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := binAmount(buf)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !got.Decimal().Equal(want) {
			t.Errorf("binAmount(%s) = %s", s, got.Decimal())
		}
	}
	for _, bad := range [][]byte{nil, {0, 1, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0xc0, 0, 0, 0}} {
		if _, err := binAmount(bad); err == nil {
			t.Errorf("binAmount(%v) took it", bad)
		}
	}
}

func TestTextAmountIsTheDecimalExactly(t *testing.T) {
	for _, s := range amountCases() {
		got, err := textAmount([]byte(s))
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if want := decimal.RequireFromString(s); !got.Decimal().Equal(want) {
			t.Errorf("textAmount(%s) = %s", s, got.Decimal())
		}
	}
	for _, bad := range []string{"", "-", ".", "-.", "1.2.3", "abc", "1,5"} {
		if _, err := textAmount([]byte(bad)); err == nil {
			t.Errorf("textAmount(%q) took it", bad)
		}
	}
}

func TestBinIntAndUUID(t *testing.T) {
	m := pgtype.NewMap()
	for _, c := range []struct {
		oid uint32
		v   any
	}{{pgtype.Int2OID, int16(-3)}, {pgtype.Int2OID, int16(23)}, {pgtype.Int4OID, int32(-70000)}, {pgtype.Int8OID, int64(-1) << 62}} {
		buf, err := m.Encode(c.oid, pgx.BinaryFormatCode, c.v, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := binInt(buf)
		want := new(big.Int)
		switch x := c.v.(type) {
		case int16:
			want.SetInt64(int64(x))
		case int32:
			want.SetInt64(int64(x))
		case int64:
			want.SetInt64(x)
		}
		if err != nil || got != want.Int64() {
			t.Errorf("binInt(%v) = %d, %v", c.v, got, err)
		}
	}
	if n, err := binInt(nil); n != 0 || err != nil {
		t.Errorf("binInt(NULL) = %d, %v", n, err)
	}
	if _, err := binInt([]byte{1, 2, 3}); err == nil {
		t.Error("binInt took 3 bytes")
	}
	if _, err := binUUID([]byte{1}); err == nil {
		t.Error("binUUID took 1 byte")
	}
}
