package secrets_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

func TestRotationHistoryRef(t *testing.T) {
	for in, want := range map[string]string{
		"vault:secret/tradesense#jwt":      "vault:secret/tradesense#jwt_previous",
		"vault:secret/data/tradesense#jwt": "vault:secret/data/tradesense#jwt_previous",
		"aws:prod/keys#mfa":                "aws:prod/keys#mfa_previous",
		"aws:prod/jwt":                     "aws:prod/jwt.previous",
		"file:/run/keys/jwt":               "file:/run/keys/jwt.previous",
		"file:keys/jwt#k":                  "file:keys/jwt#k_previous",
	} {
		got, err := secrets.HistoryRef(secrets.MustParseRef(in))
		if err != nil || got.String() != want {
			t.Errorf("HistoryRef(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"vault:secret/app", "aws:arn:aws:secretsmanager:us-east-1:1:secret:x-AbCdEf", "env:JWT", "vault:secret/app?version=2#k", "aws:x?stage=AWSPREVIOUS#k"} {
		if _, err := secrets.HistoryRef(secrets.MustParseRef(in)); !apperr.Is(err, apperr.Invalid) {
			t.Errorf("HistoryRef(%s): %v, want Invalid", in, err)
		}
	}
}

func TestRotationHistoryRoundTripAndExpiry(t *testing.T) {
	now := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	var h secrets.KeyHistory
	h = h.Retire(secrets.New("key-a", ""), "1", now, now.Add(time.Hour))
	h = h.Retire(secrets.New("key-b", ""), "2", now.Add(time.Minute), time.Time{})
	h = h.Retire(secrets.New("key-a", ""), "3", now.Add(2*time.Minute), now.Add(3*time.Hour)) // again: one entry
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := secrets.ParseKeyHistory(enc)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Keys) != 2 || back.Keys[0].Value.Reveal() != "key-a" || back.Keys[0].Version != "3" ||
		!back.Keys[0].Until.Equal(now.Add(3*time.Hour)) || back.Keys[1].Value.Reveal() != "key-b" || !back.Keys[1].Until.IsZero() {
		t.Fatalf("round trip: %+v", back.Keys)
	}
	if got := back.Accepted(now.Add(3 * time.Hour)); len(got) != 1 || got[0].Value.Reveal() != "key-b" {
		t.Fatalf("accepted after key-a's grace: %d keys", len(got))
	}
	if got := back.Without(secrets.New("key-b", "")); len(got.Keys) != 1 || got.Keys[0].Value.Reveal() != "key-a" {
		t.Fatal("Without")
	}
	if h, err := secrets.ParseKeyHistory(secrets.Secret{}); err != nil || len(h.Keys) != 0 {
		t.Fatalf("empty history: %v", err)
	}
}

func TestRotationHistoryParseRefusesWithoutQuoting(t *testing.T) {
	const marker = "SENSITIVE-KEY-MATERIAL"
	for _, bad := range []string{
		`{"v":1,"keys":[{"key":"` + marker + `"}]}`, // no retired_at
		`{"v":2,"keys":[]}`,
		`{"v":1,"keys":[{"key":"","retired_at":"2026-01-01T00:00:00Z"}]}`,
		`{"v":1,"keys":[],"extra":"` + marker + `"}`,
		`{"v":1,"keys":[]} {"trailing":"` + marker + `"}`,
		`["` + marker + `"]`,
		marker,
		`{"v":1,"keys":[` + strings.Repeat(`{"key":"k","retired_at":"2026-01-01T00:00:00Z"},`, secrets.MaxHistoryEntries) + `{"key":"k","retired_at":"2026-01-01T00:00:00Z"}]}`,
	} {
		_, err := secrets.ParseKeyHistory(secrets.New(bad, ""))
		if !apperr.Is(err, apperr.Invalid) || apperr.CodeOf(err) != secrets.CodeMalformedValue {
			t.Errorf("ParseKeyHistory(%.40q): %v, want Invalid malformed", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), marker) {
			t.Errorf("error quotes the input: %v", err)
		}
	}
}

// FuzzParseKeyHistory: any input parses or fails with Invalid, never
// panics, never quotes the input, and what parses round-trips.
func FuzzParseKeyHistory(f *testing.F) {
	f.Add(`{"v":1,"keys":[{"key":"k","version":"3","retired_at":"2026-01-01T00:00:00Z","until":"2026-01-01T00:20:00Z"}]}`)
	f.Add(`{"v":1,"keys":[]}`)
	f.Add(`{"v":1,"keys":[{"key":"\u0000","retired_at":"2026-01-01T00:00:00+02:00"}]}`)
	f.Add(`{`)
	f.Fuzz(func(t *testing.T, in string) {
		h, err := secrets.ParseKeyHistory(secrets.New(in, ""))
		if err != nil {
			if !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("error kind %v", apperr.KindOf(err))
			}
			if len(in) >= 8 && strings.Contains(err.Error(), in) {
				t.Fatalf("error quotes the input: %v", err)
			}
			return
		}
		enc, err := h.Encode()
		if err != nil {
			t.Fatalf("parsed history does not encode: %v", err)
		}
		back, err := secrets.ParseKeyHistory(enc)
		if err != nil || len(back.Keys) != len(h.Keys) {
			t.Fatalf("round trip: %v, %d vs %d keys", err, len(back.Keys), len(h.Keys))
		}
		for i := range h.Keys {
			if !back.Keys[i].Value.Equal(h.Keys[i].Value) || !back.Keys[i].Until.Equal(h.Keys[i].Until) || !back.Keys[i].RetiredAt.Equal(h.Keys[i].RetiredAt) {
				t.Fatalf("key %d changed in the round trip", i)
			}
		}
	})
}
