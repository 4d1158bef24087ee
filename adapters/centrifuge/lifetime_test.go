package centrifuge_test

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

// These tests run the engine and its clients over in-memory pipes inside
// synctest bubbles, so they exercise the real defaults (10 minute tokens,
// 25 s refresh grace, 25 s / 8 s ping-pong, 10 minute history) on fake
// time, deterministically and at once.
//
// They run in a child process of their own (TestLifetimes re-executes the
// test binary): centrifuge keeps timers in a sync.Pool, and a timer created
// in one bubble must never be used outside it. In the child nothing runs
// but these, one bubble at a time, and the pool is emptied between them.

// lifetimes are the bubbled tests, run in order.
var lifetimes = []struct {
	name string
	f    func(*testing.T)
}{
	{"TokenRefresh", bubbleTokenRefresh},
	{"ExpiredConnectionClosedAfterGrace", bubbleExpiredConnectionClosedAfterGrace},
	{"RefreshWithAnotherSessionsTokenRefused", bubbleRefreshWithAnotherSessionsTokenRefused},
	{"RevokedSessionCannotConnectOrRefresh", bubbleRevokedSessionCannotConnectOrRefresh},
	{"SessionStoreOutage", bubbleSessionStoreOutage},
	{"PingPong", bubblePingPong},
	{"HistoryLastsTenMinutes", bubbleHistoryLastsTenMinutes},
}

const inChildEnv = "CENTRIFUGE_TEST_BUBBLES"

func TestLifetimes(t *testing.T) {
	if os.Getenv(inChildEnv) != "1" {
		args := []string{"-test.run=^TestLifetimes$", "-test.count=1", "-test.v"}
		for _, a := range os.Args[1:] {
			if strings.HasPrefix(a, "-test.gocoverdir=") {
				args = append(args, a) // the child's coverage joins the run's
			}
		}
		if d, ok := t.Deadline(); ok {
			args = append(args, "-test.timeout="+time.Until(d).Round(time.Second).String())
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), inChildEnv+"=1")
		out, err := cmd.CombinedOutput()
		for _, l := range lifetimes {
			if !strings.Contains(string(out), "--- PASS: TestLifetimes/"+l.name+" ") {
				t.Errorf("%s did not pass", l.name)
			}
		}
		if err != nil || t.Failed() {
			t.Fatalf("bubbled tests in a child process: %v\n%s", err, out)
		}
		return
	}
	for _, l := range lifetimes {
		t.Run(l.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l.f(t) // stops its server and clients before it returns
				// A request a client sent just before it was closed may
				// still wait for its reply timeout (centrifuge-go's
				// sendAsync, on a timer): the bubble's clock only moves
				// while its main goroutine lives, so it waits here, on fake
				// time, for every such timer to fire and its goroutine to
				// end.
				time.Sleep(time.Minute)
				synctest.Wait()
			})
			runtime.GC() // empty centrifuge's timer pool: primary, then victim cache
			runtime.GC()
		})
	}
}

func bubbleTokenRefresh(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	u, sid := uuid.New(), uuid.New()
	c := s.dial(t, u, sid)
	time.Sleep(35 * time.Minute) // three and a half token lifetimes
	select {
	case code := <-c.Connecting:
		t.Fatalf("connection dropped (code %d) although the client refreshed its token", code)
	case <-c.Closed:
		t.Fatalf("connection closed (code %d) although the client refreshed its token", c.Code())
	default:
	}
	if n := c.TokenCalls(); n != 4 {
		t.Fatalf("GetToken called %d times in 35 minutes with 10 minute tokens; want 4 (connect and 3 refreshes)", n)
	}
	e := event(u, nil)
	mustPublish(t, s.E, e)
	realtimetest.SameEvent(t, "refreshed connection", realtimetest.Next(t, c.conn()), e)
}

func bubbleExpiredConnectionClosedAfterGrace(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	u, sid := uuid.New(), uuid.New()
	asleep := make(chan struct{})
	defer close(asleep)
	began := time.Now()
	c := s.dial(t, u, sid, withGetToken(func(n int) (string, error) {
		if n > 1 {
			<-asleep // the device went to sleep: no refresh is sent
			return "", errNoToken
		}
		tok, err := s.Tokens.IssueConnectionToken(context.Background(), u, sid)
		return tok.Token, err
	}))
	waitConnectingWithin(t, c, 3005, 15*time.Minute) // connection expired, reconnect
	if took := time.Since(began); took < 10*time.Minute+25*time.Second || took > 10*time.Minute+27*time.Second {
		t.Fatalf("expired connection closed after %s; want 10m token + 25s grace", took)
	}
}

