package tests

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// The rules of identity (lockout, refresh grace and reuse, link expiry,
// enumeration, the profile cache...) are tested without HTTP in
// core/identity on identitytest.Env. These tests keep what only HTTP can
// show: status codes, problem+json bodies and headers, the JSON shapes,
// IDOR over the routes, and the wiring of the real adapters.

// TestRegisterVerifyLoginMe is the account journey over HTTP.
func TestRegisterVerifyLoginMe(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		r := st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "ada@example.com", "password": goodPassword, "display_name": "Ada"})
		st.expect(r, 201, "")
		if r.str("email") != "ada@example.com" || r.body["email_verified"] != false || r.str("role") != "user" {
			t.Fatalf("register body = %s", r.raw)
		}
		verify := st.waitMail("ada@example.com", identity.TemplateVerifyEmail)
		if link, _ := verify.Data["Link"].(string); !strings.HasPrefix(link, "https://app.tradesense.test/verify-email?token=") {
			t.Fatalf("verification link = %q", link)
		}
		tok := linkToken(t, verify)
		st.expect(st.do("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": tok}), 200, "")
		st.waitMail("ada@example.com", identity.TemplateWelcome)
		// Single use.
		st.expect(st.do("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": tok}), 400, identity.CodeTokenInvalid)

		lr := st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "ADA@example.com", "password": goodPassword})
		st.expect(lr, 200, "")
		if lr.str("token_type") != "Bearer" || lr.body["expires_in"] != float64(900) || lr.body["mfa_required"] != false || len(lr.str("refresh_token")) != 43 {
			t.Fatalf("login body = %s", lr.raw)
		}
		me := st.do("GET", "/api/v1/auth/me", lr.str("access_token"), nil)
		st.expect(me, 200, "")
		if me.str("email") != "ada@example.com" || me.body["email_verified"] != true || me.str("display_name") != "Ada" || me.str("timezone") != "UTC" {
			t.Fatalf("me = %s", me.raw)
		}
		st.expect(st.do("GET", "/api/v1/auth/me", "", nil), 401, identity.CodeTokenMissing)

		up := st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"display_name": "Ada L.", "timezone": "Europe/Paris"})
		st.expect(up, 200, "")
		if up.str("timezone") != "Europe/Paris" || up.str("display_name") != "Ada L." {
			t.Fatalf("patch = %s", up.raw)
		}
		st.expect(st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"timezone": "Mars/Olympus"}), 400, identity.CodeTimezoneInvalid)
		st.expect(st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"email": "new@example.com"}), 400, "validation_failed")
		st.expect(st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"email": "new@example.com", "current_password": "wrong password!"}), 400, identity.CodeCurrentPasswordBad)
		ch := st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"email": "new@example.com", "current_password": goodPassword})
		st.expect(ch, 200, "")
		if ch.body["email_change_pending"] != true || ch.str("email") != "ada@example.com" {
			t.Fatalf("email change = %s", ch.raw)
		}
		// Pending until the link is followed: on GET /me, and on a later
		// update that does not touch the email.
		for range 2 { // read, then from the profile cache
			if me := st.do("GET", "/api/v1/auth/me", lr.str("access_token"), nil); me.body["email_change_pending"] != true || me.str("email") != "ada@example.com" {
				t.Fatalf("me while the change is pending = %s", me.raw)
			}
		}
		if up := st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"display_name": "Ada"}); up.body["email_change_pending"] != true {
			t.Fatalf("a later update while the change is pending = %s", up.raw)
		}
		ct := linkToken(t, st.waitMail("new@example.com", identity.TemplateVerifyEmail))
		st.expect(st.do("POST", "/api/v1/auth/verify-email", "", map[string]any{"token": ct}), 200, "")
		if me := st.do("GET", "/api/v1/auth/me", lr.str("access_token"), nil); me.body["email_change_pending"] != false || me.str("email") != "new@example.com" {
			t.Fatalf("me after the link = %s", me.raw)
		}
		// A change to an address already registered is pending as well:
		// the answer does not tell.
		st.registerVerified("taken@example.com")
		taken := st.do("PATCH", "/api/v1/auth/me", lr.str("access_token"), map[string]any{"email": "taken@example.com", "current_password": goodPassword})
		if taken.body["email_change_pending"] != true {
			t.Fatalf("a change to a registered address = %s", taken.raw)
		}
		if me := st.do("GET", "/api/v1/auth/me", lr.str("access_token"), nil); me.body["email_change_pending"] != true || me.str("email") != "new@example.com" {
			t.Fatalf("me after asking for a registered address = %s", me.raw)
		}
	})
}

