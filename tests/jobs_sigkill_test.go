package tests

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tradesense/tradesense/tests/harness"
)

// A job the local profile accepted survives its process being killed
// outright (SIGKILL: no shutdown, nothing saved at the exit): the
// in-process queue writes every accepted job through to the SQLite job
// journal, and the next start runs it. The first process runs no worker
// (WORKER_EMBEDDED=false), so the mail can only come from the restart.
func TestLocalJobsSurviveSIGKILL(t *testing.T) {
	bin := buildProgram(t, "../app/tradesense")
	env := programEnv(t)
	env["WORKER_EMBEDDED"] = "false"
	cmd := exec.Command(bin, "api")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil && l["msg"] == "http server listening" {
				addr <- l["addr"].(string)
			}
		}
	}()
	var url string
	select {
	case a := <-addr:
		url = "http://" + a
	case <-time.After(harness.StartTimeout):
		t.Fatal("the program did not listen")
	}
	c := userClient{t, url}
	for _, email := range []string{"killed-1@example.com", "killed-2@example.com"} {
		if status, body := c.call("POST", "/api/v1/auth/register", "", map[string]any{"email": email, "password": "a killed passphrase 1"}); status != 201 {
			t.Fatalf("register %s: %d %v", email, status, body)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("the program was not killed: %v", err)
	}
	if outboxTo(t, env["DATA_DIR"], "killed-1@example.com") {
		t.Fatal("a process without a worker sent mail")
	}

	delete(env, "WORKER_EMBEDDED")
	next := harness.Start(t, env, "api")
	waitOutbox(t, env["DATA_DIR"], "killed-1@example.com", "killed-2@example.com")
	if !strings.Contains(next.Logs.String(), "restored the unfinished jobs saved at the last exit") {
		t.Fatalf("the start did not say it restored jobs; logs:\n%s", next.Logs)
	}
}
