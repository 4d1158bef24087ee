package mfatest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/uow"
)

// Env is an mfa.Service over fakes (or the repositories a test passes),
// with a settable clock that every fake reads.
type Env struct {
	Clock       *Clock
	Factors     mfa.Factors
	BackupCodes mfa.BackupCodes
	Users       identity.Users
	Events      identity.Events
	Pending     *ShortLived
	Limiter     *Limiter
	Mailer      *Mailer
	Keys        *mfa.KeyRing
	Config      mfa.Config
	Svc         *mfa.Service
}

// Options choose the repositories of an Env; nil ones are in-memory
// fakes. Keys defaults to a ring built from KeyMaterial(1).
type Options struct {
	Factors     mfa.Factors
	BackupCodes mfa.BackupCodes
	Users       identity.Users
	Events      identity.Events
	Tx          uow.Runner
	Keys        *mfa.KeyRing
	Clock       *Clock
}

// KeyMaterial returns a deterministic 32-byte key material number n.
func KeyMaterial(n byte) []byte { return bytes.Repeat([]byte{n, 0xA5}, 16) }

// NewEnv builds an Env.
func NewEnv(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Clock: o.Clock, Factors: o.Factors, BackupCodes: o.BackupCodes, Users: o.Users, Events: o.Events, Keys: o.Keys}
	if e.Clock == nil {
		e.Clock = NewClock(time.Date(2026, 5, 6, 7, 8, 0, 0, time.UTC))
	}
	if e.Factors == nil || e.BackupCodes == nil {
		m := NewMemStore()
		e.Factors, e.BackupCodes = m, m
	}
	if e.Users == nil {
		e.Users = NewUsers()
	}
	if e.Events == nil {
		e.Events = &Events{}
	}
	if e.Keys == nil {
		k, err := mfa.NewKeyRing(KeyMaterial(1))
		if err != nil {
			t.Fatal(err)
		}
		e.Keys = k
	}
	tx := o.Tx
	if tx == nil {
		tx = NoTx{}
	}
	e.Pending = NewShortLived(e.Clock.Now)
	e.Limiter = &Limiter{now: e.Clock.Now, keys: map[string]ratelimit.State{}}
	e.Mailer = &Mailer{}
	e.Config = mfa.DefaultConfig(1)
	svc, err := mfa.NewService(e.Config, mfa.Deps{
		Factors: e.Factors, BackupCodes: e.BackupCodes, Users: e.Users, Events: e.Events, Tx: tx, Pending: e.Pending,
		Limiter: e.Limiter, Keys: e.Keys, Passwords: Passwords{}, Mailer: e.Mailer, Now: e.Clock.Now,
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
	return u
}

// Clock is a settable clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Advance moves the clock.
func (c *Clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// NoTx is a unit of work for stores that need none.
type NoTx struct{}

// Do implements uow.Runner.
func (NoTx) Do(ctx context.Context, fn func(context.Context) error) error { return fn(ctx) }

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

// Limiter is a fake ratelimit.Limiter running ratelimit.Apply on a map.
type Limiter struct {
	now  func() time.Time
	mu   sync.Mutex
	keys map[string]ratelimit.State
}

func (l *Limiter) apply(key string, lim ratelimit.Limit, count bool) (ratelimit.Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, st := ratelimit.Apply(l.keys[key], lim, l.now(), count)
	l.keys[key] = st
	return r, nil
}

// Hit implements ratelimit.Limiter.
func (l *Limiter) Hit(_ context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.apply(key, lim, true)
}

// Peek implements ratelimit.Limiter.
func (l *Limiter) Peek(_ context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.apply(key, lim, false)
}

// Reset implements ratelimit.Limiter.
func (l *Limiter) Reset(_ context.Context, key string) error {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
	return nil
}

// ShortLived is a fake shortlived.Store on the Env's clock.
type ShortLived struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]slEntry
}

type slEntry struct {
	v   []byte
	exp time.Time
}

// NewShortLived returns an empty fake store.
func NewShortLived(now func() time.Time) *ShortLived {
	return &ShortLived{now: now, m: map[string]slEntry{}}
}

// Put implements shortlived.Store.
func (s *ShortLived) Put(_ context.Context, k string, v []byte, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = slEntry{bytes.Clone(v), s.now().Add(ttl)}
	return nil
}

func (s *ShortLived) read(k string, take bool) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.m[k]
	if !ok || !s.now().Before(e.exp) {
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

// Mailer records emails.
type Mailer struct {
	mu   sync.Mutex
	Sent []identity.Email
}

// SendEmail implements identity.Mailer.
func (m *Mailer) SendEmail(_ context.Context, e identity.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.Sent = append(m.Sent, e)
	return "job", nil
}

// Count returns how many emails used template.
func (m *Mailer) Count(template string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.Sent {
		if e.Template == template {
			n++
		}
	}
	return n
}

// Events records audit events in memory.
type Events struct {
	mu  sync.Mutex
	all []identity.Event
}

// Record implements identity.Events.
func (e *Events) Record(_ context.Context, ev *identity.Event) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ev.ID == uuid.Nil {
		ev.ID = uuid.Must(uuid.NewV7())
	}
	e.all = append(e.all, *ev)
	return nil
}

// List implements identity.Events.
func (e *Events) List(_ context.Context, q identity.EventQuery) ([]identity.Event, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []identity.Event
	for i := len(e.all) - 1; i >= 0; i-- {
		if e.all[i].UserID == q.UserID {
			out = append(out, e.all[i])
		}
	}
	return out, nil
}

// Count returns how many events of typ were recorded.
func (e *Events) Count(typ identity.EventType) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, ev := range e.all {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// Users is a fake identity.Users.
type Users struct {
	mu sync.Mutex
	m  map[uuid.UUID]identity.User
}

// NewUsers returns an empty fake.
func NewUsers() *Users { return &Users{m: map[uuid.UUID]identity.User{}} }

// Create implements identity.Users.
func (s *Users) Create(_ context.Context, u *identity.User) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.ID == uuid.Nil {
		u.ID = uuid.Must(uuid.NewV7())
	}
	s.m[u.ID] = *u
	return nil
}

// Get implements identity.Users.
func (s *Users) Get(_ context.Context, id uuid.UUID) (*identity.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[id]
	if !ok {
		return nil, apperr.New(apperr.NotFound, identity.CodeUserNotFound, "user not found")
	}
	return &u, nil
}

// GetByEmail implements identity.Users.
func (s *Users) GetByEmail(_ context.Context, email string) (*identity.User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.m {
		if strings.EqualFold(u.Email, email) {
			return &u, nil
		}
	}
	return nil, apperr.New(apperr.NotFound, identity.CodeUserNotFound, "user not found")
}

// Update implements identity.Users.
func (s *Users) Update(_ context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.m[id]
	if !ok {
		return apperr.New(apperr.NotFound, identity.CodeUserNotFound, "user not found")
	}
	nu, err := fn(&u)
	if err != nil {
		return err
	}
	s.m[id] = *nu
	return nil
}

// List implements identity.Users.
func (s *Users) List(context.Context, identity.UserQuery) ([]identity.User, error) { return nil, nil }
