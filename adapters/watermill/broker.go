// Package watermill is the job system's transport on Watermill: the
// jobs.Broker port over Redis Streams (production: watermill-redisstream's
// message format, written by pipelined XADDs and read by this package's
// batched consumer;
// one consumer group per queue, acknowledged only after the handler
// returned, pending messages of dead workers reclaimed) and over
// Watermill's GoChannel (the local profile, in-process).
package watermill

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	wm "github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/tradesense/tradesense/core/jobs"
)

// body is the JSON payload of a job message; the trace context travels in
// the Watermill metadata.
type body struct {
	JobID string `json:"job_id"`
	Seq   int    `json:"seq"`
	Queue string `json:"queue"`
	Kind  string `json:"kind"`
}

// Broker is the Watermill adapter of jobs.Broker.
type Broker struct {
	name string
	pub  message.Publisher
	// publishMany, when set, sends messages itself (Redis: pipelined
	// XADDs) instead of one pub.Publish each.
	publishMany func(ctx context.Context, out []outMsg) error
	subscribe   func(ctx context.Context, topic string, n int) ([]<-chan *message.Message, func(), error)
	// direct, when set, consumes by calling deliver in the goroutine
	// that holds each message (Redis Streams) instead of subscribe's
	// channels; up to n messages at a time. deliver's record is the
	// entry's jobs.StreamRecordField ("" for none).
	direct func(ctx context.Context, topic string, n int, deliver func(msg *message.Message, record string) bool) (func(), error)
	topic  func(queue string) string
	depth  func(ctx context.Context, queue string) (jobs.Depth, error)
	log    *slog.Logger
	// nackDelay spaces redeliveries of a message whose handling failed
	// (the job store unreachable), so a failure does not spin.
	nackDelay time.Duration
	// ackGrace keeps the subscriptions open this long after the last
	// handler returned, for its acknowledgement to reach the transport.
	ackGrace time.Duration
	// onConsume runs beside each Consume (the stream trimmer).
	onConsume func(ctx context.Context, queue string)
	// consumeErr says why the running Consume calls cannot read (nil:
	// they can, or the transport cannot fail that way).
	consumeErr func() error
	readers    readers
	// streamEntry and target: see StreamEntry (Redis Streams only).
	streamEntry func(jobs.Message) (jobs.StreamEntry, error)
	target      any

	inFlight sync.Map // queue -> *atomic.Int64
}

var (
	_ jobs.Broker        = (*Broker)(nil)
	_ jobs.ConsumeHealth = (*Broker)(nil)
	_ jobs.StreamEncoder = (*Broker)(nil)
)

func wmLogger(log *slog.Logger) wm.LoggerAdapter {
	// Watermill logs every subscription at info; ours are routine.
	return wm.NewSlogLoggerWithLevelMapping(log, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
}

// Name says which transport the broker uses, for the start-up log.
func (b *Broker) Name() string { return b.name }

// Publish implements jobs.Broker.
func (b *Broker) Publish(ctx context.Context, m jobs.Message) error {
	return b.PublishMany(ctx, []jobs.Message{m})
}

// PublishMany implements jobs.Broker: on Redis Streams every XADD in one
// pipeline (shared with concurrent Publish calls); on GoChannel one
// Publish per message.
func (b *Broker) PublishMany(ctx context.Context, ms []jobs.Message) error {
	out := make([]outMsg, len(ms))
	for i, m := range ms {
		msg, err := newMessage(m)
		if err != nil {
			return jobs.BrokerUnavailable(err)
		}
		msg.SetContext(ctx)
		out[i] = outMsg{topic: b.topic(m.Queue), queue: m.Queue, msg: msg}
	}
	if b.publishMany != nil {
		return b.publishMany(ctx, out)
	}
	for _, o := range out {
		if err := b.pub.Publish(o.topic, o.msg); err != nil {
			return jobs.BrokerUnavailable(fmt.Errorf("publish to %s: %w", o.queue, err))
		}
	}
	return nil
}

// newMessage is m as a Watermill message.
func newMessage(m jobs.Message) (*message.Message, error) {
	payload, err := encodeBody(body{JobID: m.JobID, Seq: m.Seq, Queue: m.Queue, Kind: m.Kind})
	if err != nil {
		return nil, err
	}
	msg := message.NewMessage(wm.NewUUID(), payload)
	for k, v := range m.Metadata {
		msg.Metadata.Set(k, v)
	}
	return msg, nil
}

// StreamEntry implements jobs.StreamEncoder: m as the Redis broker
// appends it (an error on GoChannel, which has no streams).
func (b *Broker) StreamEntry(m jobs.Message) (jobs.StreamEntry, error) {
	if b.streamEntry == nil {
		return jobs.StreamEntry{}, jobs.BrokerUnavailable(errors.New("this transport has no streams"))
	}
	return b.streamEntry(m)
}

// StreamTarget implements jobs.StreamEncoder: the Redis client the
// streams are written with (nil on GoChannel).
func (b *Broker) StreamTarget() any { return b.target }

// outMsg is one message to publish on topic.
type outMsg struct {
	topic, queue string
	msg          *message.Message
}

func (b *Broker) counter(queue string) *atomic.Int64 {
	c, _ := b.inFlight.LoadOrStore(queue, new(atomic.Int64))
	return c.(*atomic.Int64)
}

// Consume implements jobs.Broker. The subscriptions outlive ctx until the
// running handlers have returned, so their acknowledgements still reach
// the transport during a graceful shutdown.
func (b *Broker) Consume(ctx context.Context, queue string, concurrency int, handle func(context.Context, jobs.Message) error) error {
	subCtx, cancelSub := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSub()
	if b.direct != nil {
		return b.consumeDirect(ctx, subCtx, queue, concurrency, handle)
	}
	chans, closeSub, err := b.subscribe(subCtx, b.topic(queue), concurrency)
	if err != nil {
		return jobs.BrokerUnavailable(fmt.Errorf("subscribe to %s: %w", queue, err))
	}
	defer closeSub()
	if b.onConsume != nil {
		go b.onConsume(ctx, queue)
	}
	hctx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, concurrency)
	inFlight := b.counter(queue)
	var wg sync.WaitGroup
	for _, ch := range chans {
		wg.Go(func() {
			var running sync.WaitGroup
			defer running.Wait()
			for {
				select {
				case <-ctx.Done():
					return
				case sem <- struct{}{}:
				}
				var msg *message.Message
				var ok bool
				select {
				case <-ctx.Done():
					<-sem
					return
				case msg, ok = <-ch:
				}
				if !ok {
					<-sem
					return
				}
				inFlight.Add(1)
				running.Go(func() {
					defer func() { inFlight.Add(-1); <-sem }()
					b.deliver(hctx, ctx, msg, "", handle)
				})
			}
		})
	}
	wg.Wait()
	time.Sleep(b.ackGrace)
	return nil
}

