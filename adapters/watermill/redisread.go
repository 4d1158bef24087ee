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
	// Acknowledgements: the IDs the consumer acknowledged, each still
	// holding its slot, wait in ackIDs. The read loop sends them in the
	// same pipeline as its next (non-blocking) XREADGROUP, whose COUNT
	// takes over their slots: one round trip per batch instead of two.
	// While the loop waits in a blocking read (nothing was pending),
	// ackLoop sends them instead, so an idle consumer's acks are not held
	// for a BlockTime.
	ackMu    sync.Mutex
	ackIDs   []string
	blocking bool          // the read loop is in a blocking XREADGROUP
	ackWake  chan struct{} // ackLoop: acks arrived during a blocking read
	readWake chan struct{} // readLoop: acks arrived (their slots are reusable)
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
	r.ackWake = make(chan struct{}, 1)
	r.readWake = make(chan struct{}, 1)
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
	return 1 + r.takeFree(limit-1)
}

// takeFree takes up to limit slots that are free at once.
func (r *streamReader) takeFree(limit int) int {
	got := 0
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

// takeForRead waits for a free slot or an acknowledged message (whose
// slot the read may reuse once the acknowledgement is sent with it). It
// returns the slots taken and the acknowledged IDs it took over, and
// marks the read as blocking when there are none (acks arriving during
// it go to ackLoop); k+len(ids) is 0 when ctx ended.
func (r *streamReader) takeForRead(ctx context.Context, limit int) (k int, ids []string) {
	for {
		r.ackMu.Lock()
		ids, r.ackIDs = r.ackIDs, nil
		k = r.takeFree(max(limit-len(ids), 0))
		if k+len(ids) > 0 {
			r.blocking = len(ids) == 0
			r.ackMu.Unlock()
			return k, ids
		}
		r.ackMu.Unlock()
		select {
		case r.slots <- struct{}{}:
			r.give(1) // taken again under the lock, with the acks
		case <-r.readWake:
		case <-ctx.Done():
			return 0, nil
		}
	}
}

func (r *streamReader) give(k int) {
	for range k {
		<-r.slots
	}
}

func (r *streamReader) readLoop(ctx context.Context) {
	defer r.flushAcks(ctx)
	for ctx.Err() == nil {
		k, ids := r.takeForRead(ctx, maxReadBatch)
		if k+len(ids) == 0 {
			return
		}
		var xss []redis.XStream
		var err error
		held := k + len(ids) // slots the read may fill
		if len(ids) == 0 {
			xss, err = r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{
				Group: r.group, Consumer: r.consumer, Streams: []string{r.stream, ">"},
				Count: int64(k), Block: r.cfg.BlockTime,
			}).Result()
			r.ackMu.Lock()
			r.blocking = false
			r.ackMu.Unlock()
		} else {
			var requeued bool
			xss, requeued, err = r.ackAndRead(ctx, ids, k)
			if requeued {
				held = k // the IDs keep theirs, waiting for the next read
			}
		}
		var msgs []redis.XMessage
		if len(xss) > 0 {
			msgs = xss[0].Messages
		}
		r.give(held - len(msgs))
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

// ackAndRead sends XACK ids and a non-blocking XREADGROUP of up to
// k+len(ids) messages in one pipeline: Redis runs them in order, so the
// acknowledged messages have left the pending list before the read adds
// new ones, and the stream never has more pending messages of this
// consumer than slots. When the XACK fails and the read did not, the
// XACK is retried alone until it succeeds or ctx ends, as ackLoop does
// (the read's messages hold the acknowledged ones' slots); when both
// fail (Redis unreachable), the IDs wait for the next read, still holding
// their slots, and the read counts as having read nothing.
func (r *streamReader) ackAndRead(ctx context.Context, ids []string, k int) (xss []redis.XStream, requeued bool, err error) {
	var ack *redis.IntCmd
	var read *redis.XStreamSliceCmd
	_, _ = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		ack = p.XAck(ctx, r.stream, r.group, ids...)
		read = p.XReadGroup(ctx, &redis.XReadGroupArgs{
			Group: r.group, Consumer: r.consumer, Streams: []string{r.stream, ">"},
			Count: int64(k + len(ids)), Block: -1,
		})
		return nil
	})
	xss, err = read.Result()
	if ack.Err() != nil {
		switch {
		case redis.HasErrorPrefix(ack.Err(), "NOGROUP"):
			// The group, and its pending list, are gone: nothing to
			// acknowledge (recoverGroup makes the group again).
		case err != nil && !errors.Is(err, redis.Nil):
			r.ackMu.Lock()
			r.ackIDs = append(ids, r.ackIDs...)
			r.ackMu.Unlock()
			return nil, true, err
		default:
			r.xack(ctx, ids)
		}
	}
	return xss, false, err
}

// xack acknowledges ids, retrying a failed XACK until ctx ends (an
// unacknowledged message is claimed by another worker only once this one
// is dead, and dropped there as a duplicate).
func (r *streamReader) xack(ctx context.Context, ids []string) {
	for {
		err := r.rdb.XAck(ctx, r.stream, r.group, ids...).Err()
		if err == nil || ctx.Err() != nil {
			return
		}
		r.log.Error("acknowledge job messages", "stream", r.stream, "error", err)
		sleep(ctx, 100*time.Millisecond)
	}
}

// flushAcks sends the acknowledgements still waiting when the read loop
// stops (within a second: the consumer is shutting down).
func (r *streamReader) flushAcks(ctx context.Context) {
	r.ackMu.Lock()
	ids := r.ackIDs
	r.ackIDs = nil
	r.ackMu.Unlock()
	if len(ids) == 0 {
		return
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := r.rdb.XAck(fctx, r.stream, r.group, ids...).Err(); err != nil {
		r.log.Error("acknowledge job messages", "stream", r.stream, "error", err)
	}
	r.give(len(ids))
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

// ack queues id, which keeps its slot until the acknowledgement reached
// Redis (sent with the next read, or by ackLoop during a blocking read):
// the stream never has more than n pending messages of this consumer.
func (r *streamReader) ack(_ context.Context, id string) {
	r.ackMu.Lock()
	r.ackIDs = append(r.ackIDs, id)
	blocking := r.blocking
	r.ackMu.Unlock()
	wake(r.readWake)
	if blocking {
		wake(r.ackWake)
	}
}

func wake(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ackLoop acknowledges what the consumer acknowledged while the read loop
// waits in a blocking read (then no read is coming to carry them): a
// lone message is acknowledged at once. A failed XACK is retried until
// ctx ends.
func (r *streamReader) ackLoop(ctx context.Context) {
	for {
		select {
		case <-r.ackWake:
		case <-ctx.Done():
			return
		}
		r.ackMu.Lock()
		var ids []string
		if r.blocking {
			ids, r.ackIDs = r.ackIDs, nil
		}
		r.ackMu.Unlock()
		if len(ids) == 0 {
			continue
		}
		r.xack(ctx, ids)
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
