package cli

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func runCLI(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := Run(context.Background(), append([]string{"tradesense"}, args...), func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVersionAndHelp(t *testing.T) {
	out, _, err := runCLI("version")
	if err != nil || !strings.HasPrefix(out, "tradesense dev") {
		t.Fatalf("version: %q %v", out, err)
	}
	for _, cmd := range []string{"api", "worker", "migrate", "healthcheck", "version"} {
		_, errOut, err := runCLI(cmd, "--help")
		if err != nil || !strings.Contains(errOut, "Usage: tradesense "+cmd) {
			t.Errorf("%s --help: %q %v", cmd, errOut, err)
		}
	}
	out, _, err = runCLI("help")
	if err != nil || !strings.Contains(out, "healthcheck") {
		t.Fatalf("help: %q %v", out, err)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{}, {"frobnicate"}, {"api", "--bogus"}, {"version", "extra"}} {
		if _, _, err := runCLI(args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: err %v, want a usage error", args, err)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			w.WriteHeader(404)
		}
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	if out, _, err := runCLI("healthcheck", "--addr", addr); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("healthy server: %q %v", out, err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	if _, _, err := runCLI("healthcheck", "--addr", closed, "--timeout", "500ms"); err == nil {
		t.Fatal("healthcheck passed against a closed port")
	}

	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }))
	defer sick.Close()
	if _, _, err := runCLI("healthcheck", "--addr", strings.TrimPrefix(sick.URL, "http://")); err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("healthcheck against 503: %v", err)
	}
}

func TestBadConfigurationFailsStart(t *testing.T) {
	var out, errOut bytes.Buffer
	env := map[string]string{"APP_ENV": "test", "SHUTDOWN_TIMEOUT": "never"}
	err := Run(context.Background(), []string{"tradesense", "api"}, func(k string) string { return env[k] }, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("err %v", err)
	}
}
