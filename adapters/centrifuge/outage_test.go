package centrifuge_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
)

// ownRedis is a redis-server of the test's own, on a free port, that the
// test may stop and start again.
type ownRedis struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

func startOwnRedis(t *testing.T) *ownRedis {
	t.Helper()
	redisURL(t) // the same gate as every Redis test (CI has redis-server)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	r := &ownRedis{t: t, port: port}
	r.up()
	t.Cleanup(r.down)
	return r
}

func (r *ownRedis) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *ownRedis) up() {
	r.t.Helper()
	r.cmd = exec.Command("redis-server", "--port", strconv.Itoa(r.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", r.port), 100*time.Millisecond)
		if err == nil {
			_, _ = c.Write([]byte("PING\r\n"))
			line, _ := bufio.NewReader(c).ReadString('\n')
			_ = c.Close()
			if line == "+PONG\r\n" {
				return
			}
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("own redis-server on port %d did not start", r.port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// down stops the server by its pid.
func (r *ownRedis) down() {
	if r.cmd == nil || r.cmd.Process == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func TestRedisOutage(t *testing.T) {
	rd := startOwnRedis(t)
	s := start(t, withConfig(func(c *centrifuge.Config) {
		c.RedisURL = rd.url()
		c.RedisPrefix = uniquePrefix()
	}))
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	mustPublish(t, s.E, event(u, nil))
	<-c.Events

	rd.down()
	// Publish and Disconnect fail fast with Unavailable: the caller logs it,
	// its committed write stands.
	began := time.Now()
	err := s.E.Publish(context.Background(), event(u, nil))
	if !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != centrifuge.CodeUnavailable {
		t.Fatalf("Publish with Redis down = %v; want unavailable", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("Publish with Redis down took %s; want it bounded by REDIS_COMMAND_TIMEOUT", took)
	}
	if err := s.E.DisconnectUser(context.Background(), u, realtime.ReasonUserDisabled); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("DisconnectUser with Redis down = %v; want unavailable", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.E.HealthCheck().Check.Check(ctx); err == nil {
		t.Fatal("health check passed with Redis down")
	}

	// Redis back (empty: its history is gone): publishing works again, and
	// the client that stayed connected receives new events.
	rd.up()
	eventually(t, func() bool { return s.E.Publish(context.Background(), event(u, nil)) == nil }, "publish after Redis came back")
	e := event(u, map[string]any{"after": "outage"})
	deadline := time.After(10 * time.Second)
	for {
		mustPublish(t, s.E, e)
		select {
		case got := <-c.Events:
			if got.ID == e.ID {
				return
			}
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("the connected client received nothing within 10s of Redis coming back")
		}
		e = event(u, map[string]any{"after": "outage"})
	}
}
