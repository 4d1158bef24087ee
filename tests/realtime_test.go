package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	cent "github.com/centrifugal/centrifuge-go"
	"github.com/google/uuid"
	"github.com/pquerna/otp/totp"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

// The realtime push over the real program: the official Go client
// (centrifuge-go) against `tradesense api`, connection tokens from the
// REST API, events caused by real requests and jobs.

// rtWait bounds every wait for something that must happen.
const rtWait = 10 * time.Second

// rtClient is one device's connection, as the tests observe it.
type rtClient struct {
	t      *testing.T
	c      *cent.Client
	user   uuid.UUID
	events chan realtime.Event
	// reconnects receives the close code of each non-terminal close (the
	// client reconnects by itself), closed the code of the terminal one.
	reconnects chan rtClose
	closed     chan uint32
	subscribed chan cent.ServerSubscribedEvent
}

// rtClose is a close the client reconnects after.
type rtClose struct {
	code uint32
	at   time.Time
}

// session is a signed-in device: its access token and the IDs behind it.
type session struct {
	access string
	user   uuid.UUID
	id     uuid.UUID
}

// signIn logs email in on the API at url and returns the session.
func signIn(t *testing.T, url, email string) session {
	t.Helper()
	c := userClient{t, url}
	status, body := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": revPassword})
	if status != 200 {
		t.Fatalf("login %s: %d %v", email, status, body)
	}
	s := session{access: body["access_token"].(string)}
	user, _ := body["user"].(map[string]any)
	s.user = uuid.MustParse(user["id"].(string))
	status, list := c.call("GET", "/api/v1/auth/sessions", s.access, nil)
	if status != 200 {
		t.Fatalf("sessions: %d %v", status, list)
	}
	for _, it := range list["sessions"].([]any) {
		if m := it.(map[string]any); m["current"] == true {
			s.id = uuid.MustParse(m["id"].(string))
		}
	}
	if s.id == uuid.Nil {
		t.Fatal("no current session in the list")
	}
	return s
}

// connToken fetches a connection token from the API at url.
func connToken(url, access string) (string, error) {
	req, _ := http.NewRequest("POST", url+"/api/v1/realtime/token", nil)
	req.Header.Set("Authorization", "Bearer "+access)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return "", cent.ErrUnauthorized
	}
	var body struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		return "", fmt.Errorf("realtime token: %d %w", resp.StatusCode, err)
	}
	return body.Token, nil
}

// wsURL is the WebSocket endpoint of the API at url.
// startRTPair creates two users, starts the api of env, signs both in and
// connects one realtime device for each: the owner's (mine) and the other
// user's (theirs).
func startRTPair(t *testing.T, env map[string]string, email, otherEmail string) (app *harness.App, me, other session, mine, theirs *rtClient) {
	t.Helper()
	createUser(t, env, email)
	createUser(t, env, otherEmail)
	app = harness.Start(t, env, "api")
	me, other = signIn(t, app.URL, email), signIn(t, app.URL, otherEmail)
	mine = connectRT(t, wsURL(app.URL), app.URL, me, nil)
	theirs = connectRT(t, wsURL(app.URL), app.URL, other, nil)
	return app, me, other, mine, theirs
}

func wsURL(url string) string { return "ws" + strings.TrimPrefix(url, "http") + centrifuge.Path }

