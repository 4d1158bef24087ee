package centrifuge_test

import (
	"context"
	"testing"
	"time"

	cent "github.com/centrifugal/centrifuge-go"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

func TestTwoReplicasOnRedis(t *testing.T) {
	prefix := uniquePrefix()
	ring := newRing(t)
	a := start(t, onRedis(t, prefix), withRing(ring))
	b := start(t, onRedis(t, prefix), withRing(ring))
	u := uuid.New()
	sid, other := uuid.New(), uuid.New()
	onB := b.dial(t, u, sid)
	alsoOnB := b.dial(t, u, other)

	// An event published on A (a job that ran there) reaches the client on B.
	e := event(u, map[string]any{"job_id": "j-a", "state": "succeeded"})
	mustPublish(t, a.E, e)
	realtimetest.SameEvent(t, "client on B", realtimetest.Next(t, onB.conn()), e)
	realtimetest.SameEvent(t, "second client on B", realtimetest.Next(t, alsoOnB.conn()), e)

	// Revoking the session on A drops its connection on B within a second;
	// the user's other session stays.
	began := time.Now()
	if err := a.E.DisconnectSessions(context.Background(), u, []uuid.UUID{sid}, realtime.ReasonSessionRevoked); err != nil {
		t.Fatal(err)
	}
	select {
	case <-onB.Closed:
		if took := time.Since(began); took > time.Second {
			t.Fatalf("disconnect took %s across replicas; want within 1s", took)
		}
		if onB.Code() != 4500 {
			t.Fatalf("closed with %d; want 4500 session revoked", onB.Code())
		}
	case <-time.After(time.Second):
		t.Fatal("connection on B still open 1s after the session was revoked on A")
	}
	select {
	case <-alsoOnB.Closed:
		t.Fatal("the user's other session was disconnected too")
	case <-time.After(200 * time.Millisecond):
	}

	// Disabling the user on A drops every connection of the user on B.
	began = time.Now()
	if err := a.E.DisconnectUser(context.Background(), u, realtime.ReasonUserDisabled); err != nil {
		t.Fatal(err)
	}
	select {
	case <-alsoOnB.Closed:
		if took := time.Since(began); took > time.Second || alsoOnB.Code() != 4501 {
			t.Fatalf("closed after %s with %d; want within 1s with 4501", took, alsoOnB.Code())
		}
	case <-time.After(time.Second):
		t.Fatal("connection on B still open 1s after the user was disabled on A")
	}
}

// recoveryCase runs the recovery scenario against the engine s.
func recoveryCase(t *testing.T, s *server) {
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	first := <-c.Subscribed
	if first.Channel != centrifuge.Channel(u) || !first.Recoverable {
		t.Fatalf("subscribed %+v; want the recoverable personal channel", first)
	}
	e0 := event(u, map[string]any{"n": 0})
	mustPublish(t, s.E, e0)
	realtimetest.SameEvent(t, "before the tunnel", realtimetest.Next(t, c.conn()), e0)

	if err := c.C.Disconnect(); err != nil {
		t.Fatal(err)
	}
	<-c.Closed
	eventually(t, func() bool { return s.E.Connections() == 0 }, "server saw the disconnect")
	var missed []realtime.Event
	for i := 1; i <= 5; i++ {
		e := event(u, map[string]any{"n": i})
		mustPublish(t, s.E, e)
		missed = append(missed, e)
	}
	if err := c.C.Connect(); err != nil {
		t.Fatal(err)
	}
	select {
	case sub := <-c.Subscribed:
		if !sub.WasRecovering || !sub.Recovered {
			t.Fatalf("resubscribed %+v; want recovered", sub)
		}
	case <-time.After(wait):
		t.Fatal("not resubscribed after reconnect")
	}
	again := &realtimetest.Conn{Events: c.Events, Reason: c.conn().Reason} // Closed fired at our own Disconnect
	for i, want := range missed {
		got := realtimetest.Next(t, again)
		if got.ID != want.ID {
			t.Fatalf("recovered event %d is %v; want %v (exactly the 5 missed, in order)", i, got.Payload, want.Payload)
		}
	}
	select {
	case e := <-c.Events:
		t.Fatalf("an extra event after the 5 missed: %v", e.Payload)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRecoveryAfterReconnect(t *testing.T) {
	t.Run("InProcess", func(t *testing.T) { recoveryCase(t, start(t)) })
	t.Run("Redis", func(t *testing.T) { recoveryCase(t, start(t, onRedis(t, uniquePrefix()))) })
}

// reloadCase: the client missed more than history holds; it is told so
// (subscribed, was recovering, not recovered) and must reload.
func reloadCase(t *testing.T, s *server, gap func(u uuid.UUID)) {
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	<-c.Subscribed
	mustPublish(t, s.E, event(u, nil))
	realtimetest.Next(t, c.conn())
	if err := c.C.Disconnect(); err != nil {
		t.Fatal(err)
	}
	<-c.Closed
	gap(u)
	if err := c.C.Connect(); err != nil {
		t.Fatal(err)
	}
	var sub cent.ServerSubscribedEvent
	select {
	case sub = <-c.Subscribed:
	case <-time.After(wait):
		t.Fatal("not resubscribed after reconnect")
	}
	if !sub.WasRecovering || sub.Recovered {
		t.Fatalf("resubscribed %+v; want was_recovering without recovered (reload)", sub)
	}
}

func TestToldToReloadAfterHistoryExpiryOnRedis(t *testing.T) {
	t.Parallel()
	short := withConfig(func(c *centrifuge.Config) { c.HistoryTTL = time.Second })
	expire := func(s **server) func(uuid.UUID) {
		return func(u uuid.UUID) {
			mustPublish(t, (*s).E, event(u, nil))
			time.Sleep(2500 * time.Millisecond) // history TTL 1s, checked every second
		}
	}
	// In process, the 10 minute default is tested on fake time
	// (TestLifetimes/HistoryLastsTenMinutes).
	s := start(t, onRedis(t, uniquePrefix()), short)
	reloadCase(t, s, expire(&s))
}

func TestToldToReloadAfterMissingMoreThanHistoryHolds(t *testing.T) {
	small := withConfig(func(c *centrifuge.Config) { c.HistorySize = 3 })
	flood := func(s **server) func(uuid.UUID) {
		return func(u uuid.UUID) {
			for range 5 {
				mustPublish(t, (*s).E, event(u, nil))
			}
		}
	}
	t.Run("InProcess", func(t *testing.T) {
		s := start(t, small)
		reloadCase(t, s, flood(&s))
	})
	t.Run("Redis", func(t *testing.T) {
		s := start(t, onRedis(t, uniquePrefix()), small)
		reloadCase(t, s, flood(&s))
	})
}
