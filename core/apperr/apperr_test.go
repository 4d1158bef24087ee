package apperr

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestKindAndCodeThroughWrapping(t *testing.T) {
	base := New(NotFound, "trade_not_found", "No such trade.")
	err := fmt.Errorf("load trade 42: %w", base)
	if KindOf(err) != NotFound || CodeOf(err) != "trade_not_found" || !Is(err, NotFound) || Is(err, Conflict) {
		t.Fatalf("kind %v code %q", KindOf(err), CodeOf(err))
	}
	plain := errors.New("boom")
	if KindOf(plain) != Internal || CodeOf(plain) != "internal" || Is(nil, Internal) {
		t.Fatal("plain errors must be internal")
	}
	if CodeOf(&Error{Kind: Conflict}) != "conflict" {
		t.Fatal("a missing code falls back to the kind")
	}
}

func TestErrorTextKeepsCauseForLogs(t *testing.T) {
	cause := errors.New("pq: connection refused")
	err := Wrap(cause, Unavailable, "db_down", "Try later.")
	if !errors.Is(err, cause) || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), "db_down") {
		t.Fatalf("%v", err)
	}
	v := Validation("bad input", map[string]string{"b": "x", "a": "y"})
	if got := v.Error(); !strings.Contains(got, "(a: y, b: x)") {
		t.Fatalf("fields not sorted in %q", got)
	}
	if Kind(200).String() != "kind(200)" || Unavailable.String() != "unavailable" {
		t.Fatal("kind names")
	}
}
