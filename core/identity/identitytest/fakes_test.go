package identitytest_test

import (
	"testing"

	"github.com/tradesense/tradesense/core/cache/cachetest"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/ratelimit/ratelimittest"
)

// The fakes of the Env keep the promises of the ports they stand for.

func TestLimiterContract(t *testing.T) {
	ratelimittest.Run(t, func(t *testing.T) ratelimit.Limiter { return identitytest.NewLimiter() })
}

func TestCacheContract(t *testing.T) {
	cachetest.Run(t, func(t *testing.T) cachetest.Harness { return cachetest.Harness{Cache: identitytest.NewCache()} })
}