func TestPasswordPolicyOverHTTP(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		for _, tc := range []struct{ pw, code string }{
			{"x7#kQ", identity.CodePasswordTooShort},
			{strings.Repeat("x", 129), identity.CodePasswordTooLong},
			{"password1", identity.CodePasswordCommon},
			{"Qwertyuiop", identity.CodePasswordCommon},
			{"p@example.com", identity.CodePasswordCommon},
		} {
			r := st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "p@example.com", "password": tc.pw})
			st.expect(r, 400, tc.code)
			if !strings.Contains(r.raw, `"password"`) || strings.Contains(r.raw, tc.pw) {
				t.Fatalf("policy error must name the field and never echo the password: %s", r.raw)
			}
		}
		// 8 characters after NFKC, counted in characters not bytes.
		st.expect(st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "u@example.com", "password": "ñöçœ∂ƒ©˙"}), 201, "")
	})
}

// TestNoEnumeration: register, forgot and resend answer identically for
// known and unknown addresses (apart from generated IDs and timestamps).
func TestNoEnumeration(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		st.registerVerified("known@example.com")
		shape := func(r resp) string {
			b := maps.Clone(r.body)
			delete(b, "id")
			delete(b, "created_at")
			delete(b, "email")
			keys := slices.Sorted(maps.Keys(b))
			j, _ := json.Marshal(b)
			return fmt.Sprint(r.status, keys, string(j))
		}
		for _, tc := range []struct {
			path string
			body func(email string) map[string]any
		}{
			{"/api/v1/auth/register", func(e string) map[string]any {
				return map[string]any{"email": e, "password": "another good passphrase", "display_name": "X"}
			}},
			{"/api/v1/auth/password/forgot", func(e string) map[string]any { return map[string]any{"email": e} }},
			{"/api/v1/auth/resend-verification", func(e string) map[string]any { return map[string]any{"email": e} }},
		} {
			known := st.do("POST", tc.path, "", tc.body("known@example.com"))
			unknown := st.do("POST", tc.path, "", tc.body(fmt.Sprintf("nobody-%d@example.com", len(tc.path))))
			if shape(known) != shape(unknown) {
				t.Fatalf("%s answers differ:\nknown:   %s\nunknown: %s", tc.path, known.raw, unknown.raw)
			}
		}
		st.waitMail("known@example.com", identity.TemplateRegisterAttempt)
		st.waitMail("known@example.com", identity.TemplatePasswordReset)
		// Login: unknown email and wrong password look the same.
		a := st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "known@example.com", "password": "wrong password!!"})
		b := st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "ghost@example.com", "password": "wrong password!!"})
		st.expect(a, 401, identity.CodeInvalidCredentials)
		st.expect(b, 401, identity.CodeInvalidCredentials)
		if a.str("detail") != b.str("detail") {
			t.Fatalf("login errors differ: %s / %s", a.raw, b.raw)
		}
	})
}

// TestLockoutAndRetryAfter: the lock's answer over HTTP is a 429
// problem with Retry-After.
func TestLockoutAndRetryAfter(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		st.registerVerified("lock@example.com")
		for i := 1; i <= 5; i++ {
			st.expect(st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "lock@example.com", "password": "not the password"}), 401, identity.CodeInvalidCredentials)
		}
		r := st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "lock@example.com", "password": goodPassword})
		st.expect(r, 429, identity.CodeAccountLocked)
		if r.header.Get("Retry-After") != "900" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/problem+json") {
			t.Fatalf("Retry-After %q, content type %q", r.header.Get("Retry-After"), r.header.Get("Content-Type"))
		}
		st.waitMail("lock@example.com", identity.TemplateAccountLocked)
		time.Sleep(15*time.Minute + time.Second)
		access, _ := st.login("lock@example.com", goodPassword, "")
		ev := st.do("GET", "/api/v1/auth/events?limit=50", access, nil)
		st.expect(ev, 200, "")
		types := eventTypes(ev)
		if types[0] != string(identity.EventLoginSucceeded) || !slices.Contains(types, string(identity.EventAccountLocked)) ||
			countOf(types, string(identity.EventLoginFailed)) != 5 {
			t.Fatalf("events = %v", types)
		}
	})
}

