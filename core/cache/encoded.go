package cache

import (
	"context"
	"time"
)

// Encoding turns a value into the bytes a transport serves (an HTTP
// answer's body, say). Name tells encodings apart in a Layer: two
// encodings of one value must have different names. Encode must return
// the same bytes for equal values, and may not keep v.
type Encoding[T any] struct {
	Name   string
	Encode func(v T) ([]byte, error)
}

// GetOrEncode returns enc's bytes of the value key names: the bytes kept
// in l under prefix + enc.Name + ":" + key when there are some (shared
// with other callers: they must not be modified), else enc of load's
// value, then kept for ttl. A nil l loads and encodes every time.
//
// Entries are never invalidated, so key must change whenever the value
// may (a user's data version in it, say). l is meant to be a bounded
// in-process Layer (the memory adapter), which cannot fail but on a bad
// key: such a key is a miss each time, not an error.
func GetOrEncode[T any](ctx context.Context, l *Layer, prefix, key string, ttl time.Duration, enc Encoding[T],
	load func(context.Context) (T, error)) ([]byte, error) {
	full := prefix + enc.Name + ":" + key
	if l != nil {
		if b, found, err := l.GetShared(ctx, full); err == nil && found {
			return b, nil
		}
	}
	v, err := load(ctx)
	if err != nil {
		return nil, err
	}
	b, err := enc.Encode(v)
	if err == nil && l != nil {
		_ = l.Set(ctx, full, b, ttl)
	}
	return b, err
}