func bubbleRefreshWithAnotherSessionsTokenRefused(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	u, sid := uuid.New(), uuid.New()
	c := s.dial(t, u, sid, withGetToken(func(n int) (string, error) {
		session := sid
		if n > 1 {
			session = uuid.New() // a token of another session of the same user
		}
		tok, err := s.Tokens.IssueConnectionToken(context.Background(), u, session)
		return tok.Token, err
	}))
	waitClosedWithin(t, c, 3500, 15*time.Minute) // invalid token at the first refresh, terminal
}

func bubbleRevokedSessionCannotConnectOrRefresh(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	u := uuid.New()
	gone := uuid.New()
	s.Sessions.revoke(gone)
	c := s.newClient(t, u, gone)
	if err := c.C.Connect(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, 4500)

	// Revoked while connected: the next refresh ends the connection even
	// if the disconnect itself was lost.
	sid := uuid.New()
	live := s.dial(t, u, sid)
	s.Sessions.revoke(sid)
	began := time.Now()
	select {
	case <-live.Closed:
		if live.Code() != 4500 || time.Since(began) > 10*time.Minute {
			t.Fatalf("closed with %d after %s; want 4500 at the refresh", live.Code(), time.Since(began))
		}
	case <-time.After(11 * time.Minute):
		t.Fatal("a connection of a revoked session outlived its token")
	}

}

func bubbleSessionStoreOutage(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	u := uuid.New()
	live := s.dial(t, u, uuid.New())

	// Nothing fails open: while the session store cannot answer, a connect
	// fails temporarily (the client keeps retrying) and a refresh too (the
	// connection stays until its token would expire).
	s.Sessions.setDown(true)
	newcomer := s.newClient(t, u, uuid.New())
	if err := newcomer.C.Connect(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10*time.Minute + 5*time.Second) // past the live connection's first refresh
	select {
	case <-newcomer.Connected:
		t.Fatal("connected while the session store could not answer")
	default:
	}
	select {
	case code := <-live.Connecting:
		t.Fatalf("live connection dropped (%d) by a failed refresh before its token expired", code)
	default:
	}
	// Back: the newcomer connects and the live connection's retried
	// refresh succeeds before the grace runs out.
	s.Sessions.setDown(false)
	select {
	case <-newcomer.Connected:
	case <-time.After(time.Minute):
		t.Fatal("not connected within a minute of the session store coming back")
	}
	time.Sleep(5 * time.Minute)
	select {
	case code := <-live.Connecting:
		t.Fatalf("live connection dropped (%d) although its refresh could be retried", code)
	case <-live.Closed:
		t.Fatalf("live connection closed (%d)", live.Code())
	default:
	}
}

func bubblePingPong(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	good := s.dial(t, uuid.New(), uuid.New())
	mute, err := s.rawDial(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reply := mute.connect(t, issue(t, s.Tokens, uuid.New(), uuid.New()))
	if !strings.Contains(string(reply["connect"]), `"ping":25`) || !strings.Contains(string(reply["connect"]), `"pong":true`) {
		t.Fatalf("connect reply %s: want a ping every 25s with pong required", reply["connect"])
	}
	began := time.Now()
	if code := mute.closeCode(t, time.Minute); code != 3012 {
		t.Fatalf("closed with %d; want 3012 no pong", code)
	}
	// The first ping comes at a random time in [12.5s, 25s] (spreading
	// the pings of a reconnect storm), then 8s for the pong.
	if took := time.Since(began); took < 20*time.Second || took > 34*time.Second {
		t.Fatalf("no-pong close after %s; want first ping (12.5-25s) + pong timeout 8s", took)
	}
	time.Sleep(5 * time.Minute)
	select {
	case code := <-good.Connecting:
		t.Fatalf("the official client (which answers pings) was dropped: %d", code)
	case <-good.Closed:
		t.Fatalf("the official client was closed: %d", good.Code())
	default:
	}
}

func bubbleHistoryLastsTenMinutes(t *testing.T) {
	s := start(t, inBubble())
	defer s.Stop()
	// Away 9 minutes: everything missed is replayed.
	recovered := func(away time.Duration) bool {
		u := uuid.New()
		c := s.dial(t, u, uuid.New())
		<-c.Subscribed
		mustPublish(t, s.E, event(u, nil))
		realtimetest.Next(t, c.conn())
		if err := c.C.Disconnect(); err != nil {
			t.Fatal(err)
		}
		<-c.Closed
		mustPublish(t, s.E, event(u, nil))
		time.Sleep(away)
		if err := c.C.Connect(); err != nil {
			t.Fatal(err)
		}
		sub := <-c.Subscribed
		if !sub.WasRecovering {
			t.Fatalf("resubscribed %+v without recovering", sub)
		}
		return sub.Recovered
	}
	if !recovered(9 * time.Minute) {
		t.Fatal("not recovered after 9 minutes away: history should last 10")
	}
	if recovered(11 * time.Minute) {
		t.Fatal("recovered after 11 minutes away: history should be gone after 10 (told to reload)")
	}
}
