package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/tests/harness"
	"github.com/tradesense/tradesense/tests/testenv"
)

type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status   string `json:"status"`
		Required bool   `json:"required"`
	} `json:"checks"`
}

func readReady(t *testing.T, url string) (int, readiness) {
	t.Helper()
	resp, body := do(t, "GET", url+"/health/ready", nil, nil)
	var r readiness
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("readiness body %s: %v", body, err)
	}
	return resp.StatusCode, r
}

// startedWith is the adapter the program's start-up log names for port
// (the readiness answer no longer carries the checks' details).
func startedWith(t *testing.T, app *harness.App, port string) string {
	t.Helper()
	for _, l := range app.Logs.Lines() {
		if l["msg"] == "starting api" {
			adapters, _ := l["adapters"].(map[string]any)
			name, _ := adapters[port].(string)
			return name
		}
	}
	t.Fatalf("no start-up log line in %s", app.Logs.String())
	return ""
}

func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestLocalProfileUsesSQLiteAndMigrates: the default profile needs no
// service, creates its database under DATA_DIR and reports it ready.
func TestLocalProfileUsesSQLiteAndMigrates(t *testing.T) {
	env := harness.Env(t)
	app := harness.Start(t, env)
	code, r := readReady(t, app.URL)
	db := r.Checks["database"]
	if code != 200 || db.Status != "up" || !db.Required || startedWith(t, app, "database") != "sqlite" {
		t.Fatalf("readiness %d %+v", code, r)
	}
	if _, ok := r.Checks["redis"]; ok {
		t.Fatal("local profile must not check redis")
	}
	var sawSchema bool
	for _, l := range app.Logs.Lines() {
		if l["msg"] == "database schema is current" && l["version"].(float64) >= 1 {
			sawSchema = true
		}
		if l["msg"] == "starting api" {
			a := l["adapters"].(map[string]any)
			if a["database"] != "sqlite" || a["cache"] != "memory" {
				t.Errorf("adapters %v", a)
			}
		}
	}
	if !sawSchema {
		t.Fatal("no migration at start in the local profile")
	}
}

// TestProductionProfileOnPostgresAndRedis runs the real services the way
// production does: migrations first as their own step, then the API.
func TestProductionProfileOnPostgresAndRedis(t *testing.T) {
	dbURL := testenv.PostgresDB(t)
	redisURL := testenv.URL(t, "TEST_REDIS_URL")
	env := harness.Env(t)
	env["APP_ENV"] = "production"
	env["LOG_LEVEL"] = "info"
	env["PUBLIC_URL"] = "https://app.tradesense.test"
	env["SMTP_URL"] = "smtp://mailer:mail-pass@127.0.0.1:2525"
	env["DATABASE_URL"] = dbURL
	env["REDIS_URL"] = redisURL
	env["REDIS_KEY_PREFIX"] = "test:" + t.Name() + ":"
	env["DB_AUTO_MIGRATE"] = "false"
	env["JWT_SIGNING_KEY"] = "Qm4Xr8Tz2Wv6Lp0Kn3Jb7Hc1Gd5Fs9Ae2Yu6Io4Pl"
	env["MFA_ENCRYPTION_KEY"] = "Zx1Cv5Bn9Mq3We7Rt2Yu6Io0Pa4Sd8Fg3Hj7Kl1"

	var out, errOut bytes.Buffer
	getenv := func(k string) string { return env[k] }
	if err := cli.Run(context.Background(), []string{"tradesense", "migrate", "up"}, getenv, &out, &errOut); err != nil {
		t.Fatalf("migrate up: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate up output: %q", out.String())
	}
	out.Reset()
	if err := cli.Run(context.Background(), []string{"tradesense", "migrate", "status"}, getenv, &out, &errOut); err != nil || !strings.Contains(out.String(), "applied") {
		t.Fatalf("migrate status: %v %q", err, out.String())
	}
	if strings.Contains(out.String()+errOut.String(), dbURL) {
		t.Fatal("migrate printed the database URL")
	}

	app := harness.Start(t, env)
	code, r := readReady(t, app.URL)
	if code != 200 || startedWith(t, app, "database") != "postgres" || r.Checks["redis"].Status != "up" || !r.Checks["redis"].Required {
		t.Fatalf("readiness %d %+v", code, r)
	}
	if strings.Contains(app.Logs.String(), dbURL) {
		t.Fatal("the database URL reached the logs")
	}
}

