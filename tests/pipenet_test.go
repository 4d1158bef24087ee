package tests

import (
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
)

// pipeNetwork is an in-memory network for one HTTP server: connections are
// net.Pipe pairs handed to the server's Accept. Unlike a loopback socket,
// a goroutine waiting on it is durably blocked in the synctest sense, so a
// server on it can run inside a bubble and fake time still advances.
type pipeNetwork struct {
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
func (n *pipeNetwork) Addr() net.Addr { return pipeAddr{} }

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

// pipeAddr is the listener's address.
type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "tradesense.test:80" }

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
	return "http://tradesense.test", &http.Client{Transport: validatingTransport{t: t, next: tr}}
}
