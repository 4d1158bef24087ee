package mfa_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"errors"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/memstore"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
	"github.com/tradesense/tradesense/core/ratelimit"
)

var ctxUA = identity.WithClientMeta(context.Background(), identity.ClientMeta{IP: "203.0.113.7", UserAgent: "test-agent/1"})

func code(t testing.TB, secret []byte, at time.Time) string {
	t.Helper()
	p := mfa.DefaultTOTP()
	c, err := p.Code(secret, p.Step(at))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func wantCode(t testing.TB, err error, kind apperr.Kind, c string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != kind || e.Code != c {
		t.Fatalf("err = %v; want %s %s", err, kind, c)
	}
}

// enrolled returns a user with MFA on, its raw secret and backup codes;
// time has moved past the enrolment step.
func enrolled(t testing.TB, e *mfatest.Env, email string) (*identity.User, []byte, []string) {
	t.Helper()
	u := e.NewUser(t, email, "correct horse battery")
	en, err := e.Svc.BeginEnrolment(ctxUA, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil {
		t.Fatal(err)
	}
	codes, err := e.Svc.ConfirmEnrolment(ctxUA, u.ID, code(t, secret, time.Now()))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Minute)
	u, _ = e.Users.Get(context.Background(), u.ID)
	return u, secret, codes
}

func login(t testing.TB, e *mfatest.Env, u *identity.User) string {
	t.Helper()
	ch, err := e.Svc.BeginLogin(ctxUA, u, identity.ClientMetaFrom(ctxUA))
	if err != nil {
		t.Fatal(err)
	}
	return ch.Token
}

func TestEnrolmentAndLogin(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u := e.NewUser(t, "ada@example.com", "correct horse battery")
		if st, err := e.Svc.Status(ctxUA, u.ID); err != nil || st.Enabled {
			t.Fatalf("Status before = %+v, %v", st, err)
		}
		if _, err := e.Svc.ConfirmEnrolment(ctxUA, u.ID, "123456"); err == nil {
			t.Fatal("verify without enable succeeded")
		} else {
			wantCode(t, err, apperr.Invalid, mfa.CodeSetupExpired)
		}
		en, err := e.Svc.BeginEnrolment(ctxUA, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
		if err != nil || len(secret) < 20 {
			t.Fatalf("secret %q: %d bytes, %v", en.Secret, len(secret), err)
		}
		uri, err := url.Parse(en.OTPAuthURL)
		if err != nil || uri.Scheme != "otpauth" || uri.Host != "totp" || uri.Query().Get("secret") != en.Secret ||
			uri.Query().Get("issuer") != "TradeSense" || !strings.Contains(uri.Path, "ada@example.com") {
			t.Fatalf("otpauth URL = %s (%v)", en.OTPAuthURL, err)
		}
		if !bytes.HasPrefix(en.QRCodePNG, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatal("QR code is not a PNG")
		}
		// The pending setup holds no plaintext secret.
		for _, v := range e.Pending.Values() {
			if bytes.Contains(v, secret) || bytes.Contains(v, []byte(en.Secret)) {
				t.Fatal("the short-lived store holds the plaintext secret")
			}
		}
		if _, err := e.Svc.ConfirmEnrolment(ctxUA, u.ID, "000000"+""); err == nil {
			t.Fatal("a wrong code confirmed enrolment")
		}
		codes, err := e.Svc.ConfirmEnrolment(ctxUA, u.ID, code(t, secret, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if len(codes) != 10 {
			t.Fatalf("%d backup codes", len(codes))
		}
		seen := map[string]bool{}
		for _, c := range codes {
			if len(c) != 19 || c[4] != '-' || c[9] != '-' || c[14] != '-' || seen[c] {
				t.Fatalf("backup code %q is malformed or repeated", c)
			}
			seen[c] = true
		}
		st, err := e.Svc.Status(ctxUA, u.ID)
		if err != nil || !st.Enabled || st.BackupCodesRemaining != 10 || !st.EnabledAt.Equal(time.Now()) {
			t.Fatalf("Status = %+v, %v", st, err)
		}
		if u2, _ := e.Users.Get(ctxUA, u.ID); !u2.MFAEnabled {
			t.Fatal("user not flagged MFAEnabled")
		}
		if _, err := e.Svc.BeginEnrolment(ctxUA, u.ID); err == nil {
			t.Fatal("enable twice succeeded")
		} else {
			wantCode(t, err, apperr.Invalid, mfa.CodeAlreadyEnabled)
		}
		if e.EventCount(t, mfa.EventEnrolled) != 1 || e.EventCount(t, mfa.EventEnrolmentFailed) != 1 || e.Mailer.Count(mfa.TemplateEnabled) != 1 {
			t.Fatalf("events/mails: enrolled %d, failed %d, mails %d", e.EventCount(t, mfa.EventEnrolled), e.EventCount(t, mfa.EventEnrolmentFailed), e.Mailer.Count(mfa.TemplateEnabled))
		}

		// The code that confirmed enrolment is burnt.
		u, _ = e.Users.Get(ctxUA, u.ID)
		tok := login(t, e, u)
		_, err = e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: code(t, secret, time.Now())})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeReused)

		time.Sleep(30 * time.Second)
		out, err := e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: code(t, secret, time.Now())})
		if err != nil {
			t.Fatal(err)
		}
		if out.User.ID != u.ID || strings.Join(out.AMR, ",") != "pwd,totp" {
			t.Fatalf("outcome = %+v", out)
		}
		// The token is spent.
		time.Sleep(30 * time.Second)
		_, err = e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: code(t, secret, time.Now())})
		wantCode(t, err, apperr.Unauthenticated, mfa.CodeTokenInvalid)
		if e.EventCount(t, mfa.EventChallengePassed) != 1 || e.EventCount(t, mfa.EventReplayRefused) != 1 {
			t.Fatalf("passed %d, replay %d", e.EventCount(t, mfa.EventChallengePassed), e.EventCount(t, mfa.EventReplayRefused))
		}
	})
}

