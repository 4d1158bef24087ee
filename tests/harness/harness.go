// Package harness starts the real tradesense program in-process, through
// cli.Run, on a free port, and gives tests its URL and captured logs.
package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/app/cli"
)

// StartTimeout bounds how long a program may take to become ready. It is
// a deadline for a hang, not a performance budget: a start (migrations,
// the race detector) on a CI host 2.5–4× slower than usual, or at a load
// of 30, took more than 15 s; a ready program returns at once.
const StartTimeout = 60 * time.Second

// App is a running program.
type App struct {
	URL    string
	Logs   *Buffer
	cancel context.CancelFunc
	done   chan error

	stopOnce sync.Once
	stopErr  error
}

// Buffer is a concurrency-safe log sink.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the JSON log lines written so far, decoded.
func (b *Buffer) Lines() []map[string]any {
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(b.String()))
	sc.Buffer(make([]byte, 0, 1<<20), 1<<22)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

// Env is the test profile: embedded adapters, JSON debug logs, a free port
// and a private data directory. Tests override entries as they need.
func Env(t testing.TB) map[string]string {
	return map[string]string{
		"APP_ENV":    "test",
		"HTTP_ADDR":  "127.0.0.1:0",
		"DATA_DIR":   t.TempDir(),
		"LOG_FORMAT": "json",
		"LOG_LEVEL":  "debug",
	}
}

// Start runs `tradesense <command>` with env and waits until its server
// listens and /health/ready answers 200. The program is stopped, and must
// have exited cleanly, when the test ends.
func Start(t testing.TB, env map[string]string, command ...string) *App {
	t.Helper()
	if len(command) == 0 {
		command = []string{"api"}
	}
	ctx, cancel := context.WithCancel(context.Background())
	app := &App{Logs: &Buffer{}, cancel: cancel, done: make(chan error, 1)}
	args := append([]string{"tradesense"}, command...)
	getenv := func(k string) string {
		if v, ok := env[k]; ok || k != "GOMEMLIMIT" {
			return v
		}
		// The program runs inside the test process: the soft memory limit
		// the API sets for itself by default (app/cli/memlimit.go) would
		// bind every test of the process, so none unless a test asks.
		return "off"
	}
	go func() { app.done <- cli.Run(ctx, args, getenv, app.Logs, app.Logs) }()

	deadline := time.Now().Add(StartTimeout)
	for app.URL == "" {
		select {
		case err := <-app.done:
			cancel()
			t.Fatalf("program exited before listening: %v\nlogs:\n%s", err, app.Logs)
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("program did not listen within %s\nlogs:\n%s", StartTimeout, app.Logs)
		}
		for _, l := range app.Logs.Lines() {
			if l["msg"] == "http server listening" {
				app.URL = "http://" + fmt.Sprint(l["addr"])
			}
		}
	}
	t.Cleanup(func() {
		if err := app.Stop(); err != nil {
			t.Errorf("program did not stop cleanly: %v", err)
		}
	})
	for {
		resp, err := http.Get(app.URL + "/health/ready")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return app
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("program not ready within %s (last: %v)\nlogs:\n%s", StartTimeout, err, app.Logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop cancels the program's context, as SIGTERM does, and waits for it.
func (a *App) Stop() error {
	a.stopOnce.Do(func() {
		a.cancel()
		select {
		case a.stopErr = <-a.done:
		case <-time.After(30 * time.Second):
			a.stopErr = fmt.Errorf("program still running 30s after cancel")
		}
	})
	return a.stopErr
}
