package jobstest

import (
	"context"
	"errors"
	"sync"

	"github.com/tradesense/tradesense/core/jobs"
)

// ChanBroker is an in-process jobs.Broker for tests of the worker: one
// buffered channel per queue, a nacked message goes to the back of its
// queue, an abandoned one is kept in Abandoned.
type ChanBroker struct {
	mu        sync.Mutex
	queues    map[string]chan jobs.Message
	inFlight  map[string]int64
	abandoned []jobs.Message
	published int
}

var _ jobs.Broker = (*ChanBroker)(nil)

// NewChanBroker returns an empty broker.
func NewChanBroker() *ChanBroker {
	return &ChanBroker{queues: map[string]chan jobs.Message{}, inFlight: map[string]int64{}}
}

func (b *ChanBroker) queue(q string) chan jobs.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.queues[q]
	if !ok {
		c = make(chan jobs.Message, 100000)
		b.queues[q] = c
	}
	return c
}

// Publish implements jobs.Broker.
func (b *ChanBroker) Publish(_ context.Context, m jobs.Message) error {
	b.mu.Lock()
	b.published++
	b.mu.Unlock()
	select {
	case b.queue(m.Queue) <- m:
		return nil
	default:
		return jobs.BrokerUnavailable(errors.New("queue full"))
	}
}

// PublishMany implements jobs.Broker: Publish for each message.
func (b *ChanBroker) PublishMany(ctx context.Context, ms []jobs.Message) error {
	for _, m := range ms {
		if err := b.Publish(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

// Published returns the number of Publish calls.
func (b *ChanBroker) Published() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.published
}

// Abandoned returns the messages left for redelivery by ErrAbandon.
func (b *ChanBroker) Abandoned() []jobs.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]jobs.Message(nil), b.abandoned...)
}

// Consume implements jobs.Broker.
func (b *ChanBroker) Consume(ctx context.Context, queue string, concurrency int, handle func(context.Context, jobs.Message) error) error {
	c := b.queue(queue)
	hctx := context.WithoutCancel(ctx)
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return nil
		case sem <- struct{}{}:
		}
		select {
		case <-ctx.Done():
			return nil
		case m := <-c:
			b.mu.Lock()
			b.inFlight[queue]++
			b.mu.Unlock()
			wg.Go(func() {
				defer func() { <-sem }()
				err := handle(hctx, m)
				b.mu.Lock()
				b.inFlight[queue]--
				if errors.Is(err, jobs.ErrAbandon) {
					b.abandoned = append(b.abandoned, m)
				}
				b.mu.Unlock()
				if err != nil && !errors.Is(err, jobs.ErrAbandon) {
					c <- m
				}
			})
		}
	}
}

// Depth implements jobs.Broker.
func (b *ChanBroker) Depth(_ context.Context, queue string) (jobs.Depth, error) {
	c := b.queue(queue)
	b.mu.Lock()
	defer b.mu.Unlock()
	return jobs.Depth{Pending: int64(len(c)), InFlight: b.inFlight[queue]}, nil
}