// TestServiceWindowEdges drives the ±1 step window through the service
// in a synctest bubble: each case is a fresh user so replay protection
// does not interfere.
func TestServiceWindowEdges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			offset time.Duration
			ok     bool
		}{{-60 * time.Second, false}, {-30 * time.Second, true}, {30 * time.Second, true}, {60 * time.Second, false}} {
			e := mfatest.NewEnv(t, mfatest.Options{})
			u, secret, _ := enrolled(t, e, "edge@example.com")
			time.Sleep(10 * time.Second) // mid-step: 00:02:10 in the bubble
			_, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, time.Now().Add(tc.offset))})
			if tc.ok && err != nil {
				t.Errorf("offset %v: %v; want accepted", tc.offset, err)
			}
			if !tc.ok && apperrCode(err) != mfa.CodeCodeInvalid {
				t.Errorf("offset %v: %v; want mfa_code_invalid", tc.offset, err)
			}
		}
	})
}

func apperrCode(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}

func TestReplaySequential(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, _ := enrolled(t, e, "replay@example.com")
		now := time.Now()
		c := code(t, secret, now)
		if _, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: c}); err != nil {
			t.Fatal(err)
		}
		_, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: c})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeReused)
		// An older code still inside the window is refused too.
		_, err = e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, now.Add(-30*time.Second))})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeReused)
		// The next step's code works.
		if _, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, now.Add(30*time.Second))}); err != nil {
			t.Fatalf("next step's code: %v", err)
		}
		if n := e.EventCount(t, mfa.EventReplayRefused); n != 2 {
			t.Fatalf("%d mfa_replay_refused events; want 2", n)
		}
	})
}

