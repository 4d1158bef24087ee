// Command rtload measures the realtime engine (adapters/centrifuge) with
// its official Go client over loopback. It starts the engine in a child
// process of its own (the same binary, "rtload server"), so that the
// figures of the server are not mixed with those of the clients, drives it,
// and stops it. Every run is bounded in connections and time.
//
//	rtload idle    -n 10000 -hold 60s        RSS per idle connection, idle CPU with pings
//	rtload fanout  -users 100 -per-user 10 -rate 1000 -duration 30s -redis URL
//	                                          delivery latency p50/p99 and loss through Redis
//	rtload connect -n 3000 -c 64             connections/s with token verification
//	rtload api -url URL -pid PID -users rt%d@example.com:10 -password PW -n 10000
//	                                          RSS per idle connection of a running
//	                                          `tradesense api` (tests/loadtest/rtapi.sh)
//
// The fan-out publisher is a second engine in this process on the same
// Redis prefix: events published here reach clients of the server process
// only through Redis, as a job's event on one replica reaches a device
// connected to another. See docs/benchmarks.md.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	cent "github.com/centrifugal/centrifuge-go"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/realtime"
)

func main() {
	log.SetFlags(0)
	if len(os.Args) < 2 {
		log.Fatal("usage: rtload server|idle|fanout|connect [flags]")
	}
	mode, args := os.Args[1], os.Args[2:]
	var err error
	switch mode {
	case "server":
		err = serve(args)
	case "idle":
		err = idle(args)
	case "fanout":
		err = fanout(args)
	case "connect":
		err = connectRate(args)
	case "api":
		err = apiIdle(args)
	default:
		err = fmt.Errorf("unknown mode %q", mode)
	}
	if err != nil {
		log.Fatal(err)
	}
}

// liveSessions says every session is live: the benchmark measures the
// engine, not the identity store (in production CheckSession is one cache
// read per connect).
type liveSessions struct{}

func (liveSessions) CheckSession(context.Context, uuid.UUID, uuid.UUID) error { return nil }

func ring(secret string) (*identity.KeyRing, error) {
	b, err := hex.DecodeString(secret)
	if err != nil {
		return nil, fmt.Errorf("-secret: %w", err)
	}
	return identity.NewKeyRing(b)
}

func engineConfig(redisURL, prefix string) centrifuge.Config {
	cfg := centrifuge.DefaultConfig()
	cfg.RedisURL = redisURL
	if prefix != "" {
		cfg.RedisPrefix = prefix
	}
	// 100 users with 10 devices each is exactly the default limit.
	return cfg
}

// serve runs the engine on loopback until stdin closes or SIGTERM.
func serve(args []string) error {
	fs := flag.NewFlagSet("server", flag.ExitOnError)
	secret := fs.String("secret", "", "hex JWT secret shared with the load generator")
	redisURL := fs.String("redis", "", "Redis URL (empty: in-process broker)")
	prefix := fs.String("prefix", "", "Redis key prefix")
	exact := fs.Bool("exact-heap-profile", false, "profile every allocation (slow; for -profile)")
	writeDelay := fs.Duration("write-delay", 0, "REALTIME_WRITE_DELAY (0, the default: a writer goroutine per connection)")
	_ = fs.Parse(args)
	if *exact {
		runtime.MemProfileRate = 1
	}
	r, err := ring(*secret)
	if err != nil {
		return err
	}
	cfg := engineConfig(*redisURL, *prefix)
	cfg.WriteDelay = *writeDelay
	toks, err := centrifuge.NewTokens(cfg, r, nil)
	if err != nil {
		return err
	}
	e, cleanup, err := centrifuge.New(cfg, centrifuge.Deps{Tokens: toks, Sessions: liveSessions{}})
	if err != nil {
		return err
	}
	defer cleanup()
	mux := http.NewServeMux()
	mux.Handle(centrifuge.Path, e.Handler())
	mux.Handle("/debug/pprof/heap", httppprof.Handler("heap"))
	mux.Handle("/debug/pprof/goroutine", httppprof.Handler("goroutine"))
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("gc") {
			runtime.GC()
			debug.FreeOSMemory()
		}
		_ = json.NewEncoder(w).Encode(selfStats(e.Connections()))
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("ready %s %d\n", l.Addr(), os.Getpid())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { // the parent's death closes our stdin
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		stop()
	}()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_ = e.Shutdown(sctx)
	return srv.Shutdown(sctx)
}

