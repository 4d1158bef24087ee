package ratelimit_test

import (
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/ratelimit"
)

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {15 * time.Minute, 900}} {
		if got := ratelimit.RetryAfterSeconds(tc.d); got != tc.want {
			t.Errorf("RetryAfterSeconds(%s) = %d; want %d", tc.d, got, tc.want)
		}
	}
}

func TestExceededCarriesRetryAfter(t *testing.T) {
	err := ratelimit.Exceeded(ratelimit.Result{RetryAfter: 42 * time.Second}, "too_many_logins", "slow down")
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.RateLimited || e.Code != "too_many_logins" {
		t.Fatalf("Exceeded = %v; want RateLimited too_many_logins", err)
	}
	var ra interface{ RetryAfter() time.Duration }
	if !asRetry(err, &ra) || ra.RetryAfter() != 42*time.Second {
		t.Fatalf("Exceeded does not expose RetryAfter 42s")
	}
}

func asRetry(err error, target *interface{ RetryAfter() time.Duration }) bool {
	for err != nil {
		if r, ok := err.(interface{ RetryAfter() time.Duration }); ok {
			*target = r
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

func TestApplyExpiry(t *testing.T) {
	now := time.Unix(1000, 0)
	l := ratelimit.Limit{Max: 1, Window: time.Minute, Block: time.Hour}
	_, st := ratelimit.Apply(ratelimit.State{}, l, now, true)
	if !st.Expiry().Equal(now.Add(time.Hour)) {
		t.Fatalf("expiry = %s; want the end of the block", st.Expiry())
	}
}
