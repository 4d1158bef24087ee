package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// Permanent marks a handler error that no retry can fix: the job goes dead
// at once. Errors of kind apperr.Invalid, Forbidden and NotFound are
// permanent too.
func Permanent(err error) error { return &outcomeError{err: err, permanent: true} }

// Cancel marks a handler error after which the job must not run again and
// is not a dead letter: the job ends failed (River's JobCancel).
func Cancel(err error) error { return &outcomeError{err: err, cancel: true} }

// RetryAfter marks a transient handler error whose next attempt should run
// after d rather than after the kind's backoff (a server's Retry-After).
func RetryAfter(d time.Duration, err error) error { return &outcomeError{err: err, after: d} }

type outcomeError struct {
	err       error
	permanent bool
	cancel    bool
	after     time.Duration
}

func (e *outcomeError) Error() string {
	if e.err == nil {
		return "job failed"
	}
	return e.err.Error()
}

func (e *outcomeError) Unwrap() error { return e.err }

// IsPermanent reports whether err ends the job without a retry.
func IsPermanent(err error) bool {
	var o *outcomeError
	if errors.As(err, &o) && o.permanent {
		return true
	}
	switch apperr.KindOf(err) {
	case apperr.Invalid, apperr.Forbidden, apperr.NotFound:
		_, ok := apperr.As(err)
		return ok
	}
	return false
}

func isCancel(err error) bool {
	var o *outcomeError
	return errors.As(err, &o) && o.cancel
}

func retryAfter(err error) (time.Duration, bool) {
	var o *outcomeError
	if errors.As(err, &o) && o.after > 0 {
		return o.after, true
	}
	return 0, false
}

func notFound(id string) error {
	return apperr.New(apperr.NotFound, CodeJobNotFound, fmt.Sprintf("job %s not found", id))
}

// NotFound returns the apperr.NotFound error of the Store port, for
// adapters.
func NotFound(id string) error { return notFound(id) }

// Unavailable wraps a backend failure as the Store port's
// apperr.Unavailable, for adapters.
func Unavailable(cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeStoreDown, "the job store is unavailable")
}

// BrokerUnavailable wraps a transport failure as the Broker port's
// apperr.Unavailable, for adapters.
func BrokerUnavailable(cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeBrokerDown, "the job queue is unavailable")
}