func eventTypes(r resp) []string {
	var out []string
	evs, _ := r.body["events"].([]any)
	for _, e := range evs {
		m, _ := e.(map[string]any)
		out = append(out, fmt.Sprint(m["type"]))
	}
	return out
}

func countOf(ss []string, s string) int {
	n := 0
	for _, x := range ss {
		if x == s {
			n++
		}
	}
	return n
}

func TestPerIPRateLimit(t *testing.T) {
	inStack(t, stackSpec{opts: []stackOption{func(c *identity.Config) { c.Limits.RegisterIP = ratelimit.Limit{Max: 2, Window: time.Hour} }}}, func(t *testing.T, st *stack) {
		for i := range 2 {
			st.expect(st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": fmt.Sprintf("r%d@example.com", i), "password": goodPassword}), 201, "")
		}
		r := st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "r9@example.com", "password": goodPassword})
		st.expect(r, 429, identity.CodeTooManyRequests)
		if r.header.Get("Retry-After") != "3600" {
			t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	})
}

// TestRefreshOverHTTP: rotation, the grace replay and reuse detection as
// the client sees them.
func TestRefreshOverHTTP(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		_, r0 := st.registerVerified("rot@example.com")
		first := st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r0})
		st.expect(first, 200, "")
		r1 := first.str("refresh_token")
		if r1 == r0 || r1 == "" || first.str("access_token") == "" || first.body["expires_in"] != float64(900) {
			t.Fatalf("refresh did not rotate the token: %s", first.raw)
		}
		time.Sleep(5 * time.Second)
		replay := st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r0})
		st.expect(replay, 200, "")
		if replay.str("refresh_token") != r1 {
			t.Fatalf("grace replay returned %q; want the current token", replay.str("refresh_token"))
		}
		time.Sleep(11 * time.Second)
		st.expect(st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r0}), 401, identity.CodeRefreshTokenReused)
		st.expect(st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": r1}), 401, identity.CodeSessionRevoked)
		st.expect(st.do("GET", "/api/v1/auth/me", first.str("access_token"), nil), 401, identity.CodeSessionRevoked)
		st.expect(st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": "not-a-token"}), 401, identity.CodeRefreshTokenInvalid)
	})
}

func TestAccessTokenAttacks(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, _ := st.registerVerified("jwt@example.com")
		parts := strings.Split(access, ".")
		seg := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
		kid := st.ring.Signing().ID
		otherAud, _ := jwtauth.New(jwtauth.Config{Issuer: testJWTConfig.Issuer, Audience: "other"}, st.ring)
		var claims map[string]any
		b, _ := base64.RawURLEncoding.DecodeString(parts[1])
		_ = json.Unmarshal(b, &claims)
		sub, _ := uuid.Parse(claims["sub"].(string))
		sid, _ := uuid.Parse(claims["sid"].(string))
		wrongAud, _ := otherAud.Issue(identity.AccessClaims{UserID: sub, SessionID: sid, Role: identity.RoleUser, AAL: 1, IssuedAt: time.Now(), ExpiresAt: time.Now().Add(time.Minute)})
		claims["role"] = "admin"
		for name, tok := range map[string]string{
			"alg none":       seg(map[string]any{"alg": "none", "kid": kid}) + "." + parts[1] + ".",
			"HS256":          seg(map[string]any{"alg": "HS256", "kid": kid}) + "." + parts[1] + "." + parts[2],
			"unknown kid":    seg(map[string]any{"alg": "EdDSA", "kid": "AAAAAAAAAAA"}) + "." + parts[1] + "." + parts[2],
			"tampered":       parts[0] + "." + seg(claims) + "." + parts[2],
			"wrong audience": wrongAud,
			"not a jwt":      "abc",
			"refresh as jwt": "x" + strings.Repeat("A", 42),
		} {
			r := st.do("GET", "/api/v1/auth/me", tok, nil)
			st.expect(r, 401, identity.CodeTokenMalformed)
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("%s: no WWW-Authenticate header", name)
			}
		}
		time.Sleep(15*time.Minute + jwtauth.Leeway + time.Second)
		st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 401, identity.CodeTokenExpired)
	})
}

