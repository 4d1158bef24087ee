package centrifuge_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cent "github.com/centrifugal/centrifuge-go"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

func harness(s *server) realtimetest.Harness {
	return realtimetest.Harness{Publisher: s.E, Disconnector: s.E, Connect: func(t *testing.T, user, sid uuid.UUID) *realtimetest.Conn {
		return s.dial(t, user, sid).conn()
	}}
}

func TestContractInProcess(t *testing.T) {
	realtimetest.Run(t, func(t *testing.T) realtimetest.Harness { return harness(start(t)) })
}

func TestContractRedis(t *testing.T) {
	redisURL(t)
	realtimetest.Run(t, func(t *testing.T) realtimetest.Harness { return harness(start(t, onRedis(t, uniquePrefix()))) })
}

func TestPublicationIsTheDocumentedEnvelope(t *testing.T) {
	s := start(t)
	u := uuid.New()
	c := s.newClient(t, u, uuid.New())
	raw := make(chan []byte, 1)
	c.C.OnPublication(func(e cent.ServerPublicationEvent) { raw <- e.Data })
	if err := c.C.Connect(); err != nil {
		t.Fatal(err)
	}
	<-c.Connected
	at := time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)
	e := realtime.NewEvent(realtime.TypeJobUpdated, u, at, map[string]any{"job_id": "j1", "state": "succeeded"})
	mustPublish(t, s.E, e)
	var got map[string]json.RawMessage
	select {
	case b := <-raw:
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("publication %q is not JSON: %v", b, err)
		}
	case <-time.After(wait):
		t.Fatal("no publication")
	}
	want := map[string]string{
		"id":          `"` + e.ID.String() + `"`,
		"type":        `"job.updated"`,
		"version":     `1`,
		"occurred_at": `"2026-05-06T07:08:09.123456Z"`,
		"payload":     `{"job_id":"j1","state":"succeeded"}`,
	}
	if len(got) != len(want) {
		t.Fatalf("publication has fields %v; want exactly %v", keys(got), keys(want))
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %s; want %s", k, got[k], v)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestAnotherUsersChannelCannotBeSubscribedOrRead(t *testing.T) {
	s := start(t)
	alice, mallory := uuid.New(), uuid.New()
	a := s.dial(t, alice, uuid.New())
	m := s.dial(t, mallory, uuid.New())

	sub, err := m.C.NewSubscription(centrifuge.Channel(alice))
	if err != nil {
		t.Fatal(err)
	}
	subErr := make(chan error, 4)
	sub.OnError(func(e cent.SubscriptionErrorEvent) { subErr <- e.Error })
	subscribed := make(chan struct{}, 1)
	sub.OnSubscribed(func(cent.SubscribedEvent) { subscribed <- struct{}{} })
	if err := sub.Subscribe(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-subscribed:
		t.Fatal("mallory subscribed to alice's channel")
	case <-subErr:
	case <-time.After(wait):
		t.Fatal("subscribe attempt neither failed nor succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if _, err := m.C.History(ctx, centrifuge.Channel(alice), cent.WithHistoryLimit(10)); err == nil {
		t.Fatal("mallory read alice's history")
	}
	if _, err := m.C.Presence(ctx, centrifuge.Channel(alice)); err == nil {
		t.Fatal("mallory read alice's presence")
	}
	if _, err := m.C.Publish(ctx, centrifuge.Channel(alice), []byte(`{"type":"security.session_revoked"}`)); err == nil {
		t.Fatal("mallory published into alice's channel")
	}

	e := event(alice, map[string]any{"job_id": "secret-ish"})
	mustPublish(t, s.E, e)
	realtimetest.SameEvent(t, "alice", realtimetest.Next(t, a.conn()), e)
	realtimetest.None(t, m.conn(), "mallory")
}

func TestTimerFlushedWritesDeliver(t *testing.T) {
	s := start(t, withConfig(func(c *centrifuge.Config) { c.WriteDelay = time.Millisecond }))
	u := uuid.New()
	c := s.dial(t, u, uuid.New())
	for i := range 3 {
		e := event(u, map[string]any{"n": i})
		mustPublish(t, s.E, e)
		realtimetest.SameEvent(t, "timer-flushed connection", realtimetest.Next(t, c.conn()), e)
	}
}
