package tests

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite" // database/sql driver "sqlite", to inspect the program's database
	"github.com/pquerna/otp/totp"

	"github.com/tradesense/tradesense/adapters/awssecrets/awsfake"
	"github.com/tradesense/tradesense/adapters/vault/vaultfake"
	"github.com/tradesense/tradesense/app/cli"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/tests/harness"
)

// client talks JSON to a running program.
type client struct {
	t   *testing.T
	url string
}

func (c client) call(method, path, token string, body any) (int, map[string]any) {
	c.t.Helper()
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return send(c.t, req)
}

// jwks returns the kids the program publishes, the signing key first.
func (c client) jwks() []string {
	c.t.Helper()
	status, body := c.call("GET", "/.well-known/jwks.json", "", nil)
	if status != 200 {
		c.t.Fatalf("jwks: %d", status)
	}
	var kids []string
	for _, k := range body["keys"].([]any) {
		kids = append(kids, k.(map[string]any)["kid"].(string))
	}
	return kids
}

func (c client) login(email, password string) map[string]any {
	c.t.Helper()
	status, body := c.call("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": password})
	if status != 200 {
		c.t.Fatalf("login: %d %v", status, body)
	}
	return body
}

func kidOf(t *testing.T, token string) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	_ = json.Unmarshal(b, &h)
	kid, _ := h["kid"].(string)
	return kid
}

// eventually polls cond every 20ms for up to 15s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const rotationPassword = "rotation passphrase 1"

// createAdmin bootstraps an account through the users CLI.
func createAdmin(t *testing.T, env map[string]string, email string) {
	t.Helper()
	getenv := func(k string) string {
		if k == "TRADESENSE_PASSWORD" {
			return rotationPassword
		}
		return env[k]
	}
	var out bytes.Buffer
	if err := cli.Run(context.Background(), []string{"tradesense", "users", "create", "--email", email, "--admin"}, getenv, &out, &out); err != nil {
		t.Fatalf("users create: %v\n%s", err, out.String())
	}
}

func rotate(t *testing.T, env map[string]string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cli.Run(context.Background(), append([]string{"tradesense", "secrets", "rotate"}, args...), func(k string) string { return env[k] }, &out, &errOut)
	if err != nil {
		t.Fatalf("secrets rotate %v: %v\n%s\n%s", args, err, out.String(), errOut.String())
	}
	return out.String(), errOut.String()
}