// RunConcurrentReplay checks that of n concurrent logins with one code
// exactly one passes; exported to the SQL tests through mfatest would
// duplicate the env, so the SQL adapter has its own copy.
func TestReplayConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, _ := enrolled(t, e, "race@example.com")
		for round := range 3 {
			c := code(t, secret, time.Now())
			toks := make([]string, 8)
			for i := range toks {
				toks[i] = login(t, e, u)
			}
			var wins, reused atomic.Int32
			var wg sync.WaitGroup
			for _, tok := range toks {
				wg.Go(func() {
					_, err := e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: c})
					switch apperrCode(err) {
					case "":
						if err == nil {
							wins.Add(1)
						}
					case mfa.CodeCodeReused, mfa.CodeLocked:
						reused.Add(1)
					default:
						t.Errorf("CompleteLogin: %v", err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("round %d: %d logins passed with one code; want exactly 1", round, wins.Load())
			}
			_ = e.Limiter.Reset(ctxUA, "mfa:acct:"+u.ID.String())
			time.Sleep(30 * time.Second)
		}
	})
}

func TestBackupCodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, codes := enrolled(t, e, "backup@example.com")
		variants := func(c string, i int) string {
			switch i % 4 {
			case 0:
				return c
			case 1:
				return strings.ToUpper(c)
			case 2:
				return strings.ReplaceAll(c, "-", "")
			}
			return " " + strings.ReplaceAll(strings.ToUpper(c), "-", " ") + " "
		}
		for i, c := range codes {
			out, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: variants(c, i)})
			if err != nil {
				t.Fatalf("backup code #%d (%s form): %v", i, []string{"as shown", "upper", "no dashes", "spaces"}[i%4], err)
			}
			if out.Verified.BackupCodesRemaining != 9-i || strings.Join(out.AMR, ",") != "pwd,backup_code" {
				t.Fatalf("#%d: remaining %d, amr %v", i, out.Verified.BackupCodesRemaining, out.AMR)
			}
			if i == 3 { // each works once
				_, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: c})
				wantCode(t, err, apperr.Invalid, mfa.CodeCodeInvalid)
				_ = e.Limiter.Reset(ctxUA, "mfa:acct:"+u.ID.String())
			}
		}
		// The 11th attempt, with a used code, fails.
		_, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: codes[0]})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeInvalid)
		if n := e.EventCount(t, mfa.EventBackupCodeUsed); n != 10 {
			t.Fatalf("%d mfa_backup_code_used events", n)
		}
		if n := e.Mailer.Count(mfa.TemplateBackupCodeUsed); n != 10 {
			t.Fatalf("%d backup-code emails", n)
		}
		for _, m := range e.Mailer.All() {
			for _, c := range codes {
				for _, v := range m.Data {
					if s, ok := v.(string); ok && strings.Contains(strings.ToLower(s), c) {
						t.Fatal("an email carries a backup code")
					}
				}
			}
		}

		// Regenerate needs a TOTP code and invalidates every old code.
		_ = e.Limiter.Reset(ctxUA, "mfa:acct:"+u.ID.String())
		_, err = e.Svc.RegenerateBackupCodes(ctxUA, u.ID, "")
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeRequired)
		fresh, err := e.Svc.RegenerateBackupCodes(ctxUA, u.ID, code(t, secret, time.Now()))
		if err != nil || len(fresh) != 10 {
			t.Fatalf("Regenerate = %d, %v", len(fresh), err)
		}
		time.Sleep(30 * time.Second)
		again, err := e.Svc.RegenerateBackupCodes(ctxUA, u.ID, code(t, secret, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: fresh[0]})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeInvalid)
		if _, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: again[5]}); err != nil {
			t.Fatalf("a regenerated code: %v", err)
		}
		if n := e.EventCount(t, mfa.EventBackupCodesRegenerated); n != 2 {
			t.Fatalf("%d regenerated events", n)
		}
	})
}

