package identity_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// TestLockoutAndRetryAfter: five wrong passwords lock the account for 15
// minutes, for registered and unknown emails alike; the lock starts on
// the fifth failure, is mailed once, and ends on its own.
func TestLockoutAndRetryAfter(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "lock@example.com", goodPassword)
		for _, email := range []string{"lock@example.com", "ghost@example.com"} {
			for range 5 {
				_, err := e.Svc.Login(ctx, email, "not the password")
				wantErr(t, err, apperr.Unauthenticated, identity.CodeInvalidCredentials)
			}
			_, err := e.Svc.Login(ctx, email, goodPassword)
			wantErr(t, err, apperr.RateLimited, identity.CodeAccountLocked)
			if d := retryAfter(err); d != 15*time.Minute {
				t.Fatalf("%s: Retry-After %s; want 15m", email, d)
			}
		}
		locked := e.Mailer.Last(t, "lock@example.com", identity.TemplateAccountLocked)
		if locked.Data["Minutes"] != 15 || locked.Data["ResetLink"] != identitytest.PublicURL+"/forgot-password" {
			t.Fatalf("lock mail = %+v", locked.Data)
		}
		if n := e.Mailer.Count(identity.TemplateAccountLocked); n != 1 {
			t.Fatalf("%d lock mails; want one, to the registered address", n)
		}
		time.Sleep(15*time.Minute + time.Second)
		_, p := session(t, e, ctx, "lock@example.com", goodPassword)
		types := e.EventTypes(t, p)
		if types[0] != identity.EventLoginSucceeded || countOf(types, identity.EventAccountLocked) != 1 || countOf(types, identity.EventLoginFailed) != 5 {
			t.Fatalf("events = %v", types)
		}
	})
}

// TestLoginSuccessResetsTheCount: the lockout counts consecutive failures,
// not failures in a window around a success.
func TestLoginSuccessResetsTheCount(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "forgetful@example.com", goodPassword)
		for round := range 2 {
			for range 4 {
				_, err := e.Svc.Login(ctx, "forgetful@example.com", "not the password")
				wantErr(t, err, apperr.Unauthenticated, identity.CodeInvalidCredentials)
			}
			if _, err := e.Svc.Login(ctx, "forgetful@example.com", goodPassword); err != nil {
				t.Fatalf("round %d: the right password after 4 failures: %v", round, err)
			}
		}
	})
}

// TestLockoutHoldsAgainstAParallelBurst: attempts are counted before the
// password is checked, so a burst of parallel guesses gets at most the
// lockout's budget of password checks, and the account is locked after it.
func TestLockoutHoldsAgainstAParallelBurst(t *testing.T) {
	// A password check of a few milliseconds, so that the guesses overlap.
	slow := identity.TestParams
	slow.MemoryKiB, slow.Time = 4096, 2
	inEnv(t, identitytest.Options{Hashing: slow}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "burst@example.com", goodPassword)
		const n = 30
		codes := make(chan string, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				_, err := e.Svc.Login(ctx, "burst@example.com", "a wrong guess here")
				codes <- apperr.CodeOf(err)
			})
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != identity.CodeInvalidCredentials && c != identity.CodeAccountLocked {
				t.Fatalf("unexpected answer %q", c)
			}
		}
		_, err := e.Svc.Login(ctx, "burst@example.com", goodPassword)
		wantErr(t, err, apperr.RateLimited, identity.CodeAccountLocked)

		// Every password check of a failed guess is recorded: at most the
		// lockout's budget of 5 may have happened.
		time.Sleep(15*time.Minute + time.Second)
		_, p := session(t, e, ctx, "burst@example.com", goodPassword)
		if checked := countOf(e.EventTypes(t, p), identity.EventLoginFailed); checked == 0 || checked > 5 {
			t.Fatalf("%d of %d parallel guesses had their password checked; want 1 to 5", checked, n)
		}
	})
}

func TestDisabledAccountCannotLogIn(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "off@example.com", goodPassword)
		now := time.Now()
		if err := e.Stores.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.DisabledAt = &now; return c, nil }); err != nil {
			t.Fatal(err)
		}
		_, err := e.Svc.Login(ctx, "off@example.com", goodPassword)
		wantErr(t, err, apperr.Forbidden, identity.CodeAccountDisabled)
		// A wrong password still answers "incorrect": the state of the
		// account shows only to someone who knows its password.
		_, err = e.Svc.Login(ctx, "off@example.com", "not the password")
		wantErr(t, err, apperr.Unauthenticated, identity.CodeInvalidCredentials)
	})
}

