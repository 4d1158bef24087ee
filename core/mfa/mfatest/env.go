package mfatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/uow"
)

// Env is an mfa.Service over in-memory stores and fakes (or the
// repositories a test passes). It keeps no clock: every part reads
// time.Now, so a test built inside a synctest bubble moves them all with
// time.Sleep.
type Env struct {
	Factors     mfa.Factors
	BackupCodes mfa.BackupCodes
	Users       identity.Users
	Events      identity.Events
	Pending     *ShortLived
	Limiter     *identitytest.Limiter
	Mailer      *identitytest.Mailer
	Keys        *mfa.KeyRing
	Config      mfa.Config
	Svc         *mfa.Service

	users []uuid.UUID // created by NewUser, for EventCount
}

// Options choose the repositories of an Env; nil ones are in memory
// (MemStore for the factors and backup codes, core/identity/memstore for
// the users, the events and the unit of work). Keys defaults to a ring
// built from KeyMaterial(1).
type Options struct {
	Factors     mfa.Factors
	BackupCodes mfa.BackupCodes
	Users       identity.Users
	Events      identity.Events
	Tx          uow.Runner
	Keys        *mfa.KeyRing
	// Push receives security.mfa_changed (nil: none).
	Push realtime.Publisher
}

// KeyMaterial returns a deterministic 32-byte key material number n.
func KeyMaterial(n byte) []byte { return bytes.Repeat([]byte{n, 0xA5}, 16) }

// NewEnv builds an Env.
func NewEnv(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Factors: o.Factors, BackupCodes: o.BackupCodes, Users: o.Users, Events: o.Events, Keys: o.Keys}
	if e.Factors == nil || e.BackupCodes == nil {
		m := NewMemStore()
		e.Factors, e.BackupCodes = m, m
	}
	mem := memstore.New()
	if e.Users == nil {
		e.Users = mem.Users()
	}
	if e.Events == nil {
		e.Events = mem.Events()
	}
	tx := o.Tx
	if tx == nil {
		tx = mem.Tx()
	}
	if e.Keys == nil {
		k, err := mfa.NewKeyRing(KeyMaterial(1))
		if err != nil {
			t.Fatal(err)
		}
		e.Keys = k
	}
	e.Pending = NewShortLived()
	e.Limiter = identitytest.NewLimiter()
	e.Mailer = &identitytest.Mailer{}
	e.Config = mfa.DefaultConfig(1)
	svc, err := mfa.NewService(e.Config, mfa.Deps{
		Factors: e.Factors, BackupCodes: e.BackupCodes, Users: e.Users, Events: e.Events, Tx: tx, Pending: e.Pending,
		Limiter: e.Limiter, Keys: e.Keys, Passwords: Passwords{}, Mailer: e.Mailer, Push: o.Push,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Svc = svc
	return e
}

// NewUser stores a user whose password is pw (see Passwords).
func (e *Env) NewUser(t testing.TB, email, pw string) *identity.User {
	t.Helper()
	u := &identity.User{Email: email, PasswordHash: PasswordHash(pw), Role: identity.RoleUser}
	if err := e.Users.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	e.users = append(e.users, u.ID)
	return u
}

// EventCount returns how many events of typ the users of NewUser have.
func (e *Env) EventCount(t testing.TB, typ identity.EventType) int {
	t.Helper()
	n := 0
	for _, id := range e.users {
		evs, err := e.Events.List(context.Background(), identity.EventQuery{UserID: id, Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Type == typ {
				n++
			}
		}
	}
	return n
}

// Passwords is a fake PasswordVerifier: the "hash" is "fake$" + hex
// SHA-256 of the password.
type Passwords struct{}

// PasswordHash returns the fake hash of pw.
func PasswordHash(pw string) string {
	h := sha256.Sum256([]byte(pw))
	return "fake$" + hex.EncodeToString(h[:])
}

// Verify implements mfa.PasswordVerifier.
func (Passwords) Verify(_ context.Context, pw, enc string) (bool, bool, error) {
	return enc != "" && PasswordHash(pw) == enc, false, nil
}

// ShortLived is a fake shortlived.Store whose entries expire by time.Now.
type ShortLived struct {
	mu sync.Mutex
	m  map[string]slEntry
}

type slEntry struct {
	v   []byte
	exp time.Time
}

// NewShortLived returns an empty fake store.
func NewShortLived() *ShortLived {
	return &ShortLived{m: map[string]slEntry{}}
}

// Put implements shortlived.Store.
func (s *ShortLived) Put(_ context.Context, k string, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = slEntry{bytes.Clone(v), time.Now().Add(ttl)}
	return nil
}

func (s *ShortLived) read(k string, take bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || !time.Now().Before(e.exp) {
		return nil, shortlived.NotFound()
	}
	if take {
		delete(s.m, k)
	}
	return bytes.Clone(e.v), nil
}

// Get implements shortlived.Store.
func (s *ShortLived) Get(_ context.Context, k string) ([]byte, error) { return s.read(k, false) }

// Take implements shortlived.Store.
func (s *ShortLived) Take(_ context.Context, k string) ([]byte, error) { return s.read(k, true) }

// Delete implements shortlived.Store.
func (s *ShortLived) Delete(_ context.Context, k string) error {
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
	return nil
}

// Values returns every stored value (to check none holds a secret).
func (s *ShortLived) Values() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	for k, e := range s.m {
		out = append(out, []byte(k), e.v)
	}
	return out
}
