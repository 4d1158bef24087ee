package watermill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
)

// Recovery from a Redis that lost its state.
//
// A consumer group lives in Redis beside its stream. When Redis restarts
// empty (no persistence, a failover to a replica that had not synced, a
// FLUSHALL), the groups are gone: XREADGROUP and XPENDING answer NOGROUP
// for as long as nobody re-creates them, and a publisher's XADD re-creates
// only the stream. Every reader therefore re-creates its group whenever
// Redis says it is missing, from ID 0: the stream, or what a publisher
// wrote since the loss, is then delivered in full. Re-creating a group on
// a stream that survived (someone deleted only the group) redelivers the
// messages not trimmed yet; the worker drops those whose job is no longer
// at that sequence, as it drops any duplicate of at-least-once delivery.

// isNoGroup reports a Redis NOGROUP error: the stream or its group does
// not exist.
func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}

// ensureGroup creates r's consumer group, and its stream, unless the
// group exists.
func (r *streamReader) ensureGroup(ctx context.Context) error {
	err := r.rdb.XGroupCreateMkStream(ctx, r.stream, r.group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("create consumer group %s of %s: %w", r.group, r.stream, err)
	}
	return nil
}

// recoverGroup is what a reader does with the error of a Redis call that
// needs the group: on NOGROUP it re-creates the group and reports true
// (call again at once); any other error is left to the caller.
func (r *streamReader) recoverGroup(ctx context.Context, err error) bool {
	if !isNoGroup(err) {
		return false
	}
	r.log.Warn("job stream lost its consumer group (Redis restarted empty or was flushed?); re-creating it",
		"stream", r.stream, "group", r.group, "error", err)
	if gerr := r.ensureGroup(ctx); gerr != nil {
		if ctx.Err() == nil {
			r.log.Error("re-create the job stream's consumer group", "stream", r.stream, "error", gerr)
		}
		return false
	}
	return true
}

// consumeState is whether a reader can consume: nil after a read that
// worked (a message or an empty blocking read), the error of the last
// read otherwise.
type consumeState struct {
	err atomic.Pointer[error]
}

func (s *consumeState) set(err error) {
	if err == nil {
		s.err.Store(nil)
		return
	}
	s.err.Store(&err)
}

func (s *consumeState) get() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// readers tracks the running readers of a broker, for ConsumeErr.
type readers struct {
	mu  sync.Mutex
	all map[*streamReader]struct{}
}

func (rs *readers) add(r *streamReader) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.all == nil {
		rs.all = map[*streamReader]struct{}{}
	}
	rs.all[r] = struct{}{}
}

func (rs *readers) remove(r *streamReader) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	delete(rs.all, r)
}

// err joins the errors of the readers that cannot consume now.
func (rs *readers) err() error {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	var errs []error
	for r := range rs.all {
		if err := r.state.get(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.stream, err))
		}
	}
	return errors.Join(errs...)
}