// TestLoginRehashesWeakerHashes: a hash under older (weaker) parameters
// is replaced at the next successful login.
func TestLoginRehashesWeakerHashes(t *testing.T) {
	stronger := identity.TestParams
	stronger.Time = 2
	inEnv(t, identitytest.Options{Hashing: stronger}, func(t *testing.T, e *identitytest.Env) {
		weak, err := identity.NewPasswordHasher(identity.TestParams, 1)
		if err != nil {
			t.Fatal(err)
		}
		old, err := weak.Hash(ctx, goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		u := &identity.User{Email: "old@example.com", PasswordHash: old}
		if err := e.Stores.Users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		e.Login(t, ctx, "old@example.com", goodPassword)
		got, _ := e.Stores.Users.Get(ctx, u.ID)
		if got.PasswordHash == old || !strings.Contains(got.PasswordHash, ",t=2,") {
			t.Fatalf("hash after login = %s; want it re-hashed at t=2", got.PasswordHash)
		}
		e.Login(t, ctx, "old@example.com", goodPassword) // and the new hash verifies
	})
}

// TestLoginWithMFA: a user with MFA on gets the second factor's challenge
// instead of tokens; without a second factor configured, such a user
// cannot sign in (fail closed).
func TestLoginWithMFA(t *testing.T) {
	enable := func(t *testing.T, e *identitytest.Env, email string) {
		t.Helper()
		u := e.Verified(t, email, goodPassword)
		if err := e.Stores.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.MFAEnabled = true; return c, nil }); err != nil {
			t.Fatal(err)
		}
	}
	inEnv(t, identitytest.Options{MFA: true}, func(t *testing.T, e *identitytest.Env) {
		enable(t, e, "two@example.com")
		r, err := e.Svc.Login(identitytest.Ctx("198.51.100.4", "phone/1"), "two@example.com", goodPassword)
		if err != nil || r.Tokens != nil || r.MFA == nil || r.MFA.Token == "" || !slices.Equal(r.MFA.Methods, []string{"totp", "backup_code"}) {
			t.Fatalf("Login with MFA on = %+v, %v", r, err)
		}
		begun, _ := e.SecondFactor.Calls()
		if len(begun) != 1 || begun[0].IP != "198.51.100.4" || begun[0].UserAgent != "phone/1" {
			t.Fatalf("BeginLogin saw %+v", begun)
		}
		// The second factor opens the session at aal 2.
		u, _ := e.Stores.Users.GetByEmail(ctx, "two@example.com")
		pair, err := e.Svc.IssueSession(ctx, u, 2, []string{"pwd", "totp"})
		if err != nil {
			t.Fatal(err)
		}
		if p := e.Principal(t, pair.AccessToken); p.AAL != 2 || !slices.Equal(p.AMR, []string{"pwd", "totp"}) {
			t.Fatalf("principal after the second factor = %+v", p)
		}
	})
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		enable(t, e, "two@example.com")
		_, err := e.Svc.Login(ctx, "two@example.com", goodPassword)
		wantErr(t, err, apperr.Unavailable, identity.CodeMFAUnavailable)
	})
}

// TestNewLoginNotice: a login from an IP and user agent that none of the
// user's active sessions has is mailed; a familiar one is not.
func TestNewLoginNotice(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "notice@example.com", goodPassword)
		home := identitytest.Ctx("203.0.113.10", "laptop/1")
		e.Login(t, home, "notice@example.com", goodPassword)
		e.Login(t, home, "notice@example.com", goodPassword)
		e.Login(t, identitytest.Ctx("203.0.113.10", "phone/2"), "notice@example.com", goodPassword)
		mails := e.Mailer.To("notice@example.com", identity.TemplateNewLogin)
		if len(mails) != 2 || mails[0].Data["UserAgent"] != "laptop/1" || mails[1].Data["UserAgent"] != "phone/2" || mails[1].Data["IP"] != "203.0.113.10" {
			t.Fatalf("new-login mails = %+v", mails)
		}
	})
	off := func(c *identity.Config) { c.NotifyNewLogin = false }
	inEnv(t, identitytest.Options{Config: off}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "quiet@example.com", goodPassword)
		e.Login(t, ctx, "quiet@example.com", goodPassword)
		if n := e.Mailer.Count(identity.TemplateNewLogin); n != 0 {
			t.Fatalf("%d new-login mails with NotifyNewLogin off", n)
		}
	})
}

// TestLoginFailsClosedWhenTheLimiterIsDown: without its rate limiter the
// service refuses logins rather than let guesses through unbounded.
func TestLoginFailsClosedWhenTheLimiterIsDown(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "limited@example.com", goodPassword)
		e.Limiter.Fail(errors.New("redis: connection refused"))
		_, err := e.Svc.Login(ctx, "limited@example.com", goodPassword)
		if !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("login with the limiter down = %v; want Unavailable", err)
		}
		// Silent limits (mails to one address) refuse quietly.
		if err := e.Svc.ForgotPassword(ctx, "limited@example.com"); !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("forgot with the limiter down = %v; want Unavailable", err)
		}
	})
}

// TestMailFailureIsLoggedNotReturned: the action a mail reports already
// happened, so a mailer failure does not fail it.
func TestMailFailureIsLoggedNotReturned(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Mailer.Fail(errors.New("queue down"))
		if _, err := e.Svc.Register(ctx, identity.RegisterInput{Email: "nomail@example.com", Password: goodPassword}); err != nil {
			t.Fatalf("register with the mailer down: %v", err)
		}
		if !strings.Contains(e.Logs.String(), "identity: email not enqueued") {
			t.Fatalf("no log line for the lost mail:\n%s", e.Logs)
		}
	})
}
