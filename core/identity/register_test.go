package identity_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/ratelimit"
)

func TestRegisterVerifyLoginMe(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u, err := e.Svc.Register(ctx, identity.RegisterInput{Email: " ada@example.com ", Password: goodPassword, DisplayName: " Ada "})
		if err != nil {
			t.Fatal(err)
		}
		if u.Email != "ada@example.com" || u.EmailVerified() || u.Role != identity.RoleUser || u.DisplayName != "Ada" || u.PasswordHash != "" {
			t.Fatalf("registered = %+v", u)
		}
		verify := e.Mailer.Last(t, "ada@example.com", identity.TemplateVerifyEmail)
		if link, _ := verify.Data["Link"].(string); !strings.HasPrefix(link, identitytest.PublicURL+"/verify-email?token=") ||
			verify.Data["EmailChange"] != false || verify.Data["ExpiresInHours"] != 24 {
			t.Fatalf("verification mail = %+v", verify.Data)
		}
		tok := e.Mailer.LinkToken(t, "ada@example.com", identity.TemplateVerifyEmail)
		got, err := e.Svc.VerifyEmail(ctx, tok)
		if err != nil || !got.EmailVerified() {
			t.Fatalf("VerifyEmail = %+v, %v", got, err)
		}
		e.Mailer.Last(t, "ada@example.com", identity.TemplateWelcome)
		// Single use.
		_, err = e.Svc.VerifyEmail(ctx, tok)
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		for _, junk := range []string{"", "not-a-token", strings.Repeat("A", 43)} {
			_, err = e.Svc.VerifyEmail(ctx, junk)
			wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		}

		pair, err := e.Svc.Login(ctx, "ADA@example.com", goodPassword)
		if err != nil || pair.Tokens == nil || pair.MFA != nil {
			t.Fatalf("Login = %+v, %v", pair, err)
		}
		if pair.Tokens.ExpiresIn != 15*time.Minute || len(pair.Tokens.RefreshToken) != 43 || pair.Tokens.User.ID != u.ID {
			t.Fatalf("tokens = %+v", pair.Tokens)
		}
		p := e.Principal(t, pair.Tokens.AccessToken)
		if p.UserID != u.ID || p.SessionID != pair.Tokens.SessionID || p.AAL != 1 || len(p.AMR) != 1 || p.AMR[0] != "pwd" || p.IsAdmin() {
			t.Fatalf("principal = %+v", p)
		}
		me, err := e.Svc.Me(ctx, p)
		if err != nil || me.Email != "ada@example.com" || !me.EmailVerified() || me.DisplayName != "Ada" || me.Timezone != "" || me.PasswordHash != "" {
			t.Fatalf("Me = %+v, %v", me, err)
		}
		_, err = e.Svc.Authenticate(ctx, "")
		wantErr(t, err, apperr.Unauthenticated, identity.CodeTokenMissing)
		_, err = e.Svc.Authenticate(ctx, "forged")
		wantErr(t, err, apperr.Unauthenticated, identity.CodeTokenMalformed)
		if types := e.EventTypes(t, p); len(types) != 3 || types[0] != identity.EventLoginSucceeded || types[1] != identity.EventEmailVerified || types[2] != identity.EventRegistered {
			t.Fatalf("events = %v", types)
		}
	})
}

func TestRegisterRefusesBadInput(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		for _, tc := range []struct {
			in   identity.RegisterInput
			code string
		}{
			{identity.RegisterInput{Email: "not an email", Password: goodPassword}, identity.CodeEmailInvalid},
			{identity.RegisterInput{Email: "a@example.com", Password: goodPassword, DisplayName: "tab\tname"}, identity.CodeDisplayNameInvalid},
			{identity.RegisterInput{Email: "a@example.com", Password: goodPassword, DisplayName: strings.Repeat("n", 101)}, identity.CodeDisplayNameInvalid},
			{identity.RegisterInput{Email: "a@example.com", Password: "short"}, identity.CodePasswordTooShort},
			{identity.RegisterInput{Email: "a@example.com", Password: "a@example.com"}, identity.CodePasswordCommon},
		} {
			_, err := e.Svc.Register(ctx, tc.in)
			wantErr(t, err, apperr.Invalid, tc.code)
		}
		if n := len(e.Mailer.All()); n != 0 {
			t.Fatalf("%d mails for refused registrations", n)
		}
	})
}

