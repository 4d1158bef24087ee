package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// runUsersWith runs `tradesense users args...` on the local profile in a
// fresh DATA_DIR, with stdin as the piped standard input.
func runUsersWith(t *testing.T, env map[string]string, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runUsers(context.Background(), args, func(k string) string { return env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func localEnv(t *testing.T) map[string]string {
	return map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir(), "LOG_FORMAT": "json",
		"AUTH_ARGON2_MEMORY_KIB": "64", "AUTH_ARGON2_TIME": "1"}
}

func TestUsersUsage(t *testing.T) {
	env := localEnv(t)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"create"},
		{"create", "--email", "a@example.com", "extra"},
		{"create", "--bogus"},
		{"set-role", "--email", "a@example.com"},
		{"set-role", "--email", "a@example.com", "--role", "root"},
	} {
		if _, _, err := runUsersWith(t, env, "pw\n", args...); !errors.Is(err, ErrUsage) {
			t.Errorf("users %v: %v; want a usage error", args, err)
		}
	}
	for _, args := range [][]string{{"help"}, {"--help"}, {"create", "--help"}, {"set-role", "-h"}} {
		_, errOut, err := runUsersWith(t, env, "", args...)
		if err != nil || !strings.Contains(errOut, "tradesense users create --email E") {
			t.Errorf("users %v: %v, usage %q", args, err, errOut)
		}
	}
}

func TestReadPassword(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "TRADESENSE_PASSWORD" {
				return v
			}
			return ""
		}
	}
	var errOut bytes.Buffer
	if pw, err := readPassword(env("from env"), strings.NewReader("from stdin\n"), &errOut); err != nil || pw != "from env" {
		t.Fatalf("the variable wins: %q %v", pw, err)
	}
	if pw, err := readPassword(env(""), strings.NewReader("a pass phrase\r\nsecond line\n"), &errOut); err != nil || pw != "a pass phrase" {
		t.Fatalf("one line of stdin: %q %v", pw, err)
	}
	if pw, err := readPassword(env(""), strings.NewReader("no newline"), &errOut); err != nil || pw != "no newline" {
		t.Fatalf("a last line without newline: %q %v", pw, err)
	}
	if _, err := readPassword(env(""), strings.NewReader("\n"), &errOut); !errors.Is(err, ErrUsage) {
		t.Fatalf("an empty line: %v; want a usage error", err)
	}
	if errOut.Len() != 0 {
		t.Fatalf("a pipe got a prompt: %q", errOut.String())
	}
}

// TestUsersCreateAndSetRole: the password is read from standard input and
// never printed; set-role changes the role of the account create made, and
// both fail (with the service's error) on an email they cannot act on.
func TestUsersCreateAndSetRole(t *testing.T) {
	env := localEnv(t)
	const pw = "a long enough passphrase 7"
	out, errOut, err := runUsersWith(t, env, pw+"\n", "create", "--email", "trader@example.com")
	if err != nil || !strings.Contains(out, "created trader@example.com") || !strings.Contains(out, "role user") {
		t.Fatalf("create: %q %v\n%s", out, err, errOut)
	}
	if strings.Contains(out+errOut, pw) {
		t.Fatal("the CLI printed the password")
	}
	if _, _, err := runUsersWith(t, env, pw+"\n", "create", "--email", "trader@example.com"); err == nil {
		t.Fatal("a second account with the same email was created")
	}
	out, errOut, err = runUsersWith(t, env, "", "set-role", "--email", "trader@example.com", "--role", "admin")
	if err != nil || !strings.Contains(out, "trader@example.com") || !strings.Contains(out, "now has role admin") {
		t.Fatalf("set-role: %q %v\n%s", out, err, errOut)
	}
	if _, _, err := runUsersWith(t, env, "", "set-role", "--email", "nobody@example.com", "--role", "admin"); err == nil {
		t.Fatal("set-role of an unknown email succeeded")
	}
	bad := localEnv(t)
	bad["SHUTDOWN_TIMEOUT"] = "never"
	if _, _, err := runUsersWith(t, bad, pw+"\n", "create", "--email", "x@example.com"); err == nil || !strings.Contains(err.Error(), "SHUTDOWN_TIMEOUT") {
		t.Fatalf("bad configuration: %v", err)
	}
}
