package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

// TestSignInWorksWhileRedisIsDown is issue 11 item 6: with the shared
// Redis killed, login, refresh, register and forgot keep working on the
// per-instance fallback limiter (which still limits: the account lockout
// answers 429), the fallback is logged, and they use Redis again once it
// is back.
func TestSignInWorksWhileRedisIsDown(t *testing.T) {
	srv := testenv.StartRedis(t)
	env := programEnv(t)
	env["REDIS_URL"] = srv.URL()
	env["AUTH_IP_RATE_MULTIPLIER"] = "100"
	createUser(t, env, "outage@example.com")
	app := harness.Start(t, env, "api")
	c := userClient{t, app.URL}
	srv.Kill()

	status, login := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": "outage@example.com", "password": revPassword})
	if status != 200 {
		t.Fatalf("login with Redis down: %d %v", status, login)
	}
	access, _ := login["access_token"].(string)
	refresh, _ := login["refresh_token"].(string)
	if status, me := c.call("GET", "/api/v1/auth/me", access, nil); status != 200 {
		t.Fatalf("me with Redis down: %d %v", status, me)
	}
	if status, body := c.call("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh}); status != 200 {
		t.Fatalf("refresh with Redis down: %d %v", status, body)
	}
	if status, body := c.call("POST", "/api/v1/auth/register", "", map[string]any{"email": "new-in-outage@example.com", "password": "an outage passphrase 1"}); status != 201 {
		t.Fatalf("register with Redis down: %d %v", status, body)
	}
	if status, body := c.call("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "outage@example.com"}); status != 202 {
		t.Fatalf("forgot with Redis down: %d %v", status, body)
	}
	// The fallback still limits: five wrong passwords lock the account.
	var last int
	var lastBody map[string]any
	for range 6 {
		last, lastBody = c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": "outage@example.com", "password": "wrong passphrase 9"})
	}
	if last != 429 || lastBody["code"] != "account_locked" {
		t.Fatalf("sixth wrong password with Redis down: %d %v; want 429 account_locked", last, lastBody)
	}
	if !strings.Contains(app.Logs.String(), "limiting per instance until it answers") {
		t.Fatal("the fallback was not logged")
	}

	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(app.Logs.String(), "leaving the per-instance fallback") {
		if status, body := c.call("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "outage@example.com"}); status != 202 {
			t.Fatalf("forgot after Redis came back: %d %v", status, body)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the limiter did not go back to Redis; logs:\n%s", app.Logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