func TestLockout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, codes := enrolled(t, e, "lock@example.com")
		for i := range 5 {
			tok := login(t, e, u) // a new mfa_token each time: the counter is per account
			a := mfa.Answer{Code: "000000"}
			if i%2 == 1 {
				a = mfa.Answer{BackupCode: "aaaa-bbbb-cccc-dddd"} // one budget across both
			}
			if code(t, secret, time.Now()) == "000000" {
				t.Skip("the real code is 000000")
			}
			_, err := e.Svc.CompleteLogin(ctxUA, tok, a)
			wantCode(t, err, apperr.Invalid, mfa.CodeCodeInvalid)
		}
		// Locked: even the right code and a fresh token are refused.
		_, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, time.Now())})
		wantCode(t, err, apperr.RateLimited, mfa.CodeLocked)
		var ex *ratelimit.ExceededError
		if !errors.As(err, &ex) || ex.RetryAfter() <= 14*time.Minute || ex.RetryAfter() > 15*time.Minute {
			t.Fatalf("Retry-After = %v; want about 15 min", err)
		}
		_, err = e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: codes[0]})
		wantCode(t, err, apperr.RateLimited, mfa.CodeLocked)
		// Password reset and regenerate share the lock.
		err = e.Svc.VerifyForReset(ctxUA, u, identity.ResetFactor{BackupCode: codes[0]})
		wantCode(t, err, apperr.RateLimited, mfa.CodeLocked)
		if e.EventCount(t, mfa.EventLocked) != 1 || e.Mailer.Count(mfa.TemplateLocked) != 1 || e.EventCount(t, mfa.EventChallengeFailed) != 5 {
			t.Fatalf("locked events %d, mails %d, failed %d", e.EventCount(t, mfa.EventLocked), e.Mailer.Count(mfa.TemplateLocked), e.EventCount(t, mfa.EventChallengeFailed))
		}
		time.Sleep(15*time.Minute + time.Second)
		if _, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}

func TestPendingEnrolmentExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		for _, tc := range []struct {
			wait time.Duration
			ok   bool
		}{{4*time.Minute + 59*time.Second, true}, {5 * time.Minute, false}} {
			e := mfatest.NewEnv(t, mfatest.Options{})
			u := e.NewUser(t, "slow@example.com", "pw")
			en, err := e.Svc.BeginEnrolment(ctxUA, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
			if !en.ExpiresAt.Equal(time.Now().Add(5 * time.Minute)) {
				t.Fatalf("ExpiresAt = %v", en.ExpiresAt)
			}
			time.Sleep(tc.wait)
			_, err = e.Svc.ConfirmEnrolment(ctxUA, u.ID, code(t, secret, time.Now()))
			if tc.ok && err != nil {
				t.Fatalf("after %v: %v", tc.wait, err)
			}
			if !tc.ok {
				wantCode(t, err, apperr.Invalid, mfa.CodeSetupExpired)
			}
		}
	})
}

func TestChallengeToken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, _ := enrolled(t, e, "tok@example.com")
		good := mfa.Answer{Code: code(t, secret, time.Now())}
		for name, tok := range map[string]string{"empty": "", "junk": "not-a-token", "unknown": strings.Repeat("A", 43)} {
			_, err := e.Svc.CompleteLogin(ctxUA, tok, good)
			if apperrCode(err) != mfa.CodeTokenInvalid {
				t.Errorf("%s token: %v", name, err)
			}
		}
		// Bound to the login attempt's user agent.
		tok := login(t, e, u)
		other := identity.WithClientMeta(context.Background(), identity.ClientMeta{IP: "198.51.100.1", UserAgent: "evil/1"})
		_, err := e.Svc.CompleteLogin(other, tok, good)
		wantCode(t, err, apperr.Unauthenticated, mfa.CodeTokenInvalid)
		// Valid 5 minutes.
		time.Sleep(5 * time.Minute)
		_, err = e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: code(t, secret, time.Now())})
		wantCode(t, err, apperr.Unauthenticated, mfa.CodeTokenInvalid)
		// The challenge store holds only the token's hash.
		tok = login(t, e, u)
		for _, v := range e.Pending.Values() {
			if bytes.Contains(v, []byte(tok)) {
				t.Fatal("the short-lived store holds the mfa_token")
			}
		}
		ch, err := e.Svc.BeginLogin(ctxUA, u, identity.ClientMetaFrom(ctxUA))
		if err != nil || strings.Join(ch.Methods, ",") != "totp,backup_code" || !ch.ExpiresAt.Equal(time.Now().Add(5*time.Minute)) {
			t.Fatalf("challenge = %+v, %v", ch, err)
		}
	})
}

