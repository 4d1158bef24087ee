package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/pquerna/otp/totp"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
)

// inMFAStack is inStack for the MFA tests, which drive TOTP steps,
// pending-setup expiry and lockouts with the bubble's clock. (Every stack
// serves the MFA module, as production does.)
func inMFAStack(t *testing.T, f func(t *testing.T, st *stack)) {
	t.Helper()
	inStack(t, stackSpec{}, f)
}

func scanQR(t *testing.T, b64 string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatalf("qr_code is not base64: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("qr_code is not a PNG: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("QR code does not decode: %v", err)
	}
	return res.GetText()
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestMFAEnrolAndLoginLikeAnAuthenticatorApp is the component
// test: scan the QR code, take the secret from the otpauth:// URI in it,
// compute codes from it (pquerna/otp, independently of the server's
// path), enrol and sign in; then replay, backup codes, lockout and
// disabling, over HTTP.
func TestMFAEnrolAndLoginLikeAnAuthenticatorApp(t *testing.T) {
	inMFAStack(t, func(t *testing.T, st *stack) {
		const email = "mfa-app@example.com"
		access, _ := st.registerVerified(email)
		otherAccess, _ := st.login(email, goodPassword, "other-device/1")

		r := st.do("GET", "/api/v1/mfa/status", access, nil)
		st.expect(r, 200, "")
		if r.body["enabled"] != false {
			t.Fatalf("status before enrolment: %s", r.raw)
		}
		st.expect(st.do("POST", "/api/v1/mfa/verify", access, map[string]any{"code": "123456"}), 400, mfa.CodeSetupExpired)
		st.expect(st.do("POST", "/api/v1/mfa/enable", "", nil), 401, "")

		r = st.do("POST", "/api/v1/mfa/enable", access, nil)
		st.expect(r, 200, "")
		uriText := scanQR(t, r.str("qr_code"))
		if uriText != r.str("otpauth_url") {
			t.Fatalf("QR code says %q; otpauth_url is %q", uriText, r.str("otpauth_url"))
		}
		uri, err := url.Parse(uriText)
		if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" {
			t.Fatalf("otpauth URI %q: %v", uriText, err)
		}
		q := uri.Query()
		if q.Get("issuer") != "TradeSense" || !strings.HasSuffix(uri.Path, ":"+email) || q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
			t.Fatalf("otpauth URI %q lacks issuer, account or parameters", uriText)
		}
		secret := q.Get("secret")
		if secret != r.str("secret") || len(secret) < 32 {
			t.Fatalf("secret %q (want base32 of 20+ bytes, as in the response)", secret)
		}
		appCode := func() string {
			c, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}

		enrolCode := appCode()
		r = st.do("POST", "/api/v1/mfa/verify", access, map[string]any{"code": enrolCode})
		st.expect(r, 200, "")
		codes, _ := r.body["backup_codes"].([]any)
		if len(codes) != 10 {
			t.Fatalf("backup codes: %s", r.raw)
		}
		st.waitMail(email, mfa.TemplateEnabled)
		st.expect(st.do("GET", "/api/v1/auth/me", otherAccess, nil), 401, "")
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 200, "")
		st.expect(st.do("POST", "/api/v1/mfa/enable", access, nil), 400, mfa.CodeAlreadyEnabled)

		// Login now asks for the second factor.
		loginMFA := func() string {
			t.Helper()
			r := st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
			st.expect(r, 200, "")
			if r.body["mfa_required"] != true || r.str("mfa_token") == "" || r.str("access_token") != "" {
				t.Fatalf("login with MFA on: %s", r.raw)
			}
			return r.str("mfa_token")
		}
		tok := loginMFA()
		// The enrolment code is burnt.
		st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": tok, "code": enrolCode}), 400, mfa.CodeCodeReused)
		time.Sleep(30 * time.Second)
		r = st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": tok, "code": appCode()})
		st.expect(r, 200, "")
		claims := jwtClaims(t, r.str("access_token"))
		if claims["aal"] != float64(2) || r.body["aal"] != float64(2) || !strings.Contains(r.raw, `"amr":["pwd","totp"]`) {
			t.Fatalf("tokens after the second factor: aal %v, body %s", claims["aal"], r.raw)
		}
		st.expect(st.do("GET", "/api/v1/auth/me", r.str("access_token"), nil), 200, "")
		// The token is single use.
		st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": tok, "code": appCode()}), 401, mfa.CodeTokenInvalid)

		// A backup code, typed loosely, works once and says how many remain.
		bc := strings.ToUpper(strings.ReplaceAll(codes[0].(string), "-", " "))
		r = st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": loginMFA(), "backup_code": bc})
		st.expect(r, 200, "")
		if r.body["backup_codes_remaining"] != float64(9) || !strings.Contains(r.raw, `"amr":["pwd","backup_code"]`) {
			t.Fatalf("backup code login: %s", r.raw)
		}
		st.waitMail(email, mfa.TemplateBackupCodeUsed)
		st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": loginMFA(), "backup_code": codes[0]}), 400, mfa.CodeCodeInvalid)

		// Lockout: 5 failures across fresh logins, then 429 with Retry-After,
		// even for the right code.
		for range 4 {
			st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": loginMFA(), "code": "000000"}), 400, "")
		}
		r = st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": loginMFA(), "code": appCode()})
		st.expect(r, 429, mfa.CodeLocked)
		if ra, _ := strconv.Atoi(r.header.Get("Retry-After")); ra < 800 || ra > 900 {
			t.Fatalf("Retry-After = %q; want about 15 minutes", r.header.Get("Retry-After"))
		}
		st.waitMail(email, mfa.TemplateLocked)
		time.Sleep(15*time.Minute + time.Second)
		r = st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": loginMFA(), "code": appCode()})
		st.expect(r, 200, "")
		access = r.str("access_token") // the first one expired meanwhile

		// Status, then disable (password + code); login is back to one step.
		r = st.do("GET", "/api/v1/mfa/status", access, nil)
		if r.body["enabled"] != true || r.body["backup_codes_remaining"] != float64(9) || r.str("enrolled_at") == "" {
			t.Fatalf("status: %s", r.raw)
		}
		st.expect(st.do("POST", "/api/v1/mfa/disable", access, map[string]any{"password": "wrong password!", "code": appCode()}), 400, identity.CodeCurrentPasswordBad)
		time.Sleep(30 * time.Second) // the login above spent this step's code
		st.expect(st.do("POST", "/api/v1/mfa/disable", access, map[string]any{"password": goodPassword, "code": appCode()}), 204, "")
		st.waitMail(email, mfa.TemplateDisabled)
		if a, _ := st.login(email, goodPassword, ""); a == "" {
			t.Fatal("no tokens from a one-step login after disabling MFA")
		}

		// No secret, code or token in logs or response bodies after enrolment.
		for _, s := range []string{enrolCode + `"`, strings.ToLower(secret)} {
			if strings.Contains(st.logs.String(), s) {
				t.Fatalf("logs contain a secret or code")
			}
		}
		events := st.do("GET", "/api/v1/auth/events?limit=200", access, nil)
		for _, want := range []string{"mfa_enrolled", "mfa_challenge_passed", "mfa_replay_refused", "mfa_backup_code_used", "mfa_locked", "mfa_disabled"} {
			if !strings.Contains(events.raw, `"`+want+`"`) {
				t.Errorf("events lack %s", want)
			}
		}
	})
}

