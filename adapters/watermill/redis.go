package watermill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	wm "github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs"
)

// RedisConfig configures the Redis Streams transport. Zero fields take the
// defaults of DefaultRedisConfig.
type RedisConfig struct {
	// StreamPrefix names the streams: StreamPrefix + queue (default
	// "tradesense:jobs:"; wire derives it from REDIS_KEY_PREFIX).
	StreamPrefix string
	// Group is the consumer group of every queue's stream (default
	// "workers").
	Group string
	// Consumer is this process's consumer name: the worker ID, whose
	// heartbeat says whether its pending messages may be claimed.
	Consumer string
	// BlockTime bounds one blocking read (default 100 ms; it is also how
	// quickly a shutdown is noticed).
	BlockTime time.Duration
	// ClaimInterval is how often pending messages of dead consumers are
	// looked for (JOBS_CLAIM_INTERVAL, default 5 s); MaxIdleTime is the
	// idle time after which a pending message is considered at all
	// (JOBS_CLAIM_MIN_IDLE, default 30 s). A message is claimed only when
	// its consumer's heartbeat expired too, so a job running for 300 s on
	// a live worker is never delivered twice.
	ClaimInterval time.Duration
	MaxIdleTime   time.Duration
	// NackDelay spaces redeliveries of messages that could not be handled
	// (default 1 s).
	NackDelay time.Duration
	// TrimInterval is how often acknowledged messages are removed from
	// the streams (default 1 min).
	TrimInterval time.Duration
}

// DefaultRedisConfig returns the defaults documented on RedisConfig.
func DefaultRedisConfig() RedisConfig {
	return RedisConfig{
		StreamPrefix:  "tradesense:jobs:",
		Group:         "workers",
		BlockTime:     100 * time.Millisecond,
		ClaimInterval: 5 * time.Second,
		MaxIdleTime:   30 * time.Second,
		NackDelay:     time.Second,
		TrimInterval:  time.Minute,
	}
}

func (c RedisConfig) withDefaults() RedisConfig {
	d := DefaultRedisConfig()
	if c.StreamPrefix == "" {
		c.StreamPrefix = d.StreamPrefix
	}
	if c.Group == "" {
		c.Group = d.Group
	}
	if c.BlockTime <= 0 {
		c.BlockTime = d.BlockTime
	}
	if c.ClaimInterval <= 0 {
		c.ClaimInterval = d.ClaimInterval
	}
	if c.MaxIdleTime <= 0 {
		c.MaxIdleTime = d.MaxIdleTime
	}
	if c.NackDelay <= 0 {
		c.NackDelay = d.NackDelay
	}
	if c.TrimInterval <= 0 {
		c.TrimInterval = d.TrimInterval
	}
	return c
}

// Liveness reports whether a worker is alive (jobs.Coordinator.Alive).
type Liveness func(ctx context.Context, worker string) (bool, error)

