package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// errNoMail: a mail the service sends in the background (so as not to
// tell whether an address has an account) did not come, because a
// statement of its send met the fault.
var errNoMail = errors.New("no mail came")

func linkTokenOf(m identity.Email) string {
	link, _ := m.Data["Link"].(string)
	return link[strings.LastIndex(link, "=")+1:]
}

// accountLife is an account's life through the identity service: sign
// up, verify, sign in, refresh, change and reset the password, sign out,
// and an admin's actions. It returns the first step's error.
func accountLife(ctx context.Context, e *identitytest.Env, n int64, faulted func() bool) error {
	email, admin := fmt.Sprintf("user-%d@example.com", n), fmt.Sprintf("admin-%d@example.com", n)
	const pw, pw2, pw3 = "correct horse battery 1", "correct horse battery 2", "correct horse battery 3"
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	// Once the fault has struck, a mail that is not there soon is one
	// whose send met it.
	await := func(to, template string) (identity.Email, bool) {
		for range 200 {
			wasFaulted := faulted()
			if m, ok := e.Mailer.Await(to, template, 50*time.Millisecond); ok || wasFaulted {
				return m, ok
			}
		}
		return identity.Email{}, false
	}
	if _, err := e.Svc.Register(ctx, identity.RegisterInput{Email: email, Password: pw, DisplayName: "Faults"}); err != nil {
		return step("Register", err)
	}
	verify, ok := await(email, identity.TemplateVerifyEmail)
	if !ok {
		return step("verification mail", errNoMail)
	}
	if _, err := e.Svc.VerifyEmail(ctx, linkTokenOf(verify)); err != nil {
		return step("VerifyEmail", err)
	}
	r, err := e.Svc.Login(ctx, email, pw)
	if err != nil {
		return step("Login", err)
	}
	p, err := e.Svc.Authenticate(ctx, r.Tokens.AccessToken)
	if err != nil {
		return step("Authenticate", err)
	}
	if err := e.Svc.CheckSession(ctx, p.UserID, p.SessionID); err != nil {
		return step("CheckSession", err)
	}
	name := "Renamed"
	if _, _, err := e.Svc.UpdateMe(ctx, p, identity.ProfileUpdate{DisplayName: &name}); err != nil {
		return step("UpdateMe", err)
	}
	if _, err := e.Svc.Sessions(ctx, p); err != nil {
		return step("Sessions", err)
	}
	if _, err := e.Svc.Refresh(ctx, r.Tokens.RefreshToken); err != nil {
		return step("Refresh", err)
	}
	if err := e.Svc.ChangePassword(ctx, p, pw, pw2); err != nil {
		return step("ChangePassword", err)
	}
	if _, err := e.Svc.Events(ctx, p, uuid.Nil, 50); err != nil {
		return step("Events", err)
	}
	r2, err := e.Svc.Login(ctx, email, pw2)
	if err != nil {
		return step("Login again", err)
	}
	p2, err := e.Svc.Authenticate(ctx, r2.Tokens.AccessToken)
	if err != nil {
		return step("Authenticate again", err)
	}
	if _, err := e.Svc.RevokeOtherSessions(ctx, p2); err != nil {
		return step("RevokeOtherSessions", err)
	}
	if err := e.Svc.ForgotPassword(ctx, email); err != nil {
		return step("ForgotPassword", err)
	}
	reset, ok := await(email, identity.TemplatePasswordReset)
	if !ok {
		return step("reset mail", errNoMail)
	}
	if err := e.Svc.ResetPassword(ctx, linkTokenOf(reset), pw3, identity.ResetFactor{}); err != nil {
		return step("ResetPassword", err)
	}
	r3, err := e.Svc.Login(ctx, email, pw3)
	if err != nil {
		return step("Login after reset", err)
	}
	p3, err := e.Svc.Authenticate(ctx, r3.Tokens.AccessToken)
	if err != nil {
		return step("Authenticate after reset", err)
	}
	if err := e.Svc.Logout(ctx, p3); err != nil {
		return step("Logout", err)
	}
	a, err := e.Svc.CreateUser(ctx, admin, pw, identity.RoleAdmin)
	if err != nil {
		return step("CreateUser", err)
	}
	if _, err := e.Svc.SetRole(ctx, email, identity.RoleUser); err != nil {
		return step("SetRole", err)
	}
	ra, err := e.Svc.Login(ctx, a.Email, pw)
	if err != nil {
		return step("admin Login", err)
	}
	pa, err := e.Svc.Authenticate(ctx, ra.Tokens.AccessToken)
	if err != nil {
		return step("admin Authenticate", err)
	}
	if _, err := e.Svc.ListUsers(ctx, pa, identity.UserQuery{EmailContains: email, Limit: 10}); err != nil {
		return step("ListUsers", err)
	}
	if _, err := e.Svc.UserEvents(ctx, pa, p.UserID, uuid.Nil, 10); err != nil {
		return step("UserEvents", err)
	}
	if _, err := e.Svc.DisableUser(ctx, pa, p.UserID); err != nil {
		return step("DisableUser", err)
	}
	return nil
}

// TestAQueryFailureAnywhereInAnAccountSurfacesAsUnavailable: as for the
// trading book, for the identity repositories.
func TestAQueryFailureAnywhereInAnAccountSurfacesAsUnavailable(t *testing.T) {
	fdb := openFaultDB(t)
	db := fdb.db
	st := identitytest.Stores{Users: NewUsers(db), Sessions: NewSessions(db), RefreshTokens: NewRefreshTokens(db),
		EmailTokens: NewEmailTokens(db), Events: NewEvents(db), Tx: NewUnitOfWork(db)}
	var n int64
	fdb.everyFault(t, 39, []error{errNoMail}, func(f *apperrtest.Faults) error {
		n++
		e := identitytest.NewEnv(t, identitytest.Options{Stores: &st})
		defer e.Svc.Close()
		defer f.Disarm()
		f.Arm()
		return accountLife(identitytest.DefaultCtx, e, n, f.Faulted)
	})
}
