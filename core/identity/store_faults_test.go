package identity_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
)

// errNoMail: a mail sent in the background (which answers the caller
// before it knows, so as not to tell whether the address has an account)
// did not come, because its store call met the fault.
var errNoMail = errors.New("no mail came")

type faultyUsers struct {
	identity.Users
	f *apperrtest.Faults
}

func (s faultyUsers) Create(ctx context.Context, u *identity.User) error {
	if err := s.f.Next("Users.Create"); err != nil {
		return err
	}
	return s.Users.Create(ctx, u)
}

func (s faultyUsers) Get(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	if err := s.f.Next("Users.Get"); err != nil {
		return nil, err
	}
	return s.Users.Get(ctx, id)
}

func (s faultyUsers) GetByEmail(ctx context.Context, email string) (*identity.User, error) {
	if err := s.f.Next("Users.GetByEmail"); err != nil {
		return nil, err
	}
	return s.Users.GetByEmail(ctx, email)
}

func (s faultyUsers) Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	if err := s.f.Next("Users.Update"); err != nil {
		return err
	}
	return s.Users.Update(ctx, id, fn)
}

func (s faultyUsers) List(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	if err := s.f.Next("Users.List"); err != nil {
		return nil, err
	}
	return s.Users.List(ctx, q)
}

type faultySessions struct {
	identity.Sessions
	f *apperrtest.Faults
}

func (s faultySessions) Create(ctx context.Context, x *identity.Session) error {
	if err := s.f.Next("Sessions.Create"); err != nil {
		return err
	}
	return s.Sessions.Create(ctx, x)
}

func (s faultySessions) Get(ctx context.Context, id uuid.UUID) (*identity.Session, error) {
	if err := s.f.Next("Sessions.Get"); err != nil {
		return nil, err
	}
	return s.Sessions.Get(ctx, id)
}

func (s faultySessions) ListActive(ctx context.Context, userID uuid.UUID, now time.Time) ([]identity.Session, error) {
	if err := s.f.Next("Sessions.ListActive"); err != nil {
		return nil, err
	}
	return s.Sessions.ListActive(ctx, userID, now)
}

func (s faultySessions) Touch(ctx context.Context, id uuid.UUID, at time.Time) error {
	if err := s.f.Next("Sessions.Touch"); err != nil {
		return err
	}
	return s.Sessions.Touch(ctx, id, at)
}

func (s faultySessions) Revoke(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, except uuid.UUID, at time.Time, reason string) ([]uuid.UUID, error) {
	if err := s.f.Next("Sessions.Revoke"); err != nil {
		return nil, err
	}
	return s.Sessions.Revoke(ctx, userID, ids, except, at, reason)
}

type faultyRefresh struct {
	identity.RefreshTokens
	f *apperrtest.Faults
}

func (s faultyRefresh) Create(ctx context.Context, t *identity.RefreshToken) error {
	if err := s.f.Next("RefreshTokens.Create"); err != nil {
		return err
	}
	return s.RefreshTokens.Create(ctx, t)
}

func (s faultyRefresh) Get(ctx context.Context, hash []byte) (*identity.RefreshToken, error) {
	if err := s.f.Next("RefreshTokens.Get"); err != nil {
		return nil, err
	}
	return s.RefreshTokens.Get(ctx, hash)
}

func (s faultyRefresh) Rotate(ctx context.Context, hash []byte, at time.Time, successor []byte) (bool, error) {
	if err := s.f.Next("RefreshTokens.Rotate"); err != nil {
		return false, err
	}
	return s.RefreshTokens.Rotate(ctx, hash, at, successor)
}

type faultyEmailTokens struct {
	identity.EmailTokens
	f *apperrtest.Faults
}

func (s faultyEmailTokens) Issue(ctx context.Context, t *identity.EmailToken) error {
	if err := s.f.Next("EmailTokens.Issue"); err != nil {
		return err
	}
	return s.EmailTokens.Issue(ctx, t)
}

func (s faultyEmailTokens) Get(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	if err := s.f.Next("EmailTokens.Get"); err != nil {
		return nil, err
	}
	return s.EmailTokens.Get(ctx, hash, purposes, now)
}

func (s faultyEmailTokens) Consume(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	if err := s.f.Next("EmailTokens.Consume"); err != nil {
		return nil, err
	}
	return s.EmailTokens.Consume(ctx, hash, purposes, now)
}

func (s faultyEmailTokens) Revoke(ctx context.Context, userID uuid.UUID, purposes []identity.Purpose) error {
	if err := s.f.Next("EmailTokens.Revoke"); err != nil {
		return err
	}
	return s.EmailTokens.Revoke(ctx, userID, purposes)
}

