package watermill

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs"
)

// streamReader consumes one stream for one consumer of the group: the
// work of watermill-redisstream's subscriber (same message format, same
// claiming of dead consumers' pending messages, same removal of idle
// consumers), except that it reads up to as many messages per XREADGROUP
// as it has free slots, and acknowledges in batches: Watermill reads and
// acknowledges one message per round trip, which cost a third of a job's
// round trips.
//
// It never holds more messages than slots (n), so messages are not read
// ahead of what this consumer can run: they stay in the stream for the
// other workers.
type streamReader struct {
	rdb      *redis.Client
	stream   string
	group    string
	consumer string
	cfg      RedisConfig
	// shouldClaim decides on a pending message idle for MaxIdleTime.
	shouldClaim func(redis.XPendingExt) bool
	log         *slog.Logger

	slots chan struct{} // a token per message held
	// work hands the messages read or claimed to the n goroutines that
	// hold them: long-lived, so a job does not start a goroutine, nor
	// grow a new stack through the store's calls (≈ 5 % of a worker's
	// CPU when each message had its own goroutine).
	work chan redis.XMessage
	out  chan *message.Message
	acks chan string
	// deliver, when set, handles a message in the goroutine that holds
	// it instead of handing it over on out (one goroutine and one
	// hand-off less per job), with the record the entry carries
	// (jobs.StreamRecordField, "" for none); false when the consumer
	// stopped taking messages (the message stays pending).
	deliver func(*message.Message, string) bool

	// state is whether the last read worked (see recovery.go).
	state consumeState
}

// maxReadBatch bounds the messages of one XREADGROUP.
const maxReadBatch = 64

func (r *streamReader) start(ctx context.Context, n int) (<-chan *message.Message, error) {
	if err := r.ensureGroup(ctx); err != nil {
		return nil, err
	}
	r.slots = make(chan struct{}, n)
	r.work = make(chan redis.XMessage, n)
	r.out = make(chan *message.Message)
	r.acks = make(chan string, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() { r.holdLoop(ctx) })
	}
	wg.Go(func() { r.ackLoop(ctx) })
	wg.Go(func() { r.claimLoop(ctx) })
	wg.Go(func() { r.consumersLoop(ctx) })
	wg.Go(func() { r.readLoop(ctx) })
	go func() { wg.Wait(); close(r.out) }()
	return r.out, nil
}

// take waits for one free slot, then takes up to limit-1 more that are
// free at once; 0 when ctx ended.
func (r *streamReader) take(ctx context.Context, limit int) int {
	select {
	case r.slots <- struct{}{}:
	case <-ctx.Done():
		return 0
	}
	got := 1
	for got < limit {
		select {
		case r.slots <- struct{}{}:
			got++
		default:
			return got
		}
	}
	return got
}

func (r *streamReader) give(k int) {
	for range k {
		<-r.slots
	}
}

func (r *streamReader) readLoop(ctx context.Context) {
	for ctx.Err() == nil {
		k := r.take(ctx, maxReadBatch)
		if k == 0 {
			return
		}
		xss, err := r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: r.group, Consumer: r.consumer, Streams: []string{r.stream, ">"},
			Count: int64(k), Block: r.cfg.BlockTime,
		}).Result()
		var msgs []redis.XMessage
		if len(xss) > 0 {
			msgs = xss[0].Messages
		}
		r.give(k - len(msgs))
		switch {
		case err == nil, errors.Is(err, redis.Nil):
			r.state.set(nil)
		case ctx.Err() != nil:
			return
		default:
			r.state.set(err)
			if r.recoverGroup(ctx, err) {
				continue
			}
			r.log.Error("read job stream", "stream", r.stream, "error", err)
			sleep(ctx, 500*time.Millisecond)
		}
		for _, xm := range msgs {
			r.handOver(ctx, xm)
		}
	}
}

// handOver gives a message read or claimed (holding a slot) to a holding
// goroutine. It does not wait: there are as many of those as slots, and
// one is back in holdLoop before its slot is given back.
func (r *streamReader) handOver(ctx context.Context, xm redis.XMessage) {
	select {
	case r.work <- xm:
	case <-ctx.Done():
		r.give(1) // stays pending, for another consumer once this one is dead
	}
}

// holdLoop holds the messages handed over until ctx ends.
func (r *streamReader) holdLoop(ctx context.Context) {
	for {
		select {
		case xm := <-r.work:
			r.hold(ctx, xm)
		case <-ctx.Done():
			return
		}
	}
}

