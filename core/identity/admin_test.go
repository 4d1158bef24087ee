package identity_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// adminPrincipal bootstraps an admin (as the CLI does) and signs them in.
func adminPrincipal(t testing.TB, e *identitytest.Env) identity.Principal {
	t.Helper()
	_, p := adminSession(t, e)
	return p
}

func adminSession(t testing.TB, e *identitytest.Env) (*identity.TokenPair, identity.Principal) {
	t.Helper()
	if _, err := e.Svc.CreateUser(ctx, "root@example.com", "operator passphrase 1", identity.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	pair, p := session(t, e, ctx, "root@example.com", "operator passphrase 1")
	if !p.IsAdmin() {
		t.Fatalf("bootstrapped admin has role %s", p.Role)
	}
	return pair, p
}

func TestAdminUsersAndDisable(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "user@example.com", goodPassword)
		userPair, user := session(t, e, ctx, "user@example.com", goodPassword)
		adminPair, admin := adminSession(t, e)

		_, err := e.Svc.ListUsers(ctx, user, identity.UserQuery{})
		wantErr(t, err, apperr.Forbidden, identity.CodeForbidden)
		_, err = e.Svc.UserEvents(ctx, user, admin.UserID, uuid.Nil, 10)
		wantErr(t, err, apperr.Forbidden, identity.CodeForbidden)
		_, err = e.Svc.DisableUser(ctx, user, admin.UserID)
		wantErr(t, err, apperr.Forbidden, identity.CodeForbidden)

		list, err := e.Svc.ListUsers(ctx, admin, identity.UserQuery{EmailContains: " USER@ ", Limit: 10})
		if err != nil || len(list) != 1 || list[0].Email != "user@example.com" {
			t.Fatalf("search = %+v, %v", list, err)
		}
		page, err := e.Svc.ListUsers(ctx, admin, identity.UserQuery{Limit: 1})
		if err != nil || len(page) != 1 {
			t.Fatalf("first page = %+v, %v", page, err)
		}
		rest, err := e.Svc.ListUsers(ctx, admin, identity.UserQuery{After: page[0].ID, Limit: 500})
		if err != nil || len(rest) != 1 || rest[0].ID == page[0].ID {
			t.Fatalf("second page = %+v, %v", rest, err)
		}
		if all, _ := e.Svc.ListUsers(ctx, admin, identity.UserQuery{}); len(all) != 2 {
			t.Fatalf("default page = %+v", all)
		}

		_, err = e.Svc.DisableUser(ctx, admin, admin.UserID)
		wantErr(t, err, apperr.Invalid, identity.CodeCannotDisableSelf)
		_, err = e.Svc.DisableUser(ctx, admin, uuid.New())
		wantErr(t, err, apperr.NotFound, identity.CodeUserNotFound)
		_, err = e.Svc.UserEvents(ctx, admin, uuid.New(), uuid.Nil, 10)
		wantErr(t, err, apperr.NotFound, identity.CodeUserNotFound)
		d, err := e.Svc.DisableUser(ctx, admin, user.UserID)
		if err != nil || !d.Disabled() {
			t.Fatalf("disable = %+v, %v", d, err)
		}
		_, err = e.Svc.Authenticate(ctx, userPair.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.Refresh(ctx, userPair.RefreshToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.Login(ctx, "user@example.com", goodPassword)
		wantErr(t, err, apperr.Forbidden, identity.CodeAccountDisabled)
		again, err := e.Svc.DisableUser(ctx, admin, user.UserID) // idempotent: the first time stays
		if err != nil || !again.DisabledAt.Equal(*d.DisabledAt) {
			t.Fatalf("second disable = %+v, %v", again, err)
		}
		evs, err := e.Svc.UserEvents(ctx, admin, user.UserID, uuid.Nil, 0)
		if err != nil || evs[0].Type != identity.EventUserDisabled || evs[0].Details["by"] != admin.UserID.String() {
			t.Fatalf("admin view of events = %+v, %v", evs, err)
		}
		older, err := e.Svc.UserEvents(ctx, admin, user.UserID, evs[0].ID, 1)
		if err != nil || len(older) != 1 || older[0].ID != evs[1].ID {
			t.Fatalf("events before the newest = %+v, %v", older, err)
		}

		// Demoting an admin ends their sessions, so the admin claim stops
		// working; setting the role they have changes nothing.
		if _, err := e.Svc.SetRole(ctx, "root@example.com", identity.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if _, err := e.Svc.ListUsers(ctx, e.Principal(t, adminPair.AccessToken), identity.UserQuery{}); err != nil {
			t.Fatalf("an unchanged role ended the session: %v", err)
		}
		u, err := e.Svc.SetRole(ctx, "root@example.com", identity.RoleUser)
		if err != nil || u.Role != identity.RoleUser {
			t.Fatalf("SetRole = %+v, %v", u, err)
		}
		_, err = e.Svc.Authenticate(ctx, adminPair.AccessToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeSessionRevoked)
		_, err = e.Svc.SetRole(ctx, "root@example.com", "root")
		wantErr(t, err, apperr.Invalid, "role_invalid")
		_, err = e.Svc.SetRole(ctx, "nobody@example.com", identity.RoleAdmin)
		wantErr(t, err, apperr.NotFound, identity.CodeUserNotFound)
	})
}

func TestCreateUser(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u, err := e.Svc.CreateUser(ctx, " ops@example.com ", "operator passphrase 1", identity.RoleUser)
		if err != nil || u.Email != "ops@example.com" || !u.EmailVerified() || u.Role != identity.RoleUser {
			t.Fatalf("CreateUser = %+v, %v", u, err)
		}
		for _, tc := range []struct {
			email, pw string
			role      identity.Role
			kind      apperr.Kind
			code      string
		}{
			{"ops@example.com", "operator passphrase 1", identity.RoleUser, apperr.Conflict, identity.CodeEmailTaken},
			{"bad", "operator passphrase 1", identity.RoleUser, apperr.Invalid, identity.CodeEmailInvalid},
			{"x@example.com", "operator passphrase 1", "root", apperr.Invalid, "role_invalid"},
			{"x@example.com", "short", identity.RoleUser, apperr.Invalid, identity.CodePasswordTooShort},
		} {
			_, err := e.Svc.CreateUser(ctx, tc.email, tc.pw, tc.role)
			wantErr(t, err, tc.kind, tc.code)
		}
		if n := len(e.Mailer.All()); n != 0 {
			t.Fatalf("the CLI bootstrap mailed %d messages", n)
		}
	})
}

