package cli

import (
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/tradesense/tradesense/core/identity"
)

func TestDefaultMemoryLimitFollowsTheCgroup(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v2 := write("memory.max", "536870912\n")
	v1 := write("memory.limit_in_bytes", "268435456\n")
	unlimited := write("max", "max\n")
	noEnv := func(string) string { return "" }

	for _, tc := range []struct {
		name     string
		getenv   func(string) string
		files    []string
		fallback int64
		want     int64
	}{
		{"v2 limit", noEnv, []string{v2, v1}, 0, 536870912 / 10 * 9},
		{"v1 when no v2", noEnv, []string{filepath.Join(dir, "absent"), v1}, 0, 268435456 / 10 * 9},
		{"no limit", noEnv, []string{unlimited, v1}, 0, 0},
		{"v1 unlimited", noEnv, []string{write("v1max", "9223372036854771712")}, 0, 0},
		{"no cgroup", noEnv, []string{filepath.Join(dir, "absent")}, 0, 0},
		{"no limit: the fallback", noEnv, []string{unlimited, v1}, 90 << 20, 90 << 20},
		{"no cgroup: the fallback", noEnv, []string{filepath.Join(dir, "absent")}, 90 << 20, 90 << 20},
		{"the cgroup over the fallback", noEnv, []string{v2}, 90 << 20, 536870912 / 10 * 9},
		{"GOMEMLIMIT set wins", func(k string) string {
			if k == "GOMEMLIMIT" {
				return "100MiB"
			}
			return ""
		}, []string{v2}, 90 << 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetMemoryLimit(math.MaxInt64)
			got, fallback := defaultMemoryLimit(tc.getenv, tc.files, tc.fallback)
			if got != tc.want {
				t.Fatalf("set %d, want %d", got, tc.want)
			}
			if want := tc.want != 0 && tc.want == tc.fallback; fallback != want {
				t.Fatalf("fallback %v, want %v", fallback, want)
			}
			want := tc.want
			if want == 0 {
				want = math.MaxInt64
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Fatalf("runtime limit %d, want %d", got, want)
			}
		})
	}
}

func TestAPIMemoryLimitIsTheBasePlusTwiceTheHashingBudget(t *testing.T) {
	a := identity.OWASPParams
	if got, want := apiMemoryLimit(a, identity.HashLimit{Concurrent: 1}), int64(40<<20+2*19<<20); got != want {
		t.Fatalf("1 hash at a time: %d, want %d", got, want)
	}
	if got, want := apiMemoryLimit(a, identity.HashLimit{Concurrent: 4}), int64(40<<20+8*19<<20); got != want {
		t.Fatalf("4 at a time: %d, want %d", got, want)
	}
	if got, want := apiMemoryLimit(a, identity.HashLimit{}), int64(40<<20+2*19<<20); got != want {
		t.Fatalf("unset concurrency counts as one: %d, want %d", got, want)
	}
}

func TestMemoryTunerKeepsTheFallbackAFloor(t *testing.T) {
	var limits []int64
	tu := newMemoryTuner(78<<20, 38<<20)
	tu.set = func(l int64) int64 { limits = append(limits, l); return 0 }
	const mb = 1 << 20
	// A small heap under a login flood (12 MB live, 31 with the block of
	// the hash running, which nearly every collection sees): the floor,
	// while the window fills and after.
	for i := range 2*memoryTunerWindow + 1 { // ends on a small sample
		live := int64(31 * mb)
		if i%3 == 1 {
			live = 50 * mb // a collection that marked during two hashes
		}
		if got := tu.apply(memoryNeed(live, 1*mb, 1*mb, 100, 8*mb)); got != 78<<20 {
			t.Fatalf("sample %d (live %d MiB): limit %d MiB, want the floor", i, live/mb, got/mb)
		}
	}
	// A heap that holds 150 MB for a whole window (10,000 WebSockets):
	// the limit follows GOGC pacing's need once the window is full of it.
	need := memoryNeed(150*mb, 60*mb, 1*mb, 100, 70*mb) // 431 MiB
	for i := range memoryTunerWindow - 1 {
		if got := tu.apply(need); got != 78<<20 {
			t.Fatalf("large-heap sample %d: limit %d MiB before the window is full of them", i, got/mb)
		}
	}
	if got, want := tu.apply(need), (need-38<<20)/4*5; got != want || got < need {
		t.Fatalf("a window of large heaps: limit %d MiB, want %d MiB", got/mb, want/mb)
	}
	// GOGC off: no pacing to follow, the floor stays.
	if got := tu.apply(memoryNeed(150*mb, 0, 0, -1, 0)); got != 78<<20 {
		t.Fatalf("GOGC off: limit %d MiB, want the floor", got/mb)
	}
	if len(limits) != 3*memoryTunerWindow+2 {
		t.Fatalf("set %d times, want once per sample", len(limits))
	}
}

// The tuner reads the runtime's own figures: holding a 256 MiB live heap
// raises the limit above it within one window.
func TestMemoryTunerFollowsTheRuntime(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	hold := make([][]byte, 256)
	for i := range hold {
		hold[i] = make([]byte, 1<<20)
		hold[i][0] = 1
	}
	runtime.GC()
	tu := newMemoryTuner(78<<20, 38<<20)
	var got int64
	for range memoryTunerWindow {
		got = tu.tune()
	}
	if got < 2*256<<20 {
		t.Fatalf("limit %d MiB with 256 MiB live, want at least GOGC's goal (512 MiB)", got>>20)
	}
	if rt := debug.SetMemoryLimit(-1); rt != got {
		t.Fatalf("runtime limit %d, tuner set %d", rt, got)
	}
	runtime.KeepAlive(hold)
}

// memoryLimits sets the fallback while the command runs; its stop ends
// the tuner (it waits for it) and puts back the process's limit.
func TestMemoryLimitsRestoreTheProcessLimit(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	defer debug.SetMemoryLimit(prev)
	files := cgroupMemoryFiles
	defer func() { cgroupMemoryFiles = files }()
	cgroupMemoryFiles = []string{filepath.Join(t.TempDir(), "absent")}
	debug.SetMemoryLimit(1 << 40)
	stop := memoryLimits(t.Context(), func(string) string { return "" }, 90<<20, 38<<20)
	if got := debug.SetMemoryLimit(-1); got != 90<<20 {
		t.Fatalf("limit while running %d, want the fallback %d", got, 90<<20)
	}
	stop()
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Fatalf("limit after stop %d, want the process's %d", got, int64(1<<40))
	}
	// GOMEMLIMIT set: nothing applied, the limit is put back as it was.
	stop = memoryLimits(t.Context(), func(k string) string {
		if k == "GOMEMLIMIT" {
			return "off"
		}
		return ""
	}, 90<<20, 38<<20)
	stop()
	if got := debug.SetMemoryLimit(-1); got != 1<<40 {
		t.Fatalf("limit after a GOMEMLIMIT run %d, want %d", got, int64(1<<40))
	}
}
