package wire

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/tests/testenv"
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
	if _, err := (noMail{}).SendEmail(context.Background(), identity.Email{To: "ops@example.com"}); err == nil {
		t.Fatal("the users program's mailer accepted a mail it cannot send")
	}
}

// TestEveryProgramAssemblesInBothProfiles builds each program's injector
// of each profile (the services profile needs TEST_REDIS_URL) and checks
// that the profile's adapters are the ones named at start.
func TestEveryProgramAssemblesInBothProfiles(t *testing.T) {
	for _, p := range []Profile{Local, Services} {
		t.Run(string(p), func(t *testing.T) {
			env := map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir(), "HTTP_ADDR": "127.0.0.1:0", "WORKER_HTTP_ADDR": "127.0.0.1:0",
				"AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_TIME": "1"}
			want := map[string]string{"cache": "memory", "ratelimit": "memory", "shortlived": "memory", "jobs_store": "memory", "database": "sqlite", "mail": "outbox"}
			if p == Services {
				env["REDIS_URL"] = testenv.URL(t, "TEST_REDIS_URL")
				env["REDIS_KEY_PREFIX"] = "test:" + t.Name() + ":"
				for _, port := range []string{"cache", "ratelimit", "shortlived", "jobs_store"} {
					want[port] = "redis"
				}
			}
			cfg, err := LoadConfig(envOf(env), "v")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Profile != p {
				t.Fatalf("profile %q, want %q", cfg.Profile, p)
			}
			ctx := context.Background()
			api, done, err := InitializeAPI(ctx, cfg, LogOutput{Writer: io.Discard}, httpapi.BuildInfo{})
			if err != nil {
				t.Fatalf("api: %v", err)
			}
			defer done()
			if api.Jobs.Embedded != (p == Local) {
				t.Errorf("api runs the worker: %v", api.Jobs.Embedded)
			}
			worker, done, err := InitializeWorker(ctx, cfg, LogOutput{Writer: io.Discard}, httpapi.BuildInfo{})
			if err != nil {
				t.Fatalf("worker: %v", err)
			}
			defer done()
			for _, a := range []Adapters{api.Adapters, worker.Adapters} {
				for port, name := range want {
					if a[port] != name {
						t.Errorf("adapters %v: %s is %q, want %q", a, port, a[port], name)
					}
				}
			}
			users, done, err := InitializeUsers(ctx, cfg, LogOutput{Writer: io.Discard})
			if err != nil || users.Identity == nil {
				t.Fatalf("users: %v", err)
			}
			done()
		})
	}
}
