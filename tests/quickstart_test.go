package tests

import (
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradesense/tradesense/tests/testenv"
)

// TestQuickstartWalkThrough runs docs/quickstart.md: every ```sh block, in
// order, as one bash script with `set -euo pipefail` (every curl there
// uses -f or checks its answer with grep, so a step that stops working
// fails the script), against the binary built from ./app/tradesense and
// started the way `go tool task run` starts it. The only rewrites: the
// address (a free port instead of :8000), data/ (the program's own
// DATA_DIR), the `go tool task run` line (the test starts the program) and
// `go tool task users:create --` (the built binary's `users create`, which
// is what the task runs).
func TestQuickstartWalkThrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "grep", "sed", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			if testenv.InCI() {
				t.Fatalf("%s is not installed", tool)
			}
			t.Skipf("%s is not installed: docs/quickstart.md needs it", tool)
		}
	}
	doc, err := os.ReadFile("../docs/quickstart.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllSubmatch(doc, -1)
	if len(blocks) < 8 {
		t.Fatalf("docs/quickstart.md has %d sh blocks", len(blocks))
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "tradesense")
	if out, err := exec.Command("go", "build", "-o", bin, "../app/tradesense").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	data := filepath.Join(dir, "data")
	env := append(os.Environ(), "APP_ENV=development", "HTTP_ADDR="+addr, "DATA_DIR="+data, "LOG_LEVEL=info",
		"REDIS_URL=", "DATABASE_URL=", "SMTP_URL=")

	var logs syncBuffer
	api := exec.Command(bin, "api")
	api.Env, api.Stdout, api.Stderr, api.Dir = env, &logs, &logs, dir
	if err := api.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- api.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = api.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/health/ready"); err == nil {
			_ = res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("the api exited: %v\n%s", err, logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready:\n%s", logs.String())
		}
	}

	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for _, b := range blocks {
		for _, line := range strings.SplitAfter(string(b[1]), "\n") {
			if strings.HasPrefix(line, "go tool task run") {
				continue
			}
			line = strings.ReplaceAll(line, "go tool task users:create --", `"$TRADESENSE_BIN" users create`)
			line = strings.ReplaceAll(line, "localhost:8000", addr)
			line = strings.ReplaceAll(line, "data/", data+"/")
			script.WriteString(line)
		}
	}
	sh := exec.Command("bash", "-c", script.String())
	sh.Env, sh.Dir = append(env, "TRADESENSE_BIN="+bin), dir
	out, err := sh.CombinedOutput()
	if err != nil {
		t.Fatalf("docs/quickstart.md failed: %v\n--- output\n%s\n--- script\n%s\n--- api log\n%s", err, out, script.String(), logs.String())
	}
	for _, want := range []string{`"status":"ok"`, `"email":"ann@example.com"`, "401", `"code":"validation_failed"`, "root@example.com"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the walk-through's output lacks %s:\n%s", want, out)
		}
	}
	// Ctrl-C: the program drains and exits 0.
	if err := api.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if err := <-exited; err != nil {
		t.Fatalf("the api did not exit cleanly on SIGINT: %v\n%s", err, logs.String())
	}
}

// TestTaskRunStopsCleanlyOnCtrlC: Ctrl-C (SIGINT to the terminal's process
// group) on `go tool task run` drains the program and exits 0, without
// go-task's "Failed to run task" (issue 11 item 8: `go run` exits 1 on an
// interrupt even when the program exited 0, so the task now builds and
// runs the binary).
func TestTaskRunStopsCleanlyOnCtrlC(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the program through go-task")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	var out syncBuffer
	cmd := exec.Command("go", "tool", "task", "run")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "HTTP_ADDR="+addr, "DATA_DIR="+t.TempDir(), "APP_ENV=development", "REDIS_URL=", "DATABASE_URL=")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if res, err := http.Get("http://" + addr + "/health"); err == nil {
			_ = res.Body.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("task run exited: %v\n%s", err, out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Fatalf("task run never served:\n%s", out.String())
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil || strings.Contains(out.String(), "Failed to run task") {
			t.Fatalf("Ctrl-C on task run: %v\n%s", err, out.String())
		}
	case <-time.After(time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("task run did not stop on Ctrl-C:\n%s", out.String())
	}
}