type stats struct {
	RSS         int64   `json:"rss_bytes"`
	HeapInuse   uint64  `json:"heap_inuse_bytes"`
	StackInuse  uint64  `json:"stack_inuse_bytes"`
	Goroutines  int     `json:"goroutines"`
	CPUSeconds  float64 `json:"cpu_seconds"`
	Connections int     `json:"connections"`
}

func selfStats(conns int) stats {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
	return stats{RSS: rss(), HeapInuse: m.HeapInuse, StackInuse: m.StackInuse, Goroutines: runtime.NumGoroutine(), CPUSeconds: cpu, Connections: conns}
}

// rss reads this process's VmRSS from /proc (Linux).
func rss() int64 { return procRSS(os.Getpid()) }

// child is the server process.
type child struct {
	cmd  *exec.Cmd
	addr string
	in   interface{ Close() error }
}

// serverFlags are passed on to the server process.
var serverFlags []string

// writeDelayFlag registers -write-delay, passed on to the server.
func writeDelayFlag(fs *flag.FlagSet) *time.Duration {
	return fs.Duration("write-delay", 0, "the server's REALTIME_WRITE_DELAY (0, the default: a writer goroutine per connection)")
}

func passWriteDelay(d time.Duration) {
	if d != 0 {
		serverFlags = append(serverFlags, "-write-delay", d.String())
	}
}

func startServer(secret, redisURL, prefix string) (*child, error) {
	args := append([]string{"server", "-secret", secret, "-redis", redisURL, "-prefix", prefix}, serverFlags...)
	cmd := exec.Command(os.Args[0], args...) //nolint:gosec // our own binary
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("server did not start: %w", err)
	}
	var addr string
	var pid int
	if _, err := fmt.Sscanf(line, "ready %s %d", &addr, &pid); err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("server said %q", line)
	}
	return &child{cmd: cmd, addr: addr, in: in}, nil
}

func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(25 * time.Second):
		_ = c.cmd.Process.Kill()
	}
	_ = c.in.Close()
}

func (c *child) stats(gc bool) (stats, error) {
	u := "http://" + c.addr + "/stats"
	if gc {
		u += "?gc=1"
	}
	resp, err := http.Get(u) //nolint:gosec,noctx // loopback, our own child
	if err != nil {
		return stats{}, err
	}
	defer resp.Body.Close()
	var s stats
	return s, json.NewDecoder(resp.Body).Decode(&s)
}

func (c *child) fetch(path, file string) error {
	resp, err := http.Get("http://" + c.addr + path) //nolint:gosec,noctx // loopback, our own child
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	return os.WriteFile(file, b, 0o600)
}

func (c *child) ws() string { return "ws://" + c.addr + centrifuge.Path }

func newSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dialer opens clients of one server.
type dialer struct {
	url    string
	tokens *centrifuge.Tokens
	// onPub, when set, receives every publication.
	onPub func(user uuid.UUID, data []byte)
}

func (d *dialer) dial(user uuid.UUID) (*cent.Client, error) {
	sid := uuid.New()
	getToken := func() (string, error) {
		t, err := d.tokens.IssueConnectionToken(context.Background(), user, sid)
		return t.Token, err
	}
	return dialCent(d.url, getToken, func(c *cent.Client, ready func()) {
		c.OnConnected(func(cent.ConnectedEvent) { ready() })
		if d.onPub != nil {
			c.OnPublication(func(e cent.ServerPublicationEvent) { d.onPub(user, e.Data) })
		}
	})
}

