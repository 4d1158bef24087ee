package redisstore

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// mgetBatcher sends concurrent MGETs as one pipeline: one write and one
// read on one connection for every request that arrived while the previous
// pipeline was on the wire. Under load this divides the system calls and
// Redis's own per-command I/O by the batch size; alone, a call costs one
// goroutine hand-off more than a plain MGET. Every call still reads Redis
// after it was made: batching never serves a value older than the call.
type mgetBatcher struct {
	rdb *redis.Client

	mu      sync.Mutex
	pending []*mgetCall
	running bool // a flusher goroutine is draining pending
}

type mgetCall struct {
	ctx  context.Context
	keys []string
	vals []any
	err  error
	done chan struct{}
}

// maxBatch bounds the calls of one pipeline.
const maxBatch = 128

// batchTimeout bounds a pipeline whose callers set no deadline.
const batchTimeout = time.Second

func (b *mgetBatcher) mget(ctx context.Context, keys []string) ([]any, error) {
	c := &mgetCall{ctx: ctx, keys: keys, done: make(chan struct{})}
	b.mu.Lock()
	b.pending = append(b.pending, c)
	if !b.running {
		b.running = true
		go b.flush()
	}
	b.mu.Unlock()
	select {
	case <-c.done:
		return c.vals, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flush runs pipelines until nothing is pending, then exits.
func (b *mgetBatcher) flush() {
	for {
		b.mu.Lock()
		n := min(len(b.pending), maxBatch)
		if n == 0 {
			b.running = false
			b.pending = nil
			b.mu.Unlock()
			return
		}
		batch := b.pending[:n:n]
		b.pending = b.pending[n:]
		b.mu.Unlock()
		b.run(batch)
	}
}

func (b *mgetBatcher) run(batch []*mgetCall) {
	live := batch[:0:0]
	deadline := time.Now().Add(batchTimeout)
	for _, c := range batch {
		if c.ctx.Err() != nil {
			continue // its caller has gone
		}
		if d, ok := c.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	// The pipeline's span (redisotel) joins the first caller's trace; no
	// caller's cancellation stops the others' reads.
	ctx, cancel := context.WithDeadline(context.WithoutCancel(live[0].ctx), deadline)
	defer cancel()
	pipe := b.rdb.Pipeline()
	cmds := make([]*redis.SliceCmd, len(live))
	for i, c := range live {
		cmds[i] = pipe.MGet(ctx, c.keys...)
	}
	_, _ = pipe.Exec(ctx) // errors are per command, below
	for i, c := range live {
		c.vals, c.err = cmds[i].Result()
		close(c.done)
	}
}
