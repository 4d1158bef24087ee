package cache

import (
	"testing"
	"time"
)

func TestIsFlat(t *testing.T) {
	type inner struct{ A [4]int32 }
	type withPtr struct{ P *int }
	type withTime struct{ T time.Time }
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"int", isFlat[int](), true},
		{"string", isFlat[string](), true},
		{"array", isFlat[[16]byte](), true},
		{"nested struct", isFlat[struct {
			I inner
			S string
		}](), true},
		{"slice", isFlat[[]int](), false},
		{"map", isFlat[map[string]int](), false},
		{"pointer field", isFlat[withPtr](), false},
		{"time (holds *Location)", isFlat[withTime](), false},
		{"interface", isFlat[any](), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("isFlat[%s] = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestValueSlotKeepsTheFirstType(t *testing.T) {
	var s ValueSlot
	s.Store(1)
	s.Store("two") // a different type must not panic nor replace
	s.Store(3)
	if s.Load() != 1 {
		t.Fatalf("slot = %v, want the first value", s.Load())
	}
}
