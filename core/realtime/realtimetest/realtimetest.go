// Package realtimetest is the contract suite of realtime.Publisher and
// realtime.Disconnector, and Hub, an in-process fake of both for the tests
// of the modules that publish (it runs the same suite). Every engine adapter
// runs Run: in-process always, over Redis when TEST_REDIS_URL is set.
package realtimetest

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
)

// Conn is one connection of one user's device, as the suite observes it.
type Conn struct {
	// Events receives the events delivered to this connection, in order.
	Events <-chan realtime.Event
	// Closed is closed when the server closed the connection; Reason then
	// says why.
	Closed <-chan struct{}
	Reason func() realtime.DisconnectReason
}

// Harness is one engine under test.
type Harness struct {
	Publisher    realtime.Publisher
	Disconnector realtime.Disconnector
	// Connect opens a connection of userID under sessionID, returning once
	// it is ready to receive. It closes the connection when t ends.
	Connect func(t *testing.T, userID, sessionID uuid.UUID) *Conn
}

// Factory returns a fresh engine. It registers its own cleanup.
type Factory func(t *testing.T) Harness

// Wait bounds every wait of the suite for something that must happen.
const Wait = 5 * time.Second

// quiet is how long the suite listens for something that must not happen.
const quiet = 300 * time.Millisecond

