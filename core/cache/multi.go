package cache

import (
	"context"
	"errors"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

var (
	errShortReply = errors.New("cache: backend returned fewer values than keys")
	errBypassed   = errors.New("cache: backend skipped for the cooldown after a failure")
)

// MultiGetter is implemented by backends that read several keys in one
// round trip (Redis MGET), and by the Layer for every backend.
type MultiGetter interface {
	// GetMany returns the values of keys, in order; a nil entry is a
	// missing or expired key (a stored empty value is a non-nil empty
	// slice). It fails like Cache.Get.
	GetMany(ctx context.Context, keys ...string) ([][]byte, error)
}

var _ MultiGetter = (*Layer)(nil)

// GetMany implements MultiGetter: one backend round trip when the backend
// is a MultiGetter, one Get per key otherwise. Hits and misses are counted
// per key. Like GetOrLoad, and unlike the other direct calls, it skips a
// backend that failed less than Cooldown ago, failing at once with
// apperr.Unavailable: its callers read through to their source on any
// failure, and a dead backend would otherwise cost each of them the
// per-call Timeout.
func (l *Layer) GetMany(ctx context.Context, keys ...string) (out [][]byte, err error) {
	if len(keys) == 0 {
		return nil, nil
	}
	for _, k := range keys {
		if err := ValidateKey(k); err != nil {
			return nil, err
		}
	}
	if l.bypassed() {
		l.failOpens.Add(ctx, 1, l.metricsFor(keys[0]).base)
		return nil, Unavailable(errBypassed)
	}
	defer func() {
		if err != nil && l.cfg.Cooldown > 0 && apperr.Is(err, apperr.Unavailable) && ctx.Err() == nil {
			l.downUntil.Store(time.Now().UnixNano() + int64(l.cfg.Cooldown))
		}
	}()
	mg, ok := l.backend.(MultiGetter)
	if !ok {
		out := make([][]byte, len(keys))
		for i, k := range keys {
			v, found, err := l.get(ctx, k, l.metricsFor(k))
			if err != nil {
				return nil, err
			}
			if found && v == nil {
				v = []byte{}
			}
			out[i] = v
		}
		return out, nil
	}
	cctx, cancel := l.deadline(ctx)
	out, err = mg.GetMany(cctx, keys...)
	cancel()
	if err == nil && len(out) != len(keys) {
		err = Unavailable(errShortReply)
	}
	if err != nil {
		l.recordErr(ctx, l.metricsFor(keys[0]), opGet)
		return nil, normalize(err)
	}
	for i, k := range keys {
		pm := l.metricsFor(k)
		if out[i] != nil {
			l.hits.Add(ctx, 1, pm.base)
		} else {
			l.misses.Add(ctx, 1, pm.base)
		}
	}
	return out, nil
}
