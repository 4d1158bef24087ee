// Package testenv tells tests which real services they may use.
//
// A test that needs a real service asks for its URL by variable name
// (TEST_POSTGRES_URL, TEST_REDIS_URL, TEST_VAULT_ADDR, ...). When the variable
// is unset the test is skipped with a clear message, except under CI=true,
// where a missing service is a failure: CI must exercise every adapter.
package testenv

import (
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the CI variable is set to a true value.
func InCI() bool {
	ok, _ := strconv.ParseBool(os.Getenv("CI"))
	return ok
}

// URL returns the value of the environment variable name, skipping the test
// when it is unset outside CI and failing it inside CI.
func URL(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if InCI() {
		t.Fatalf("%s is not set, but CI=true requires the real service: set it (see .ci/run)", name)
	}
	t.Skipf("%s is not set: skipping the test against the real service (set it to run)", name)
	return ""
}

// Unreachable reports a real service that is configured but does not answer:
// always a failure, since its URL was set on purpose.
func Unreachable(t testing.TB, name string, err error) {
	t.Helper()
	t.Fatalf("%s is set but the service is unreachable: %v", name, err)
}