// TestPurgeEnded: the maintenance job deletes what can no longer be used
// and keeps what ended within keep.
func TestPurgeEnded(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "purge@example.com", goodPassword)
		gone, p := session(t, e, ctx, "purge@example.com", goodPassword)
		live := e.Login(t, ctx, "purge@example.com", goodPassword)
		if err := e.Svc.Logout(ctx, p); err != nil {
			t.Fatal(err)
		}
		time.Sleep(48 * time.Hour)
		r, err := identity.PurgeEnded(ctx, e.Stores.Sessions, e.Stores.EmailTokens, time.Now(), 72*time.Hour)
		if err != nil || r.Sessions != 0 || r.EmailTokens != 0 {
			t.Fatalf("purge keeping 72h = %+v, %v; want nothing", r, err)
		}
		r, err = identity.PurgeEnded(ctx, e.Stores.Sessions, e.Stores.EmailTokens, time.Now(), 24*time.Hour)
		if err != nil || r.Sessions != 1 || r.EmailTokens != 1 { // the logged-out session, the used verification link
			t.Fatalf("purge keeping 24h = %+v, %v", r, err)
		}
		_, err = e.Svc.Refresh(ctx, gone.RefreshToken)
		wantErr(t, err, apperr.Unauthenticated, identity.CodeRefreshTokenInvalid)
		if _, err := e.Svc.Refresh(ctx, live.RefreshToken); err != nil {
			t.Fatalf("a live session was purged: %v", err)
		}
	})
}

func TestConfigAndDependencies(t *testing.T) {
	if err := identity.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, edit := range map[string]func(*identity.Config){
		"access TTL":    func(c *identity.Config) { c.AccessTTL = time.Second },
		"idle > ttl":    func(c *identity.Config) { c.SessionIdle = c.SessionTTL + time.Hour },
		"grace":         func(c *identity.Config) { c.RefreshGrace = 2 * time.Minute },
		"no public URL": func(c *identity.Config) { c.PublicURL = "" },
	} {
		c := identity.DefaultConfig()
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
		if _, err := identity.NewService(c, identity.Deps{}); err == nil {
			t.Errorf("%s: NewService accepted it", name)
		}
	}
	if _, err := identity.NewService(identity.DefaultConfig(), identity.Deps{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("NewService without dependencies = %v", err)
	}
	if l := identity.DefaultLimits(2.5); l.LoginIP.Max != 150 || l.LoginAccount.Max != 5 {
		t.Fatalf("DefaultLimits(2.5) = %+v; want per-IP budgets scaled, per-account ones not", l)
	}
	if l := identity.DefaultLimits(0.001); l.RegisterIP.Max != 1 {
		t.Fatalf("a tiny scale gave a budget of %d; want at least 1", l.RegisterIP.Max)
	}
}

// TestCloseStopsBackgroundWork: after Close, forgot-password answers as
// always but mails nothing; Close waits for work already started.
func TestCloseStopsBackgroundWork(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		e.Verified(t, "late@example.com", goodPassword)
		if err := e.Svc.ForgotPassword(ctx, "late@example.com"); err != nil {
			t.Fatal(err)
		}
		e.Svc.Close()
		if n := e.Mailer.Count(identity.TemplatePasswordReset); n != 1 {
			t.Fatalf("Close returned before the started mail was sent (%d)", n)
		}
		if err := e.Svc.ForgotPassword(ctx, "late@example.com"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := e.Mailer.Count(identity.TemplatePasswordReset); n != 1 {
			t.Fatalf("%d reset mails after Close; want still 1", n)
		}
		e.Svc.Close() // idempotent
	})
}
