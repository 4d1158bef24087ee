package identity_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

func ptr[T any](v T) *T { return &v }

func TestPasswordForgotResetAndChange(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "pw@example.com", goodPassword)
		old1, _ := session(t, e, ctx, "pw@example.com", goodPassword)
		if err := e.Svc.ForgotPassword(ctx, "pw@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		reset := e.Mailer.Last(t, "pw@example.com", identity.TemplatePasswordReset)
		if reset.Data["ExpiresInMinutes"] != 30 || reset.Data["MFARequired"] != false ||
			!strings.HasPrefix(reset.Data["Link"].(string), identitytest.PublicURL+"/reset-password?token=") {
			t.Fatalf("reset mail = %+v", reset.Data)
		}
		tok := e.Mailer.LinkToken(t, "pw@example.com", identity.TemplatePasswordReset)
		err := e.Svc.ResetPassword(ctx, tok, "password", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodePasswordCommon)
		if err := e.Svc.ResetPassword(ctx, tok, "a brand new passphrase", identity.ResetFactor{}); err != nil {
			t.Fatal(err)
		}
		err = e.Svc.ResetPassword(ctx, tok, "yet another passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		_, err = e.Svc.Authenticate(ctx, old1.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		changed := e.Mailer.Last(t, "pw@example.com", identity.TemplatePasswordChanged)
		if changed.Data["Reset"] != true || changed.Data["ForgotLink"] != identitytest.PublicURL+"/forgot-password" {
			t.Fatalf("password-changed mail = %+v", changed.Data)
		}
		_, err = e.Svc.Login(ctx, "pw@example.com", goodPassword)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeInvalidCredentials)
		a, _ := session(t, e, ctx, "pw@example.com", "a brand new passphrase") // the new password works

		// Reset links expire after 30 minutes, and a newer one supersedes
		// an older one.
		for range 2 {
			if err := e.Svc.ForgotPassword(ctx, "pw@example.com"); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
		}
		links := e.Mailer.To("pw@example.com", identity.TemplatePasswordReset)
		older, _ := strings.CutPrefix(links[len(links)-2].Data["Link"].(string), identitytest.PublicURL+"/reset-password?token=")
		err = e.Svc.ResetPassword(ctx, older, "superseded link passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		t1 := e.Mailer.LinkToken(t, "pw@example.com", identity.TemplatePasswordReset)
		time.Sleep(31 * time.Minute)
		err = e.Svc.ResetPassword(ctx, t1, "expired link passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		err = e.Svc.ResetPassword(ctx, "junk", "expired link passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)

		// Change: other sessions end, the current one stays.
		other, _ := session(t, e, identitytest.Ctx("198.51.100.9", "other/1"), "pw@example.com", "a brand new passphrase")
		cur, pc := session(t, e, ctx, "pw@example.com", "a brand new passphrase")
		err = e.Svc.ChangePassword(ctx, pc, "wrong one here", "changed passphrase 3")
		wantErr(t, err, apperr.Invalid, identity.CodeCurrentPasswordBad)
		err = e.Svc.ChangePassword(ctx, pc, "a brand new passphrase", "short")
		wantErr(t, err, apperr.Invalid, identity.CodePasswordTooShort)
		if err := e.Svc.ChangePassword(ctx, pc, "a brand new passphrase", "changed passphrase 3"); err != nil {
			t.Fatal(err)
		}
		_, err = e.Svc.Authenticate(ctx, other.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.Refresh(ctx, a.RefreshToken) // an older session (its access token expired meanwhile)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		e.Principal(t, cur.AccessToken)
		if mails := e.Mailer.To("pw@example.com", identity.TemplatePasswordChanged); len(mails) != 2 || mails[1].Data["Reset"] != false {
			t.Fatalf("password-changed mails = %+v", mails)
		}
		_, p := session(t, e, ctx, "pw@example.com", "changed passphrase 3")
		types := e.EventTypes(t, p)
		if countOf(types, identity.EventPasswordReset) != 1 || countOf(types, identity.EventPasswordChanged) != 1 || countOf(types, identity.EventPasswordResetRequest) != 3 {
			t.Fatalf("events = %v", types)
		}
	})
}

