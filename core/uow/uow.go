// Package uow declares the unit-of-work port: how a use case makes several
// writes atomically without seeing the database.
package uow

import (
	"context"
	"sync"
	"sync/atomic"
)

// Runner runs a function inside one transaction.
//
// Do calls fn with a context that carries the transaction; repositories
// given that context (or one derived from it) take part in it. When fn
// returns nil, Do commits; when fn returns an error or panics, Do rolls back
// and returns that error (or re-panics).
//
// A Do nested inside another (fn's context passed to Do again) joins the
// outer transaction: nothing is committed until the outermost fn returns
// nil, and an error returned by an inner fn that the outer fn swallows does
// not undo the inner writes. Keep transactions short: fn must not wait on
// the network beyond the database.
//
// Do returns the error of fn unchanged, or apperr.Unavailable when the
// transaction cannot begin or commit: database down ("db_unavailable"), no
// free connection in time ("db_pool_timeout"), a serialization failure or
// deadlock that the caller may retry ("db_busy").
type Runner interface {
	Do(ctx context.Context, fn func(ctx context.Context) error) error
}

// afterCommitKey is the context key of the hooks of the outermost
// transaction.
type afterCommitKey struct{}

// hooks is the list of functions registered with AfterCommit during one
// transaction. A transaction runs on one goroutine at a time (see Runner),
// but a hook registered from a goroutine that fn started must not race, so
// the list is locked.
type hooks struct {
	mu  sync.Mutex
	fns []func(context.Context)
}

// AfterCommit registers fn to run after the outermost transaction that ctx
// carries has committed, in registration order, with the context that was
// given to that outermost Do (so without the transaction). fn never runs
// when the transaction rolls back. Outside a transaction (ctx carries none)
// fn runs at once: the write before it committed on its own.
//
// fn runs after Do's work is durable and before Do returns; it must not
// fail the use case: it is for best-effort side effects such as publishing
// events (core/realtime) or enqueueing jobs. A panic in fn propagates.
func AfterCommit(ctx context.Context, fn func(context.Context)) {
	h, _ := ctx.Value(afterCommitKey{}).(*hooks)
	if h == nil {
		fn(ctx)
		return
	}
	h.mu.Lock()
	h.fns = append(h.fns, fn)
	h.mu.Unlock()
}

// WithAfterCommit is for Runner implementations: at the outermost Do, it
// returns the context to give fn (carrying a fresh hook list) and the
// function to call with the caller's context once the commit succeeded. On
// rollback the implementation simply does not call it. A nested Do passes
// the context on unchanged, so its hooks join the outermost list.
func WithAfterCommit(ctx context.Context) (context.Context, func(context.Context)) {
	h := &hooks{}
	run := func(outer context.Context) {
		h.mu.Lock()
		fns := h.fns
		h.fns = nil
		h.mu.Unlock()
		for _, fn := range fns {
			fn(outer)
		}
	}
	return context.WithValue(ctx, afterCommitKey{}, h), run
}

// commitMarkKey is the context key of a commit mark.
type commitMarkKey struct{}

// commitMark is a write that records, in the transaction that carries
// out a request, that it was carried out (see WithCommitMark).
type commitMark struct {
	fn   func(txCtx context.Context) error
	done atomic.Bool
}

// WithCommitMark returns ctx carrying fn: the first outermost transaction
// begun under ctx (or a context derived from it) that commits runs fn in
// it, after its own work and before the commit (MarkCommit), so that fn's
// writes are durable exactly when that work is. A transaction that rolls
// back takes fn's writes with it, and the next one runs fn again. This is
// how an idempotency key learns, atomically, that its request's effect
// committed, even if the process dies before the answer is stored.
func WithCommitMark(ctx context.Context, fn func(txCtx context.Context) error) context.Context {
	return context.WithValue(ctx, commitMarkKey{}, &commitMark{fn: fn})
}

// MarkCommit is for Runner implementations: at the outermost Do, after fn
// returned nil and before committing, call it with the transaction's
// context; its error fails Do (roll back and return it).
func MarkCommit(txCtx context.Context) error {
	m, _ := txCtx.Value(commitMarkKey{}).(*commitMark)
	if m == nil || m.done.Load() {
		return nil
	}
	if err := m.fn(txCtx); err != nil {
		return err
	}
	AfterCommit(txCtx, func(context.Context) { m.done.Store(true) })
	return nil
}
