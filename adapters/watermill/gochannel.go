package watermill

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/tradesense/tradesense/core/jobs"
)

// GoChannelConfig configures the in-process transport.
type GoChannelConfig struct {
	// Buffer is each subscriber's channel buffer (default 1024).
	Buffer int64
}

// NewGoChannel returns the in-process broker of the local profile. Its
// messages live in memory: a job published while no worker consumes its
// queue, or still queued when the process stops, is not delivered (its
// record stays queued; the timer set republishes it after
// jobs.Config.RescueAfter once a worker runs). The cleanup closes it.
func NewGoChannel(cfg GoChannelConfig, log *slog.Logger) (*Broker, func(), error) {
	if cfg.Buffer <= 0 {
		cfg.Buffer = 1024
	}
	ps := gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: cfg.Buffer}, wmLogger(log))
	var published, received sync.Map // topic -> *atomic.Int64
	count := func(m *sync.Map, topic string) *atomic.Int64 {
		c, _ := m.LoadOrStore(topic, new(atomic.Int64))
		return c.(*atomic.Int64)
	}
	b := &Broker{
		name:      "watermill-gochannel",
		pub:       countingPublisher{ps, func(topic string) { count(&published, topic).Add(1) }},
		topic:     func(q string) string { return "jobs." + q },
		log:       log,
		nackDelay: time.Second,
	}
	b.subscribe = func(ctx context.Context, topic string, _ int) ([]<-chan *message.Message, func(), error) {
		// One subscription: GoChannel fans every message out to each
		// subscriber, and delivers the next message before the previous
		// one is acknowledged, so Consume's semaphore bounds concurrency.
		ch, err := ps.Subscribe(ctx, topic)
		if err != nil {
			return nil, nil, err
		}
		out := make(chan *message.Message)
		go func() {
			defer close(out)
			for m := range ch {
				count(&received, topic).Add(1)
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			}
		}()
		return []<-chan *message.Message{out}, func() {}, nil
	}
	b.depth = func(_ context.Context, queue string) (jobs.Depth, error) {
		t := b.topic(queue)
		return jobs.Depth{
			Pending:  max(count(&published, t).Load()-count(&received, t).Load(), 0),
			InFlight: b.counter(queue).Load(),
		}, nil
	}
	return b, func() { _ = ps.Close() }, nil
}

type countingPublisher struct {
	message.Publisher
	onPublish func(topic string)
}

func (p countingPublisher) Publish(topic string, msgs ...*message.Message) error {
	for range msgs {
		p.onPublish(topic)
	}
	return p.Publisher.Publish(topic, msgs...)
}