// TestPasswordResetNeedsTheSecondFactor: with MFA on, a reset link alone
// cannot change the password; a wrong code is refused (and counted) before
// the link is spent, and a valid TOTP code completes the reset.
func TestPasswordResetNeedsTheSecondFactor(t *testing.T) {
	inMFAStack(t, func(t *testing.T, st *stack) {
		const email = "mfa-reset@example.com"
		access, _ := st.registerVerified(email)
		r := st.do("POST", "/api/v1/mfa/enable", access, nil)
		st.expect(r, 200, "")
		secret := r.str("secret")
		appCode := func() string {
			c, err := totp.GenerateCode(secret, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		st.expect(st.do("POST", "/api/v1/mfa/verify", access, map[string]any{"code": appCode()}), 200, "")
		time.Sleep(30 * time.Second)
		// A sign-in left at its second step under the old password (one
		// whose password was phished, say): the reset must spend it.
		r = st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": goodPassword})
		st.expect(r, 200, "")
		pending := r.str("mfa_token")
		if pending == "" {
			t.Fatalf("login with MFA on: %s", r.raw)
		}

		st.expect(st.do("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": email}), 202, "")
		tok := linkToken(t, st.waitMail(email, identity.TemplatePasswordReset))
		const next = "a reset behind two factors"
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": next}), 400, identity.CodeMFARequired)
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": next, "code": "000000"}), 400, mfa.CodeCodeInvalid)
		// The link survived both refusals; the right code completes the reset.
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": next, "code": appCode()}), 204, "")
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 401, "")
		time.Sleep(30 * time.Second)
		st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": pending, "code": appCode()}), 401, mfa.CodeTokenInvalid)
		r = st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": email, "password": next})
		st.expect(r, 200, "")
		if r.body["mfa_required"] != true {
			t.Fatalf("login after reset must still ask for the second factor: %s", r.raw)
		}
		// The new password's challenge is answered with the next code.
		time.Sleep(30 * time.Second)
		st.expect(st.do("POST", "/api/v1/auth/login/mfa", "", map[string]any{"mfa_token": r.str("mfa_token"), "code": appCode()}), 200, "")
	})
}
