package centrifuge_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/tests/testenv"
)

func TestRedisOutage(t *testing.T) {
	rd := testenv.StartRedis(t)
	s := start(t, withConfig(func(c *centrifuge.Config) {
		c.RedisURL = rd.URL()
		c.RedisPrefix = uniquePrefix()
	}))
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	mustPublish(t, s.E, event(u, nil))
	<-c.Events

	rd.Kill()
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
	rd.Start()
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
