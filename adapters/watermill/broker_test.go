package watermill_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/adapters/watermill"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
	"github.com/tradesense/tradesense/tests/testenv"
)

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestGoChannelBrokerContract(t *testing.T) {
	jobstest.RunBrokerContract(t, func(t *testing.T) jobs.Broker {
		b, cleanup, err := watermill.NewGoChannel(watermill.GoChannelConfig{}, discard())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cleanup)
		return b
	})
}

// redisClient connects to TEST_REDIS_URL (skipping without it, failing
// under CI) and removes the test's keys at the end.
func redisClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		testenv.Unreachable(t, "TEST_REDIS_URL", err)
	}
	prefix := "test:" + uuid.NewString()[:8] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

func newRedisBroker(t *testing.T, rdb *redis.Client, prefix, consumer string, alive watermill.Liveness) *watermill.Broker {
	b, cleanup, err := watermill.NewRedisStreams(rdb, watermill.RedisConfig{
		StreamPrefix: prefix + "jobs:", Consumer: consumer, ClaimInterval: 100 * time.Millisecond,
		MaxIdleTime: 200 * time.Millisecond, NackDelay: 50 * time.Millisecond, TrimInterval: 100 * time.Millisecond,
	}, alive, discard())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return b
}

func TestRedisStreamsBrokerContract(t *testing.T) {
	jobstest.RunBrokerContract(t, func(t *testing.T) jobs.Broker {
		rdb, prefix := redisClient(t)
		return newRedisBroker(t, rdb, prefix, "c-"+uuid.NewString()[:8], nil)
	})
}