// TestKeyRotationWithoutRestart is issue #19's end-to-end test: keys in a
// (fake) Vault, the API running; `tradesense secrets rotate --all` from
// another "process". Tokens issued before the rotation still verify after
// it, new tokens carry the new kid, the old key leaves the JWKS when its
// grace period ends, and a TOTP enrolled before the MFA key rotation still
// verifies. Nothing restarts.
func TestKeyRotationWithoutRestart(t *testing.T) {
	const jwtKey = "Vj8w2Lk9Qz4Rt7Yx1Np6Mb3Hc5Gd0Fs2Ae8Ku4Wi"
	const mfaKey = "Ui7Oq2Pa9Sd4Fg6Hj1Kl3Zx8Cv5Bn0Mq7We2Rt9"
	const vaultToken = "hvs.rotation-token-Zz81"
	v := vaultfake.New(t)
	v.AddToken(vaultToken, 0, false)
	v.Put("secret", "tradesense", map[string]any{"jwt_key": jwtKey, "mfa_key": mfaKey, "other": "kept"})

	env := harness.Env(t)
	env["VAULT_ADDR"] = v.URL
	env["VAULT_TOKEN"] = vaultToken
	env["JWT_SIGNING_KEY"] = "vault:secret/tradesense#jwt_key"
	env["MFA_ENCRYPTION_KEY"] = "vault:secret/tradesense#mfa_key"
	env["SECRETS_CACHE_TTL"] = "400ms"
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	const email = "rotation@example.com"
	createAdmin(t, env, email)
	app := harness.Start(t, env)
	c := client{t: t, url: app.URL}

	oldKids := c.jwks()
	if len(oldKids) != 1 {
		t.Fatalf("jwks before the rotation: %v", oldKids)
	}
	before := c.login(email, rotationPassword)["access_token"].(string)
	if kidOf(t, before) != oldKids[0] {
		t.Fatal("token not signed with the published key")
	}

	// Enrol TOTP under the first MFA key.
	status, enrol := c.call("POST", "/api/v1/mfa/enable", before, nil)
	if status != 200 {
		t.Fatalf("mfa enable: %d %v", status, enrol)
	}
	u, _ := url.Parse(enrol["otpauth_url"].(string))
	totpSecret := u.Query().Get("secret")
	code := func(at time.Time) string {
		s, err := totp.GenerateCode(totpSecret, at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	enrolledAt := time.Now()
	status, verified := c.call("POST", "/api/v1/mfa/verify", before, map[string]any{"code": code(enrolledAt)})
	if status != 200 {
		t.Fatalf("mfa verify: %d %v", status, verified)
	}
	backupCode := verified["backup_codes"].([]any)[0].(string)
	db, err := sql.Open("sqlite", filepath.Join(env["DATA_DIR"], "tradesense.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	factorKeyID := func() string {
		var id string
		if err := db.QueryRow(`SELECT key_id FROM mfa_factors`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	oldRing, _ := mfa.NewKeyRing([]byte(mfaKey))
	if factorKeyID() != oldRing.CurrentID() {
		t.Fatal("the TOTP secret is not sealed under the first MFA key")
	}
	if status, _ := c.call("GET", "/api/v1/auth/me", before, nil); status != 200 {
		t.Fatalf("me before the rotation: %d", status)
	}

	rotatedAt := time.Now()
	out, logs := rotate(t, env, "--all", "--grace", "4s")
	for _, want := range []string{"JWT_SIGNING_KEY", "MFA_ENCRYPTION_KEY", "vault:secret/tradesense#jwt_key: version 3",
		"vault:secret/tradesense#mfa_key: version 5", "vault:secret/tradesense#jwt_key_previous", "accepted until"} {
		if !strings.Contains(out, want) {
			t.Errorf("rotate output lacks %q:\n%s", want, out)
		}
	}
	data, version := v.Latest("secret", "tradesense")
	newJWT, newMFA := data["jwt_key"].(string), data["mfa_key"].(string)
	if version != 5 || newJWT == jwtKey || newMFA == mfaKey || data["other"] != "kept" ||
		!strings.Contains(data["jwt_key_previous"].(string), jwtKey) || !strings.Contains(data["mfa_key_previous"].(string), mfaKey) {
		t.Fatalf("vault after the rotation: version %d, fields %v", version, keysOf(data))
	}
	for _, secret := range []string{jwtKey, mfaKey, newJWT, newMFA, vaultToken} {
		if strings.Contains(out+logs, secret) {
			t.Fatalf("the rotate command printed a secret (%.6s…)", secret)
		}
	}
	if !strings.Contains(logs, `"event":"secret.write"`) || !strings.Contains(logs, `"setting":"MFA_ENCRYPTION_KEY"`) || !strings.Contains(logs, `"actor":"cli:`) {
		t.Fatalf("no audit lines for the writes:\n%s", logs)
	}

	// The running API picks both keys up within SECRETS_CACHE_TTL.
	var kids []string
	eventually(t, "the new signing key in the JWKS", func() bool { kids = c.jwks(); return len(kids) == 2 && kids[0] != oldKids[0] })
	if kids[1] != oldKids[0] {
		t.Fatalf("jwks after the rotation %v: the old key %s must still be published", kids, oldKids[0])
	}
	eventually(t, "the MFA key rotation", func() bool { return strings.Contains(app.Logs.String(), "MFA encryption key rotated") })

	if status, _ := c.call("GET", "/api/v1/auth/me", before, nil); status != 200 {
		t.Fatalf("a token issued before the rotation: %d, want 200", status)
	}
	// Sign in again: the TOTP enrolled under the old MFA key verifies.
	mfaToken := c.login(email, rotationPassword)["mfa_token"].(string)
	status, body := c.call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": mfaToken, "code": code(enrolledAt.Add(30 * time.Second))})
	if status != 200 {
		t.Fatalf("TOTP enrolled before the MFA key rotation: %d %v", status, body)
	}
	after := body["access_token"].(string)
	if kidOf(t, after) != kids[0] {
		t.Fatalf("token issued after the rotation has kid %s, want the new %s", kidOf(t, after), kids[0])
	}
	// Using it re-sealed the TOTP secret under the new MFA key; backup
	// codes hashed under the old one still work.
	newRing, _ := mfa.NewKeyRing([]byte(newMFA))
	if got := factorKeyID(); got != newRing.CurrentID() {
		t.Fatalf("after a login the TOTP secret is sealed under %s, want the new key %s", got, newRing.CurrentID())
	}
	mfaToken = c.login(email, rotationPassword)["mfa_token"].(string)
	if status, body := c.call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": mfaToken, "backup_code": backupCode}); status != 200 {
		t.Fatalf("a backup code from before the MFA key rotation: %d %v", status, body)
	}

	// When the grace period ends, the old key leaves the JWKS and its
	// tokens stop verifying; the new ones keep working.
	eventually(t, "the old key to leave the JWKS", func() bool { return len(c.jwks()) == 1 })
	if time.Since(rotatedAt) < 4*time.Second {
		t.Fatalf("the old key left the JWKS after %s, before its 4s grace period", time.Since(rotatedAt))
	}
	if status, body := c.call("GET", "/api/v1/auth/me", before, nil); status != 401 {
		t.Fatalf("a token of the retired key after the grace period: %d %v, want 401", status, body)
	}
	if status, _ := c.call("GET", "/api/v1/auth/me", after, nil); status != 200 {
		t.Fatalf("a token of the new key: %d", status)
	}
	for _, secret := range []string{jwtKey, mfaKey, newJWT, newMFA} {
		if strings.Contains(app.Logs.String(), secret) {
			t.Fatalf("a key reached the API's logs (%.6s…)", secret)
		}
	}
}

func keysOf(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestRotatedKeysSurviveARestart: the development keys under DATA_DIR
// rotated while the API is down; the restarted API reads the previous key
// from the history file beside the key and still accepts its tokens.
func TestRotatedKeysSurviveARestart(t *testing.T) {
	env := harness.Env(t)
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	const email = "restart@example.com"
	createAdmin(t, env, email)
	app := harness.Start(t, env)
	c := client{t: t, url: app.URL}
	oldKid := c.jwks()[0]
	token := c.login(email, rotationPassword)["access_token"].(string)
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}

	out, _ := rotate(t, env, "JWT_SIGNING_KEY")
	if !strings.Contains(out, "jwt_signing_key.previous") {
		t.Fatalf("rotate output:\n%s", out)
	}
	app2 := harness.Start(t, env)
	c2 := client{t: t, url: app2.URL}
	kids := c2.jwks()
	if len(kids) != 2 || kids[1] != oldKid || kids[0] == oldKid {
		t.Fatalf("jwks after a restart %v: want the new key then the old %s", kids, oldKid)
	}
	if status, _ := c2.call("GET", "/api/v1/auth/me", token, nil); status != 200 {
		t.Fatalf("a token of the previous key after a restart: %d", status)
	}
	if kid := kidOf(t, c2.login(email, rotationPassword)["access_token"].(string)); kid != kids[0] {
		t.Fatalf("new token kid %s, want %s", kid, kids[0])
	}
}

// TestRotationReachesAReplicaBehindAtOnce: two API replicas with a long
// SECRETS_CACHE_TTL. After a rotation, a replica that started since (or
// refreshed first) signs with the new key and re-seals TOTP secrets under
// the new MFA key; the replica still behind meets the unknown kid and key
// id, reloads the key at once instead of failing until its next refresh.
func TestRotationReachesAReplicaBehindAtOnce(t *testing.T) {
	const vaultToken = "hvs.replica-token-Zz81"
	v := vaultfake.New(t)
	v.AddToken(vaultToken, 0, false)
	v.Put("secret", "tradesense", map[string]any{
		"jwt_key": "Rb7w2Lk9Qz4Rt7Yx1Np6Mb3Hc5Gd0Fs2Ae8Ku4Wi", "mfa_key": "Mb7Oq2Pa9Sd4Fg6Hj1Kl3Zx8Cv5Bn0Mq7We2Rt9"})
	env := harness.Env(t)
	env["VAULT_ADDR"] = v.URL
	env["VAULT_TOKEN"] = vaultToken
	env["JWT_SIGNING_KEY"] = "vault:secret/tradesense#jwt_key"
	env["MFA_ENCRYPTION_KEY"] = "vault:secret/tradesense#mfa_key"
	env["SECRETS_CACHE_TTL"] = "1h"
	env["AUTH_ARGON2_MEMORY_KIB"] = "64"
	env["AUTH_ARGON2_TIME"] = "1"
	const email = "replicas@example.com"
	createAdmin(t, env, email)
	behind := client{t: t, url: harness.Start(t, env).URL}

	access := behind.login(email, rotationPassword)["access_token"].(string)
	_, enrol := behind.call("POST", "/api/v1/mfa/enable", access, nil)
	u, _ := url.Parse(enrol["otpauth_url"].(string))
	code := func(at time.Time) string {
		s, err := totp.GenerateCode(u.Query().Get("secret"), at)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	enrolledAt := time.Now()
	if status, body := behind.call("POST", "/api/v1/mfa/verify", access, map[string]any{"code": code(enrolledAt)}); status != 200 {
		t.Fatalf("mfa verify: %d %v", status, body)
	}
	oldKid := behind.jwks()[0]

	rotate(t, env, "--all")
	ahead := client{t: t, url: harness.Start(t, env).URL} // started after the rotation
	if kids := behind.jwks(); len(kids) != 1 || kids[0] != oldKid {
		t.Fatalf("the replica behind already has %v (its cache TTL is an hour)", kids)
	}
	// On the replica ahead: sign in with TOTP (re-sealing the secret under
	// the new MFA key) and get a token of the new kid.
	mfaToken := ahead.login(email, rotationPassword)["mfa_token"].(string)
	status, body := ahead.call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": mfaToken, "code": code(enrolledAt.Add(30 * time.Second))})
	if status != 200 {
		t.Fatalf("TOTP on the replica ahead: %d %v", status, body)
	}
	newToken := body["access_token"].(string)
	if kidOf(t, newToken) == oldKid {
		t.Fatal("the replica ahead signs with the old key")
	}
	// The replica behind verifies it: the unknown kid made it reload.
	if status, body := behind.call("GET", "/api/v1/auth/me", newToken, nil); status != 200 {
		t.Fatalf("the replica behind refused a token of the new key: %d %v", status, body)
	}
	if kids := behind.jwks(); len(kids) != 2 || kids[0] != kidOf(t, newToken) {
		t.Fatalf("after the reload the replica behind publishes %v", kids)
	}
	// And opens the TOTP secret sealed under the new MFA key: replaying
	// the code just used is refused as a replay, which the service can only
	// tell after decrypting the secret and matching the code (an unreadable
	// secret is a 500).
	mfaToken = behind.login(email, rotationPassword)["mfa_token"].(string)
	status, body = behind.call("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": mfaToken, "code": code(enrolledAt.Add(30 * time.Second))})
	if status != 400 || body["code"] != mfa.CodeCodeReused {
		t.Fatalf("TOTP re-sealed under the new key, on the replica behind: %d %v, want 400 %s", status, body, mfa.CodeCodeReused)
	}
}

// TestKeyRotationInAWSSecretsManager rotates a whole-secret JWT key and a
// JSON-keyed MFA key kept in (fake) AWS Secrets Manager: the stages move as
// a rotation's do, the history of the whole secret is created beside it,
// the other fields of the JSON secret are kept, and the API started
// afterwards accepts both the new and the previous signing key.
func TestKeyRotationInAWSSecretsManager(t *testing.T) {
	f := awsfake.New(t)
	// The SDK's credential chain reads the process environment.
	t.Setenv("AWS_ACCESS_KEY_ID", awsfake.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", awsfake.SecretAccessKey)
	t.Setenv("AWS_REGION", awsfake.Region)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	const oldJWT = "Aw7w2Lk9Qz4Rt7Yx1Np6Mb3Hc5Gd0Fs2Ae8Ku4Wi"
	oldJWTVersion := f.PutString("tradesense/jwt", oldJWT)
	f.PutString("tradesense/keys", `{"mfa":"Am7Oq2Pa9Sd4Fg6Hj1Kl3Zx8Cv5Bn0Mq7We2Rt9","smtp_password":"kept"}`)

	env := harness.Env(t)
	env["AWS_REGION"] = awsfake.Region
	env["AWS_SECRETS_ENDPOINT"] = f.URL
	env["JWT_SIGNING_KEY"] = "aws:tradesense/jwt"
	env["MFA_ENCRYPTION_KEY"] = "aws:tradesense/keys#mfa"
	app := harness.Start(t, env)
	oldKid := client{t: t, url: app.URL}.jwks()[0]
	if err := app.Stop(); err != nil {
		t.Fatal(err)
	}

	out, logs := rotate(t, env, "--all")
	if !strings.Contains(out, "aws:tradesense/jwt.previous") || !strings.Contains(out, "aws:tradesense/keys#mfa_previous") {
		t.Fatalf("rotate output:\n%s", out)
	}
	stages := f.Stages("tradesense/jwt")
	if len(stages) != 2 || !slices.Equal(stages[oldJWTVersion], []string{"AWSPREVIOUS"}) {
		t.Fatalf("stages of the JWT secret after the rotation: %v", stages)
	}
	if len(f.Stages("tradesense/jwt.previous")) != 1 {
		t.Fatal("the history secret was not created")
	}
	if strings.Contains(out+logs, oldJWT) {
		t.Fatal("the rotate command printed a key")
	}

	app2 := harness.Start(t, env)
	kids := client{t: t, url: app2.URL}.jwks()
	if len(kids) != 2 || kids[1] != oldKid || kids[0] == oldKid {
		t.Fatalf("jwks after the rotation %v, want a new key then %s", kids, oldKid)
	}
	var check bytes.Buffer
	if err := cli.Run(context.Background(), []string{"tradesense", "secrets", "check"}, func(k string) string { return env[k] }, &check, &check); err != nil {
		t.Fatalf("secrets check after the rotation: %v\n%s", err, check.String())
	}
}