// dialCent connects a client to url that takes its connection token from
// getToken; setup registers the client's handlers and calls ready (once or
// more) when the client is usable. dialCent returns the client then, or
// closes it and fails when the server disconnects it first or 30s pass.
func dialCent(url string, getToken func() (string, error), setup func(c *cent.Client, ready func())) (*cent.Client, error) {
	c := cent.NewJsonClient(url, cent.Config{
		GetToken:          func(cent.ConnectionTokenEvent) (string, error) { return getToken() },
		MaxReconnectDelay: 5 * time.Second,
		HandshakeTimeout:  10 * time.Second,
		ReadTimeout:       10 * time.Second,
	})
	readyc := make(chan struct{})
	var once sync.Once
	setup(c, func() { once.Do(func() { close(readyc) }) })
	failed := make(chan uint32, 1)
	c.OnDisconnected(func(e cent.DisconnectedEvent) {
		select {
		case failed <- e.Code:
		default:
		}
	})
	if err := c.Connect(); err != nil {
		c.Close()
		return nil, err
	}
	select {
	case <-readyc:
		return c, nil
	case code := <-failed:
		c.Close()
		return nil, fmt.Errorf("refused with code %d", code)
	case <-time.After(30 * time.Second):
		c.Close()
		return nil, errors.New("connect timed out")
	}
}

// dialAll opens one client per entry of users, conc at a time.
func (d *dialer) dialAll(users []uuid.UUID, conc int) ([]*cent.Client, time.Duration, error) {
	clients := make([]*cent.Client, len(users))
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var firstErr atomic.Pointer[error]
	began := time.Now()
	for i, u := range users {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c, err := d.dial(u)
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	took := time.Since(began)
	if p := firstErr.Load(); p != nil {
		closeAll(clients)
		return nil, took, *p
	}
	return clients, took, nil
}

func closeAll(cs []*cent.Client) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, 256)
	for _, c := range cs {
		if c == nil {
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			c.Close()
		})
	}
	wg.Wait()
}

func users(n, perUser int) []uuid.UUID {
	out := make([]uuid.UUID, 0, n*perUser)
	for range n {
		u := uuid.New()
		for range perUser {
			out = append(out, u)
		}
	}
	return out
}

