package tests

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// pipeNetwork is an in-memory network for one HTTP server: connections are
// net.Pipe pairs handed to the server's Accept. Unlike a loopback socket,
// a goroutine waiting on it is durably blocked in the synctest sense, so a
// server on it can run inside a bubble and fake time still advances.
type pipeNetwork struct {
	host   string // host:port of Addr ("tradesense.test:80" when empty)
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeNetwork() *pipeNetwork {
	return &pipeNetwork{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept implements net.Listener.
func (n *pipeNetwork) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (n *pipeNetwork) Close() error {
	n.once.Do(func() { close(n.closed) })
	return nil
}

// Addr implements net.Listener.
func (n *pipeNetwork) Addr() net.Addr {
	if n.host == "" {
		return pipeAddr("tradesense.test:80")
	}
	return pipeAddr(n.host)
}

// dial connects to the server (an http.Transport's DialContext).
func (n *pipeNetwork) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case n.conns <- loopbackConn{server}:
		return client, nil
	case <-n.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pipeAddr is a listener's address.
type pipeAddr string

func (pipeAddr) Network() string  { return "pipe" }
func (a pipeAddr) String() string { return string(a) }

// loopbackConn is the server's end of a pipe, reporting the loopback
// addresses a real socket would (the API reads the client IP from them).
type loopbackConn struct{ net.Conn }

func (loopbackConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 80} }
func (loopbackConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 49152}
}

// serve runs h on a new pipe network until the test ends and returns the
// base URL and a client that reaches it.
func serve(t testing.TB, h http.Handler) (string, *http.Client) {
	t.Helper()
	n := newPipeNetwork()
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(n)
	}()
	tr := &http.Transport{DialContext: n.dial, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
		<-done
	})
	return "http://tradesense.test", &http.Client{Transport: tr}
}

// memNet is an in-memory internet of pipe networks, one per host:port:
// servers listen on a name, clients dial it through memNet's transport.
// Dialling a name nobody listens on fails as a refused connection would.
type memNet struct {
	mu    sync.Mutex
	hosts map[string]*pipeNetwork
	tr    *http.Transport
}

func newMemNet(t testing.TB) *memNet {
	m := &memNet{hosts: map[string]*pipeNetwork{}}
	m.tr = &http.Transport{DialContext: m.dial, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		m.tr.CloseIdleConnections()
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, n := range m.hosts {
			_ = n.Close()
		}
	})
	return m
}

// listen is a listener for host (host:port; port 80 when left out).
func (m *memNet) listen(host string) net.Listener {
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "80")
	}
	n := newPipeNetwork()
	n.host = host
	m.mu.Lock()
	m.hosts[host] = n
	m.mu.Unlock()
	return n
}

func (m *memNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	m.mu.Lock()
	n := m.hosts[addr]
	m.mu.Unlock()
	if n == nil {
		return nil, &net.OpError{Op: "dial", Net: network, Err: errors.New("connection refused: nobody listens on " + addr)}
	}
	return n.dial(ctx, network, addr)
}

// client is an HTTP client over memNet; redirects are followed unless
// noRedirects.
func (m *memNet) client(noRedirects bool) *http.Client {
	c := &http.Client{Transport: m.tr, Timeout: 10 * time.Second}
	if noRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

// serveOn serves h on host until the test ends and returns its base URL.
func (m *memNet) serveOn(t testing.TB, host string, h http.Handler) string {
	t.Helper()
	ln := m.listen(host)
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		m.tr.CloseIdleConnections()
		_ = srv.Close()
		<-done
	})
	return "http://" + host
}
