// Package uow declares the unit-of-work port: how a use case makes several
// writes atomically without seeing the database.
package uow

import "context"

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