// TestVerificationLinkRules: a link expires after VerifyTTL, a newer one
// supersedes an older one, resend mails only unverified accounts, and a
// link stops working once the address it was sent to is no longer the
// account's.
func TestVerificationLinkRules(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Register(t, "slow@example.com", goodPassword)
		first := e.Mailer.LinkToken(t, "slow@example.com", identity.TemplateVerifyEmail)
		if err := e.Svc.ResendVerification(ctx, "slow@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		second := e.Mailer.LinkToken(t, "slow@example.com", identity.TemplateVerifyEmail)
		if first == second {
			t.Fatal("resend mailed the same link")
		}
		_, err := e.Svc.VerifyEmail(ctx, first)
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid) // superseded
		time.Sleep(e.Config.VerifyTTL)
		_, err = e.Svc.VerifyEmail(ctx, second)
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid) // expired

		e.Verified(t, "done@example.com", goodPassword)
		before := e.Mailer.Count(identity.TemplateVerifyEmail)
		for _, addr := range []string{"done@example.com", "nobody@example.com"} {
			if err := e.Svc.ResendVerification(ctx, addr); err != nil {
				t.Fatalf("resend to %s: %v", addr, err)
			}
		}
		synctest.Wait()
		if n := e.Mailer.Count(identity.TemplateVerifyEmail); n != before {
			t.Fatalf("resend mailed a verified or unknown address (%d mails, want %d)", n, before)
		}
		err = e.Svc.ResendVerification(ctx, "bad address")
		wantErr(t, err, apperr.Invalid, identity.CodeEmailInvalid)

		// A verification link of the old address is void after the
		// address changed behind it.
		u := e.Register(t, "moved@example.com", goodPassword)
		stale := e.Mailer.LinkToken(t, "moved@example.com", identity.TemplateVerifyEmail)
		if err := e.Stores.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.Email = "elsewhere@example.com"; return c, nil }); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.VerifyEmail(ctx, stale)
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
	})
}

// TestNoEnumeration: register, forgot and resend answer the same for known
// and unknown addresses, and login's refusal does not tell an unknown
// email from a wrong password.
func TestNoEnumeration(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		known := e.Verified(t, "known@example.com", goodPassword)
		shape := func(u *identity.User) string {
			return fmt.Sprint(u.DisplayName, u.Role, u.EmailVerified(), u.Disabled(), u.MFAEnabled, u.Timezone, u.PasswordHash, u.CreatedAt.Equal(u.UpdatedAt))
		}
		a, errA := e.Svc.Register(ctx, identity.RegisterInput{Email: "known@example.com", Password: "another good passphrase", DisplayName: "X"})
		b, errB := e.Svc.Register(ctx, identity.RegisterInput{Email: "nobody@example.com", Password: "another good passphrase", DisplayName: "X"})
		if errA != nil || errB != nil || shape(a) != shape(b) || a.ID == known.ID || a.Email != "known@example.com" {
			t.Fatalf("register answers differ: %+v (%v) / %+v (%v)", a, errA, b, errB)
		}
		if _, err := e.Stores.Users.Get(ctx, a.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatal("the answer to a taken address names a stored user")
		}
		attempt := e.Mailer.Last(t, "known@example.com", identity.TemplateRegisterAttempt)
		if attempt.Data["ResetLink"] != identitytest.PublicURL+"/forgot-password" || attempt.Data["IP"] != "203.0.113.7" {
			t.Fatalf("register-attempt mail = %+v", attempt.Data)
		}
		for _, addr := range []string{"known@example.com", "nobody-else@example.com"} {
			if err := e.Svc.ForgotPassword(ctx, addr); err != nil {
				t.Fatalf("forgot %s: %v", addr, err)
			}
			if err := e.Svc.ResendVerification(ctx, addr); err != nil {
				t.Fatalf("resend %s: %v", addr, err)
			}
		}
		synctest.Wait()
		e.Mailer.Last(t, "known@example.com", identity.TemplatePasswordReset)
		if len(e.Mailer.To("nobody-else@example.com", identity.TemplatePasswordReset)) != 0 {
			t.Fatal("a reset mail went to an unknown address")
		}
		_, wrong := e.Svc.Login(ctx, "known@example.com", "wrong password!!")
		_, ghost := e.Svc.Login(ctx, "ghost@example.com", "wrong password!!")
		wantErr(t, wrong, apperr.Unauthenticated, identity.CodeInvalidCredentials)
		wantErr(t, ghost, apperr.Unauthenticated, identity.CodeInvalidCredentials)
		if wrong.Error() != ghost.Error() {
			t.Fatalf("login errors differ: %v / %v", wrong, ghost)
		}
	})
}