type faultyEvents struct {
	identity.Events
	f *apperrtest.Faults
}

func (s faultyEvents) Record(ctx context.Context, e *identity.Event) error {
	if err := s.f.Next("Events.Record"); err != nil {
		return err
	}
	return s.Events.Record(ctx, e)
}

func (s faultyEvents) List(ctx context.Context, q identity.EventQuery) ([]identity.Event, error) {
	if err := s.f.Next("Events.List"); err != nil {
		return nil, err
	}
	return s.Events.List(ctx, q)
}

// accountLife is a user's whole account life through the service; it
// returns the first step's error.
func accountLife(e *identitytest.Env) error {
	ctx := identitytest.DefaultCtx
	const email, pw, pw2, pw3 = "faults@example.com", "correct horse battery 1", "correct horse battery 2", "correct horse battery 3"
	step := func(name string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		return nil
	}
	if _, err := e.Svc.Register(ctx, identity.RegisterInput{Email: email, Password: pw, DisplayName: "Faults"}); err != nil {
		return step("Register", err)
	}
	verify, ok := e.Mailer.Await(email, identity.TemplateVerifyEmail, time.Minute)
	if !ok {
		return fmt.Errorf("verification: %w", errNoMail)
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
	reset, ok := e.Mailer.Await(email, identity.TemplatePasswordReset, time.Minute)
	if !ok {
		return fmt.Errorf("reset: %w", errNoMail)
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
	admin, err := e.Svc.CreateUser(ctx, "admin@example.com", pw, identity.RoleAdmin)
	if err != nil {
		return step("CreateUser", err)
	}
	if _, err := e.Svc.SetRole(ctx, email, identity.RoleUser); err != nil {
		return step("SetRole", err)
	}
	ra, err := e.Svc.Login(ctx, admin.Email, pw)
	if err != nil {
		return step("admin Login", err)
	}
	pa, err := e.Svc.Authenticate(ctx, ra.Tokens.AccessToken)
	if err != nil {
		return step("admin Authenticate", err)
	}
	users, err := e.Svc.ListUsers(ctx, pa, identity.UserQuery{Limit: 10})
	if err != nil {
		return step("ListUsers", err)
	}
	if _, err := e.Svc.UserEvents(ctx, pa, users[0].ID, uuid.Nil, 10); err != nil {
		return step("UserEvents", err)
	}
	target, err := memUser(e, email)
	if err != nil {
		return step("lookup", err)
	}
	if _, err := e.Svc.DisableUser(ctx, pa, target); err != nil {
		return step("DisableUser", err)
	}
	return nil
}

func memUser(e *identitytest.Env, email string) (uuid.UUID, error) {
	u, err := e.Memory.Users().GetByEmail(context.Background(), email)
	if err != nil {
		return uuid.Nil, err
	}
	return u.ID, nil
}

func linkToken(m identity.Email) string {
	link, _ := m.Data["Link"].(string)
	for i := len(link) - 1; i >= 0; i-- {
		if link[i] == '=' {
			return link[i+1:]
		}
	}
	return ""
}

// TestAStoreFailureAnywhereSurfacesAsItsError: the account's whole life
// (register, verify, log in, refresh, change and reset the password, the
// admin's actions) is run again and again, the n-th store call failing
// each time, until a run meets no fault. A step that meets the fault
// either returns that error (wrapped, still Unavailable, so the API
// answers 503 and the client retries), or goes on when the write was
// best-effort by design (a lockout counter, a last-used time): never a
// panic, never another kind of error that a client would act on, such
// as "wrong password" or "not found".
func TestAStoreFailureAnywhereSurfacesAsItsError(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		if err := accountLife(e); err != nil {
			t.Fatalf("without faults: %v", err)
		}
	})
	apperrtest.EveryFault(t, apperrtest.Scenario{Allowed: []error{errNoMail}, MinCalls: 39}, func(f *apperrtest.Faults) error {
		mem := memstore.New()
		st := identitytest.Stores{Users: faultyUsers{mem.Users(), f}, Sessions: faultySessions{mem.Sessions(), f},
			RefreshTokens: faultyRefresh{mem.RefreshTokens(), f}, EmailTokens: faultyEmailTokens{mem.EmailTokens(), f},
			Events: faultyEvents{mem.Events(), f}, Tx: mem.Tx()}
		var err error
		f.Arm()
		inEnv(t, identitytest.Options{Stores: &st}, func(t *testing.T, e *identitytest.Env) {
			e.Memory = mem
			err = apperrtest.Safely(func() error { return accountLife(e) })
		})
		return err
	})
}