// TestResetRules: a reset proves the address of an unverified account,
// clears the password lockout, and is refused to a disabled account (which
// gets no reset mail either).
func TestResetRules(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u := e.Register(t, "unverified@example.com", goodPassword)
		for range 5 {
			_, _ = e.Svc.Login(ctx, "unverified@example.com", "not the password")
		}
		if err := e.Svc.ForgotPassword(ctx, "unverified@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		tok := e.Mailer.LinkToken(t, "unverified@example.com", identity.TemplatePasswordReset)
		if err := e.Svc.ResetPassword(ctx, tok, "a brand new passphrase", identity.ResetFactor{}); err != nil {
			t.Fatal(err)
		}
		got, _ := e.Stores.Users.Get(ctx, u.ID)
		if !got.EmailVerified() {
			t.Fatal("following the mailed reset link did not prove the address")
		}
		e.Login(t, ctx, "unverified@example.com", "a brand new passphrase") // the lockout was cleared

		d := e.Verified(t, "disabled@example.com", goodPassword)
		if err := e.Svc.ForgotPassword(ctx, "disabled@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		dt := e.Mailer.LinkToken(t, "disabled@example.com", identity.TemplatePasswordReset)
		now := time.Now()
		if err := e.Stores.Users.Update(ctx, d.ID, func(c *identity.User) (*identity.User, error) { c.DisabledAt = &now; return c, nil }); err != nil {
			t.Fatal(err)
		}
		err := e.Svc.ResetPassword(ctx, dt, "a brand new passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		before := e.Mailer.Count(identity.TemplatePasswordReset)
		if err := e.Svc.ForgotPassword(ctx, "disabled@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if e.Mailer.Count(identity.TemplatePasswordReset) != before {
			t.Fatal("a disabled account got a reset mail")
		}
	})
}

// TestResetNeedsTheSecondFactor: with MFA on, a reset link alone cannot
// change the password; a wrong code is refused before the link is spent.
func TestResetNeedsTheSecondFactor(t *testing.T) {
	inEnv(t, identitytest.Options{MFA: true}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "mfa@example.com", goodPassword)
		if err := e.Stores.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.MFAEnabled = true; return c, nil }); err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.ForgotPassword(ctx, "mfa@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if m := e.Mailer.Last(t, "mfa@example.com", identity.TemplatePasswordReset); m.Data["MFARequired"] != true {
			t.Fatalf("reset mail = %+v; want MFARequired", m.Data)
		}
		tok := e.Mailer.LinkToken(t, "mfa@example.com", identity.TemplatePasswordReset)
		const next = "a reset behind two factors"
		err := e.Svc.ResetPassword(ctx, tok, next, identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeMFARequired)
		err = e.Svc.ResetPassword(ctx, tok, next, identity.ResetFactor{Code: "000000"})
		wantErr(t, err, apperr.Invalid, "mfa_code_invalid")
		if err := e.Svc.ResetPassword(ctx, tok, next, identity.ResetFactor{Code: identitytest.GoodCode}); err != nil {
			t.Fatalf("the link did not survive the refusals: %v", err)
		}
		if _, checked := e.SecondFactor.Calls(); checked != 2 {
			t.Fatalf("second factor checked %d times; want 2", checked)
		}
	})
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "mfa@example.com", goodPassword)
		if err := e.Stores.Users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.MFAEnabled = true; return c, nil }); err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.ForgotPassword(ctx, "mfa@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		err := e.Svc.ResetPassword(ctx, e.Mailer.LinkToken(t, "mfa@example.com", identity.TemplatePasswordReset), "a reset behind two factors", identity.ResetFactor{Code: identitytest.GoodCode})
		wantErr(t, err, apperr.Unavailable, identity.CodeMFAUnavailable)
	})
}