func TestDisable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, codes := enrolled(t, e, "off@example.com")
		err := e.Svc.Disable(ctxUA, u.ID, "wrong password", mfa.Answer{Code: code(t, secret, time.Now())})
		wantCode(t, err, apperr.Invalid, identity.CodeCurrentPasswordBad)
		err = e.Svc.Disable(ctxUA, u.ID, "correct horse battery", mfa.Answer{})
		wantCode(t, err, apperr.Invalid, mfa.CodeCodeRequired)
		if err := e.Svc.Disable(ctxUA, u.ID, "correct horse battery", mfa.Answer{BackupCode: codes[2]}); err != nil {
			t.Fatal(err)
		}
		if st, _ := e.Svc.Status(ctxUA, u.ID); st.Enabled {
			t.Fatal("still enabled")
		}
		if u2, _ := e.Users.Get(ctxUA, u.ID); u2.MFAEnabled {
			t.Fatal("user still flagged")
		}
		if e.EventCount(t, mfa.EventDisabled) != 1 || e.Mailer.Count(mfa.TemplateDisabled) != 1 {
			t.Fatal("no disabled event or email")
		}
		err = e.Svc.Disable(ctxUA, u.ID, "correct horse battery", mfa.Answer{Code: "123456"})
		wantCode(t, err, apperr.Invalid, mfa.CodeNotEnabled)
		// Re-enrolment works after disabling.
		if _, err := e.Svc.BeginEnrolment(ctxUA, u.ID); err != nil {
			t.Fatalf("enable after disable: %v", err)
		}
	})
}

func TestVerifyForReset(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, _ := enrolled(t, e, "reset@example.com")
		wantCode(t, e.Svc.VerifyForReset(ctxUA, u, identity.ResetFactor{Code: "12345"}), apperr.Invalid, mfa.CodeCodeInvalid)
		if err := e.Svc.VerifyForReset(ctxUA, u, identity.ResetFactor{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatal(err)
		}
		wantCode(t, e.Svc.VerifyForReset(ctxUA, u, identity.ResetFactor{Code: code(t, secret, time.Now())}), apperr.Invalid, mfa.CodeCodeReused)
	})
}

// TestKeyRotation: a secret sealed under the old key still verifies with
// the ring (new, old), is re-sealed under the new key on use, and then
// verifies with the new key alone; backup codes hashed under the old key
// keep working while it is in the ring.
func TestKeyRotation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		oldRing, _ := mfa.NewKeyRing(mfatest.KeyMaterial(1))
		store := mfatest.NewMemStore()
		users := memstore.New().Users()
		e1 := mfatest.NewEnv(t, mfatest.Options{Factors: store, BackupCodes: store, Users: users, Keys: oldRing})
		u, secret, codes := enrolled(t, e1, "rotate@example.com")
		f, _ := store.Get(context.Background(), u.ID)
		if f.Secret.KeyID != oldRing.CurrentID() {
			t.Fatalf("sealed under %s", f.Secret.KeyID)
		}

		rotated, _ := mfa.NewKeyRing(mfatest.KeyMaterial(2), mfatest.KeyMaterial(1))
		e2 := mfatest.NewEnv(t, mfatest.Options{Factors: store, BackupCodes: store, Users: users, Keys: rotated})
		if _, err := e2.Svc.CompleteLogin(ctxUA, login(t, e2, u), mfa.Answer{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatal(err)
		}
		f, _ = store.Get(context.Background(), u.ID)
		if f.Secret.KeyID != rotated.CurrentID() || f.Secret.KeyID == oldRing.CurrentID() {
			t.Fatalf("not re-sealed: key %s", f.Secret.KeyID)
		}
		if _, err := e2.Svc.CompleteLogin(ctxUA, login(t, e2, u), mfa.Answer{BackupCode: codes[0]}); err != nil {
			t.Fatalf("old-key backup code with the rotated ring: %v", err)
		}

		newOnly, _ := mfa.NewKeyRing(mfatest.KeyMaterial(2))
		e3 := mfatest.NewEnv(t, mfatest.Options{Factors: store, BackupCodes: store, Users: users, Keys: newOnly})
		time.Sleep(30 * time.Second)
		if _, err := e3.Svc.CompleteLogin(ctxUA, login(t, e3, u), mfa.Answer{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatalf("new key alone after re-seal: %v", err)
		}
	})
}

