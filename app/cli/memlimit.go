package cli

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// cgroupMemoryFiles hold the memory limit of the process's cgroup: v2,
// then v1 (as a container sees its own cgroup).
var cgroupMemoryFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// defaultMemoryLimit sets the Go soft memory limit to 90 % of the
// container's memory limit when GOMEMLIMIT is not set, so that the
// collector returns garbage (argon2id's 19 MiB per hash under a login
// flood, a large import) before the kernel OOM-kills the process, with no
// manifest having to repeat the limit. GOMEMLIMIT, when set, wins (the
// runtime has already applied it); no limit or an unreadable one leaves the
// runtime's default (none). It returns the limit it set, 0 if none.
func defaultMemoryLimit(getenv func(string) string, files []string) int64 {
	if getenv("GOMEMLIMIT") != "" {
		return 0
	}
	for _, f := range files {
		b, err := os.ReadFile(f) // #nosec G304 -- fixed cgroup paths
		if err != nil {
			continue
		}
		limit, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || limit <= 0 || limit >= 1<<50 { // "max", or v1's "unlimited" (~2^63)
			return 0
		}
		soft := limit / 10 * 9
		debug.SetMemoryLimit(soft)
		return soft
	}
	return 0
}
