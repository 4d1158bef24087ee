package testenv

import (
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisServer is a redis-server process of the test's own, for tests that
// must kill Redis, restart it empty or flush it: the shared server of
// TEST_REDIS_URL belongs to every test package at once.
type RedisServer struct {
	t    testing.TB
	port int
	args []string
	cmd  *exec.Cmd
}

// StartRedis starts `redis-server --port <free> --save "" --appendonly no`
// plus extra arguments (for example "--appendonly", "yes", "--dir", dir)
// and stops it, by its pid, when the test ends. It skips the test when
// redis-server is not installed, except under CI=true where that fails.
func StartRedis(t testing.TB, extra ...string) *RedisServer {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if InCI() {
			t.Fatalf("redis-server is not installed, but CI=true requires it (apt-get install redis-server)")
		}
		t.Skipf("redis-server is not installed: skipping the test that kills its own Redis")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	s := &RedisServer{t: t, port: port}
	s.args = append([]string{"--bind", "127.0.0.1", "--port", strconv.Itoa(port), "--save", "", "--appendonly", "no"}, extra...)
	s.args = append([]string{bin}, s.args...)
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// URL is the server's redis:// URL (database 0).
func (s *RedisServer) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port) }

// Addr is host:port.
func (s *RedisServer) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }

// Start (re)starts the server on the same port and waits until it answers.
func (s *RedisServer) Start() {
	s.t.Helper()
	if s.cmd != nil {
		s.t.Fatal("redis-server is already running")
	}
	cmd := exec.Command(s.args[0], s.args[1:]...) //nolint:gosec // test helper: fixed binary, arguments built here
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start redis-server: %v", err)
	}
	s.cmd = cmd
	rdb := redis.NewClient(&redis.Options{Addr: s.Addr(), MaxRetries: -1})
	defer func() { _ = rdb.Close() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.Kill()
			s.t.Fatalf("redis-server on port %d did not answer: %v", s.port, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL (a crash: nothing is flushed) and
// waits for it to exit. Killing a stopped server does nothing.
func (s *RedisServer) Kill() { s.stop(syscall.SIGKILL) }

// Stop stops the server with SIGTERM (a graceful shutdown).
func (s *RedisServer) Stop() { s.stop(syscall.SIGTERM) }

func (s *RedisServer) stop(sig syscall.Signal) {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(sig)
	_ = s.cmd.Wait()
	s.cmd = nil
}

// Restart kills the server and starts it again: without AOF (the default
// arguments) it comes back empty.
func (s *RedisServer) Restart() {
	s.t.Helper()
	s.Kill()
	s.Start()
}