func TestKeyRing(t *testing.T) {
	if _, err := mfa.NewKeyRing([]byte("short")); err == nil {
		t.Fatal("a short key was accepted")
	}
	r, err := mfa.NewKeyRing(mfatest.KeyMaterial(1))
	if err != nil {
		t.Fatal(err)
	}
	u1, u2 := [16]byte{1}, [16]byte{2}
	secret := []byte("0123456789abcdefghij")
	s, err := r.Seal(u1, "factor", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s.Ciphertext, secret) || strings.Contains(s.KeyID, string(mfatest.KeyMaterial(1))) {
		t.Fatal("ciphertext or key ID leaks")
	}
	if got, stale, err := r.Open(u1, "factor", s); err != nil || stale || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v, %v", got, stale, err)
	}
	if _, _, err := r.Open(u2, "factor", s); err == nil {
		t.Fatal("another user's ciphertext opened (associated data ignored)")
	}
	if _, _, err := r.Open(u1, "pending", s); err == nil {
		t.Fatal("a ciphertext opened for another purpose")
	}
	tampered := s
	tampered.Ciphertext = bytes.Clone(s.Ciphertext)
	tampered.Ciphertext[len(tampered.Ciphertext)-1] ^= 1
	if _, _, err := r.Open(u1, "factor", tampered); err == nil {
		t.Fatal("a tampered ciphertext opened")
	}
	other, _ := mfa.NewKeyRing(mfatest.KeyMaterial(3))
	if _, _, err := other.Open(u1, "factor", s); err == nil || strings.Contains(err.Error(), string(secret)) {
		t.Fatalf("unknown key: %v", err)
	}
}

// A challenge begun under one password dies with it: a reset or a change
// of the password since (which ends every session) leaves the pending
// mfa_token invalid, even with a correct code, and spends it.
func TestChallengeEndsWithThePassword(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := mfatest.NewEnv(t, mfatest.Options{})
		u, secret, _ := enrolled(t, e, "stamp@example.com")
		// Unchanged password: the challenge is answered.
		if _, err := e.Svc.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatalf("unchanged password: %v", err)
		}
		time.Sleep(time.Minute) // the next step's code
		for _, newHash := range []string{"$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA", ""} {
			tok := login(t, e, u)
			if err := e.Users.Update(ctxUA, u.ID, func(x *identity.User) (*identity.User, error) { x.PasswordHash = newHash; return x, nil }); err != nil {
				t.Fatal(err)
			}
			_, err := e.Svc.CompleteLogin(ctxUA, tok, mfa.Answer{Code: code(t, secret, time.Now())})
			wantCode(t, err, apperr.Unauthenticated, mfa.CodeTokenInvalid)
			for _, v := range e.Pending.Values() {
				if len(v) > 0 && v[0] == 2 {
					t.Fatal("the refused challenge is still stored")
				}
			}
			u, _ = e.Users.Get(ctxUA, u.ID)
			time.Sleep(time.Minute)
		}
	})
}