// TestEmailChange: the new address is proven by a link mailed to it; the
// change needs the current password, reveals nothing about whether the
// new address is taken, and ends the links mailed to the old one.
func TestEmailChange(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "ada@example.com", goodPassword)
		_, p := session(t, e, ctx, "ada@example.com", goodPassword)
		_, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("new@example.com")})
		wantErr(t, err, apperr.Invalid, "validation_failed")
		_, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("new@example.com"), CurrentPassword: ptr("wrong password!")})
		wantErr(t, err, apperr.Invalid, identity.CodeCurrentPasswordBad)
		_, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("not an address"), CurrentPassword: ptr(goodPassword)})
		wantErr(t, err, apperr.Invalid, identity.CodeEmailInvalid)
		// A reset link mailed to the old address before the change.
		if err := e.Svc.ForgotPassword(ctx, "ada@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		oldReset := e.Mailer.LinkToken(t, "ada@example.com", identity.TemplatePasswordReset)
		u, pending, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("new@example.com"), CurrentPassword: ptr(goodPassword)})
		if err != nil || !pending || u.Email != "ada@example.com" {
			t.Fatalf("email change = %+v, pending %v, %v", u, pending, err)
		}
		change := e.Mailer.Last(t, "new@example.com", identity.TemplateVerifyEmail)
		if change.Data["EmailChange"] != true {
			t.Fatalf("change mail = %+v", change.Data)
		}
		got, err := e.Svc.VerifyEmail(ctx, e.Mailer.LinkToken(t, "new@example.com", identity.TemplateVerifyEmail))
		if err != nil || got.Email != "new@example.com" || !got.EmailVerified() {
			t.Fatalf("VerifyEmail of the change = %+v, %v", got, err)
		}
		e.Login(t, ctx, "new@example.com", goodPassword)
		_, err = e.Svc.Login(ctx, "ada@example.com", goodPassword)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeInvalidCredentials)
		// The change ended the links mailed to the old address.
		err = e.Svc.ResetPassword(ctx, oldReset, "taken over passphrase", identity.ResetFactor{})
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
		if types := e.EventTypes(t, p); types[0] != identity.EventLoginSucceeded || !containsType(types, identity.EventEmailChanged) {
			t.Fatalf("events = %v", types)
		}

		// A taken address: the same answer and no mail; and an address
		// taken between the mail and the click fails at the click.
		e.Verified(t, "taken@example.com", goodPassword)
		before := len(e.Mailer.All())
		_, pending, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("TAKEN@example.com"), CurrentPassword: ptr(goodPassword)})
		if err != nil || !pending || len(e.Mailer.All()) != before {
			t.Fatalf("change to a taken address: pending %v, %v, %d mails", pending, err, len(e.Mailer.All())-before)
		}
		if _, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("race@example.com"), CurrentPassword: ptr(goodPassword)}); err != nil {
			t.Fatal(err)
		}
		link := e.Mailer.LinkToken(t, "race@example.com", identity.TemplateVerifyEmail)
		e.Register(t, "race@example.com", goodPassword)
		_, err = e.Svc.VerifyEmail(ctx, link)
		wantErr(t, err, apperr.Conflict, identity.CodeEmailChangeConflict)
		// The change to race@ still waits (its link fails at the click,
		// but it has not expired). The same address (ignoring case) is no
		// change at all, and calls the pending one off.
		if _, pending, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: ptr("Ada")}); err != nil || !pending {
			t.Fatalf("an update while a change waits = pending %v, %v", pending, err)
		}
		if _, pending, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("NEW@example.com"), CurrentPassword: ptr("irrelevant")}); err != nil || pending {
			t.Fatalf("change to the current address = pending %v, %v", pending, err)
		}
		_, err = e.Svc.VerifyEmail(ctx, link) // the called-off change's link is void
		wantErr(t, err, apperr.Invalid, identity.CodeTokenInvalid)
	})
}

func containsType(ts []identity.EventType, want identity.EventType) bool {
	return countOf(ts, want) > 0
}

// TestCurrentPasswordHasItsOwnLockout: wrong re-entered passwords (change,
// email change) lock those actions for the user after five, without
// locking sign-in.
func TestCurrentPasswordHasItsOwnLockout(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "guess@example.com", goodPassword)
		_, p := session(t, e, ctx, "guess@example.com", goodPassword)
		for range 5 {
			err := e.Svc.ChangePassword(ctx, p, "wrong password!", "a new passphrase 1")
			wantErr(t, err, apperr.Invalid, identity.CodeCurrentPasswordBad)
		}
		err := e.Svc.ChangePassword(ctx, p, goodPassword, "a new passphrase 1")
		wantErr(t, err, apperr.RateLimited, identity.CodeAccountLocked)
		_, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Email: ptr("other@example.com"), CurrentPassword: ptr(goodPassword)})
		wantErr(t, err, apperr.RateLimited, identity.CodeAccountLocked)
		e.Login(t, ctx, "guess@example.com", goodPassword)
		time.Sleep(15 * time.Minute)
		if err := e.Svc.ChangePassword(ctx, p, goodPassword, "a new passphrase 1"); err != nil {
			t.Fatalf("after the lock: %v", err)
		}
	})
}

