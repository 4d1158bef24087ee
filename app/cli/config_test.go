package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/httpapi"
)

// TestDotEnvInDevelopment: in development a .env in the working directory
// is read, and a real environment variable wins over it; outside
// development the file is ignored; an unreadable .env is an error, not
// silently skipped.
func TestDotEnvInDevelopment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile(".env", []byte("SHUTDOWN_TIMEOUT=never\nDATA_DIR="+filepath.Join(dir, "data")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	if _, err := loadConfig(env(nil)); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("the .env value was not read: %v", err)
	}
	if _, err := loadConfig(env(map[string]string{"APP_ENV": "development"})); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("APP_ENV=development: the .env value was not read: %v", err)
	}
	if _, err := loadConfig(env(map[string]string{"SHUTDOWN_TIMEOUT": "5s"})); err != nil {
		t.Fatalf("the environment must win over .env: %v", err)
	}
	if _, err := loadConfig(env(map[string]string{"APP_ENV": "test", "DATA_DIR": filepath.Join(dir, "data")})); err != nil {
		t.Fatalf("APP_ENV=test read the .env: %v", err)
	}

	if err := os.Remove(".env"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(".env", 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(env(nil)); err == nil || !strings.Contains(err.Error(), "read .env") {
		t.Fatalf("a .env that cannot be read: %v", err)
	}
}

func TestHealthcheckAddress(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	var out, errOut bytes.Buffer
	// HTTP_ADDR is the default, and a wildcard host means this machine.
	getenv := func(k string) string {
		if k == "HTTP_ADDR" {
			return "0.0.0.0" + port
		}
		return ""
	}
	if err := runHealthcheck(context.Background(), nil, getenv, &out, &errOut); err != nil || strings.TrimSpace(out.String()) != "ok" {
		t.Fatalf("HTTP_ADDR %s: %q %v", getenv("HTTP_ADDR"), out.String(), err)
	}
	if err := runHealthcheck(context.Background(), []string{"--addr", "no-port"}, getenv, &out, &errOut); !errors.Is(err, ErrUsage) {
		t.Fatalf("an address without a port: %v; want a usage error", err)
	}
}

func TestWorkerRefusesBadQueues(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir()}
	err := runWorker(context.Background(), []string{"--queues", "default:zero"}, func(k string) string { return env[k] }, &out, &errOut, httpapi.BuildInfo{Version: "test"})
	if !errors.Is(err, ErrUsage) {
		t.Fatalf("--queues default:zero: %v; want a usage error", err)
	}
}
