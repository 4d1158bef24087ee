package uow_test

import (
	"context"
	"errors"
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

func TestCommitMarkRunsUntilATransactionCommits(t *testing.T) {
	runs := 0
	var fail error
	ctx := uow.WithCommitMark(context.Background(), func(context.Context) error { runs++; return fail })
	// tx is what a Runner does: the mark before the commit, the hooks
	// after it (never on a rollback).
	tx := func(commit bool) error {
		txCtx, afterCommit := uow.WithAfterCommit(ctx)
		if err := uow.MarkCommit(txCtx); err != nil {
			return err
		}
		if commit {
			afterCommit(ctx)
		}
		return nil
	}
	fail = errors.New("mark refused")
	if err := tx(true); !errors.Is(err, fail) || runs != 1 {
		t.Fatalf("a failing mark = %v (runs %d); want its error", err, runs)
	}
	fail = nil
	_ = tx(false) // rolled back: its mark with it
	_ = tx(true)
	_ = tx(true) // after a commit the mark is done
	if runs != 3 {
		t.Fatalf("mark ran %d times; want 3 (failed, rolled back, committed)", runs)
	}
	if err := uow.MarkCommit(context.Background()); err != nil {
		t.Fatalf("no mark = %v", err)
	}
}