func TestUpdateMe(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "me@example.com", goodPassword)
		_, p := session(t, e, ctx, "me@example.com", goodPassword)
		u, pending, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: ptr("  Ada L. "), Timezone: ptr("Europe/Paris")})
		if err != nil || pending || u.DisplayName != "Ada L." || u.Timezone != "Europe/Paris" {
			t.Fatalf("UpdateMe = %+v, %v, %v", u, pending, err)
		}
		for _, tz := range []string{"Mars/Olympus", "../etc/passwd", "/UTC", "Local", "posixrules", strings.Repeat("A", 65)} {
			_, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Timezone: ptr(tz)})
			wantErr(t, err, apperr.Invalid, identity.CodeTimezoneInvalid)
		}
		_, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: ptr("bell\a")})
		wantErr(t, err, apperr.Invalid, identity.CodeDisplayNameInvalid)
		u, _, err = e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Timezone: ptr("UTC")})
		if err != nil || u.Timezone != "UTC" || u.DisplayName != "Ada L." {
			t.Fatalf("UpdateMe(timezone) = %+v, %v", u, err)
		}
		if u, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{}); err != nil || u.DisplayName != "Ada L." {
			t.Fatalf("empty update = %+v, %v", u, err)
		}
	})
}

// TestMeProfileCache: Me is served from the profile cache, which every
// write of the user through the service invalidates, holds no password
// hash, expires after identity.ProfileTTL, and never outlives a disabled
// account.
func TestMeProfileCache(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "cached@example.com", goodPassword)
		pair, p := session(t, e, ctx, "cached@example.com", goodPassword)
		me := func() (*identity.User, error) {
			t.Helper()
			p, err := e.Svc.Authenticate(ctx, pair.AccessToken)
			if err != nil {
				return nil, err
			}
			return e.Svc.Me(ctx, p)
		}
		if _, err := me(); err != nil {
			t.Fatal(err)
		}
		entry, found, err := e.Cache.Get(ctx, "userprof:"+p.UserID.String())
		if err != nil || !found {
			t.Fatalf("profile not cached after Me: %v", err)
		}
		if strings.Contains(string(entry), "argon2") || !strings.Contains(string(entry), "cached@example.com") {
			t.Fatalf("cached profile = %s; want the profile without the password hash", entry)
		}

		// A write that bypasses the service (and its invalidation) is not
		// seen until the entry expires: the second read came from the cache.
		if err := e.Stores.Users.Update(ctx, p.UserID, func(u *identity.User) (*identity.User, error) { u.DisplayName = "Behind the back"; return u, nil }); err != nil {
			t.Fatal(err)
		}
		if u, _ := me(); u.DisplayName != "Test" {
			t.Fatalf("me = %+v; want the cached profile", u)
		}
		time.Sleep(identity.ProfileTTL * 3 / 2)
		if u, _ := me(); u.DisplayName != "Behind the back" {
			t.Fatalf("me after ProfileTTL = %+v; want the database's profile", u)
		}

		// Writes through the service are seen at once.
		if _, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: ptr("Renamed"), Timezone: ptr("Europe/Paris")}); err != nil {
			t.Fatal(err)
		}
		if u, _ := me(); u.DisplayName != "Renamed" || u.Timezone != "Europe/Paris" {
			t.Fatalf("me after UpdateMe = %+v", u)
		}
		if u, _ := me(); u.DisplayName != "Renamed" || u.PasswordHash != "" {
			t.Fatalf("me from the refilled cache = %+v", u)
		}

		// Disabling the account refuses the cached caller at once.
		admin := adminPrincipal(t, e)
		if _, err := e.Svc.DisableUser(ctx, admin, p.UserID); err != nil {
			t.Fatal(err)
		}
		_, err = me()
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)

		// Without the revocation entry (a lost write), the disabled account
		// is still refused: by Me, which reads it from the database and
		// caches it, then by Authenticate, which finds the cached profile
		// disabled.
		if _, err := e.Cache.DeletePrefix(ctx, "authrev:"); err != nil {
			t.Fatal(err)
		}
		_, err = me()
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		if _, found, _ := e.Cache.Get(ctx, "userprof:"+p.UserID.String()); !found {
			t.Fatal("disabled profile not cached")
		}
		_, err = me()
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
	})
}

