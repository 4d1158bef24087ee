package watermill

import (
	"errors"
	"strings"
	"testing"
)

// TestStreamIDOrder: stream IDs compare by their millisecond and sequence
// parts as numbers (the trimmer keeps the smallest ID a reader still
// needs), not as strings; "" is unset.
func TestStreamIDOrder(t *testing.T) {
	less := []struct {
		a, b string
		want bool
	}{
		{"1-0", "1-1", true}, {"1-1", "1-0", false}, {"1-1", "1-1", false},
		{"9-9", "10-0", true}, {"10-0", "9-9", false}, {"1700000000000-2", "1700000000000-10", true},
	}
	for _, c := range less {
		if got := lessStreamID(c.a, c.b); got != c.want {
			t.Errorf("lessStreamID(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
	mins := [][3]string{{"", "5-1", "5-1"}, {"5-1", "", "5-1"}, {"10-0", "9-9", "9-9"}, {"9-9", "10-0", "9-9"}, {"", "", ""}}
	for _, c := range mins {
		if got := minStreamID(c[0], c[1]); got != c[2] {
			t.Errorf("minStreamID(%q, %q) = %q, want %q", c[0], c[1], got, c[2])
		}
	}
}

// TestReadersReportWhoCannotConsume: ConsumeErr's readers join the last
// read error of each reader that has one, named by its stream, and forget
// a reader once removed or once its read works again.
func TestReadersReportWhoCannotConsume(t *testing.T) {
	var rs readers
	a, b := &streamReader{stream: "jobs:a"}, &streamReader{stream: "jobs:b"}
	rs.add(a)
	rs.add(b)
	if err := rs.err(); err != nil {
		t.Fatalf("no read failed: %v", err)
	}
	down := errors.New("dial tcp: connection refused")
	a.state.set(down)
	err := rs.err()
	if !errors.Is(err, down) || !strings.Contains(err.Error(), "jobs:a") || strings.Contains(err.Error(), "jobs:b") {
		t.Fatalf("err = %v", err)
	}
	a.state.set(nil)
	if err := rs.err(); err != nil {
		t.Fatalf("after a read that worked: %v", err)
	}
	b.state.set(down)
	rs.remove(b)
	if err := rs.err(); err != nil {
		t.Fatalf("a removed reader still reported: %v", err)
	}
	if !isNoGroup(errors.New("NOGROUP No such key 'jobs:a'")) || isNoGroup(down) || isNoGroup(nil) {
		t.Fatal("isNoGroup")
	}
}