// TestRegisterAttemptMailsAreBounded: repeated registrations of a taken
// address mail its owner at most EmailPerAddr times an hour, silently.
func TestRegisterAttemptMailsAreBounded(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "owner@example.com", goodPassword)
		for i := range 5 {
			c := identitytest.Ctx(fmt.Sprintf("198.51.100.%d", i), "ua")
			if _, err := e.Svc.Register(c, identity.RegisterInput{Email: "owner@example.com", Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(e.Mailer.To("owner@example.com", identity.TemplateRegisterAttempt)); n != e.Config.Limits.EmailPerAddr.Max {
			t.Fatalf("%d register-attempt mails; want %d", n, e.Config.Limits.EmailPerAddr.Max)
		}
	})
}

func TestPerIPRateLimit(t *testing.T) {
	limit := func(c *identity.Config) { c.Limits.RegisterIP = ratelimit.Limit{Max: 2, Window: time.Hour} }
	inEnv(t, identitytest.Options{Config: limit}, func(t *testing.T, e *identitytest.Env) {
		// Two addresses of one IPv6 /64 share the budget.
		for i, ip := range []string{"2001:db8:1:2::1", "2001:db8:1:2::ffff"} {
			if _, err := e.Svc.Register(identitytest.Ctx(ip, "ua"), identity.RegisterInput{Email: fmt.Sprintf("r%d@example.com", i), Password: goodPassword}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := e.Svc.Register(identitytest.Ctx("2001:db8:1:2::abcd", "ua"), identity.RegisterInput{Email: "r9@example.com", Password: goodPassword})
		wantErr(t, err, apperr.RateLimited, identity.CodeTooManyRequests)
		if d := retryAfter(err); d != time.Hour {
			t.Fatalf("Retry-After = %s; want 1h", d)
		}
		// Another network has its own.
		if _, err := e.Svc.Register(identitytest.Ctx("2001:db8:1:3::1", "ua"), identity.RegisterInput{Email: "r3@example.com", Password: goodPassword}); err != nil {
			t.Fatalf("another /64: %v", err)
		}
		time.Sleep(time.Hour)
		if _, err := e.Svc.Register(identitytest.Ctx("2001:db8:1:2::1", "ua"), identity.RegisterInput{Email: "r4@example.com", Password: goodPassword}); err != nil {
			t.Fatalf("after the window: %v", err)
		}
	})
}

// TestUnverifiedAccountMaySignIn is the decided policy (docs/identity.md):
// an account whose email is not verified yet signs in, refreshes and reads
// its profile, which says it is unverified; verifying changes that.
func TestUnverifiedAccountMaySignIn(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Register(t, "fresh@example.com", goodPassword)
		pair, p := session(t, e, ctx, "fresh@example.com", goodPassword)
		u, err := e.Svc.Me(ctx, p)
		if err != nil || u.EmailVerified() {
			t.Fatalf("me = %+v, %v; want an unverified profile", u, err)
		}
		if _, err := e.Svc.Refresh(ctx, pair.RefreshToken); err != nil {
			t.Fatalf("refresh of an unverified account: %v", err)
		}
		synctest.Wait()
		tok := e.Mailer.LinkToken(t, "fresh@example.com", identity.TemplateVerifyEmail)
		if _, err := e.Svc.VerifyEmail(ctx, tok); err != nil {
			t.Fatal(err)
		}
		if u, _ := e.Svc.Me(ctx, e.Principal(t, pair.AccessToken)); !u.EmailVerified() { // the next request
			t.Fatalf("still unverified after the link: %+v", u)
		}
	})
}