// NewRedisStreams returns the Redis Streams broker on rdb, which it does
// not close. alive decides whether the pending messages of a consumer may
// be claimed; nil claims any message idle for MaxIdleTime.
func NewRedisStreams(rdb *redis.Client, cfg RedisConfig, alive Liveness, log *slog.Logger) (*Broker, func(), error) {
	cfg = cfg.withDefaults()
	if rdb == nil {
		return nil, nil, errors.New("watermill: Redis Streams need a Redis client (REDIS_URL)")
	}
	// No watermill-redisstream Publisher: xaddPipe writes its message
	// format with pipelined XADDs (the Publisher sends one per round trip,
	// and its Close would close rdb, which the program shares).
	b := &Broker{
		name:      "watermill-redisstream",
		topic:     func(q string) string { return cfg.StreamPrefix + q },
		log:       log,
		nackDelay: cfg.NackDelay,
		ackGrace:  2 * cfg.BlockTime,
	}
	consumer := cfg.Consumer
	if consumer == "" {
		consumer = wm.NewShortUUID()
	}
	xadd := &xaddPipe{rdb: rdb}
	b.publishMany = xadd.publish
	b.target = rdb
	b.streamEntry = func(m jobs.Message) (jobs.StreamEntry, error) {
		if len(m.Metadata) == 0 {
			// What the marshaller below writes for a message without
			// metadata, without making the Watermill message.
			payload, err := encodeBody(body{JobID: m.JobID, Seq: m.Seq, Queue: m.Queue, Kind: m.Kind})
			if err != nil {
				return jobs.StreamEntry{}, jobs.BrokerUnavailable(err)
			}
			return jobs.StreamEntry{Stream: b.topic(m.Queue), Fields: []string{
				redisstream.UUIDHeaderKey, wm.NewUUID(), "metadata", "", "payload", string(payload),
			}}, nil
		}
		msg, err := newMessage(m)
		if err != nil {
			return jobs.StreamEntry{}, jobs.BrokerUnavailable(err)
		}
		topic := b.topic(m.Queue)
		values, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal(topic, msg)
		if err != nil {
			return jobs.StreamEntry{}, jobs.BrokerUnavailable(fmt.Errorf("publish to %s: %w", m.Queue, err))
		}
		e := jobs.StreamEntry{Stream: topic, Fields: make([]string, 0, 2*len(values))}
		for k, v := range values {
			s, err := fieldString(v)
			if err != nil {
				return jobs.StreamEntry{}, jobs.BrokerUnavailable(fmt.Errorf("publish to %s: %w", m.Queue, err))
			}
			e.Fields = append(e.Fields, k, s)
		}
		return e, nil
	}
	newReader := func(ctx context.Context, topic string) *streamReader {
		return &streamReader{
			rdb: rdb, stream: topic, group: cfg.Group, consumer: consumer, cfg: cfg, log: log,
			shouldClaim: func(xp redis.XPendingExt) bool {
				if xp.Consumer == consumer {
					return false // ours: running here, or read ahead
				}
				if alive == nil {
					return true
				}
				ctx, cancel := context.WithTimeout(ctx, time.Second)
				defer cancel()
				ok, err := alive(ctx, xp.Consumer)
				return err == nil && !ok
			},
		}
	}
	b.subscribe = func(ctx context.Context, topic string, n int) ([]<-chan *message.Message, func(), error) {
		r := newReader(ctx, topic)
		// One reader holds up to n messages, so Consume's n slots are
		// what this consumer takes from the stream.
		ch, err := r.start(ctx, n)
		if err != nil {
			return nil, nil, err
		}
		b.readers.add(r)
		return []<-chan *message.Message{ch}, func() { b.readers.remove(r) }, nil
	}
	b.direct = func(ctx context.Context, topic string, n int, deliver func(*message.Message, string) bool) (func(), error) {
		r := newReader(ctx, topic)
		r.deliver = deliver
		if _, err := r.start(ctx, n); err != nil {
			return nil, err
		}
		b.readers.add(r)
		return func() { b.readers.remove(r) }, nil
	}
	b.consumeErr = b.readers.err
	b.depth = func(ctx context.Context, queue string) (jobs.Depth, error) {
		groups, err := rdb.XInfoGroups(ctx, b.topic(queue)).Result()
		if err != nil {
			if strings.Contains(err.Error(), "no such key") {
				return jobs.Depth{}, nil
			}
			return jobs.Depth{}, jobs.BrokerUnavailable(err)
		}
		for _, g := range groups {
			if g.Name == cfg.Group {
				return jobs.Depth{Pending: max(g.Lag, 0), InFlight: g.Pending}, nil
			}
		}
		n, err := rdb.XLen(ctx, b.topic(queue)).Result()
		if err != nil {
			return jobs.Depth{}, jobs.BrokerUnavailable(err)
		}
		// A stream without its group has had messages published since
		// Redis lost its state and no worker consuming since: its jobs
		// wait for a worker to re-create the group.
		return jobs.Depth{Pending: n}, jobs.BrokerUnavailable(fmt.Errorf("queue %s: %d messages and no consumer group %q: no worker has consumed since Redis lost its state", queue, n, cfg.Group))
	}
	b.onConsume = func(ctx context.Context, queue string) {
		t := time.NewTicker(cfg.TrimInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if err := trim(ctx, rdb, b.topic(queue)); err != nil && ctx.Err() == nil {
				log.Warn("trim job stream", "queue", queue, "error", err)
			}
		}
	}
	return b, func() {}, nil
}

// fieldString is a stream field's value as go-redis would write it.
func fieldString(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case []byte:
		return string(v), nil
	}
	return "", fmt.Errorf("unexpected stream field type %T", v)
}

