package uow_test

import (
	"context"
	"testing"

	"github.com/tradesense/tradesense/core/uow"
)

func TestAfterCommitOutsideATransactionRunsAtOnce(t *testing.T) {
	ran := 0
	uow.AfterCommit(context.Background(), func(context.Context) { ran++ })
	if ran != 1 {
		t.Fatalf("ran %d times; want 1", ran)
	}
}

func TestWithAfterCommitRunsHooksInOrderOnlyWhenAsked(t *testing.T) {
	type key struct{}
	outer := context.WithValue(context.Background(), key{}, "outer")
	ctx, run := uow.WithAfterCommit(outer)
	var got []string
	uow.AfterCommit(ctx, func(c context.Context) { got = append(got, "a:"+c.Value(key{}).(string)) })
	uow.AfterCommit(ctx, func(context.Context) { got = append(got, "b") })
	if len(got) != 0 {
		t.Fatalf("hooks ran before the commit: %v", got)
	}
	run(outer)
	if len(got) != 2 || got[0] != "a:outer" || got[1] != "b" {
		t.Fatalf("hooks = %v; want [a:outer b]", got)
	}
	run(outer)
	if len(got) != 2 {
		t.Fatalf("hooks ran twice: %v", got)
	}
}