// TestProfileInvalidationAfterCommit: a user written inside a transaction
// has their cached profile deleted again once the transaction ends, so a
// read between the write and the commit cannot keep the old profile.
func TestProfileInvalidationAfterCommit(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "tx@example.com", goodPassword)
		pi := identity.NewProfileInvalidation(e.Revocations, nil)
		users, tx := pi.Users(e.Stores.Users), pi.Tx(e.Stores.Tx)
		key := "userprof:" + u.ID.String()
		err := tx.Do(ctx, func(ctx context.Context) error {
			if err := users.Update(ctx, u.ID, func(c *identity.User) (*identity.User, error) { c.DisplayName = "New"; return c, nil }); err != nil {
				return err
			}
			// A concurrent reader refills the entry from the committed row.
			if err := e.Cache.Set(ctx, key, []byte(`{"stale":true}`), time.Minute); err != nil {
				return err
			}
			return tx.Do(ctx, func(context.Context) error { return nil }) // nested: joins
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, found, _ := e.Cache.Get(ctx, key); found {
			t.Fatal("the entry refilled during the transaction survived its commit")
		}
		// A user created with an ID whose profile is cached (a re-created
		// account) does not inherit the entry.
		id := uuid.Must(uuid.NewV7())
		if err := e.Cache.Set(ctx, "userprof:"+id.String(), []byte(`{"stale":true}`), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := users.Create(ctx, &identity.User{ID: id, Email: "fresh@example.com"}); err != nil {
			t.Fatal(err)
		}
		if _, found, _ := e.Cache.Get(ctx, "userprof:"+id.String()); found {
			t.Fatal("a created user kept a cached profile")
		}
	})
}

// zoneObserver records UserZoneChanged calls, with the zone the user has
// in the observer's transaction, and fails when told to.
type zoneObserver struct {
	users identity.Users
	calls []string
	fail  error
}

func (o *zoneObserver) UserZoneChanged(ctx context.Context, userID uuid.UUID) error {
	u, err := o.users.Get(ctx, userID)
	if err != nil {
		return err
	}
	o.calls = append(o.calls, u.Timezone)
	return o.fail
}

// TestUpdateMeTellsTheZoneObserver: a change of the user's time zone, and
// only a change, is told to the observer (core/trading rebuilds the
// accounts that follow the user's zone) in the update's transaction,
// which sees the new zone; the observer's error undoes the update.
func TestUpdateMeTellsTheZoneObserver(t *testing.T) {
	var o *zoneObserver
	zones := func(e *identitytest.Env) identity.ZoneObserver { o = &zoneObserver{users: e.Stores.Users}; return o }
	inEnv(t, identitytest.Options{Zones: zones}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "zone@example.com", goodPassword)
		_, p := session(t, e, ctx, "zone@example.com", goodPassword)
		for _, in := range []identity.ProfileUpdate{
			{Timezone: ptr("America/New_York")},
			{Timezone: ptr("America/New_York")}, // unchanged: not told
			{DisplayName: ptr("Z")},             // no zone: not told
			{Timezone: ptr("UTC"), DisplayName: ptr("Y")},
		} {
			if _, _, err := e.Svc.UpdateMe(ctx, p, in); err != nil {
				t.Fatal(err)
			}
		}
		if !slices.Equal(o.calls, []string{"America/New_York", "UTC"}) {
			t.Fatalf("observer told %q; want the two changes with the new zone", o.calls)
		}
		o.fail = apperr.New(apperr.Unavailable, "db_busy", "busy")
		_, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{Timezone: ptr("Europe/Paris"), DisplayName: ptr("X")})
		wantErr(t, err, apperr.Unavailable, "db_busy")
		if u, err := e.Stores.Users.Get(ctx, p.UserID); err != nil || u.Timezone != "UTC" || u.DisplayName != "Y" {
			t.Fatalf("after a failing observer: %+v, %v; want the update undone", u, err)
		}
	})
}
