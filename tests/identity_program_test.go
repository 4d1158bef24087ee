package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/tests/harness"
)

// TestIdentityThroughTheProgram checks the wiring end to end: the users
// CLI bootstraps an admin in the local profile's SQLite file, and the api
// program started on the same DATA_DIR signs them in, serves /me, the
// admin listing and the JWKS, and refuses the token after logout.
func TestIdentityThroughTheProgram(t *testing.T) {
	env := harness.Env(t)
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	getenv := func(k string) string {
		if k == "TRADESENSE_PASSWORD" {
			return "bootstrap passphrase 1"
		}
		return env[k]
	}
	var out, errOut bytes.Buffer
	if err := cli.Run(context.Background(), []string{"tradesense", "users", "create", "--email", "ops@example.com", "--admin"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("users create: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "role admin") {
		t.Fatalf("users create printed %q", out.String())
	}
	if strings.Contains(out.String()+errOut.String(), "bootstrap passphrase 1") {
		t.Fatal("the CLI printed the password")
	}
	if err := cli.Run(context.Background(), []string{"tradesense", "users", "create", "--email", "x@example.com", "--password", "nope"}, getenv, &out, &errOut); err == nil {
		t.Fatal("a --password flag must not exist")
	}

	app := harness.Start(t, env, "api")
	post := func(path, token string, body any) (int, map[string]any) {
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", app.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return send(t, req)
	}
	get := func(path, token string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", app.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return send(t, req)
	}
	status, login := post("/api/v1/auth/login", "", map[string]any{"email": "ops@example.com", "password": "bootstrap passphrase 1"})
	if status != 200 {
		t.Fatalf("login: %d %v", status, login)
	}
	tok, _ := login["access_token"].(string)
	if status, me := get("/api/v1/auth/me", tok); status != 200 || me["role"] != "admin" || me["email_verified"] != true {
		t.Fatalf("me: %d %v", status, me)
	}
	if status, users := get("/api/v1/admin/users", tok); status != 200 || len(users["users"].([]any)) != 1 {
		t.Fatalf("admin users: %d %v", status, users)
	}
	if status, jwks := get("/.well-known/jwks.json", ""); status != 200 || len(jwks["keys"].([]any)) != 1 {
		t.Fatalf("jwks: %d %v", status, jwks)
	}
	var sawUser bool
	for _, l := range app.Logs.Lines() {
		if l["user_id"] != nil && l["user_id"] != "" {
			sawUser = true
		}
	}
	if !sawUser {
		t.Fatal("no log line of an authenticated request carries user_id")
	}
	if status, _ := post("/api/v1/auth/logout", tok, nil); status != 204 {
		t.Fatalf("logout: %d", status)
	}
	if status, p := get("/api/v1/auth/me", tok); status != 401 || p["code"] != "session_revoked" {
		t.Fatalf("me after logout: %d %v", status, p)
	}
	if strings.Contains(app.Logs.String(), "bootstrap passphrase 1") || strings.Contains(app.Logs.String(), tok) {
		t.Fatal("logs contain the password or the access token")
	}
}

func send(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return res.StatusCode, m
}

// FuzzAuthRequestDecoding sends arbitrary bodies to login and register:
// every answer is a 2xx or a 4xx problem, never a 5xx, and never echoes a
// password back.
func FuzzAuthRequestDecoding(f *testing.F) {
	for _, s := range []string{
		`{"email":"a@example.com","password":"correct horse battery"}`,
		`{"email":"a@example.com","password":"x","display_name":"\u0000"}`,
		`{"email":1e400,"password":null}`,
		`{"email":"a@b.c","password":"` + strings.Repeat("é", 200) + `"}`,
		`{"email":"a@example.com","password":"p","extra":true}`,
		"\xff\xfe",
		`[]`, `{`, `{"email":"\ud800@x.io","password":"aaaaaaaaaaaa"}`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	st := newStack(f, func(c *identity.Config) { c.Limits = identity.DefaultLimits(1e5) })
	f.Fuzz(func(t *testing.T, body string, register bool) {
		st.t = t
		path := "/api/v1/auth/login"
		if register {
			path = "/api/v1/auth/register"
		}
		r := st.do("POST", path, "", body)
		if r.status >= 500 {
			t.Fatalf("%s answered %d to %q: %s", path, r.status, body, r.raw)
		}
		if r.status >= 400 && !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("%d without a problem body", r.status)
		}
	})
}
