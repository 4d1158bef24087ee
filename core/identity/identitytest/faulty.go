package identitytest

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
)

// The identity stores with fault injection: each method asks F
// (apperrtest.Faults) first and fails with its error when F says so, for
// the store-fault tests of identity and of the modules built on it (mfa).

// FaultyUsers is identity.Users with every call first asking F whether it fails.
type FaultyUsers struct {
	identity.Users
	F *apperrtest.Faults
}

func (s FaultyUsers) Create(ctx context.Context, u *identity.User) error {
	if err := s.F.Next("Users.Create"); err != nil {
		return err
	}
	return s.Users.Create(ctx, u)
}

func (s FaultyUsers) Get(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	if err := s.F.Next("Users.Get"); err != nil {
		return nil, err
	}
	return s.Users.Get(ctx, id)
}

func (s FaultyUsers) GetByEmail(ctx context.Context, email string) (*identity.User, error) {
	if err := s.F.Next("Users.GetByEmail"); err != nil {
		return nil, err
	}
	return s.Users.GetByEmail(ctx, email)
}

func (s FaultyUsers) Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	if err := s.F.Next("Users.Update"); err != nil {
		return err
	}
	return s.Users.Update(ctx, id, fn)
}

func (s FaultyUsers) List(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	if err := s.F.Next("Users.List"); err != nil {
		return nil, err
	}
	return s.Users.List(ctx, q)
}

// FaultySessions is identity.Sessions with every call first asking F whether it fails.
type FaultySessions struct {
	identity.Sessions
	F *apperrtest.Faults
}

func (s FaultySessions) Create(ctx context.Context, x *identity.Session) error {
	if err := s.F.Next("Sessions.Create"); err != nil {
		return err
	}
	return s.Sessions.Create(ctx, x)
}

func (s FaultySessions) Get(ctx context.Context, id uuid.UUID) (*identity.Session, error) {
	if err := s.F.Next("Sessions.Get"); err != nil {
		return nil, err
	}
	return s.Sessions.Get(ctx, id)
}

func (s FaultySessions) ListActive(ctx context.Context, userID uuid.UUID, now time.Time) ([]identity.Session, error) {
	if err := s.F.Next("Sessions.ListActive"); err != nil {
		return nil, err
	}
	return s.Sessions.ListActive(ctx, userID, now)
}

func (s FaultySessions) Touch(ctx context.Context, id uuid.UUID, at time.Time) error {
	if err := s.F.Next("Sessions.Touch"); err != nil {
		return err
	}
	return s.Sessions.Touch(ctx, id, at)
}

func (s FaultySessions) Revoke(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, except uuid.UUID, at time.Time, reason string) ([]uuid.UUID, error) {
	if err := s.F.Next("Sessions.Revoke"); err != nil {
		return nil, err
	}
	return s.Sessions.Revoke(ctx, userID, ids, except, at, reason)
}

// FaultyRefresh is identity.RefreshTokens with every call first asking F whether it fails.
type FaultyRefresh struct {
	identity.RefreshTokens
	F *apperrtest.Faults
}

func (s FaultyRefresh) Create(ctx context.Context, t *identity.RefreshToken) error {
	if err := s.F.Next("RefreshTokens.Create"); err != nil {
		return err
	}
	return s.RefreshTokens.Create(ctx, t)
}

func (s FaultyRefresh) Get(ctx context.Context, hash []byte) (*identity.RefreshToken, error) {
	if err := s.F.Next("RefreshTokens.Get"); err != nil {
		return nil, err
	}
	return s.RefreshTokens.Get(ctx, hash)
}

func (s FaultyRefresh) Rotate(ctx context.Context, hash []byte, at time.Time, successor []byte) (bool, error) {
	if err := s.F.Next("RefreshTokens.Rotate"); err != nil {
		return false, err
	}
	return s.RefreshTokens.Rotate(ctx, hash, at, successor)
}

// FaultyEmailTokens is identity.EmailTokens with every call first asking F whether it fails.
type FaultyEmailTokens struct {
	identity.EmailTokens
	F *apperrtest.Faults
}

func (s FaultyEmailTokens) Issue(ctx context.Context, t *identity.EmailToken) error {
	if err := s.F.Next("EmailTokens.Issue"); err != nil {
		return err
	}
	return s.EmailTokens.Issue(ctx, t)
}

func (s FaultyEmailTokens) Get(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	if err := s.F.Next("EmailTokens.Get"); err != nil {
		return nil, err
	}
	return s.EmailTokens.Get(ctx, hash, purposes, now)
}

func (s FaultyEmailTokens) Consume(ctx context.Context, hash []byte, purposes []identity.Purpose, now time.Time) (*identity.EmailToken, error) {
	if err := s.F.Next("EmailTokens.Consume"); err != nil {
		return nil, err
	}
	return s.EmailTokens.Consume(ctx, hash, purposes, now)
}

func (s FaultyEmailTokens) Revoke(ctx context.Context, userID uuid.UUID, purposes []identity.Purpose) error {
	if err := s.F.Next("EmailTokens.Revoke"); err != nil {
		return err
	}
	return s.EmailTokens.Revoke(ctx, userID, purposes)
}

// FaultyEvents is identity.Events with every call first asking F whether it fails.
type FaultyEvents struct {
	identity.Events
	F *apperrtest.Faults
}

func (s FaultyEvents) Record(ctx context.Context, e *identity.Event) error {
	if err := s.F.Next("Events.Record"); err != nil {
		return err
	}
	return s.Events.Record(ctx, e)
}

func (s FaultyEvents) List(ctx context.Context, q identity.EventQuery) ([]identity.Event, error) {
	if err := s.F.Next("Events.List"); err != nil {
		return nil, err
	}
	return s.Events.List(ctx, q)
}