func TestSessionsListRevokeAndIDOR(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		a1, _ := st.registerVerified("alice@example.com")
		a2, _ := st.login("alice@example.com", goodPassword, "phone/2.0")
		b1, _ := st.registerVerified("bob@example.com")

		list := st.do("GET", "/api/v1/auth/sessions", a1, nil)
		st.expect(list, 200, "")
		sess, _ := list.body["sessions"].([]any)
		if len(sess) != 2 {
			t.Fatalf("alice has %d sessions: %s", len(sess), list.raw)
		}
		var a2ID, a1ID string
		for _, s := range sess {
			m := s.(map[string]any)
			if m["current"] == true {
				a1ID = m["id"].(string)
			} else {
				a2ID = m["id"].(string)
			}
			if m["ip"] == "" || m["user_agent"] == nil {
				t.Fatalf("session lacks ip/user agent: %v", m)
			}
		}
		if a1ID == "" || a2ID == "" {
			t.Fatalf("current flag wrong: %s", list.raw)
		}
		// Bob can neither see nor end Alice's sessions.
		bl := st.do("GET", "/api/v1/auth/sessions", b1, nil)
		if strings.Contains(bl.raw, a1ID) || strings.Contains(bl.raw, a2ID) {
			t.Fatal("Bob sees Alice's sessions")
		}
		st.expect(st.do("DELETE", "/api/v1/auth/sessions/"+a2ID, b1, nil), 404, identity.CodeSessionNotFound)
		st.expect(st.do("GET", "/api/v1/auth/me", a2, nil), 200, "")
		// Alice ends her phone session: its access token stops at once.
		st.expect(st.do("DELETE", "/api/v1/auth/sessions/"+a2ID, a1, nil), 204, "")
		st.expect(st.do("GET", "/api/v1/auth/me", a2, nil), 401, identity.CodeSessionRevoked)
		st.expect(st.do("DELETE", "/api/v1/auth/sessions/"+uuid.NewString(), a1, nil), 404, identity.CodeSessionNotFound)
		st.expect(st.do("DELETE", "/api/v1/auth/sessions/not-a-uuid", a1, nil), 400, "")
		// End all others.
		a3, _ := st.login("alice@example.com", goodPassword, "tablet/1")
		rc := st.do("DELETE", "/api/v1/auth/sessions", a1, nil)
		st.expect(rc, 200, "")
		if rc.body["revoked"] != float64(1) {
			t.Fatalf("revoked = %s", rc.raw)
		}
		st.expect(st.do("GET", "/api/v1/auth/me", a3, nil), 401, identity.CodeSessionRevoked)
		st.expect(st.do("GET", "/api/v1/auth/me", a1, nil), 200, "")
		// Logout ends the current one.
		st.expect(st.do("POST", "/api/v1/auth/logout", a1, nil), 204, "")
		st.expect(st.do("GET", "/api/v1/auth/me", a1, nil), 401, identity.CodeSessionRevoked)
		st.waitMail("alice@example.com", identity.TemplateNewLogin)
	})
}

