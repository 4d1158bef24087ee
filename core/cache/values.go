package cache

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// Entry is an in-process cache entry: its bytes, shared and read-only, and
// a slot for the value decoded from them.
type Entry struct {
	Data  []byte
	Value *ValueSlot
}

// ValueSlot holds the decoded value of one entry. A new entry gets a new
// slot, so a value can never outlive the bytes it was decoded from.
type ValueSlot struct{ v atomic.Value }

// Load returns the decoded value, or nil.
func (s *ValueSlot) Load() any { return s.v.Load() }

// Store records the decoded value. Values of different types may not share
// a slot; the first one stored wins.
func (s *ValueSlot) Store(v any) {
	defer func() { _ = recover() }() // atomic.Value panics on a type change: keep the first
	s.v.CompareAndSwap(nil, v)
}

// EntryCache is implemented by in-process backends that can hand out
// entries without copying, so that GetOrLoad's hits skip JSON decoding for
// value types that cannot alias mutable memory (see isFlat). The JSON bytes
// stay the source of truth: Set replaces the entry and its slot together.
type EntryCache interface {
	GetEntry(key string) (Entry, bool)
}

var flatTypes sync.Map // reflect.Type → bool

// isFlat reports whether values of T copy deeply on assignment: no
// pointers, slices, maps, interfaces, channels or functions anywhere in the
// type. Only such values may be handed to several callers from one slot.
func isFlat[T any]() bool {
	t := reflect.TypeFor[T]()
	if v, ok := flatTypes.Load(t); ok {
		return v.(bool)
	}
	flat := flatType(t)
	flatTypes.Store(t, flat)
	return flat
}

func flatType(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return flatType(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !flatType(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
