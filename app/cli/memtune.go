package cli

import (
	"context"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// memoryTuner keeps the API's fallback soft memory limit (apiMemoryLimit,
// set when neither GOMEMLIMIT nor a container limit gives one) a floor,
// not a ceiling. The floor bounds what password hashing adds to a small
// heap under a login flood; a heap that legitimately holds more (10,000
// WebSockets, a large report) must not live under it, or the collector
// would run back to back (up to the runtime's cap of half the CPU time).
// So once a second the tuner computes the memory the collector's own
// GOGC pacing would use for the heap it really holds (the goal from the
// live heap, stacks and globals of the last collection, plus the runtime
// memory outside the heap), takes the smallest of the last window of such
// needs, less the hashing budget, and sets the limit to the floor or a
// quarter above that, whichever is larger. Less the hashing budget: the
// floor already holds it, and under a flood nearly every collection marks
// while a hash runs, so its 19 MiB block counts as live (twice in the
// goal at GOGC=100, which is what the budget is: 2 × concurrency × argon2id
// memory); without the subtraction the limit would follow the flood up.
//
// The smallest need of the window (3 s), not the latest: a collection that
// marks while a hash runs counts its 19 MiB block as live and would raise
// the goal for as long as it lasts (the very growth the floor is there to
// stop); the window forgets it within seconds, while a heap that stays
// large raises the limit after one window.
type memoryTuner struct {
	floor   int64
	hashing int64   // 2 × hash concurrency × argon2id memory, part of the floor
	needs   []int64 // ring of the last len(needs) samples; 0 = none yet
	next    int
	samples []metrics.Sample
	set     func(int64) int64
}

// memoryTunerWindow is the number of samples the smallest need is taken
// over (at one a second).
const memoryTunerWindow = 3

var memoryTunerMetrics = []string{
	"/gc/heap/live:bytes",
	"/gc/scan/stack:bytes",
	"/gc/scan/globals:bytes",
	"/gc/gogc:percent",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
}

func newMemoryTuner(floor, hashing int64) *memoryTuner {
	t := &memoryTuner{floor: floor, hashing: hashing, needs: make([]int64, memoryTunerWindow), set: debug.SetMemoryLimit}
	t.samples = make([]metrics.Sample, len(memoryTunerMetrics))
	for i, name := range memoryTunerMetrics {
		t.samples[i].Name = name
	}
	return t
}

func (t *memoryTuner) run(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			t.tune()
		}
	}
}

// tune reads the runtime's figures once and sets the limit they call for.
// It returns that limit.
func (t *memoryTuner) tune() int64 {
	metrics.Read(t.samples)
	v := func(i int) int64 {
		if t.samples[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(min(t.samples[i].Value.Uint64(), math.MaxInt64/4))
	}
	live, stacks, globals, gogc := v(0), v(1), v(2), v(3)
	outside := v(4) - v(5) - v(6) - v(7) - v(8) // stacks' spans, metadata, buffers
	return t.apply(memoryNeed(live, stacks, globals, gogc, outside))
}

// memoryNeed is what the runtime would use for a heap with this live size
// under GOGC pacing alone: the heap goal (live + (live + stacks + globals) ×
// GOGC / 100) plus the memory outside the heap. 0 when GOGC is off (no
// pacing to follow: the floor stays).
func memoryNeed(live, stacks, globals, gogc, outside int64) int64 {
	if gogc <= 0 || live <= 0 {
		return 0
	}
	return live + (live+stacks+globals)*gogc/100 + max(outside, 0)
}

// apply records need in the window and sets the limit to the larger of the
// floor and 5/4 of the window's smallest need less the hashing budget.
func (t *memoryTuner) apply(need int64) int64 {
	t.needs[t.next] = need
	t.next = (t.next + 1) % len(t.needs)
	smallest := int64(math.MaxInt64)
	for _, n := range t.needs {
		if n == 0 { // a window not yet full, or GOGC off: keep the floor
			smallest = 0
			break
		}
		smallest = min(smallest, n)
	}
	limit := max(t.floor, (smallest-t.hashing)/4*5)
	t.set(limit)
	return limit
}
