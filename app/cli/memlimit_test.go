package cli

import (
	"math"
	"os"
	"path/filepath"
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
			if got := defaultMemoryLimit(tc.getenv, tc.files, tc.fallback); got != tc.want {
				t.Fatalf("set %d, want %d", got, tc.want)
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
