package redisstore

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/tests/testenv"
)

// pipeGauge is a go-redis hook that records the most pipelines of INCRs
// on the wire at once.
type pipeGauge struct{ now, peak atomic.Int64 }

func (*pipeGauge) DialHook(next redis.DialHook) redis.DialHook { return next }
func (*pipeGauge) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return next
}

func (g *pipeGauge) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		// Only the test's pipelines: a new connection's handshake is a
		// pipeline of its own, run inside the first one on that connection.
		if len(cmds) == 0 || cmds[0].Name() != "incr" {
			return next(ctx, cmds)
		}
		n := g.now.Add(1)
		for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
		}
		defer g.now.Add(-1)
		return next(ctx, cmds)
	}
}

// An autoPipe never has more pipelines on the wire than its lanes, and
// every call of many concurrent callers runs exactly once.
func TestAutoPipeLanes(t *testing.T) {
	opt, err := redis.ParseURL(testenv.URL(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lanes := range []int{0, 1, 2, 4} {
		rdb := redis.NewClient(opt)
		t.Cleanup(func() { _ = rdb.Close() })
		g := &pipeGauge{}
		rdb.AddHook(g)
		a := &autoPipe{rdb: rdb, lanes: lanes}
		ctx := context.Background()
		key := "test:autopipe:lanes:" + t.Name()
		rdb.Del(ctx, key)
		const callers, calls = 32, 40
		var wg sync.WaitGroup
		for range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range calls {
					var cmd *redis.IntCmd
					if err := a.do(ctx, func(ctx context.Context, p redis.Pipeliner) { cmd = p.Incr(ctx, key) }); err != nil {
						t.Error(err)
						return
					}
					if cmd.Err() != nil {
						t.Error(cmd.Err())
						return
					}
				}
			}()
		}
		wg.Wait()
		got, err := rdb.Get(ctx, key).Int()
		if err != nil || got != callers*calls {
			t.Fatalf("lanes %d: counter %d (%v), want %d: a call ran twice or not at all", lanes, got, err, callers*calls)
		}
		if peak := g.peak.Load(); peak > int64(max(lanes, 1)) {
			t.Fatalf("lanes %d: %d pipelines on the wire at once", lanes, peak)
		}
		rdb.Del(ctx, key)
	}
}
