package redisstore

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs/jobstest"
	"github.com/tradesense/tradesense/tests/testenv"
)

// Creates have pipelines of their own: with every lane of the reads and
// updates waiting on a slow reply, a create is not queued behind them.
func TestJobsCreateDoesNotWaitForTheUpdatePipe(t *testing.T) {
	opt, err := redis.ParseURL(testenv.URL(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	opt.ReadTimeout = 5 * time.Second
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	prefix := "test:createpipe:" + time.Now().Format("150405.000000") + ":"
	s := NewJobsOn(rdb, prefix)
	ctx := context.Background()
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})

	// hold is long enough that a slow CI host (several times slower than
	// usual) still gets every lane out and the create back well inside it.
	const hold = 3 * time.Second
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	// One slow call at a time, each sent before the next is made, so
	// each holds a lane of its own.
	for lane := range s.pipe.lanes {
		wg.Go(func() {
			_ = s.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) { p.BLPop(ctx, hold, prefix+"never") })
		})
		deadline := time.Now().Add(hold / 2)
		for {
			s.pipe.mu.Lock()
			out := s.pipe.running == lane+1 && len(s.pipe.pending) == 0
			s.pipe.mu.Unlock()
			if out {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("lane %d of the update pipe did not go out", lane+1)
			}
			time.Sleep(time.Millisecond)
		}
	}
	time.Sleep(20 * time.Millisecond)

	start := time.Now()
	j := jobstest.NewJob("default.echo")
	if _, created, err := s.Create(ctx, j, time.Minute); err != nil || !created {
		t.Fatalf("Create: created %v, %v", created, err)
	}
	if took := time.Since(start); took > hold/2 {
		t.Fatalf("a create took %v with the update pipe's lanes held for %v: it waited behind them", took, hold)
	}
}
