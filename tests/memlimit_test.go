package tests

import (
	"runtime/debug"
	"testing"

	"github.com/tradesense/tradesense/tests/harness"
)

// The API started in-process by the harness leaves the test process's
// soft memory limit alone (the default it would set itself binds every
// test of the process), unless a test sets GOMEMLIMIT.
func TestHarnessAPILeavesTheMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	harness.Start(t, harness.Env(t), "api")
	if got := debug.SetMemoryLimit(-1); got != before {
		debug.SetMemoryLimit(before)
		t.Fatalf("memory limit %d after the API started, was %d", got, before)
	}
}
