package centrifuge_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	cent "github.com/centrifugal/centrifuge-go"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
	"github.com/tradesense/tradesense/tests/testenv"
)

const wait = realtimetest.Wait

// sessions is a fake realtime.Sessions: every session is live unless
// revoked; down makes every check fail with apperr.Unavailable.
type sessions struct {
	mu      sync.Mutex
	revoked map[uuid.UUID]bool
	down    bool
	checks  int
}

func newSessions() *sessions { return &sessions{revoked: map[uuid.UUID]bool{}} }

func (s *sessions) CheckSession(_ context.Context, _, sid uuid.UUID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks++
	if s.down {
		return apperr.New(apperr.Unavailable, "cache_unavailable", "down")
	}
	if s.revoked[sid] {
		return apperr.New(apperr.Unauthenticated, identity.CodeSessionRevoked, "revoked")
	}
	return nil
}

func (s *sessions) revoke(sid uuid.UUID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[sid] = true
}

func (s *sessions) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func newRing(t testing.TB) *identity.KeyRing {
	t.Helper()
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	r, err := identity.NewKeyRing(secret)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// server is one engine behind an httptest server.
type server struct {
	E *centrifuge.Engine
	// URL is the HTTP base URL; NetDial, when set, is how to reach it
	// (in-memory pipes inside a synctest bubble).
	URL      string
	NetDial  func(ctx context.Context, network, addr string) (net.Conn, error)
	Tokens   *centrifuge.Tokens
	Sessions *sessions
	Prom     *prometheus.Registry
	Cfg      centrifuge.Config

	mu      sync.Mutex
	clients []*cent.Client
	stop    func()
	stopped sync.Once
}

// Stop closes the server's clients, then the engine and the server. Tests
// in a synctest bubble defer it: everything must stop before the bubble
// ends (t.Cleanup runs later).
func (s *server) Stop() {
	s.stopped.Do(func() {
		s.mu.Lock()
		cs := s.clients
		s.mu.Unlock()
		for _, c := range cs {
			c.Close()
		}
		s.stop()
	})
}

// WS is the engine's WebSocket URL.
func (s *server) WS() string {
	return "ws" + strings.TrimPrefix(s.URL, "http") + centrifuge.Path
}

// HTTPClient reaches the server.
func (s *server) HTTPClient() *http.Client {
	if s.NetDial == nil {
		return http.DefaultClient
	}
	return &http.Client{Transport: &http.Transport{DialContext: s.NetDial}}
}

// pipeListener serves connections made of net.Pipe, so that a whole
// engine with its clients runs inside a synctest bubble on fake time.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }

func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	a, b := net.Pipe()
	select {
	case l.conns <- a:
		return b, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type option func(*setup)

type setup struct {
	cfg      centrifuge.Config
	ring     *identity.KeyRing
	sessions *sessions
	tokenNow func() time.Time
	deps     func(*centrifuge.Deps)
	bubble   bool
}

// inBubble serves over in-memory pipes: call start from inside
// synctest.Test, and time is the bubble's fake clock.
func inBubble() option { return func(s *setup) { s.bubble = true } }

func withConfig(f func(*centrifuge.Config)) option { return func(s *setup) { f(&s.cfg) } }
func withRing(r *identity.KeyRing) option          { return func(s *setup) { s.ring = r } }
func withDeps(f func(*centrifuge.Deps)) option     { return func(s *setup) { s.deps = f } }

// redisURL returns TEST_REDIS_URL, skipping (or failing under CI) without it.
func redisURL(t testing.TB) string { return testenv.URL(t, "TEST_REDIS_URL") }

func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "test:rt:" + hex.EncodeToString(b)
}

// start runs an engine (memory broker unless the options set RedisURL) and
// serves it; both stop when t ends.
func start(t testing.TB, opts ...option) *server {
	t.Helper()
	s := &setup{cfg: centrifuge.DefaultConfig()}
	for _, o := range opts {
		o(s)
	}
	if s.ring == nil {
		s.ring = newRing(t)
	}
	if s.sessions == nil {
		s.sessions = newSessions()
	}
	toks, err := centrifuge.NewTokens(s.cfg, s.ring, s.tokenNow)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	d := centrifuge.Deps{Tokens: toks, Sessions: s.sessions, Prometheus: reg}
	if s.deps != nil {
		s.deps(&d)
	}
	e, cleanup, err := centrifuge.New(s.cfg, d)
	if err != nil {
		if s.cfg.RedisURL != "" {
			testenv.Unreachable(t, "TEST_REDIS_URL", err)
		}
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(centrifuge.Path, e.Handler())
	srv := &server{E: e, Tokens: toks, Sessions: s.sessions, Prom: reg, Cfg: s.cfg}
	if s.bubble {
		l := newPipeListener()
		hs := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(l) }()
		srv.URL, srv.NetDial = "http://127.0.0.1:80", l.dial
		srv.stop = func() {
			cleanup()
			_ = hs.Close()
			_ = l.Close()
			// The node unsubscribes emptied channels from its broker a
			// second later; let that finish inside the bubble.
			time.Sleep(2 * time.Second)
			synctest.Wait()
		}
		return srv
	}
	hs := httptest.NewServer(mux)
	srv.stop = func() {
		cleanup()
		hs.Close()
	}
	t.Cleanup(srv.Stop)
	srv.URL = hs.URL
	return srv
}

// onRedis returns options that put an engine on TEST_REDIS_URL under
// prefix (share the prefix to make several engines one cluster).
func onRedis(t testing.TB, prefix string) option {
	url := redisURL(t)
	return withConfig(func(c *centrifuge.Config) {
		c.RedisURL = url
		c.RedisPrefix = prefix
	})
}

// client is one centrifuge-go connection of a user, recording what it sees.
type client struct {
	C         *cent.Client
	User, Sid uuid.UUID

	Events     chan realtime.Event
	Subscribed chan cent.ServerSubscribedEvent
	Connected  chan struct{}
	// Connecting receives the code of every move to connecting (a server
	// close with reconnect advice, among others).
	Connecting chan uint32
	Closed     chan struct{} // closed on the first move to disconnected

	mu        sync.Mutex
	code      uint32
	tokens    int
	closeOnce sync.Once
}

type clientOpt func(*cent.Config, *client)

// withGetToken replaces the token source; n counts calls from 1.
func withGetToken(f func(n int) (string, error)) clientOpt {
	return func(cfg *cent.Config, c *client) {
		cfg.GetToken = func(cent.ConnectionTokenEvent) (string, error) {
			c.mu.Lock()
			c.tokens++
			n := c.tokens
			c.mu.Unlock()
			return f(n)
		}
	}
}

func withHeader(h http.Header) clientOpt {
	return func(cfg *cent.Config, _ *client) { cfg.Header = h }
}

// dial connects a client of user under session sid, with tokens from the
// server's issuer unless opts replace them, and waits for the connection
// unless noWait.
func (s *server) dial(t testing.TB, user, sid uuid.UUID, opts ...clientOpt) *client {
	t.Helper()
	c := s.newClient(t, user, sid, opts...)
	if err := c.C.Connect(); err != nil {
		t.Fatalf("connect: %v", err)
	}
	select {
	case <-c.Connected:
		for len(c.Connecting) > 0 {
			<-c.Connecting // the client's own move to connecting (code 0)
		}
	case <-c.Closed:
		t.Fatalf("connection refused: code %d", c.Code())
	case <-time.After(wait):
		t.Fatalf("not connected within %s", wait)
	}
	return c
}

func (s *server) newClient(t testing.TB, user, sid uuid.UUID, opts ...clientOpt) *client {
	t.Helper()
	c := &client{User: user, Sid: sid, Events: make(chan realtime.Event, 1024), Subscribed: make(chan cent.ServerSubscribedEvent, 16),
		Connected: make(chan struct{}, 16), Connecting: make(chan uint32, 64), Closed: make(chan struct{})}
	cfg := cent.Config{MinReconnectDelay: 50 * time.Millisecond, MaxReconnectDelay: 200 * time.Millisecond, NetDialContext: s.NetDial}
	withGetToken(func(int) (string, error) {
		tok, err := s.Tokens.IssueConnectionToken(context.Background(), user, sid)
		return tok.Token, err
	})(&cfg, c)
	for _, o := range opts {
		o(&cfg, c)
	}
	cc := cent.NewJsonClient(s.WS(), cfg)
	c.C = cc
	s.mu.Lock()
	s.clients = append(s.clients, cc)
	s.mu.Unlock()
	cc.OnConnected(func(cent.ConnectedEvent) { c.Connected <- struct{}{} })
	cc.OnConnecting(func(e cent.ConnectingEvent) {
		select {
		case c.Connecting <- e.Code:
		default:
		}
	})
	cc.OnDisconnected(func(e cent.DisconnectedEvent) {
		c.mu.Lock()
		c.code = e.Code
		c.mu.Unlock()
		c.closeOnce.Do(func() { close(c.Closed) })
	})
	cc.OnSubscribed(func(e cent.ServerSubscribedEvent) { c.Subscribed <- e })
	cc.OnPublication(func(e cent.ServerPublicationEvent) {
		ev, err := centrifuge.DecodeEvent(user, e.Data)
		if err != nil {
			t.Errorf("undecodable publication %q: %v", e.Data, err)
			return
		}
		c.Events <- ev
	})
	t.Cleanup(cc.Close)
	return c
}

// Code is the close code of the move to disconnected.
func (c *client) Code() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code
}

