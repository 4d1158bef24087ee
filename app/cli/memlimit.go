package cli

import (
	"context"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/identity"
)

// cgroupMemoryFiles hold the memory limit of the process's cgroup: v2,
// then v1 (as a container sees its own cgroup).
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// memoryLimits applies a command's default soft memory limit
// (defaultMemoryLimit) and, when it is the fallback, keeps it a floor with
// a memoryTuner (hashing: the part of the fallback that is the hashing
// budget). The returned func stops the tuner and puts back the limit the
// process had: a command run inside another program (a test) leaves it as
// it found it, and no tuner outlives the command.
func memoryLimits(ctx context.Context, getenv func(string) string, fallback, hashing int64) func() {
	prev := debug.SetMemoryLimit(-1)
	floor, isFallback := defaultMemoryLimit(getenv, cgroupMemoryFiles, fallback)
	if !isFallback {
		return func() { debug.SetMemoryLimit(prev) }
	}
	ctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		newMemoryTuner(floor, hashing).run(ctx, time.Second)
	}()
	return func() {
		stop()
		<-done
		debug.SetMemoryLimit(prev)
	}
}

// defaultMemoryLimit sets the Go soft memory limit when GOMEMLIMIT is not
// set: to 90 % of the container's memory limit, so that the collector
// returns garbage (argon2id's 19 MiB per hash under a login flood, a large
// import) before the kernel OOM-kills the process, with no manifest having
// to repeat the limit; or, with no container limit, to fallback (0: none;
// the API passes apiMemoryLimit). GOMEMLIMIT, when set (to a size, or to
// "off" for none), wins: the runtime has already applied it. It returns
// the limit it set, 0 if none, and whether it is the fallback (which the
// API then keeps as a floor only: see tuneMemoryLimit).
func defaultMemoryLimit(getenv func(string) string, files []string, fallback int64) (int64, bool) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, false
	}
	limit, ok := cgroupMemoryLimit(files)
	switch {
	case ok:
		limit = limit / 10 * 9
	case fallback > 0:
		limit = fallback
	default:
		return 0, false
	}
	debug.SetMemoryLimit(limit)
	return limit, !ok
}

// cgroupMemoryLimit reads the first of files that exists: the limit, or
// false for none ("max", v1's "unlimited" ≈ 2^63, unreadable).
func cgroupMemoryLimit(files []string) (int64, bool) {
	for _, f := range files {
		b, err := os.ReadFile(f) // #nosec G304 -- fixed cgroup paths
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || limit <= 0 || limit >= 1<<50 {
			return 0, false
		}
		return limit, true
	}
	return 0, false
}

// apiBaseMemory is what the API needs besides password hashing: its idle
// heap (≈ 11 MiB live, ≈ 22 MiB anonymous RSS with the collector's
// headroom, stacks and runtime metadata) and as much again for ordinary
// requests.
const apiBaseMemory = 40 << 20

// apiMemoryLimit is the API's soft memory limit when neither GOMEMLIMIT
// nor a container limit gives one: the base plus twice the hashing budget
// (concurrency × argon2id memory; 78 MiB for one hash at a time, the
// default on 2 CPUs): the hashes running, and the blocks of
// as many hashes that have just finished, which are garbage the collector
// has not yet returned. Without it the heap goal is twice the live heap
// at the last collection, and a collection that marks while hashes run
// (every block allocated during the mark counts as live) sets a goal of
// several blocks: the peak RSS of a login flood then depends on when the
// collector ran (docs/benchmarks.md, #18 item 2). The limit is soft: a
// live heap above it (10,000 WebSockets, a big report) is not refused, but
// the collector would run more often, up to the runtime's cap of half the
// CPU time; so the API keeps this limit as a floor under what the heap it
// really holds needs (tuneMemoryLimit), and a container limit (90 % of it)
// or GOMEMLIMIT replace it.
func apiMemoryLimit(argon identity.Argon2Params, hashing identity.HashLimit) int64 {
	return apiBaseMemory + hashingBudget(argon, hashing)
}

// hashingBudget is twice the memory of the hashes allowed at once.
func hashingBudget(argon identity.Argon2Params, hashing identity.HashLimit) int64 {
	return 2 * int64(max(hashing.Concurrent, 1)) * int64(argon.MemoryKiB) << 10
}