// TestRedisDownOptionalIsDegraded: with the cache optional, a dead Redis
// leaves the service ready but degraded; required, it fails readiness.
func TestRedisDownOptionalIsDegraded(t *testing.T) {
	env := harness.Env(t)
	env["REDIS_URL"] = "redis://" + closedPort(t) + "/0"
	env["REDIS_CONNECT_TIMEOUT"] = "200ms"
	env["HEALTH_CHECK_TIMEOUT"] = "300ms"
	app := harness.Start(t, env)
	code, r := readReady(t, app.URL)
	if code != 200 || r.Status != "degraded" || r.Checks["redis"].Status != "down" || r.Checks["redis"].Required {
		t.Fatalf("optional redis down: %d %+v", code, r)
	}
	// The public answer says down, and nothing of why (issue 11 item 5):
	// the address and the error are in the log, never the URL.
	_, raw := do(t, "GET", app.URL+"/health/ready", nil, nil)
	if addr := strings.TrimPrefix(env["REDIS_URL"], "redis://"); strings.Contains(string(raw), strings.TrimSuffix(addr, "/0")) || strings.Contains(string(raw), "error") {
		t.Fatalf("public readiness shows the check's error: %s", raw)
	}
	if strings.Contains(app.Logs.String(), "redis://") {
		t.Fatal("the Redis URL reached the logs")
	}
}

func TestRedisDownRequiredFailsStart(t *testing.T) {
	env := harness.Env(t)
	env["REDIS_URL"] = "redis://:hunter2@" + closedPort(t) + "/0"
	env["REDIS_CONNECT_TIMEOUT"] = "200ms"
	env["CACHE_REQUIRED"] = "true"
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := cli.Run(ctx, []string{"tradesense", "api"}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("start with required redis down: %v", err)
	}
	if strings.Contains(err.Error()+out.String(), "hunter2") {
		t.Fatal("the redis password leaked")
	}
}

func TestPostgresUnreachableFailsStartNamingHost(t *testing.T) {
	env := harness.Env(t)
	addr := closedPort(t)
	env["DATABASE_URL"] = "postgres://app:hunter2@" + addr + "/ts?sslmode=disable"
	env["DB_CONNECT_TIMEOUT"] = "500ms"
	var out bytes.Buffer
	err := cli.Run(context.Background(), []string{"tradesense", "api"}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), addr) {
		t.Fatalf("want an error naming %s, got %v", addr, err)
	}
	if strings.Contains(err.Error()+out.String(), "hunter2") {
		t.Fatal("the database password leaked")
	}
}

func TestProductionRefusesLocalAdapters(t *testing.T) {
	env := harness.Env(t)
	env["APP_ENV"] = "production"
	env["LOG_LEVEL"] = "info"
	env["PUBLIC_URL"] = "https://app.tradesense.test"
	env["SMTP_URL"] = "smtp://mailer:mail-pass@127.0.0.1:2525"
	env["DB_AUTO_MIGRATE"] = "false"
	var out bytes.Buffer
	err := cli.Run(context.Background(), []string{"tradesense", "api"}, func(k string) string { return env[k] }, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") || !strings.Contains(err.Error(), "REDIS_URL") {
		t.Fatalf("production with SQLite and memory: %v", err)
	}
}

// TestDatabaseURLFromJSONSecret assembles the URL from an RDS-style JSON
// secret read through a reference.
func TestDatabaseURLFromJSONSecret(t *testing.T) {
	dbURL := testenv.PostgresDB(t)
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	if port == "" {
		port = "5432"
	}
	doc, _ := json.Marshal(map[string]any{
		"username": u.User.Username(), "password": "", "host": u.Hostname(), "port": port,
		"dbname": strings.TrimPrefix(u.Path, "/"), "engine": "postgres",
	})
	env := harness.Env(t)
	env["DATABASE_SECRET"] = "env:TS_DB_JSON"
	env["TS_DB_JSON"] = string(doc)
	env["DATABASE_SSLMODE"] = "disable"
	app := harness.Start(t, env)
	code, r := readReady(t, app.URL)
	if code != 200 || startedWith(t, app, "database") != "postgres" {
		t.Fatalf("readiness %d %+v", code, r)
	}
}
