package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runEnv(env map[string]string, args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	err := Run(context.Background(), append([]string{"tradesense"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestSecretsRotateUsage(t *testing.T) {
	env := map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir()}
	for _, args := range [][]string{
		{"secrets"}, {"secrets", "frobnicate"}, {"secrets", "check", "extra"},
		{"secrets", "rotate"}, {"secrets", "rotate", "--all", "JWT_SIGNING_KEY"}, {"secrets", "rotate", "--bogus"},
		{"secrets", "rotate", "--grace", "-1s", "JWT_SIGNING_KEY"},
	} {
		if _, _, err := runEnv(env, args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
	if _, errOut, err := runEnv(env, "secrets", "rotate", "--help"); err != nil || !strings.Contains(errOut, "--dry-run") && !strings.Contains(errOut, "-dry-run") {
		t.Errorf("rotate --help: %v\n%s", err, errOut)
	}
	_, _, err := runEnv(env, "secrets", "rotate", "SMTP_URL")
	if err == nil || !strings.Contains(err.Error(), "JWT_SIGNING_KEY, MFA_ENCRYPTION_KEY") {
		t.Errorf("rotating a setting that is not a key: %v", err)
	}
}

func TestSecretsRotateRefusesLiteralsWithoutPrintingThem(t *testing.T) {
	const literal = "literal-jwt-key-0123456789abcdef0123456789"
	env := map[string]string{"APP_ENV": "test", "DATA_DIR": t.TempDir(), "JWT_SIGNING_KEY": literal}
	out, errOut, err := runEnv(env, "secrets", "rotate", "JWT_SIGNING_KEY")
	if err == nil || !strings.Contains(out, "FAILED") || !strings.Contains(out, "literal") {
		t.Fatalf("literal: %v\n%s", err, out)
	}
	if strings.Contains(out+errOut+err.Error(), literal) {
		t.Fatal("the literal key was printed")
	}
}

// TestSecretsRotateDryRunThenRotate drives the development keys under
// DATA_DIR: a dry run changes nothing; a rotation (flags after the name)
// changes the key, keeps the old one beside it and prints neither.
func TestSecretsRotateDryRunThenRotate(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"APP_ENV": "test", "DATA_DIR": dir, "LOG_FORMAT": "json"}
	// The first run creates the development keys, as `api` would.
	if _, _, err := runEnv(env, "secrets", "rotate", "--all", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, "keys", "jwt_signing_key")
	before, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := runEnv(env, "secrets", "rotate", "--all", "--dry-run")
	if err != nil || strings.Count(out, "dry run: would write a new 256-bit key") != 2 {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	if now, _ := os.ReadFile(keyPath); !bytes.Equal(now, before) {
		t.Fatal("a dry run changed the key")
	}
	if _, err := os.Stat(keyPath + ".previous"); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a dry run wrote the history")
	}

	out, logs, err := runEnv(env, "secrets", "rotate", "JWT_SIGNING_KEY", "--grace", "1h")
	if err != nil || !strings.Contains(out, "rotated: wrote a new 256-bit key to file:"+keyPath) {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(keyPath)
	history, _ := os.ReadFile(keyPath + ".previous")
	if bytes.Equal(after, before) || !bytes.Contains(history, bytes.TrimSpace(before)) {
		t.Fatal("the key did not change, or the old one is not in the history")
	}
	for _, k := range [][]byte{before, after} {
		if strings.Contains(out+logs, string(bytes.TrimSpace(k))) {
			t.Fatal("a key was printed")
		}
	}
	if !strings.Contains(logs, `"msg":"secret written"`) || !strings.Contains(logs, `"actor":"cli:`) {
		t.Fatalf("no audit line:\n%s", logs)
	}
}
