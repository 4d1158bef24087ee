package centrifuge_test

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

// counter sums the data points of the OTel counter name whose attribute
// key has value val ("" matches every point).
func counter(t testing.TB, r *sdkmetric.ManualReader, name, key, val string) int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			var points []metricdata.DataPoint[int64]
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				points = d.DataPoints
			case metricdata.Gauge[int64]:
				points = d.DataPoints
			}
			for _, p := range points {
				if v, ok := p.Attributes.Value(attributeKey(key)); key == "" || (ok && v.AsString() == val) {
					n += p.Value
				}
			}
		}
	}
	return n
}

// Not parallel: it measures the process's retained heap.
func TestSlowClientIsDisconnectedAndMemoryStaysBounded(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	const queue = 64 << 10
	s := start(t, withConfig(func(c *centrifuge.Config) {
		c.HistorySize = 10
		c.ClientQueueBytes = queue
		// What is enqueued between the overflow and the close stays until
		// the close completes, and the close waits for a write in progress
		// (up to WriteTimeout): with a short one, that window is short.
		c.WriteTimeout = 100 * time.Millisecond
	}), withDeps(func(d *centrifuge.Deps) { d.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)) }))

	u := uuid.New()
	// A client that connects, then stops reading, with a tiny socket buffer.
	d := &websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	slow, err := s.rawDial(t, nil, d)
	if err != nil {
		t.Fatal(err)
	}
	slow.connect(t, issue(t, s.Tokens, u, uuid.New()))
	other := s.dial(t, uuid.New(), uuid.New())

	// The retained heap (after a GC) is sampled every 250 events: a queue
	// without a bound would keep all 11.7 MiB the slow client does not
	// read. Publishing yields between events and pauses now and then,
	// leaving the engine time to close the slow connection (centrifuge
	// closes it in a goroutine); one user's events are rare in real life.
	var base, m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&base)
	var peak uint64
	note := strings.Repeat("n", 3900)
	published := 0
	for i := range 3000 {
		mustPublish(t, s.E, event(u, map[string]any{"note": note}))
		runtime.Gosched()
		if published == 0 && s.E.Connections() == 1 {
			published = i + 1
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
		if i%250 == 249 {
			runtime.GC()
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapAlloc)
		}
	}
	eventually(t, func() bool { return s.E.Connections() == 1 }, "slow client disconnected")
	grew := int64(peak) - int64(base.HeapAlloc)
	t.Logf("the slow client was cut after %d events (%d KiB); over 3000 events (11.7 MiB) the retained heap grew by at most %d KiB", published, published*4, grew>>10)
	if grew > 4<<20 {
		t.Fatalf("retained heap grew by %d KiB while a client did not read: the per-connection queue is not bounded", grew>>10)
	}
	if published*4096 < queue {
		t.Fatalf("slow client cut after %d events: before its queue could even fill", published)
	}

	// Cut as "slow" (queue over its bound) or "write_error" (a write that
	// outlasted WriteTimeout, when the socket filled first).
	eventually(t, func() bool {
		return counter(t, reader, "realtime.disconnects", "reason", "slow")+counter(t, reader, "realtime.disconnects", "reason", "write_error") == 1
	}, "realtime.disconnects{reason=slow|write_error} = 1")
	// Once closed, nothing of what it did not read is kept.
	runtime.GC()
	runtime.ReadMemStats(&m)
	if after := int64(m.HeapAlloc) - int64(base.HeapAlloc); after > 1<<20 {
		t.Fatalf("retained heap still %d KiB above the start after the slow client was closed", after>>10)
	}

	// Everyone else is unaffected.
	e := event(other.User, nil)
	mustPublish(t, s.E, e)
	realtimetest.SameEvent(t, "other user", realtimetest.Next(t, other.conn()), e)
}

func TestShutdownWith100Clients(t *testing.T) {
	s := start(t)
	clients := make([]*client, 100)
	for i := range clients {
		clients[i] = s.dial(t, uuid.New(), uuid.New())
	}
	if n := s.E.Connections(); n != 100 {
		t.Fatalf("%d connections; want 100", n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	began := time.Now()
	if err := s.E.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	took := time.Since(began)
	for i, c := range clients {
		select {
		case code := <-c.Connecting:
			if code != 3001 {
				t.Fatalf("client %d: reconnect advice %d; want 3001 shutdown", i, code)
			}
		case <-c.Closed:
			t.Fatalf("client %d closed for good (%d); want the reconnect advice", i, c.Code())
		case <-time.After(wait):
			t.Fatalf("client %d got no reconnect advice", i)
		}
	}
	if n := s.E.Connections(); n != 0 {
		t.Fatalf("%d connections left after Shutdown", n)
	}
	t.Logf("Shutdown closed 100 connections in %s", took)
	if took > 2*time.Second {
		t.Fatalf("Shutdown took %s for 100 connections", took)
	}
	// Reconnects are turned away, to another replica.
	if _, err := s.rawDial(t, nil, nil); err == nil {
		t.Fatal("a new connection was accepted after Shutdown")
	}
	if err := s.E.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}