// TokenCalls counts GetToken calls.
func (c *client) TokenCalls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tokens
}

// conn adapts a client to the contract suite's view.
func (c *client) conn() *realtimetest.Conn {
	return &realtimetest.Conn{Events: c.Events, Closed: c.Closed, Reason: func() realtime.DisconnectReason {
		r, ok := centrifuge.ReasonOf(c.Code())
		if !ok {
			return realtime.DisconnectReason("code " + strconv.FormatUint(uint64(c.Code()), 10))
		}
		return r
	}}
}

// waitClosed waits for c's move to disconnected with code.
func waitClosed(t testing.TB, c *client, code uint32) {
	t.Helper()
	waitClosedWithin(t, c, code, wait)
}

func waitClosedWithin(t testing.TB, c *client, code uint32, wait time.Duration) {
	t.Helper()
	select {
	case <-c.Closed:
		if c.Code() != code {
			t.Fatalf("disconnected with code %d; want %d", c.Code(), code)
		}
	case <-time.After(wait):
		t.Fatalf("still connected %s later; want a close with code %d", wait, code)
	}
}

// waitConnecting waits for a server close with reconnect advice code.
func waitConnectingWithin(t testing.TB, c *client, code uint32, wait time.Duration) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case got := <-c.Connecting:
			if got == code {
				return
			}
		case <-c.Closed:
			t.Fatalf("disconnected for good (code %d); want a reconnect advice %d", c.Code(), code)
		case <-deadline:
			t.Fatalf("no reconnect advice %d within %s", code, wait)
		}
	}
}

