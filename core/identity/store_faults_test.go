package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
)

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

// accountLife is identitytest.AccountLife inside e's synctest bubble.
func accountLife(e *identitytest.Env) error {
	return identitytest.AccountLife(identitytest.DefaultCtx, e, identitytest.Life{Email: "faults@example.com", Admin: "admin@example.com",
		Await: func(to, template string) (identity.Email, bool) { return e.Mailer.Await(to, template, time.Minute) }})
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
	apperrtest.EveryFault(t, apperrtest.Scenario{Allowed: []error{identitytest.ErrNoMail}, MinCalls: 39}, func(f *apperrtest.Faults) error {
		mem := memstore.New()
		st := identitytest.Stores{Users: faultyUsers{mem.Users(), f}, Sessions: faultySessions{mem.Sessions(), f},
			RefreshTokens: faultyRefresh{mem.RefreshTokens(), f}, EmailTokens: faultyEmailTokens{mem.EmailTokens(), f},
			Events: faultyEvents{mem.Events(), f}, Tx: mem.Tx()}
		var err error
		f.Arm()
		inEnv(t, identitytest.Options{Stores: &st}, func(t *testing.T, e *identitytest.Env) {
			err = apperrtest.Safely(func() error { return accountLife(e) })
		})
		return err
	})
}