// consumeDirect is Consume on a transport that runs deliver in the
// goroutine holding each message (it bounds them to concurrency itself).
func (b *Broker) consumeDirect(ctx, subCtx context.Context, queue string, concurrency int, handle func(context.Context, jobs.Message) error) error {
	hctx := context.WithoutCancel(ctx)
	inFlight := b.counter(queue)
	var mu sync.Mutex
	stopped := false
	var running sync.WaitGroup
	closeSub, err := b.direct(subCtx, b.topic(queue), concurrency, func(msg *message.Message, record string) bool {
		mu.Lock()
		if stopped || ctx.Err() != nil {
			mu.Unlock()
			return false
		}
		running.Add(1)
		mu.Unlock()
		defer running.Done()
		inFlight.Add(1)
		defer inFlight.Add(-1)
		b.deliver(hctx, ctx, msg, record, handle)
		return true
	})
	if err != nil {
		return jobs.BrokerUnavailable(fmt.Errorf("subscribe to %s: %w", queue, err))
	}
	defer closeSub()
	if b.onConsume != nil {
		go b.onConsume(ctx, queue)
	}
	<-ctx.Done()
	mu.Lock()
	stopped = true
	mu.Unlock()
	running.Wait()
	time.Sleep(b.ackGrace)
	return nil
}

func (b *Broker) deliver(hctx, consumeCtx context.Context, msg *message.Message, record string, handle func(context.Context, jobs.Message) error) {
	bd, err := decodeBody(msg.Payload)
	if err != nil || bd.JobID == "" {
		b.log.Error("dropping a malformed job message", "message_uuid", msg.UUID, "error", err)
		msg.Ack()
		return
	}
	md := make(map[string]string, len(msg.Metadata))
	for k, v := range msg.Metadata {
		md[k] = v
	}
	err = handle(hctx, jobs.Message{JobID: bd.JobID, Seq: bd.Seq, Queue: bd.Queue, Kind: bd.Kind, Metadata: md, Record: record})
	switch {
	case err == nil:
		msg.Ack()
	case errors.Is(err, jobs.ErrAbandon):
		// Neither ack nor nack: the message stays pending and is claimed
		// by another worker once this one is gone.
	default:
		b.log.Warn("job message not handled; redelivering", "job_id", bd.JobID, "error", err)
		t := time.NewTimer(b.nackDelay)
		select {
		case <-t.C:
			msg.Nack()
		case <-consumeCtx.Done():
			t.Stop()
		}
	}
}

// ConsumeErr implements jobs.ConsumeHealth: the reason this process's
// Consume calls cannot read from the transport now (Redis down, or a
// consumer group that could not be re-created), nil when they can.
func (b *Broker) ConsumeErr() error {
	if b.consumeErr == nil {
		return nil
	}
	return b.consumeErr()
}

// Depth implements jobs.Broker.
func (b *Broker) Depth(ctx context.Context, queue string) (jobs.Depth, error) {
	return b.depth(ctx, queue)
}
