package tests

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/glebarez/go-sqlite" // the "sqlite" database/sql driver
	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

// userClient talks to a running program as one account.
type userClient struct {
	t   *testing.T
	url string
}

func (c userClient) call(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(c.t, req)
}

// programEnv is the environment of a program whose accounts are created
// with `tradesense users create`, hashing cheaply.
func programEnv(t *testing.T) map[string]string {
	env := harness.Env(t)
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	return env
}

const revPassword = "revocation passphrase 1"

func createUser(t *testing.T, env map[string]string, email string) {
	t.Helper()
	getenv := func(k string) string {
		if k == "TRADESENSE_PASSWORD" {
			return revPassword
		}
		return env[k]
	}
	var out, errOut bytes.Buffer
	if err := cli.Run(context.Background(), []string{"tradesense", "users", "create", "--email", email}, getenv, &out, &errOut); err != nil {
		t.Fatalf("users create: %v\n%s", err, errOut.String())
	}
}

// loginAndLogout signs in, checks the token works, logs out, and checks it
// no longer does; it returns the dead token.
func loginAndLogout(t *testing.T, c userClient, email string) string {
	t.Helper()
	status, login := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": revPassword})
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	tok, _ := login["access_token"].(string)
	if status, me := c.call("GET", "/api/v1/auth/me", tok, nil); status != 200 {
		t.Fatalf("me: %d %v", status, me)
	}
	if status, _ := c.call("POST", "/api/v1/auth/logout", tok, nil); status != 204 {
		t.Fatalf("logout: %d", status)
	}
	assertRefused(t, c, tok, "after logout")
	return tok
}

func assertRefused(t *testing.T, c userClient, tok, when string) {
	t.Helper()
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"GET", "/api/v1/auth/me", nil},
		{"PATCH", "/api/v1/auth/me", map[string]any{"display_name": "back from the dead"}},
		{"GET", "/api/v1/auth/sessions", nil},
	} {
		if status, p := c.call(r.method, r.path, tok, r.body); status != 401 || p["code"] != "session_revoked" {
			t.Fatalf("%s %s %s: %d %v; want 401 session_revoked", when, r.method, r.path, status, p)
		}
	}
}

// Issue 11 item 3, local profile: the revocation survives a restart of
// the process, whose memory cache held the revocation entry.
func TestRevokedTokenStaysRevokedAfterARestart(t *testing.T) {
	env := programEnv(t)
	createUser(t, env, "rev-local@example.com")
	app := harness.Start(t, env, "api")
	tok := loginAndLogout(t, userClient{t, app.URL}, "rev-local@example.com")
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	app = harness.Start(t, env, "api")
	assertRefused(t, userClient{t, app.URL}, tok, "after a restart")
}

// Issue 11 item 3, services profile: the revocation survives a Redis that
// is flushed, on SQLite, and on PostgreSQL when TEST_POSTGRES_URL is set.
func TestRevokedTokenStaysRevokedAfterARedisFlush(t *testing.T) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			env := programEnv(t)
			if db == "postgres" {
				env["DATABASE_URL"] = testenv.PostgresDB(t)
			}
			srv := testenv.StartRedis(t)
			env["REDIS_URL"] = srv.URL()
			createUser(t, env, "rev-redis@example.com")
			app := harness.Start(t, env, "api")
			c := userClient{t, app.URL}
			tok := loginAndLogout(t, c, "rev-redis@example.com")
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer rdb.Close()
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
			assertRefused(t, c, tok, "after FLUSHALL")
			srv.Restart() // empty again, and every connection broken
			assertRefused(t, c, tok, "after a restart of Redis")
		})
	}
}

// A token whose user was deleted (straight from the database: its
// sessions go with it) is refused, not served with empty lists.
func TestDeletedUsersTokenIsRefused(t *testing.T) {
	env := programEnv(t)
	createUser(t, env, "gone@example.com")
	app := harness.Start(t, env, "api")
	c := userClient{t, app.URL}
	status, login := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": "gone@example.com", "password": revPassword})
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	tok, _ := login["access_token"].(string)
	if err := app.Stop(); err != nil { // the memory cache goes with the process
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(env["DATA_DIR"], "tradesense.db")+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Exec("DELETE FROM users WHERE email = ?", "gone@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		t.Fatalf("deleted %d users", n)
	}
	_ = db.Close()
	app = harness.Start(t, env, "api")
	assertRefused(t, userClient{t, app.URL}, tok, "after the user was deleted")
	if strings.Contains(app.Logs.String(), tok) {
		t.Fatal("the token reached the logs")
	}
}