// hold hands one message (holding a slot) to the consumer until it is
// acknowledged, redelivering it after a nack; the slot is given back
// once the acknowledgement reached Redis, or when ctx ends (then the
// message stays pending, for another consumer to claim once this one is
// dead).
func (r *streamReader) hold(ctx context.Context, xm redis.XMessage) {
	msg, err := redisstream.DefaultMarshallerUnmarshaller{}.Unmarshal(xm.Values)
	if err != nil {
		r.log.Error("dropping an undecodable job message", "stream", r.stream, "id", xm.ID, "error", err)
		r.ack(ctx, xm.ID)
		return
	}
	record, _ := xm.Values[jobs.StreamRecordField].(string)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		msg.SetContext(mctx)
		if r.deliver != nil {
			// deliver returns after the handler acked, nacked or
			// abandoned the message.
			if !r.deliver(msg, record) {
				r.give(1)
				return
			}
		} else {
			select {
			case r.out <- msg:
			case <-ctx.Done():
				r.give(1)
				return
			}
		}
		select {
		case <-msg.Acked():
			r.ack(ctx, xm.ID)
			return
		case <-msg.Nacked():
			// Broker.deliver waited NackDelay before nacking.
			msg = msg.Copy()
		case <-ctx.Done():
			r.give(1)
			return
		}
	}
}

// ack hands id, and its slot, to ackLoop, which gives the slot back once
// the message is acknowledged: the stream never has more than n pending
// messages of this consumer.
func (r *streamReader) ack(ctx context.Context, id string) {
	select {
	case r.acks <- id:
	case <-ctx.Done():
		r.give(1)
	}
}

// ackLoop acknowledges in batches: what queued up while the previous
// XACK was on the wire goes in the next one, so a lone message is
// acknowledged at once and a busy consumer sends few XACKs. A failed
// XACK is retried until ctx ends (an unacknowledged message is claimed
// by another worker only once this one is dead, and dropped there as a
// duplicate).
func (r *streamReader) ackLoop(ctx context.Context) {
	ids := make([]string, 0, cap(r.acks))
	for {
		ids = ids[:0]
		select {
		case id := <-r.acks:
			ids = append(ids, id)
		case <-ctx.Done():
			return
		}
	drain:
		for len(ids) < cap(ids) {
			select {
			case id := <-r.acks:
				ids = append(ids, id)
			default:
				break drain
			}
		}
		for {
			err := r.rdb.XAck(ctx, r.stream, r.group, ids...).Err()
			if err == nil || ctx.Err() != nil {
				break
			}
			r.log.Error("acknowledge job messages", "stream", r.stream, "error", err)
			sleep(ctx, 100*time.Millisecond)
		}
		r.give(len(ids))
	}
}

// claimLoop takes over the pending messages of dead consumers: at once,
// then every ClaimInterval.
func (r *streamReader) claimLoop(ctx context.Context) {
	const batch = 100
	t := time.NewTicker(r.cfg.ClaimInterval)
	defer t.Stop()
	for {
		for {
			looked, claimed, err := r.claimOnce(ctx, batch)
			if err != nil && ctx.Err() == nil && !r.recoverGroup(ctx, err) {
				r.log.Error("claim pending job messages", "stream", r.stream, "error", err)
			}
			if err != nil || looked < batch || claimed == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// claimOnce looks at up to limit pending messages and claims those
// shouldClaim allows; it returns how many it looked at and claimed.
func (r *streamReader) claimOnce(ctx context.Context, limit int) (looked, claimed int, err error) {
	xps, err := r.rdb.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: r.stream, Group: r.group, Idle: r.cfg.MaxIdleTime, Start: "-", End: "+", Count: int64(limit),
	}).Result()
	if err != nil {
		return 0, 0, err
	}
	for _, xp := range xps {
		if xp.Idle < r.cfg.MaxIdleTime || !r.shouldClaim(xp) {
			continue
		}
		if r.take(ctx, 1) == 0 {
			return len(xps), claimed, ctx.Err()
		}
		// MinIdle makes two claimers of one message exclusive.
		xms, err := r.rdb.XClaim(ctx, &redis.XClaimArgs{
			Stream: r.stream, Group: r.group, Consumer: r.consumer, MinIdle: r.cfg.MaxIdleTime, Messages: []string{xp.ID},
		}).Result()
		switch {
		case errors.Is(err, redis.Nil):
			r.give(1)
			r.rdb.XAck(ctx, r.stream, r.group, xp.ID) // trimmed away: nothing to deliver
			continue
		case err != nil:
			r.give(1)
			return len(xps), claimed, err
		case len(xms) == 0:
			r.give(1) // claimed by another consumer first
			continue
		}
		claimed++
		r.handOver(ctx, xms[0])
	}
	return len(xps), claimed, nil
}

// consumersLoop removes the group's consumers idle for 10 minutes with
// nothing pending (the names of stopped workers), every 5 minutes.
func (r *streamReader) consumersLoop(ctx context.Context) {
	t := time.NewTicker(5 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cs, err := r.rdb.XInfoConsumers(ctx, r.stream, r.group).Result()
		if err != nil {
			continue
		}
		for _, c := range cs {
			if c.Idle >= 10*time.Minute && c.Pending == 0 && c.Name != r.consumer {
				r.rdb.XGroupDelConsumer(ctx, r.stream, r.group, c.Name)
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