// Run runs the contract against the engines newEngine returns.
func Run(t *testing.T, newEngine Factory) {
	ctx := context.Background()

	t.Run("DeliversToEveryConnectionOfTheUserOnly", func(t *testing.T) {
		h := newEngine(t)
		alice, bob := uuid.New(), uuid.New()
		phone, desktop := h.Connect(t, alice, uuid.New()), h.Connect(t, alice, uuid.New())
		other := h.Connect(t, bob, uuid.New())
		e := realtime.NewEvent(realtime.TypeJobUpdated, alice, time.Now(), map[string]any{"job_id": "j1", "state": "succeeded", "attempt": 2})
		if err := h.Publisher.Publish(ctx, e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		for name, c := range map[string]*Conn{"phone": phone, "desktop": desktop} {
			got := Next(t, c)
			SameEvent(t, name, got, e)
		}
		None(t, other, "bob's connection")
	})

	t.Run("KeepsOrderPerUser", func(t *testing.T) {
		h := newEngine(t)
		u := uuid.New()
		c := h.Connect(t, u, uuid.New())
		var sent []realtime.Event
		for i := range 20 {
			e := realtime.NewEvent(realtime.TypeImportProgress, u, time.Now(), map[string]any{"import_id": "i1", "rows_done": i})
			if err := h.Publisher.Publish(ctx, e); err != nil {
				t.Fatalf("Publish %d: %v", i, err)
			}
			sent = append(sent, e)
		}
		for i, want := range sent {
			if got := Next(t, c); got.ID != want.ID {
				t.Fatalf("event %d has id %s; want %s (order lost)", i, got.ID, want.ID)
			}
		}
	})

	t.Run("RefusesInvalidEvents", func(t *testing.T) {
		h := newEngine(t)
		u := uuid.New()
		good := realtime.NewEvent(realtime.TypeTradeCreated, u, time.Now(), map[string]any{"trade_id": "t1"})
		bad := map[string]func(e *realtime.Event){
			"no id":        func(e *realtime.Event) { e.ID = uuid.Nil },
			"no user":      func(e *realtime.Event) { e.UserID = uuid.Nil },
			"unknown type": func(e *realtime.Event) { e.Type = "trade.exploded" },
			"version 0":    func(e *realtime.Event) { e.Version = 0 },
			"no time":      func(e *realtime.Event) { e.OccurredAt = time.Time{} },
			"huge payload": func(e *realtime.Event) { e.Payload = map[string]any{"note": strings.Repeat("x", 1<<20)} },
			"not json":     func(e *realtime.Event) { e.Payload = map[string]any{"ch": make(chan int)} },
		}
		for name, mutate := range bad {
			e := good
			mutate(&e)
			if err := h.Publisher.Publish(ctx, e); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("Publish(%s) = %v; want apperr.Invalid", name, err)
			}
		}
	})

	t.Run("DisconnectSessionsClosesOnlyThoseSessions", func(t *testing.T) {
		h := newEngine(t)
		u := uuid.New()
		s1, s2, s3 := uuid.New(), uuid.New(), uuid.New()
		c1, c2, c3 := h.Connect(t, u, s1), h.Connect(t, u, s2), h.Connect(t, u, s3)
		if err := h.Disconnector.DisconnectSessions(ctx, u, nil, realtime.ReasonSessionRevoked); err != nil {
			t.Fatalf("DisconnectSessions(none): %v", err)
		}
		if err := h.Disconnector.DisconnectSessions(ctx, u, []uuid.UUID{s1, s2}, realtime.ReasonPasswordChanged); err != nil {
			t.Fatalf("DisconnectSessions: %v", err)
		}
		for name, c := range map[string]*Conn{"s1": c1, "s2": c2} {
			Closed(t, c, name, realtime.ReasonPasswordChanged)
		}
		e := realtime.NewEvent(realtime.TypeJournalUpdated, u, time.Now(), map[string]any{"date": "2026-01-02"})
		if err := h.Publisher.Publish(ctx, e); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		SameEvent(t, "s3", Next(t, c3), e)
	})

	// identity publishes security.session_revoked right after closing the
	// ended sessions' connections (docs/realtime.md: "disconnected
	// first"): an event published once a disconnect returned never
	// reaches a connection it closed.
	t.Run("NothingPublishedAfterADisconnectReachesTheClosedConnections", func(t *testing.T) {
		h := newEngine(t)
		for round := range 5 {
			u := uuid.New()
			ended, kept := uuid.New(), uuid.New()
			gone, stays, user := h.Connect(t, u, ended), h.Connect(t, u, kept), h.Connect(t, u, uuid.New())
			if err := h.Disconnector.DisconnectSessions(ctx, u, []uuid.UUID{ended}, realtime.ReasonSessionRevoked); err != nil {
				t.Fatalf("DisconnectSessions: %v", err)
			}
			e := realtime.NewEvent(realtime.TypeJournalUpdated, u, time.Now(), map[string]any{"date": "2026-01-02"})
			if err := h.Publisher.Publish(ctx, e); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			SameEvent(t, "the session that stays", Next(t, stays), e)
			SameEvent(t, "another session that stays", Next(t, user), e)
			Closed(t, gone, "the ended session", realtime.ReasonSessionRevoked)
			select {
			case got := <-gone.Events:
				t.Fatalf("round %d: the ended session received %s published after its disconnect", round, got.Type)
			default:
			}
			if err := h.Disconnector.DisconnectUser(ctx, u, realtime.ReasonUserDisabled); err != nil {
				t.Fatalf("DisconnectUser: %v", err)
			}
			if err := h.Publisher.Publish(ctx, realtime.NewEvent(realtime.TypeJournalUpdated, u, time.Now(), map[string]any{"date": "2026-01-03"})); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			for name, c := range map[string]*Conn{"kept": stays, "other": user} {
				Closed(t, c, name, realtime.ReasonUserDisabled)
				select {
				case got := <-c.Events:
					t.Fatalf("round %d: %s received %s published after the user's disconnect", round, name, got.Type)
				default:
				}
			}
		}
	})

	t.Run("DisconnectUserClosesEverySessionOfThatUserOnly", func(t *testing.T) {
		h := newEngine(t)
		u, other := uuid.New(), uuid.New()
		c1, c2 := h.Connect(t, u, uuid.New()), h.Connect(t, u, uuid.New())
		keep := h.Connect(t, other, uuid.New())
		if err := h.Disconnector.DisconnectUser(ctx, u, realtime.ReasonUserDisabled); err != nil {
			t.Fatalf("DisconnectUser: %v", err)
		}
		Closed(t, c1, "first", realtime.ReasonUserDisabled)
		Closed(t, c2, "second", realtime.ReasonUserDisabled)
		select {
		case <-keep.Closed:
			t.Fatalf("another user's connection was closed (%s)", keep.Reason())
		case <-time.After(quiet):
		}
		if err := h.Disconnector.DisconnectUser(ctx, u, realtime.ReasonUserDisabled); err != nil {
			t.Fatalf("DisconnectUser with nothing connected: %v", err)
		}
	})
}

// Next returns the next event of c, failing t after Wait.
func Next(t testing.TB, c *Conn) realtime.Event {
	t.Helper()
	select {
	case e, ok := <-c.Events:
		if !ok {
			t.Fatal("connection's event stream ended")
		}
		return e
	case <-c.Closed:
		t.Fatalf("connection closed (%s) while waiting for an event", c.Reason())
	case <-time.After(Wait):
		t.Fatalf("no event within %s", Wait)
	}
	return realtime.Event{}
}

// None fails t when c receives an event within a short quiet period.
func None(t testing.TB, c *Conn, what string) {
	t.Helper()
	select {
	case e := <-c.Events:
		t.Fatalf("%s received %s %s meant for someone else", what, e.Type, e.ID)
	case <-time.After(quiet):
	}
}