func idle(args []string) error {
	fs := flag.NewFlagSet("idle", flag.ExitOnError)
	n := fs.Int("n", 10000, "idle connections (at most 15000)")
	hold := fs.Duration("hold", 60*time.Second, "idle time measured (pings every 25s)")
	redisURL := fs.String("redis", "", "Redis URL (empty: in-process broker)")
	profile := fs.String("profile", "", "write the server's heap profiles to FILE.base (before) and FILE (after the idle period)")
	exact := fs.Bool("exact-heap-profile", false, "with -profile: the server records every allocation")
	wd := writeDelayFlag(fs)
	_ = fs.Parse(args)
	passWriteDelay(*wd)
	if *exact {
		serverFlags = append(serverFlags, "-exact-heap-profile")
	}
	if *n < 1 || *n > 15000 || *hold > 10*time.Minute {
		return errors.New("-n from 1 to 15000, -hold at most 10m")
	}
	secret := newSecret()
	srv, err := startServer(secret, *redisURL, "rtload:"+secret[:8])
	if err != nil {
		return err
	}
	defer srv.stop()
	r, _ := ring(secret)
	toks, _ := centrifuge.NewTokens(centrifuge.DefaultConfig(), r, nil)
	d := &dialer{url: srv.ws(), tokens: toks}

	time.Sleep(time.Second)
	before, err := srv.stats(true)
	if err != nil {
		return err
	}
	if *profile != "" {
		if err := srv.fetch("/debug/pprof/heap?gc=1", *profile+".base"); err != nil {
			return err
		}
	}
	clients, took, err := d.dialAll(users(*n, 1), 64)
	if err != nil {
		return fmt.Errorf("open %d connections: %w", *n, err)
	}
	defer closeAll(clients)
	fmt.Printf("opened %d connections in %s (%.0f/s)\n", *n, took.Round(time.Millisecond), float64(*n)/took.Seconds())
	time.Sleep(5 * time.Second) // let the burst's garbage go
	settled, err := srv.stats(false)
	if err != nil {
		return err
	}
	time.Sleep(*hold)
	after, err := srv.stats(false)
	if err != nil {
		return err
	}
	gced, err := srv.stats(true)
	if err != nil {
		return err
	}
	if *profile != "" {
		if err := srv.fetch("/debug/pprof/heap?gc=1", *profile); err != nil {
			return err
		}
	}
	if after.Connections != *n {
		return fmt.Errorf("%d of %d connections still open after the idle period", after.Connections, *n)
	}
	per := func(a, b int64) float64 { return float64(b-a) / float64(*n) / 1024 }
	fmt.Printf("server baseline: RSS %.1f MiB, heap %.1f MiB, %d goroutines\n", mib(before.RSS), mib(int64(before.HeapInuse)), before.Goroutines)
	fmt.Printf("with %d idle connections: RSS %.1f MiB (%.1f KiB per connection), after GC+scavenge %.1f MiB (%.1f KiB per connection)\n",
		*n, mib(after.RSS), per(before.RSS, after.RSS), mib(gced.RSS), per(before.RSS, gced.RSS))
	fmt.Printf("per connection: heap in use %.1f KiB, goroutine stacks %.1f KiB, %.2f goroutines\n",
		per(int64(before.HeapInuse), int64(gced.HeapInuse)), per(int64(before.StackInuse), int64(gced.StackInuse)), float64(gced.Goroutines-before.Goroutines)/float64(*n))
	cpu := after.CPUSeconds - settled.CPUSeconds
	fmt.Printf("idle CPU over %s: %.2f s = %.2f%% of one core (pings every 25s: %.0f pings/s)\n",
		*hold, cpu, 100*cpu/hold.Seconds(), float64(*n)/25)
	return nil
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

type sample struct {
	mu   sync.Mutex
	lat  []time.Duration
	seen map[uuid.UUID]int
}

func fanout(args []string) error {
	fs := flag.NewFlagSet("fanout", flag.ExitOnError)
	nUsers := fs.Int("users", 100, "users")
	perUser := fs.Int("per-user", 10, "connections per user")
	rate := fs.Int("rate", 1000, "publications per second (at most 5000)")
	dur := fs.Duration("duration", 30*time.Second, "publishing time (at most 5m)")
	redisURL := fs.String("redis", "redis://127.0.0.1:6379/0", "Redis URL")
	wd := writeDelayFlag(fs)
	_ = fs.Parse(args)
	passWriteDelay(*wd)
	if *nUsers*(*perUser) > 15000 || *rate > 5000 || *dur > 5*time.Minute || *rate < 1 {
		return errors.New("at most 15000 connections, 5000 publications/s, 5m")
	}
	if *redisURL == "" {
		return errors.New("fanout measures delivery through Redis: -redis is required")
	}
	secret := newSecret()
	prefix := "rtload:" + secret[:8]
	srv, err := startServer(secret, *redisURL, prefix)
	if err != nil {
		return err
	}
	defer srv.stop()
	r, _ := ring(secret)
	cfg := engineConfig(*redisURL, prefix)
	toks, _ := centrifuge.NewTokens(cfg, r, nil)
	pub, cleanup, err := centrifuge.New(cfg, centrifuge.Deps{Tokens: toks, Sessions: liveSessions{}})
	if err != nil {
		return err
	}
	defer cleanup()

	s := &sample{seen: map[uuid.UUID]int{}}
	var received, dup atomic.Int64
	d := &dialer{url: srv.ws(), tokens: toks, onPub: func(user uuid.UUID, data []byte) {
		now := time.Now()
		e, err := centrifuge.DecodeEvent(user, data)
		if err != nil {
			return
		}
		sent, _ := e.Payload["sent_unix_nano"].(float64)
		received.Add(1)
		s.mu.Lock()
		s.lat = append(s.lat, now.Sub(time.Unix(0, int64(sent))))
		s.seen[e.ID]++
		if s.seen[e.ID] > *perUser {
			dup.Add(1)
		}
		s.mu.Unlock()
	}}
	all := users(*nUsers, *perUser)
	clients, took, err := d.dialAll(all, 64)
	if err != nil {
		return err
	}
	defer closeAll(clients)
	fmt.Printf("opened %d connections (%d users × %d) in %s\n", len(all), *nUsers, *perUser, took.Round(time.Millisecond))
	distinct := slices.Compact(slices.Clone(all))
	time.Sleep(time.Second)

	before, _ := srv.stats(false)
	interval := time.Second / time.Duration(*rate)
	total := int(dur.Seconds() * float64(*rate))
	var failed int
	began := time.Now()
	for i := range total {
		if wait := time.Until(began.Add(time.Duration(i) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		u := distinct[i%len(distinct)]
		e := realtime.NewEvent(realtime.TypeJobUpdated, u, time.Now(), map[string]any{"job_id": "load", "state": "progress", "sent_unix_nano": time.Now().UnixNano()})
		if err := pub.Publish(context.Background(), e); err != nil {
			failed++
		}
	}
	pubTook := time.Since(began)
	want := int64((total - failed) * *perUser)
	deadline := time.Now().Add(10 * time.Second)
	for received.Load() < want && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	after, _ := srv.stats(false)
	s.mu.Lock()
	lat := slices.Clone(s.lat)
	s.mu.Unlock()
	slices.Sort(lat)
	q := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[min(len(lat)-1, int(p*float64(len(lat))))]
	}
	fmt.Printf("published %d events in %s (%.0f/s, %d failed); expected deliveries %d, received %d, lost %d, duplicated %d\n",
		total, pubTook.Round(time.Millisecond), float64(total)/pubTook.Seconds(), failed, want, received.Load(), want-received.Load(), dup.Load())
	fmt.Printf("delivery latency publish→client: p50 %s, p90 %s, p99 %s, p99.9 %s, max %s\n",
		q(0.50).Round(10*time.Microsecond), q(0.90).Round(10*time.Microsecond), q(0.99).Round(10*time.Microsecond), q(0.999).Round(10*time.Microsecond), q(1).Round(10*time.Microsecond))
	fmt.Printf("server CPU while publishing: %.0f%% of one core\n", 100*(after.CPUSeconds-before.CPUSeconds)/pubTook.Seconds())
	return nil
}

func connectRate(args []string) error {
	fs := flag.NewFlagSet("connect", flag.ExitOnError)
	n := fs.Int("n", 3000, "connections (at most 15000)")
	conc := fs.Int("c", 64, "concurrent connects")
	redisURL := fs.String("redis", "", "Redis URL (empty: in-process broker)")
	wd := writeDelayFlag(fs)
	_ = fs.Parse(args)
	passWriteDelay(*wd)
	if *n < 1 || *n > 15000 || *conc < 1 || *conc > 1024 {
		return errors.New("-n from 1 to 15000, -c from 1 to 1024")
	}
	secret := newSecret()
	srv, err := startServer(secret, *redisURL, "rtload:"+secret[:8])
	if err != nil {
		return err
	}
	defer srv.stop()
	r, _ := ring(secret)
	toks, _ := centrifuge.NewTokens(centrifuge.DefaultConfig(), r, nil)
	d := &dialer{url: srv.ws(), tokens: toks}
	before, _ := srv.stats(false)
	clients, took, err := d.dialAll(users(*n, 1), *conc)
	if err != nil {
		return err
	}
	after, _ := srv.stats(false)
	fmt.Printf("%d connections (each: WebSocket handshake, connect with a fresh EdDSA token verified, personal channel subscribed with presence) in %s with %d concurrent: %.0f connections/s; server CPU %.0f%% of one core\n",
		*n, took.Round(time.Millisecond), *conc, float64(*n)/took.Seconds(), 100*(after.CPUSeconds-before.CPUSeconds)/took.Seconds())
	closeAll(clients)
	return nil
}