func TestPasswordForgotResetAndChange(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		old1, _ := st.registerVerified("pw@example.com")
		st.expect(st.do("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "pw@example.com"}), 202, "")
		tok := linkToken(t, st.waitMail("pw@example.com", identity.TemplatePasswordReset))
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": "password"}), 400, identity.CodePasswordCommon)
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": "a brand new passphrase"}), 204, "")
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": tok, "new_password": "yet another passphrase"}), 400, identity.CodeTokenInvalid)
		st.expect(st.do("GET", "/api/v1/auth/me", old1, nil), 401, identity.CodeSessionRevoked)
		st.waitMail("pw@example.com", identity.TemplatePasswordChanged)
		st.expect(st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "pw@example.com", "password": goodPassword}), 401, identity.CodeInvalidCredentials)

		// Change: other sessions end, the current one stays.
		other, _ := st.login("pw@example.com", "a brand new passphrase", "other/1")
		a, _ := st.login("pw@example.com", "a brand new passphrase", "")
		st.expect(st.do("POST", "/api/v1/auth/password/change", a, map[string]any{"current_password": "wrong one here", "new_password": "changed passphrase 3"}), 400, identity.CodeCurrentPasswordBad)
		st.expect(st.do("POST", "/api/v1/auth/password/change", a, map[string]any{"current_password": "a brand new passphrase", "new_password": "changed passphrase 3"}), 204, "")
		st.expect(st.do("GET", "/api/v1/auth/me", other, nil), 401, identity.CodeSessionRevoked)
		st.expect(st.do("GET", "/api/v1/auth/me", a, nil), 200, "")
		st.login("pw@example.com", "changed passphrase 3", "")
	})
}

func TestAdminUsersAndDisable(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		userTok, _ := st.registerVerified("user@example.com")
		if _, err := st.svc.CreateUser(t.Context(), "root@example.com", "operator passphrase 1", identity.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		adminTok, _ := st.login("root@example.com", "operator passphrase 1", "")

		st.expect(st.do("GET", "/api/v1/admin/users", userTok, nil), 403, identity.CodeForbidden)
		st.expect(st.do("GET", "/api/v1/admin/users", "", nil), 401, identity.CodeTokenMissing)
		list := st.do("GET", "/api/v1/admin/users?email=USER@&limit=10", adminTok, nil)
		st.expect(list, 200, "")
		users, _ := list.body["users"].([]any)
		if len(users) != 1 || users[0].(map[string]any)["email"] != "user@example.com" {
			t.Fatalf("search = %s", list.raw)
		}
		uid := users[0].(map[string]any)["id"].(string)
		page := st.do("GET", "/api/v1/admin/users?limit=1", adminTok, nil)
		if page.str("next_after") == "" {
			t.Fatalf("no cursor on a full page: %s", page.raw)
		}
		st.expect(st.do("POST", "/api/v1/admin/users/"+uid+"/disable", userTok, nil), 403, identity.CodeForbidden)
		d := st.do("POST", "/api/v1/admin/users/"+uid+"/disable", adminTok, nil)
		st.expect(d, 200, "")
		if d.body["disabled"] != true {
			t.Fatalf("disable = %s", d.raw)
		}
		st.expect(st.do("GET", "/api/v1/auth/me", userTok, nil), 401, identity.CodeSessionRevoked)
		st.expect(st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "user@example.com", "password": goodPassword}), 403, identity.CodeAccountDisabled)
		ev := st.do("GET", "/api/v1/admin/users/"+uid+"/events", adminTok, nil)
		st.expect(ev, 200, "")
		if types := eventTypes(ev); types[0] != string(identity.EventUserDisabled) {
			t.Fatalf("admin view of events = %v", types)
		}

		// Demoting an admin ends their sessions, so the admin claim stops working.
		if _, err := st.svc.SetRole(t.Context(), "root@example.com", identity.RoleUser); err != nil {
			t.Fatal(err)
		}
		st.expect(st.do("GET", "/api/v1/admin/users", adminTok, nil), 401, identity.CodeSessionRevoked)
	})
}

func TestJWKSVerifiesIssuedTokens(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, _ := st.registerVerified("jwks@example.com")
		r := st.do("GET", "/.well-known/jwks.json", "", nil)
		st.expect(r, 200, "")
		keys := r.body["keys"].([]any)
		k := keys[0].(map[string]any)
		if k["kty"] != "OKP" || k["crv"] != "Ed25519" || k["alg"] != "EdDSA" || k["kid"] != st.ring.Signing().ID {
			t.Fatalf("jwks = %s", r.raw)
		}
		hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
		if !strings.Contains(string(hdr), `"kid":"`+st.ring.Signing().ID+`"`) {
			t.Fatalf("token header %s does not name the published key", hdr)
		}
	})
}

