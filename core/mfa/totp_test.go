package mfa_test

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/mfa"
)

// TestRFC6238AppendixB runs the six SHA-1 vectors of RFC 6238 Appendix B
// (8 digits, T0 = 0, 30 s, seed "12345678901234567890") through Match,
// the path every verification takes, with the clock at each vector's time.
func TestRFC6238AppendixB(t *testing.T) {
	p := mfa.TOTP{Digits: 8, Period: 30 * time.Second, Skew: 1}
	seed := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		code string
		step int64
	}{
		{59, "94287082", 0x1},
		{1111111109, "07081804", 0x23523EC},
		{1111111111, "14050471", 0x23523ED},
		{1234567890, "89005924", 0x273EF07},
		{2000000000, "69279037", 0x3F940AA},
		{20000000000, "65353130", 0x27BC86AA},
	} {
		now := time.Unix(v.unix, 0).UTC()
		if got := p.Step(now); got != v.step {
			t.Errorf("Step(%d) = %#x; want %#x", v.unix, got, v.step)
		}
		step, ok, err := p.Match(seed, v.code, now)
		if err != nil || !ok || step != v.step {
			t.Errorf("Match(%q at %d) = %#x, %v, %v; want step %#x", v.code, v.unix, step, ok, err, v.step)
		}
		if got, _ := p.Code(seed, v.step); got != v.code {
			t.Errorf("Code(step %#x) = %s; want %s", v.step, got, v.code)
		}
		wrong := []byte(v.code)
		wrong[7] = '0' + (wrong[7]-'0'+1)%10
		if _, ok, _ := p.Match(seed, string(wrong), now); ok {
			t.Errorf("a wrong code matched at %d", v.unix)
		}
	}
}

// TestWindowEdges: codes of the steps 30 s either side are accepted, 60 s
// either side refused.
func TestWindowEdges(t *testing.T) {
	p := mfa.DefaultTOTP()
	secret := []byte("0123456789abcdefghij")
	now := time.Date(2026, 5, 6, 7, 8, 15, 0, time.UTC)
	for _, tc := range []struct {
		offset time.Duration
		ok     bool
	}{{-60 * time.Second, false}, {-30 * time.Second, true}, {0, true}, {30 * time.Second, true}, {60 * time.Second, false}, {90 * time.Second, false}} {
		code, err := p.Code(secret, p.Step(now.Add(tc.offset)))
		if err != nil {
			t.Fatal(err)
		}
		step, ok, err := p.Match(secret, code, now)
		if err != nil || ok != tc.ok {
			t.Errorf("code of now%+v: ok = %v, %v; want %v", tc.offset, ok, err, tc.ok)
		}
		if ok && step != p.Step(now.Add(tc.offset)) {
			t.Errorf("code of now%+v matched step %d; want %d", tc.offset, step, p.Step(now.Add(tc.offset)))
		}
	}
}

func TestParseCode(t *testing.T) {
	for in, want := range map[string]string{
		"123456": "123456", " 123 456 ": "123456", "123-456": "123456", "\t123456\t": "123456",
		"12345": "", "1234567": "", "12345a": "", "１２３４５６": "", "": "", "123456\x00": "", strings.Repeat(" ", 70) + "123456": "",
	} {
		got, ok := mfa.ParseCode(in, 6)
		if ok != (want != "") || got != want {
			t.Errorf("ParseCode(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

func TestParseBackupCode(t *testing.T) {
	const canon = "ABCD2345EFGH6777"
	for in, ok := range map[string]bool{
		"abcd-2345-efgh-6777": true, "ABCD-2345-EFGH-6777": true, "abcd2345efgh6777": true, " Abcd 2345 eFgh 6777 ": true,
		"abcd--2345-efgh-6777-": true, "abcd-2345-efgh-677": false, "abcd-2345-efgh-67771": false, "abcd-2345-efgh-6770": false,
		"abcd-2345-efgh-677!": false, "": false, "ábcd-2345-efgh-6777": false,
	} {
		got, gotOK := mfa.ParseBackupCode(in)
		if gotOK != ok || (ok && string(got) != canon) {
			t.Errorf("ParseBackupCode(%q) = %q, %v; want %v", in, got, gotOK, ok)
		}
	}
}

func FuzzParseCode(f *testing.F) {
	for _, s := range []string{"123456", "123 456", "12-34-56", "", "abcdef", "1234567", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := mfa.ParseCode(in, 6)
		if !ok {
			if got != "" {
				t.Fatalf("refused input returned %q", got)
			}
			return
		}
		if len(got) != 6 || strings.Trim(got, "0123456789") != "" || len(in) > mfa.MaxInputLen {
			t.Fatalf("ParseCode(%q) accepted %q", in, got)
		}
		if again, ok := mfa.ParseCode(got, 6); !ok || again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
	})
}

func FuzzParseBackupCode(f *testing.F) {
	for _, s := range []string{"abcd-2345-efgh-6777", "ABCD2345EFGH6777", " a b c d 2 3 4 5 e f g h 6 7 7 7", "", "0000-0000-0000-0000", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, ok := mfa.ParseBackupCode(in)
		if !ok {
			return
		}
		if len(got) != 16 || len(in) > mfa.MaxInputLen {
			t.Fatalf("ParseBackupCode(%q) accepted %q", in, got)
		}
		if _, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(string(got)); err != nil {
			t.Fatalf("accepted %q is not base32: %v", got, err)
		}
		if again, ok := mfa.ParseBackupCode(strings.ToLower(string(got))); !ok || string(again) != string(got) {
			t.Fatalf("lower-case form of %q not accepted", got)
		}
	})
}

// BenchmarkTOTPCheck measures one verification: ±1 step, three HMAC-SHA1
// computations and constant-time comparisons (target < 5 µs).
func BenchmarkTOTPCheck(b *testing.B) {
	p := mfa.DefaultTOTP()
	secret := []byte("0123456789abcdefghij")
	now := time.Date(2026, 5, 6, 7, 8, 15, 0, time.UTC)
	code, _ := p.Code(secret, p.Step(now)+1) // worst case: the last candidate
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := p.Match(secret, code, now); !ok {
			b.Fatal("no match")
		}
	}
}
