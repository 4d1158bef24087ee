package tests

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/vault/vaultfake"
	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/tests/harness"
)

// TestStartupWithVaultSecretsLeaksNothing starts the API with its keys in a
// (fake) Vault speaking the real HTTP API, and scans everything the program
// wrote for the values.
func TestStartupWithVaultSecretsLeaksNothing(t *testing.T) {
	const jwtKey = "Vj8w2Lk9Qz4Rt7Yx1Np6Mb3Hc5Gd0Fs2Ae8Ku4Wi"
	const mfaKey = "Ui7Oq2Pa9Sd4Fg6Hj1Kl3Zx8Cv5Bn0Mq7We2Rt9"
	const vaultToken = "hvs.test-token-Zz81"
	v := vaultfake.New(t)
	v.AddToken(vaultToken, 0, false)
	v.Put("secret", "tradesense", map[string]any{"jwt_key": jwtKey, "mfa_key": mfaKey})

	env := harness.Env(t)
	env["VAULT_ADDR"] = v.URL
	env["VAULT_TOKEN"] = vaultToken
	env["JWT_SIGNING_KEY"] = "vault:secret/tradesense#jwt_key"
	env["MFA_ENCRYPTION_KEY"] = "vault:secret/data/tradesense#mfa_key"
	app := harness.Start(t, env)
	do(t, "GET", app.URL+"/health/ready", nil, nil)
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	logs := app.Logs.String()
	var sawAdapters bool
	for _, l := range app.Logs.Lines() {
		if l["msg"] == "starting api" {
			sawAdapters = strings.Contains(l["adapters"].(map[string]any)["secrets"].(string), "vault")
		}
	}
	if !sawAdapters {
		t.Fatalf("start-up log does not name the vault adapter:\n%s", logs)
	}
	for _, secret := range []string{jwtKey, mfaKey, vaultToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("secret %.6s… reached the logs", secret)
		}
	}

	var out bytes.Buffer
	err := cli.Run(context.Background(), []string{"tradesense", "secrets", "check"}, func(k string) string { return env[k] }, &out, &out)
	if err != nil {
		t.Fatalf("secrets check: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "JWT_SIGNING_KEY") || !strings.Contains(out.String(), "vault:secret") {
		t.Fatalf("secrets check output:\n%s", out.String())
	}
	for _, secret := range []string{jwtKey, mfaKey, vaultToken} {
		if strings.Contains(out.String(), secret) {
			t.Fatal("secrets check printed a value")
		}
	}
}

func TestDevelopmentKeysAreGeneratedOnceAndKept(t *testing.T) {
	env := harness.Env(t)
	app := harness.Start(t, env)
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(env["DATA_DIR"], "keys", "jwt_signing_key")
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("development key not generated: %v", err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 || len(bytes.TrimSpace(first)) < 32 {
		t.Fatalf("key file mode %v, %d bytes", fi.Mode().Perm(), len(first))
	}
	generated := 0
	for _, l := range app.Logs.Lines() {
		if l["msg"] == "generated a development key; set the variable in production" {
			generated++
		}
	}
	if generated != 2 {
		t.Fatalf("want 2 generation log lines (JWT and MFA), got %d", generated)
	}
	app2 := harness.Start(t, env)
	if err := app2.Stop(); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) || strings.Contains(app2.Logs.String(), "generated a development key") {
		t.Fatal("the development key changed or was regenerated on restart")
	}
	if strings.Contains(app.Logs.String()+app2.Logs.String(), strings.TrimSpace(string(first))) {
		t.Fatal("the development key reached the logs")
	}
}

func TestProductionRefusesWeakKeys(t *testing.T) {
	cases := map[string]map[string]string{
		"missing":     {},
		"placeholder": {"JWT_SIGNING_KEY": "fallback-secret", "MFA_ENCRYPTION_KEY": "changemechangemechangemechangeme"},
		"short":       {"JWT_SIGNING_KEY": "k3Q9x", "MFA_ENCRYPTION_KEY": "p2W8z"},
	}
	for name, keys := range cases {
		t.Run(name, func(t *testing.T) {
			env := harness.Env(t)
			env["APP_ENV"] = "production"
			env["LOG_LEVEL"] = "info"
			env["PUBLIC_URL"] = "https://app.tradesense.test"
			env["SMTP_URL"] = "smtp://mailer:mail-pass@127.0.0.1:2525"
			env["DB_AUTO_MIGRATE"] = "false"
			for k, v := range keys {
				env[k] = v
			}
			var out bytes.Buffer
			err := cli.Run(context.Background(), []string{"tradesense", "secrets", "check"}, func(k string) string { return env[k] }, &out, &out)
			if err == nil {
				t.Fatalf("secrets check passed:\n%s", out.String())
			}
			for _, v := range []string{"JWT_SIGNING_KEY", "MFA_ENCRYPTION_KEY"} {
				if !strings.Contains(out.String(), v+" ") || !strings.Contains(out.String(), "FAILED") {
					t.Fatalf("check output does not fail %s:\n%s", v, out.String())
				}
			}
			for _, v := range keys {
				if strings.Contains(out.String()+err.Error(), v) {
					t.Fatal("the refused value was printed")
				}
			}
		})
	}
}
