package redisstore

import (
	"context"
	"runtime"
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

// pipeCounter is a go-redis hook that counts the pipelines of INCRs and
// their commands.
type pipeCounter struct{ pipes, cmds atomic.Int64 }

func (*pipeCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipeCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (c *pipeCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && cmds[0].Name() == "incr" {
			c.pipes.Add(1)
			c.cmds.Add(int64(len(cmds)))
		}
		return next(ctx, cmds)
	}
}

// Callers woken by a pipeline's replies that call again at once share the
// next pipeline: on one P (where nothing runs in parallel to hide it), a
// flusher that sent whatever had queued by the time it looked would send
// pipelines of one or two calls.
func TestAutoPipeGathersWokenCallers(t *testing.T) {
	opt, err := redis.ParseURL(testenv.URL(t, "TEST_REDIS_URL"))
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	c := &pipeCounter{}
	rdb.AddHook(c)
	a := &autoPipe{rdb: rdb, lanes: 1}
	ctx := context.Background()
	key := "test:autopipe:gather:" + t.Name()
	rdb.Del(ctx, key)
	t.Cleanup(func() { rdb.Del(ctx, key) })
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const callers, calls = 16, 50
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for range calls {
				if err := a.do(ctx, func(ctx context.Context, p redis.Pipeliner) { p.Incr(ctx, key) }); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := c.cmds.Load(); got != callers*calls {
		t.Fatalf("%d calls sent, want %d", got, callers*calls)
	}
	if per := float64(c.cmds.Load()) / float64(c.pipes.Load()); per < callers*3/4 {
		t.Fatalf("%.1f calls a pipeline from %d callers calling back to back, want at least %d", per, callers, callers*3/4)
	}
}