// connectRT connects a client for s to endpoint, its tokens fetched from
// tokenURL, and waits until it is connected and subscribed. dial, when
// set, picks the replica (a load balancer's part).
func connectRT(t *testing.T, endpoint, tokenURL string, s session, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *rtClient {
	t.Helper()
	r := &rtClient{t: t, user: s.user, events: make(chan realtime.Event, 4096), reconnects: make(chan rtClose, 64),
		closed: make(chan uint32, 1), subscribed: make(chan cent.ServerSubscribedEvent, 16)}
	r.c = cent.NewJsonClient(endpoint, cent.Config{
		GetToken:          func(cent.ConnectionTokenEvent) (string, error) { return connToken(tokenURL, s.access) },
		NetDialContext:    dial,
		MinReconnectDelay: 50 * time.Millisecond,
		MaxReconnectDelay: 500 * time.Millisecond,
		HandshakeTimeout:  5 * time.Second,
		ReadTimeout:       5 * time.Second,
	})
	r.c.OnPublication(func(e cent.ServerPublicationEvent) {
		ev, err := centrifuge.DecodeEvent(s.user, e.Data)
		if err != nil {
			t.Errorf("undecodable publication %q: %v", e.Data, err)
			return
		}
		r.events <- ev
	})
	r.c.OnSubscribed(func(e cent.ServerSubscribedEvent) { r.subscribed <- e })
	r.c.OnConnecting(func(e cent.ConnectingEvent) {
		if e.Code >= 3000 {
			r.reconnects <- rtClose{e.Code, time.Now()}
		}
	})
	r.c.OnDisconnected(func(e cent.DisconnectedEvent) {
		select {
		case r.closed <- e.Code:
		default:
		}
	})
	if err := r.c.Connect(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.c.Close)
	select {
	case e := <-r.subscribed:
		if e.Channel != centrifuge.Channel(s.user) {
			t.Fatalf("subscribed to %s, want the personal channel", e.Channel)
		}
	case code := <-r.closed:
		t.Fatalf("refused with code %d", code)
	case <-time.After(rtWait):
		t.Fatal("not subscribed in time")
	}
	return r
}

// next returns the next event that match accepts, within rtWait.
func (r *rtClient) next(what string, match func(realtime.Event) bool) realtime.Event {
	r.t.Helper()
	deadline := time.After(rtWait)
	for {
		select {
		case e := <-r.events:
			if e.UserID != r.user {
				r.t.Fatalf("%s: an event of another user: %+v", what, e)
			}
			if match(e) {
				return e
			}
		case code := <-r.closed:
			r.t.Fatalf("%s: closed with %d", what, code)
		case <-deadline:
			r.t.Fatalf("%s: not received within %s", what, rtWait)
		}
	}
}

// closedWith fails unless the connection is closed for good with code
// within d.
func (r *rtClient) closedWith(what string, code uint32, d time.Duration) {
	r.t.Helper()
	select {
	case got := <-r.closed:
		if got != code {
			r.t.Fatalf("%s: closed with %d, want %d", what, got, code)
		}
	case <-time.After(d):
		r.t.Fatalf("%s: still connected after %s", what, d)
	}
}

func ofType(typ string) func(realtime.Event) bool {
	return func(e realtime.Event) bool { return e.Type == typ }
}

// TestRealtimeLocalProfile: a client of the local profile gets its token
// from the API, receives job.updated for the mail job its password change
// enqueued (the embedded worker runs it), and never another user's
// events; a bad token, a token in the URL and a foreign Origin are refused.
func TestRealtimeLocalProfile(t *testing.T) {
	env := programEnv(t)
	env["CORS_ALLOWED_ORIGINS"] = "https://app.tradesense.test"
	app, me, _, mine, theirs := startRTPair(t, env, "rt-local@example.com", "rt-other@example.com")

	c := userClient{t, app.URL}
	if status, body := c.call("POST", "/api/v1/auth/password/change", me.access,
		map[string]any{"current_password": revPassword, "new_password": "a realtime passphrase 2"}); status != 204 {
		t.Fatalf("password change: %d %v", status, body)
	}
	done := mine.next("job.updated succeeded of the password-changed mail", func(e realtime.Event) bool {
		return e.Type == realtime.TypeJobUpdated && e.Payload["state"] == "succeeded"
	})
	if k, _ := done.Payload["kind"].(string); !strings.HasPrefix(k, "email.") {
		t.Fatalf("job.updated of kind %q, want the mail job", k)
	}
	select {
	case e := <-theirs.events:
		t.Fatalf("another user received %+v", e)
	case <-time.After(300 * time.Millisecond):
	}

	// Refusals.
	bad := cent.NewJsonClient(wsURL(app.URL), cent.Config{Token: "not-a-token"})
	badClosed := make(chan uint32, 1)
	bad.OnDisconnected(func(e cent.DisconnectedEvent) { badClosed <- e.Code })
	_ = bad.Connect()
	defer bad.Close()
	select {
	case code := <-badClosed:
		if code != 3500 {
			t.Fatalf("bad token closed with %d, want 3500", code)
		}
	case <-time.After(rtWait):
		t.Fatal("a bad token was not refused")
	}
	for name, req := range map[string]func() *http.Request{
		// A well-formed upgrade, so that the 400 is the token's refusal and
		// not the answer to a request that is no WebSocket handshake.
		"token in the URL": func() *http.Request {
			r, _ := http.NewRequest("GET", app.URL+centrifuge.Path+"?token=x", nil)
			return upgradeHeaders(r)
		},
		"foreign origin": func() *http.Request {
			r, _ := http.NewRequest("GET", app.URL+centrifuge.Path, nil)
			r.Header.Set("Origin", "https://evil.example")
			return upgradeHeaders(r)
		},
	} {
		resp, err := http.DefaultClient.Do(req())
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"token in the URL": 400, "foreign origin": 403}[name]; resp.StatusCode != want {
			_ = resp.Body.Close()
			t.Fatalf("%s: %d, want %d", name, resp.StatusCode, want)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if name == "token in the URL" && !strings.Contains(string(body), `"realtime_token_in_url"`) {
			t.Fatalf("token in the URL: refused with %s, want the realtime_token_in_url problem", body)
		}
	}
}

func upgradeHeaders(r *http.Request) *http.Request {
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	return r
}

// replicaEnv is the environment of one API replica of a deployment on
// PostgreSQL and Redis shared with the others.
func replicaEnv(t *testing.T, dbURL, redisURL, prefix string) map[string]string {
	env := programEnv(t)
	env["DATABASE_URL"] = dbURL
	env["REDIS_URL"] = redisURL
	env["REDIS_KEY_PREFIX"] = prefix
	env["JWT_SIGNING_KEY"] = "Rt7Xr8Tz2Wv6Lp0Kn3Jb7Hc1Gd5Fs9Ae2Yu6Io4Pl"
	env["MFA_ENCRYPTION_KEY"] = "Rt1Cv5Bn9Mq3We7Rt2Yu6Io0Pa4Sd8Fg3Hj7Kl1"
	env["AUTH_IP_RATE_MULTIPLIER"] = "1000"
	return env
}

// TestRealtimeAcrossReplicas: two API processes on one PostgreSQL and one
// Redis. Devices are connected to B; A runs the job worker. A password
// change through A disconnects, on B, the devices of the sessions it
// ended (4502) within a second; the device that changed it receives
// security.session_revoked and the job.updated of the mail job that ran
// in A. Revoking a session through A closes its device on B with 4500.
func TestRealtimeAcrossReplicas(t *testing.T) {
	dbURL, redisURL := testenv.PostgresDB(t), testenv.URL(t, "TEST_REDIS_URL")
	prefix := "test:" + uuid.NewString()[:8] + ":"
	envA, envB := replicaEnv(t, dbURL, redisURL, prefix), replicaEnv(t, dbURL, redisURL, prefix)
	envA["WORKER_EMBEDDED"] = "true"
	envB["DB_AUTO_MIGRATE"] = "false" // A migrates
	a := harness.Start(t, envA, "api")
	createUser(t, envA, "rt-replicas@example.com")
	b := harness.Start(t, envB, "api")

	changer := signIn(t, a.URL, "rt-replicas@example.com")
	ended := signIn(t, a.URL, "rt-replicas@example.com")
	revoked := signIn(t, a.URL, "rt-replicas@example.com")
	onB := func(s session) *rtClient { return connectRT(t, wsURL(b.URL), b.URL, s, nil) }
	changerConn, endedConn, revokedConn := onB(changer), onB(ended), onB(revoked)

	c := userClient{t, a.URL}
	if status, body := c.call("DELETE", "/api/v1/auth/sessions/"+revoked.id.String(), changer.access, nil); status != 204 {
		t.Fatalf("revoke session: %d %v", status, body)
	}
	revokedConn.closedWith("the revoked session's device on B", 4500, time.Second)
	ev := changerConn.next("security.session_revoked of the revocation", ofType(realtime.TypeSecuritySessionRevoked))
	if ev.Payload["reason"] != "revoked_by_user" || fmt.Sprint(ev.Payload["session_ids"]) != fmt.Sprint([]any{revoked.id.String()}) {
		t.Fatalf("revocation event %+v", ev.Payload)
	}

	began := time.Now()
	if status, body := c.call("POST", "/api/v1/auth/password/change", changer.access,
		map[string]any{"current_password": revPassword, "new_password": "a replicated passphrase 3"}); status != 204 {
		t.Fatalf("password change: %d %v", status, body)
	}
	endedConn.closedWith("the other session's device on B after the password change", 4502, time.Second+time.Since(began))
	ev = changerConn.next("security.session_revoked of the password change", ofType(realtime.TypeSecuritySessionRevoked))
	if ev.Payload["reason"] != "password_changed" {
		t.Fatalf("password change event %+v", ev.Payload)
	}
	changerConn.next("job.updated succeeded of the mail job run by A", func(e realtime.Event) bool {
		return e.Type == realtime.TypeJobUpdated && e.Payload["state"] == "succeeded"
	})
}

// TestRealtimeShutdownLosesNothing: 100 devices on replica A, events
// published at a steady rate from another replica while A is sent
// SIGTERM. Every device is closed with 3001 (reconnect), reconnects
// through the "load balancer" to B, and recovers from the shared history:
// every event whose Publish returned nil reaches every device, in order
// (once deduplicated on its id, as clients do). A exits cleanly within SHUTDOWN_TIMEOUT.
func TestRealtimeShutdownLosesNothing(t *testing.T) {
	dbURL, redisURL := testenv.PostgresDB(t), testenv.URL(t, "TEST_REDIS_URL")
	prefix := "test:" + uuid.NewString()[:8] + ":"
	envA, envB := replicaEnv(t, dbURL, redisURL, prefix), replicaEnv(t, dbURL, redisURL, prefix)
	for _, env := range []map[string]string{envA, envB} {
		env["REALTIME_MAX_CONNECTIONS_PER_USER"] = "200"
		env["SHUTDOWN_TIMEOUT"] = "8s"
		env["LOG_LEVEL"] = "info"
	}
	envB["DB_AUTO_MIGRATE"] = "false"
	a := harness.Start(t, envA, "api")
	createUser(t, envA, "rt-shutdown@example.com")
	b := harness.Start(t, envB, "api")
	s := signIn(t, a.URL, "rt-shutdown@example.com")

	// The load balancer: replica A while it accepts connections, then B.
	addrA, addrB := strings.TrimPrefix(a.URL, "http://"), strings.TrimPrefix(b.URL, "http://")
	var dialer net.Dialer
	lb := func(ctx context.Context, network, _ string) (net.Conn, error) {
		if c, err := dialer.DialContext(ctx, network, addrA); err == nil {
			return c, nil
		}
		return dialer.DialContext(ctx, network, addrB)
	}
	const devices = 100
	clients := make([]*rtClient, devices)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { clients[i] = connectRT(t, "ws://lb"+centrifuge.Path, a.URL, s, lb) })
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// The other replica's publisher: a publish-only engine on the same
	// Redis prefix, as a worker's.
	pub, cleanup, err := centrifuge.New(centrifuge.Config{RedisURL: redisURL, RedisPrefix: prefix + "realtime"}, centrifuge.Deps{PublishOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	var (
		mu    sync.Mutex
		acked []uuid.UUID
	)
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			e := realtime.NewEvent(realtime.TypeJobUpdated, s.user, time.Now(), map[string]any{"job_id": fmt.Sprint(i), "kind": "test", "queue": "default", "state": "progress", "attempt": 1})
			if err := pub.Publish(context.Background(), e); err == nil {
				mu.Lock()
				acked = append(acked, e.ID)
				mu.Unlock()
			}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	began := time.Now()
	if err := a.Stop(); err != nil {
		t.Fatalf("replica A did not exit cleanly: %v", err)
	}
	// net/http waits up to 5 s for a connection accepted whose request
	// has not begun (an HTTP client's spare connection): the exit is
	// bounded by SHUTDOWN_TIMEOUT, the devices' move is not.
	took := time.Since(began)
	if took > 8*time.Second {
		t.Fatalf("replica A took %s to stop, more than SHUTDOWN_TIMEOUT\n%s", took, a.Logs)
	}
	// Publishing goes on while the devices move: for 300 ms, and until at
	// least 20 events are acknowledged (a slow host publishes fewer in
	// the same time; the count is what makes the check below mean much).
	moved := time.Now()
	for deadline := moved.Add(rtWait); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 20 && time.Since(moved) >= 300*time.Millisecond {
			break
		}
	}
	close(stop)
	<-published
	mu.Lock()
	want := append([]uuid.UUID(nil), acked...)
	mu.Unlock()
	if len(want) < 20 {
		t.Fatalf("only %d events published", len(want))
	}
	t.Logf("%d events acknowledged; replica A stopped in %s", len(want), took)

	for i, c := range clients {
		select {
		case cl := <-c.reconnects:
			if cl.code != 3001 {
				t.Fatalf("device %d: closed with %d, want 3001 (shutdown, reconnect)", i, cl.code)
			}
			if d := cl.at.Sub(began); d > 2*time.Second {
				t.Fatalf("device %d: closed %s after SIGTERM", i, d)
			}
		case code := <-c.closed:
			t.Fatalf("device %d: closed for good with %d", i, code)
		case <-time.After(rtWait):
			t.Fatalf("device %d: not closed by the shutdown", i)
		}
	}
	for i, c := range clients {
		seen := map[uuid.UUID]bool{}
		var order []uuid.UUID
		deadline := time.After(rtWait)
		for len(seen) < len(want) {
			select {
			case e := <-c.events:
				if !seen[e.ID] {
					seen[e.ID] = true
					order = append(order, e.ID)
				}
			case sub := <-c.subscribed:
				if sub.WasRecovering && !sub.Recovered {
					t.Fatalf("device %d: told to reload after the move to B", i)
				}
			case <-deadline:
				missing := 0
				for _, id := range want {
					if !seen[id] {
						missing++
					}
				}
				t.Fatalf("device %d: %d of %d acknowledged events missing", i, missing, len(want))
			}
		}
		for j, id := range want {
			if order[j] != id {
				t.Fatalf("device %d: event %d out of order", i, j)
			}
		}
	}
}

// TestRealtimeTradeEvents: an execution recorded over the REST API pushes
// trade.created to its owner's device after the write committed, naming
// the trade and the account; another user's device gets nothing.
func TestRealtimeTradeEvents(t *testing.T) {
	env := programEnv(t)
	app, me, _, mine, theirs := startRTPair(t, env, "rt-trader@example.com", "rt-watcher@example.com")

	c := userClient{t, app.URL}
	status, acct := c.call("POST", "/api/v1/accounts", me.access, map[string]any{"name": "Main", "currency": "USD"})
	if status != 201 {
		t.Fatalf("create account: %d %v", status, acct)
	}
	status, body := c.call("POST", "/api/v1/executions", me.access, map[string]any{"executions": []any{map[string]any{
		"account_id": acct["id"], "symbol": "AAPL", "asset_class": "stock", "side": "buy", "quantity": "10", "price": "187.25",
		"executed_at": "2026-03-02T14:30:00Z",
	}}})
	if status != 200 && status != 201 {
		t.Fatalf("record execution: %d %v", status, body)
	}
	ev := mine.next("trade.created of the new position", ofType(realtime.TypeTradeCreated))
	if ev.Payload["account_id"] != acct["id"] || ev.Payload["trade_id"] == nil {
		t.Fatalf("trade.created payload %+v", ev.Payload)
	}
	select {
	case e := <-theirs.events:
		t.Fatalf("another user received %+v", e)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestRealtimeMFAChangeDisconnectsTheOtherDevicesFirst: enabling or
// disabling MFA ends the caller's other sessions as a logout elsewhere
// does (docs/realtime.md, security.session_revoked): their devices are
// closed with 4500 before anything of the change is published, so they
// receive none of it (no security.mfa_changed, no job.updated of the
// notice, no security.session_revoked naming themselves), while the
// caller's device receives the revocation, then the change.
func TestRealtimeMFAChangeDisconnectsTheOtherDevicesFirst(t *testing.T) {
	const email = "rt-mfa@example.com"
	env := programEnv(t)
	createUser(t, env, email)
	app := harness.Start(t, env, "api")
	c := userClient{t, app.URL}
	me, other := signIn(t, app.URL, email), signIn(t, app.URL, email)
	mine, theirs := connectRT(t, wsURL(app.URL), app.URL, me, nil), connectRT(t, wsURL(app.URL), app.URL, other, nil)

	// othersEnded checks the other device was closed with 4500 having
	// received nothing, and the caller's got the revocation then change.
	othersEnded := func(what string, conn *rtClient, ended session, change string) {
		t.Helper()
		conn.closedWith(what, 4500, rtWait)
		select {
		case e := <-conn.events:
			t.Fatalf("%s: received %s %v before its close", what, e.Type, e.Payload)
		default:
		}
		ev := mine.next("security.session_revoked after "+what, ofType(realtime.TypeSecuritySessionRevoked))
		if fmt.Sprint(ev.Payload["session_ids"]) != fmt.Sprint([]any{ended.id.String()}) {
			t.Fatalf("%s: revocation %+v", what, ev.Payload)
		}
		ch := mine.next("security.mfa_changed after "+what, ofType(realtime.TypeSecurityMFAChanged))
		if ch.Payload["change"] != change {
			t.Fatalf("%s: change %+v", what, ch.Payload)
		}
	}

	status, setup := c.call("POST", "/api/v1/mfa/enable", me.access, nil)
	if status != 200 {
		t.Fatalf("mfa enable: %d %v", status, setup)
	}
	code, err := totp.GenerateCode(setup["secret"].(string), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	status, verified := c.call("POST", "/api/v1/mfa/verify", me.access, map[string]any{"code": code})
	if status != 200 {
		t.Fatalf("mfa verify: %d %v", status, verified)
	}
	othersEnded("the other device after MFA was enabled", theirs, other, "enabled")

	// Sign in again on another device (a backup code: the TOTP step is
	// spent), then disable from the first.
	backup, _ := verified["backup_codes"].([]any)
	status, login := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": revPassword})
	if status != 200 || login["mfa_token"] == nil {
		t.Fatalf("login with MFA on: %d %v", status, login)
	}
	status, second := c.call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": login["mfa_token"], "backup_code": backup[0]})
	if status != 200 {
		t.Fatalf("login/mfa: %d %v", status, second)
	}
	again := session{access: second["access_token"].(string), user: me.user, id: uuid.MustParse(jwtClaims(t, second["access_token"].(string))["sid"].(string))}
	againConn := connectRT(t, wsURL(app.URL), app.URL, again, nil)
	// The backup code's notice mail is a job too: let its events pass.
	for quiet := false; !quiet; {
		select {
		case <-againConn.events:
		case <-time.After(time.Second):
			quiet = true
		}
	}
	// The next step's code (within the skew): this step's is spent, and a
	// backup code would queue its own notice before the change.
	next, err := totp.GenerateCode(setup["secret"].(string), time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if status, body := c.call("POST", "/api/v1/mfa/disable", me.access, map[string]any{"password": revPassword, "code": next}); status != 204 {
		t.Fatalf("mfa disable: %d %v", status, body)
	}
	othersEnded("the other device after MFA was disabled", againConn, again, "disabled")
}
