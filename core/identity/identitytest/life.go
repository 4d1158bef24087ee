package identitytest

import (
	"context"
	"errors"
	"fmt"
	"net/url"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
)

// ErrNoMail is what AccountLife returns when a mail the service sends in
// the background (it answers before it knows, so as not to tell whether
// an address has an account) did not come: a store call of its send met
// a fault.
var ErrNoMail = errors.New("no mail came")

// Life names the accounts AccountLife creates and how it waits for mail.
type Life struct {
	// Email and Admin are the user's and the admin's addresses, new to the
	// stores.
	Email, Admin string
	// Await returns the newest mail of template to to once it has come,
	// false when it will not.
	Await func(to, template string) (identity.Email, bool)
}

// AccountLife is an account's whole life through e.Svc: sign up, verify,
// sign in, the profile, sessions, refresh, change and reset the password,
// sign out, and an admin's actions on it. It returns the first step's
// error, wrapped with the step's name. The fault-injection tests run it
// with a fault in each store call (apperrtest.EveryFault).
func AccountLife(ctx context.Context, e *Env, l Life) error {
	const pw, pw2, pw3 = "correct horse battery 1", "correct horse battery 2", "correct horse battery 3"
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	email := l.Email
	if _, err := e.Svc.Register(ctx, identity.RegisterInput{Email: email, Password: pw, DisplayName: "Faults"}); err != nil {
		return step("Register", err)
	}
	verify, ok := l.Await(email, identity.TemplateVerifyEmail)
	if !ok {
		return step("verification mail", ErrNoMail)
	}
	if _, err := e.Svc.VerifyEmail(ctx, linkToken(verify)); err != nil {
		return step("VerifyEmail", err)
	}
	// For a verified address a resend sends nothing.
	if err := e.Svc.ResendVerification(ctx, email); err != nil {
		return step("ResendVerification", err)
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
	if _, err := e.Svc.Me(ctx, p); err != nil {
		return step("Me", err)
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
	if err := e.Svc.ConfirmPassword(ctx, p, pw); err != nil {
		return step("ConfirmPassword", err)
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
	reset, ok := l.Await(email, identity.TemplatePasswordReset)
	if !ok {
		return step("reset mail", ErrNoMail)
	}
	if err := e.Svc.ResetPassword(ctx, linkToken(reset), pw3, identity.ResetFactor{}); err != nil {
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
	a, err := e.Svc.CreateUser(ctx, l.Admin, pw, identity.RoleAdmin)
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

// linkToken is the token of the link a mail carries ("" when none: the
// step it is for then fails).
func linkToken(m identity.Email) string {
	link, _ := m.Data["Link"].(string)
	u, err := url.Parse(link)
	if err != nil {
		return ""
	}
	return u.Query().Get("token")
}
