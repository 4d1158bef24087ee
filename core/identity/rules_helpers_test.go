package identity_test

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// The rule tests of the service run on identitytest.Env inside a synctest
// bubble: time.Sleep moves the whole service (expiry, grace windows,
// lockouts) at no cost, and synctest.Wait waits for its background mails.

const goodPassword = "correct horse battery staple"

var ctx = identitytest.DefaultCtx

// inEnv runs f in a bubble on a fresh Env.
func inEnv(t *testing.T, o identitytest.Options, f func(t *testing.T, e *identitytest.Env)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) { f(t, identitytest.NewEnv(t, o)) })
}

// wantErr fails unless err is an apperr of kind with code.
func wantErr(t testing.TB, err error, kind apperr.Kind, code string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != kind || e.Code != code {
		t.Fatalf("err = %v (kind %v, code %q); want %v %s", err, apperr.KindOf(err), apperr.CodeOf(err), kind, code)
	}
}

// retryAfter returns the Retry-After a refusal carries (zero when none).
func retryAfter(err error) time.Duration {
	var ex *ratelimit.ExceededError
	if errors.As(err, &ex) {
		return ex.RetryAfter()
	}
	return 0
}

func countOf[T comparable](xs []T, x T) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// session logs email in and returns the tokens and the principal.
func session(t testing.TB, e *identitytest.Env, c context.Context, email, pw string) (*identity.TokenPair, identity.Principal) {
	t.Helper()
	pair := e.Login(t, c, email, pw)
	return pair, e.Principal(t, pair.AccessToken)
}
