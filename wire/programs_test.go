package wire

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestUsersProgramHasNoJobs: the users program is identity over the
// database, without the job system, whose mail sender would have created
// the outbox.
func TestUsersProgramHasNoJobs(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig(envOf(map[string]string{"APP_ENV": "test", "DATA_DIR": dir, "AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_TIME": "1"}), "v")
	if err != nil {
		t.Fatal(err)
	}
	prog, cleanup, err := InitializeUsers(context.Background(), cfg, LogOutput{Writer: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	u, err := prog.Identity.CreateUser(context.Background(), "ops@example.com", "bootstrap passphrase 1", "admin")
	if err != nil || u.Role != "admin" {
		t.Fatalf("create user: %+v %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "outbox")); !os.IsNotExist(err) {
		t.Fatalf("the users program set up mail delivery (outbox: %v)", err)
	}
}