// Closed fails t unless c is closed within Wait for reason.
func Closed(t testing.TB, c *Conn, what string, reason realtime.DisconnectReason) {
	t.Helper()
	select {
	case <-c.Closed:
		if got := c.Reason(); got != reason {
			t.Fatalf("%s closed for %q; want %q", what, got, reason)
		}
	case <-time.After(Wait):
		t.Fatalf("%s still open %s after the disconnect", what, Wait)
	}
}

// SameEvent fails t unless got is want as a client sees it: the same ID,
// type, version, user, time (to the microsecond) and JSON payload.
func SameEvent(t testing.TB, what string, got, want realtime.Event) {
	t.Helper()
	gp, _ := json.Marshal(got.Payload)
	wp, _ := json.Marshal(want.Payload)
	if got.ID != want.ID || got.Type != want.Type || got.Version != want.Version || got.UserID != want.UserID ||
		got.OccurredAt.Truncate(time.Microsecond) != want.OccurredAt.UTC().Truncate(time.Microsecond) || string(gp) != string(wp) {
		t.Fatalf("%s received %+v (payload %s); want %+v (payload %s)", what, got, gp, want, wp)
	}
}

// Hub is an in-process fake of the engine: Publisher and Disconnector over
// connections opened with Connect, with a record of every accepted event.
// The modules that publish assert on Published in their tests.
type Hub struct {
	// MaxPayloadBytes bounds an event's JSON payload (default 4096).
	MaxPayloadBytes int

	mu        sync.Mutex
	conns     map[*hubConn]struct{}
	published []realtime.Event
}

type hubConn struct {
	user, session uuid.UUID
	events        chan realtime.Event
	closed        chan struct{}
	reason        realtime.DisconnectReason
}

var (
	_ realtime.Publisher    = (*Hub)(nil)
	_ realtime.Disconnector = (*Hub)(nil)
)

// NewHub returns an empty hub.
func NewHub() *Hub { return &Hub{conns: make(map[*hubConn]struct{})} }

// Publish implements realtime.Publisher.
func (h *Hub) Publish(_ context.Context, e realtime.Event) error {
	if err := e.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(e.Payload)
	if err != nil {
		return apperr.Wrap(err, apperr.Invalid, realtime.CodeEventInvalid, "realtime event: payload is not JSON")
	}
	limit := h.MaxPayloadBytes
	if limit == 0 {
		limit = 4096
	}
	if len(b) > limit {
		return apperr.New(apperr.Invalid, realtime.CodeEventInvalid, "realtime event: payload too large")
	}
	var copied map[string]any
	_ = json.Unmarshal(b, &copied)
	e.Payload = copied
	e.OccurredAt = e.OccurredAt.UTC()
	h.mu.Lock()
	defer h.mu.Unlock()
	h.published = append(h.published, e)
	for c := range h.conns {
		if c.user == e.UserID {
			select {
			case c.events <- e:
			default: // a slow fake client loses events, as a real one is dropped
			}
		}
	}
	return nil
}

// Published returns the events accepted so far, in order.
func (h *Hub) Published() []realtime.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]realtime.Event(nil), h.published...)
}

// DisconnectUser implements realtime.Disconnector.
func (h *Hub) DisconnectUser(_ context.Context, userID uuid.UUID, reason realtime.DisconnectReason) error {
	h.close(func(c *hubConn) bool { return c.user == userID }, reason)
	return nil
}

// DisconnectSessions implements realtime.Disconnector.
func (h *Hub) DisconnectSessions(_ context.Context, userID uuid.UUID, sessionIDs []uuid.UUID, reason realtime.DisconnectReason) error {
	h.close(func(c *hubConn) bool {
		if c.user != userID {
			return false
		}
		for _, s := range sessionIDs {
			if c.session == s {
				return true
			}
		}
		return false
	}, reason)
	return nil
}

func (h *Hub) close(match func(*hubConn) bool, reason realtime.DisconnectReason) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.conns {
		if match(c) {
			c.reason = reason
			close(c.closed)
			delete(h.conns, c)
		}
	}
}

// Connect opens a fake connection; it is closed when t ends.
func (h *Hub) Connect(t *testing.T, userID, sessionID uuid.UUID) *Conn {
	c := &hubConn{user: userID, session: sessionID, events: make(chan realtime.Event, 256), closed: make(chan struct{})}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	t.Cleanup(func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.conns[c]; ok {
			delete(h.conns, c)
			close(c.closed)
		}
	})
	return &Conn{Events: c.events, Closed: c.closed, Reason: func() realtime.DisconnectReason {
		h.mu.Lock()
		defer h.mu.Unlock()
		return c.reason
	}}
}