// trim removes the messages every consumer group has read and
// acknowledged: those before the oldest pending message, or before the
// last delivered one when nothing is pending (undelivered messages all
// come after it). Watermill acknowledges
// without deleting, so the streams would otherwise grow forever.
func trim(ctx context.Context, rdb *redis.Client, stream string) error {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return err
	}
	minID := ""
	for _, g := range groups {
		id := g.LastDeliveredID
		if g.Pending > 0 {
			p, err := rdb.XPending(ctx, stream, g.Name).Result()
			if err != nil {
				return err
			}
			id = p.Lower
		}
		minID = minStreamID(minID, id)
	}
	if minID == "" || minID == "0-0" {
		return nil
	}
	return rdb.XTrimMinIDApprox(ctx, stream, minID, 0).Err()
}

// minStreamID returns the smaller of two stream IDs ("" is unset).
func minStreamID(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	if lessStreamID(b, a) {
		return b
	}
	return a
}

func lessStreamID(a, b string) bool {
	var am, as, bm, bs uint64
	_, _ = fmt.Sscanf(a, "%d-%d", &am, &as)
	_, _ = fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || am == bm && as < bs
}

// xaddPipe publishes in the message format of watermill-redisstream's
// publisher (which sends one XADD per round trip): the XADDs of one call,
// and of every call that arrived while the previous pipeline was on the
// wire, go in one pipeline. Enqueueing many jobs at once (a fan-out), or
// from many producers, then costs a round trip per batch, not per job.
type xaddPipe struct {
	rdb *redis.Client

	mu      sync.Mutex
	pending []*xaddCall
	running bool
}

type xaddCall struct {
	ctx  context.Context
	args []*redis.XAddArgs
	err  error
	done chan struct{}
}

// maxPipe bounds the XADDs of one pipeline (one call's are never split).
const maxPipe = 1024

func (x *xaddPipe) publish(ctx context.Context, out []outMsg) error {
	args := make([]*redis.XAddArgs, len(out))
	for i, o := range out {
		values, err := redisstream.DefaultMarshallerUnmarshaller{}.Marshal(o.topic, o.msg)
		if err != nil {
			return jobs.BrokerUnavailable(fmt.Errorf("publish to %s: %w", o.queue, err))
		}
		args[i] = &redis.XAddArgs{Stream: o.topic, Values: values}
	}
	c := &xaddCall{ctx: ctx, args: args, done: make(chan struct{})}
	x.mu.Lock()
	x.pending = append(x.pending, c)
	if !x.running {
		x.running = true
		go x.flush()
	}
	x.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		return jobs.BrokerUnavailable(ctx.Err())
	}
	if c.err != nil {
		return jobs.BrokerUnavailable(fmt.Errorf("publish %d messages: %w", len(args), c.err))
	}
	return nil
}

func (x *xaddPipe) flush() {
	for {
		x.mu.Lock()
		if len(x.pending) == 0 {
			x.running = false
			x.pending = nil
			x.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(x.pending) && (n == 0 || size+len(x.pending[n].args) <= maxPipe) {
			size += len(x.pending[n].args)
			n++
		}
		batch := x.pending[:n:n]
		x.pending = x.pending[n:]
		x.mu.Unlock()
		x.run(batch)
	}
}

func (x *xaddPipe) run(batch []*xaddCall) {
	live := batch[:0:0]
	deadline := time.Now().Add(5 * time.Second)
	for _, c := range batch {
		if c.ctx.Err() != nil {
			c.err = c.ctx.Err()
			close(c.done)
			continue
		}
		if d, ok := c.ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithDeadline(context.WithoutCancel(live[0].ctx), deadline)
	defer cancel()
	pipe := x.rdb.Pipeline()
	cmds := make([][]*redis.StringCmd, len(live))
	for i, c := range live {
		for _, a := range c.args {
			cmds[i] = append(cmds[i], pipe.XAdd(ctx, a))
		}
	}
	_, _ = pipe.Exec(ctx) // errors are per command, below
	for i, c := range live {
		for _, cmd := range cmds[i] {
			if err := cmd.Err(); err != nil {
				c.err = err
				break
			}
		}
		close(c.done)
	}
}