func mustPublish(t testing.TB, p realtime.Publisher, e realtime.Event) {
	t.Helper()
	if err := p.Publish(context.Background(), e); err != nil {
		t.Fatalf("Publish(%s): %v", e.Type, err)
	}
}

func event(user uuid.UUID, payload map[string]any) realtime.Event {
	if payload == nil {
		payload = map[string]any{} // a nil payload is sent as {}
	}
	return realtime.NewEvent(realtime.TypeJobUpdated, user, time.Now(), payload)
}

var errNoToken = errors.New("no token for you")

// raw is a bare WebSocket speaking the JSON protocol by hand, for what the
// official client never does (ignore pings, stop reading, oversize frames).
type raw struct {
	*websocket.Conn
	Resp *http.Response
}

func (s *server) rawDial(t testing.TB, h http.Header, d *websocket.Dialer) (*raw, error) {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{NetDialContext: s.NetDial, HandshakeTimeout: wait}
	}
	conn, resp, err := d.Dial(s.WS(), h)
	if resp != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return &raw{Resp: resp}, err
	}
	t.Cleanup(func() { _ = conn.Close() })
	return &raw{Conn: conn, Resp: resp}, nil
}

// connect sends the connect command with tok and returns the reply.
func (r *raw) connect(t testing.TB, tok string) map[string]json.RawMessage {
	t.Helper()
	if err := r.WriteJSON(map[string]any{"id": 1, "connect": map[string]any{"token": tok, "name": "raw"}}); err != nil {
		t.Fatalf("send connect: %v", err)
	}
	_ = r.SetReadDeadline(time.Now().Add(wait))
	defer func() { _ = r.SetReadDeadline(time.Time{}) }()
	for {
		_, b, err := r.ReadMessage()
		if err != nil {
			t.Fatalf("read connect reply: %v", err)
		}
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("reply %q: %v", b, err)
		}
		if string(m["id"]) == "1" {
			return m
		}
	}
}

// closeCode reads until the server closes r and returns the close code.
func (r *raw) closeCode(t testing.TB, within time.Duration) int {
	t.Helper()
	_ = r.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := r.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce.Code
		}
		t.Fatalf("connection not closed by a close frame within %s: %v", within, err)
	}
}

// eventually fails t unless cond holds within wait.
func eventually(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attributeKey(k string) attribute.Key { return attribute.Key(k) }
