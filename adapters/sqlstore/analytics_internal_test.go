package sqlstore

import (
	"reflect"
	"testing"
)

func TestPgPlaceholders(t *testing.T) {
	q, args := pgPlaceholders("a = ? AND b IN ? AND c IN ? AND d = ? AND raw = ?", []any{"x", []string{"p", "q"}, []int{}, 7, []byte("z")})
	if want := "a = $1 AND b IN ($2,$3) AND c IN (NULL) AND d = $4 AND raw = $5"; q != want {
		t.Fatalf("query %q, want %q", q, want)
	}
	if want := []any{"x", "p", "q", 7, []byte("z")}; !reflect.DeepEqual(args, want) {
		t.Fatalf("args %v, want %v", args, want)
	}
}

func TestBytesInt(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		err  bool
	}{{"0", 0, false}, {"-17", -17, false}, {"1733000000000000000", 1733000000000000000, false}, {"9223372036854775807", 9223372036854775807, false}, {"", 0, true}, {"1x", 0, true}, {"99999999999999999999", 0, true}} {
		got, err := bytesInt([]byte(c.in))
		if (err != nil) != c.err || (!c.err && got != c.want) {
			t.Errorf("bytesInt(%q) = %d, %v", c.in, got, err)
		}
	}
}
