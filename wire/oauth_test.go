package wire

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/oidc"
)

func TestOAuthConfigIsReadThroughTheEnvReader(t *testing.T) {
	cfg, names, err := loadConfig(envOf(map[string]string{
		"OAUTH_PROVIDERS": "google, GitHub,acme-sso", "OAUTH_REDIRECT_ALLOWLIST": "https://app.example/auth/cb, com.example.app:/oauth",
		"OAUTH_ERROR_REDIRECT": "https://app.example/auth/cb", "API_PUBLIC_URL": "https://api.example/", "PUBLIC_URL": "https://app.example",
		"OAUTH_HTTP_TIMEOUT": "3s", "OAUTH_DISCOVERY_TTL": "5m",
		"OAUTH_GOOGLE_CLIENT_ID": "g", "OAUTH_GITHUB_CLIENT_ID": "h", "OAUTH_GITHUB_GITHUB_API_URL": "https://ghe.example/api/v3/",
		"OAUTH_ACME_SSO_CLIENT_ID": "a", "OAUTH_ACME_SSO_ISSUER": "https://idp.acme.example", "OAUTH_ACME_SSO_SCOPES": "email,groups",
		"OAUTH_ACME_SSO_DISPLAY_NAME": "Acme SSO",
	}), "v")
	if err != nil {
		t.Fatal(err)
	}
	p, s := cfg.OAuth.Providers, cfg.OAuth.Service
	if p.PublicURL != "https://api.example" || p.HTTPTimeout != 3*time.Second || p.DiscoveryTTL != 5*time.Minute || len(p.Providers) != 3 ||
		p.Providers[0].Issuer != "https://accounts.google.com" || p.Providers[0].DisplayName != "Google" ||
		p.Providers[1].Name != "github" || p.Providers[1].Kind != oidc.KindGitHub || p.Providers[1].GitHubAPIURL != "https://ghe.example/api/v3" ||
		p.Providers[2].DisplayName != "Acme SSO" || strings.Join(p.Providers[2].Scopes, " ") != "openid email groups" ||
		p.RedirectURL("acme-sso") != "https://api.example/api/v1/auth/oauth/acme-sso/callback" {
		t.Fatalf("providers: %+v", p)
	}
	if !slices.Equal(s.RedirectAllowList, []string{"https://app.example/auth/cb", "com.example.app:/oauth"}) || s.ErrorRedirect != "https://app.example/auth/cb" ||
		s.PublicURL != "https://app.example" || s.FlowTTL != 10*time.Minute {
		t.Fatalf("service: %+v", s)
	}
	// Every variable read is recorded, the dynamic ones included, so the
	// start-up error and the documentation test know them.
	for _, n := range []string{"OAUTH_ACME_SSO_ISSUER", "OAUTH_ACME_SSO_CLIENT_ID", "OAUTH_ACME_SSO_CLIENT_SECRET", "OAUTH_GITHUB_GITHUB_URL", "API_PUBLIC_URL"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s not recorded", n)
		}
	}
}

func TestOAuthConfigNamesEveryBadVariable(t *testing.T) {
	_, err := LoadConfig(envOf(map[string]string{
		"APP_ENV": "production", "LOG_FORMAT": "json", "DB_AUTO_MIGRATE": "false", "PUBLIC_URL": "https://app.example",
		"API_PUBLIC_URL": "http://api.example", "OAUTH_PROVIDERS": "acme,Bad_Name,acme", "OAUTH_HTTP_TIMEOUT": "soon",
		"OAUTH_REDIRECT_ALLOWLIST": "http://localhost:3000/cb,javascript:alert(1)", "OAUTH_ACME_ISSUER": "http://idp.acme.example",
		"OAUTH_ERROR_REDIRECT": "https://elsewhere.example/",
	}), "v")
	if err == nil {
		t.Fatal("bad OAuth configuration accepted")
	}
	for _, want := range []string{"API_PUBLIC_URL", "OAUTH_PROVIDERS", "OAUTH_HTTP_TIMEOUT", "OAUTH_ACME_CLIENT_ID", "OAUTH_ACME_ISSUER",
		"OAUTH_ERROR_REDIRECT", `"http://localhost:3000/cb": production`, `"javascript:alert(1)"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	// Production without providers needs no public API URL.
	if _, err := LoadConfig(envOf(map[string]string{"APP_ENV": "production", "DB_AUTO_MIGRATE": "false", "PUBLIC_URL": "https://app.example"}), "v"); err != nil {
		t.Fatalf("production without providers: %v", err)
	}
}

func TestOAuthClientSecretsAreSecretSettings(t *testing.T) {
	// An aws: reference among them enables AWS Secrets Manager.
	cfg, err := LoadConfig(envOf(map[string]string{
		"OAUTH_PROVIDERS": "acme", "OAUTH_REDIRECT_ALLOWLIST": "https://app.example/cb", "OAUTH_ACME_ISSUER": "https://idp.example",
		"OAUTH_ACME_CLIENT_ID": "a", "OAUTH_ACME_CLIENT_SECRET": "aws:tradesense/prod#acme", "AWS_REGION": "eu-west-1",
	}), "v")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Secrets.AWS == nil {
		t.Fatal("an aws: client secret did not enable AWS Secrets Manager")
	}

	// secrets check resolves them (here through _FILE) and fails for a
	// configured provider without one, never printing a value.
	dir := t.TempDir()
	const value = "the-acme-client-secret"
	path := filepath.Join(dir, "acme")
	if err := os.WriteFile(path, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"APP_ENV": "test", "DATA_DIR": dir, "OAUTH_PROVIDERS": "acme,github", "OAUTH_REDIRECT_ALLOWLIST": "https://app.example/cb",
		"OAUTH_ACME_ISSUER": "https://idp.example", "OAUTH_ACME_CLIENT_ID": "a", "OAUTH_ACME_CLIENT_SECRET_FILE": path, "OAUTH_GITHUB_CLIENT_ID": "h"}
	cfg, err = LoadConfig(envOf(env), "v")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = CheckSecrets(context.Background(), cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "1 setting") {
		t.Fatalf("check: %v\n%s", err, out.String())
	}
	lines := out.String()
	if !strings.Contains(lines, "OAUTH_ACME_CLIENT_SECRET ok      via OAUTH_ACME_CLIENT_SECRET_FILE") ||
		!strings.Contains(lines, "OAUTH_GITHUB_CLIENT_SECRET FAILED") || strings.Contains(lines, value) {
		t.Fatalf("check output:\n%s", lines)
	}
	env["OAUTH_GITHUB_CLIENT_SECRET"] = "env:GH_SECRET"
	env["GH_SECRET"] = "gh-value"
	cfg, _ = LoadConfig(envOf(env), "v")
	out.Reset()
	if err := CheckSecrets(context.Background(), cfg, &out); err != nil || strings.Contains(out.String(), "gh-value") {
		t.Fatalf("check with both: %v\n%s", err, out.String())
	}
}