// TestNoSecretsInLogsOrBodies drives every flow and then scans the debug
// logs and every response body for passwords, refresh and email tokens,
// and password hashes.
func TestNoSecretsInLogsOrBodies(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		access, refresh := st.registerVerified("leak@example.com")
		st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "leak@example.com", "password": "Wr0ng-password-XYZ"})
		st.do("POST", "/api/v1/auth/register", "", map[string]any{"email": "leak@example.com", "password": goodPassword + "!"})
		rr := st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
		st.do("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "leak@example.com"})
		reset := linkToken(t, st.waitMail("leak@example.com", identity.TemplatePasswordReset))
		st.do("POST", "/api/v1/auth/password/reset", "", map[string]any{"token": reset, "new_password": "Fresh-Secret-Passphrase-42"})
		st.do("GET", "/api/v1/auth/me", access+"tampered", nil)
		// Bodies the spec validator refuses (an unknown property, a value
		// too long) carry secrets too: its error quotes the body.
		st.do("POST", "/api/v1/auth/login", "", map[string]any{"email": "leak@example.com", "password": "Refused-Body-Secret-1", "remember_me": true})
		st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": rr.str("refresh_token") + strings.Repeat("x", 200)})
		u, err := sqlstore.NewUsers(st.db).GetByEmail(t.Context(), "leak@example.com")
		if err != nil {
			t.Fatal(err)
		}
		logs := st.logs.String()
		if !strings.Contains(logs, "request") {
			t.Fatalf("no logs captured: the scan would prove nothing")
		}
		secrets := map[string]string{
			"password":         goodPassword,
			"wrong password":   "Wr0ng-password-XYZ",
			"new password":     "Fresh-Secret-Passphrase-42",
			"refresh token":    refresh,
			"reset token":      reset,
			"password hash":    u.PasswordHash,
			"hash salt":        strings.Split(u.PasswordHash, "$")[4],
			"rotated refresh":  rr.str("refresh_token"),
			"access token sig": strings.Split(access, ".")[2],
			"refused body":     "Refused-Body-Secret-1",
		}
		for name, s := range secrets {
			if s == "" {
				t.Fatalf("%s is empty: the scan would prove nothing", name)
			}
			if strings.Contains(logs, s) {
				t.Errorf("logs contain the %s", name)
			}
		}
		bodies := st.bodies.String()
		for _, name := range []string{"password", "wrong password", "new password", "reset token", "password hash", "hash salt"} {
			if strings.Contains(bodies, secrets[name]) {
				t.Errorf("a response body contains the %s", name)
			}
		}
	})
}

// TestMeProfileCacheIsWired: the stack's users and unit of work are
// wrapped by the profile invalidation, so a write through the API is seen
// by the next GET /me, and disabling refuses the cached caller at once
// (the cache's rules are tested in core/identity).
func TestMeProfileCacheIsWired(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		tok, _ := st.registerVerified("cached@example.com")
		me := st.do("GET", "/api/v1/auth/me", tok, nil)
		st.expect(me, 200, "")
		uid := uuid.MustParse(me.str("id"))
		if _, found, err := st.cache.Get(t.Context(), "userprof:"+uid.String()); err != nil || !found {
			t.Fatalf("profile not cached after GET /me: %v", err)
		}
		st.expect(st.do("PATCH", "/api/v1/auth/me", tok, map[string]any{"display_name": "Renamed", "timezone": "Europe/Paris"}), 200, "")
		if got := st.do("GET", "/api/v1/auth/me", tok, nil); got.str("display_name") != "Renamed" || got.str("timezone") != "Europe/Paris" {
			t.Fatalf("me after PATCH = %s", got.raw)
		}
		if _, err := st.svc.CreateUser(t.Context(), "root@example.com", "operator passphrase 1", identity.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		adminTok, _ := st.login("root@example.com", "operator passphrase 1", "")
		st.expect(st.do("POST", "/api/v1/admin/users/"+uid.String()+"/disable", adminTok, nil), 200, "")
		st.expect(st.do("GET", "/api/v1/auth/me", tok, nil), 401, identity.CodeSessionRevoked)
	})
}
