// Package memstore keeps the identity stores in memory: Users, Sessions,
// RefreshTokens, EmailTokens and Events over one Store, and the unit of
// work (uow.Runner) their transactions share. It passes the same contract
// suites as the SQL adapter (core/identity/identitytest), so that the
// identity rules can be tested without a database.
//
// It lives in core, beside the ports, rather than in adapters/memory
// because core's own tests use it and core never imports adapters; it
// imports only the standard library, uuid and core.
//
// Transactions behave like SQLite's: one writer at a time, readers never
// blocked. A transaction (Tx().Do) takes the store's write turn when it
// begins and holds it until it ends; its writes go to a private overlay
// that readers outside it do not see, and are applied under the store's
// lock when it commits, so a commit is all or nothing. A write outside a
// transaction is a transaction of its own. A writer that cannot get the
// turn within LockTimeout, or before its context ends, fails with
// apperr.Unavailable "db_busy", as a locked database would.
//
// Every value is copied in and out: callers never share memory with the
// store. Lookups by key cost a map access; per-user queries walk that
// user's rows; PurgeEnded and Users.List walk the table, as the SQL
// adapter's queries would without an index.
package memstore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/uow"
)

// LockTimeout bounds how long a writer waits for the write turn.
const LockTimeout = 10 * time.Second

// Error codes of this package (the SQL adapter's, where it has one).
const (
	CodeBusy     = "db_busy"
	CodeConflict = "conflict"
	CodeEnded    = "tx_ended"
)

// Store holds the identity tables. The zero value is not usable: call New.
type Store struct {
	turn chan struct{} // one token: the write turn

	mu  sync.RWMutex // guards tab; held for writing only while a commit applies
	tab tables
}

// tables are the committed rows and their indexes. The slices stored as
// index values are never modified in place: a change stores a new slice.
type tables struct {
	users          map[uuid.UUID]identity.User
	emails         map[string]uuid.UUID // EmailKey -> user
	sessions       map[uuid.UUID]identity.Session
	userSessions   map[uuid.UUID][]uuid.UUID
	refresh        map[string]identity.RefreshToken // string(hash)
	sessionRefresh map[uuid.UUID][]string
	tokens         map[string]identity.EmailToken // string(hash)
	userTokens     map[uuid.UUID][]string
	events         map[uuid.UUID][]identity.Event // per user, in recording order
	eventIDs       map[uuid.UUID]struct{}
}

// New returns an empty store.
func New() *Store {
	s := &Store{turn: make(chan struct{}, 1), tab: tables{
		users: map[uuid.UUID]identity.User{}, emails: map[string]uuid.UUID{},
		sessions: map[uuid.UUID]identity.Session{}, userSessions: map[uuid.UUID][]uuid.UUID{},
		refresh: map[string]identity.RefreshToken{}, sessionRefresh: map[uuid.UUID][]string{},
		tokens: map[string]identity.EmailToken{}, userTokens: map[uuid.UUID][]string{},
		events: map[uuid.UUID][]identity.Event{}, eventIDs: map[uuid.UUID]struct{}{},
	}}
	s.turn <- struct{}{}
	return s
}

// Users returns the identity.Users of the store.
func (s *Store) Users() *Users { return &Users{s: s} }

// Sessions returns the identity.Sessions of the store.
func (s *Store) Sessions() *Sessions { return &Sessions{s: s} }

// RefreshTokens returns the identity.RefreshTokens of the store.
func (s *Store) RefreshTokens() *RefreshTokens { return &RefreshTokens{s: s} }

// EmailTokens returns the identity.EmailTokens of the store.
func (s *Store) EmailTokens() *EmailTokens { return &EmailTokens{s: s} }

// Events returns the identity.Events of the store.
func (s *Store) Events() *Events { return &Events{s: s} }

// Tx returns the unit of work of the store.
func (s *Store) Tx() *UnitOfWork { return &UnitOfWork{s: s} }

// UnitOfWork is the uow.Runner of a Store (see the package comment).
type UnitOfWork struct{ s *Store }

var _ uow.Runner = (*UnitOfWork)(nil)

// Do implements uow.Runner, with its AfterCommit hooks run after the
// outermost commit. fn must not use ctx from several goroutines at once,
// and not after Do returned.
func (u *UnitOfWork) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if t := u.s.txFrom(ctx); t != nil {
		return fn(ctx) // join the outer transaction
	}
	t, err := u.s.begin(ctx)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if !committed {
			u.s.end(t, false)
		}
	}()
	txCtx, afterCommit := uow.WithAfterCommit(context.WithValue(ctx, txKey{}, t))
	if err := fn(txCtx); err != nil {
		return err
	}
	if err := uow.MarkCommit(txCtx); err != nil {
		return err
	}
	committed = true
	u.s.end(t, true)
	// After the write turn is given back: a hook may write.
	afterCommit(ctx)
	return nil
}

type txKey struct{}

// txn is an open write transaction: the rows it wrote, applied to the
// store's tables when it commits. While it is open it holds the write
// turn, so the committed tables cannot change under it.
type txn struct {
	s     *Store
	mu    sync.Mutex // guards ended (the contract allows one goroutine; this makes misuse an error, not a race)
	ended bool

	users          overlay[uuid.UUID, identity.User]
	emails         overlay[string, uuid.UUID]
	sessions       overlay[uuid.UUID, identity.Session]
	userSessions   overlay[uuid.UUID, []uuid.UUID]
	refresh        overlay[string, identity.RefreshToken]
	sessionRefresh overlay[uuid.UUID, []string]
	tokens         overlay[string, identity.EmailToken]
	userTokens     overlay[uuid.UUID, []string]
	events         []identity.Event
}

func (s *Store) txFrom(ctx context.Context) *txn {
	t, _ := ctx.Value(txKey{}).(*txn)
	if t == nil || t.s != s {
		return nil
	}
	return t
}

// begin waits for the write turn and opens a transaction.
func (s *Store) begin(ctx context.Context) (*txn, error) {
	if err := ctx.Err(); err != nil {
		return nil, busy(err)
	}
	timer := time.NewTimer(LockTimeout)
	defer timer.Stop()
	select {
	case <-s.turn:
	case <-ctx.Done():
		return nil, busy(ctx.Err())
	case <-timer.C:
		return nil, busy(errors.New("write turn not free within the lock timeout"))
	}
	return &txn{s: s}, nil
}

// end commits or discards t and gives the write turn back.
func (s *Store) end(t *txn, commit bool) {
	t.mu.Lock()
	t.ended = true
	t.mu.Unlock()
	if commit {
		s.mu.Lock()
		t.users.apply(s.tab.users)
		t.emails.apply(s.tab.emails)
		t.sessions.apply(s.tab.sessions)
		t.userSessions.apply(s.tab.userSessions)
		t.refresh.apply(s.tab.refresh)
		t.sessionRefresh.apply(s.tab.sessionRefresh)
		t.tokens.apply(s.tab.tokens)
		t.userTokens.apply(s.tab.userTokens)
		for _, e := range t.events {
			s.tab.events[e.UserID] = append(s.tab.events[e.UserID], e)
			s.tab.eventIDs[e.ID] = struct{}{}
		}
		s.mu.Unlock()
	}
	s.turn <- struct{}{}
}

func busy(cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeBusy, "the store is busy; try again")
}

// write runs fn in the transaction of ctx, or in a transaction of its own
// that commits when fn returns nil.
func (s *Store) write(ctx context.Context, fn func(t *txn) error) error {
	if t := s.txFrom(ctx); t != nil {
		if err := t.check(); err != nil {
			return err
		}
		return fn(t)
	}
	t, err := s.begin(ctx)
	if err != nil {
		return err
	}
	if err := fn(t); err != nil {
		s.end(t, false)
		return err
	}
	s.end(t, true)
	return nil
}

// read runs fn on the transaction of ctx, or on the committed tables
// alone (a txn without writes) under the read lock.
func (s *Store) read(ctx context.Context, fn func(t *txn) error) error {
	if t := s.txFrom(ctx); t != nil {
		if err := t.check(); err != nil {
			return err
		}
		return fn(t)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return fn(&txn{s: s})
}

func (t *txn) check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ended {
		return apperr.New(apperr.Internal, CodeEnded, "memstore: the transaction has ended")
	}
	return nil
}

// overlay is a transaction's changes to one table: new values, and
// deletions (gone).
type overlay[K comparable, V any] struct {
	m map[K]change[V]
}

type change[V any] struct {
	v    V
	gone bool
}

// get reads k through the overlay.
func (o *overlay[K, V]) get(base map[K]V, k K) (V, bool) {
	if c, ok := o.m[k]; ok {
		return c.v, !c.gone
	}
	v, ok := base[k]
	return v, ok
}

func (o *overlay[K, V]) put(k K, v V) {
	if o.m == nil {
		o.m = map[K]change[V]{}
	}
	o.m[k] = change[V]{v: v}
}

func (o *overlay[K, V]) del(k K) {
	if o.m == nil {
		o.m = map[K]change[V]{}
	}
	var zero V
	o.m[k] = change[V]{v: zero, gone: true}
}

// each calls fn for every key of the merged view, stopping when fn
// returns false.
func (o *overlay[K, V]) each(base map[K]V, fn func(K, V) bool) {
	for k, v := range base {
		if _, changed := o.m[k]; changed {
			continue
		}
		if !fn(k, v) {
			return
		}
	}
	for k, c := range o.m {
		if !c.gone && !fn(k, c.v) {
			return
		}
	}
}

func (o *overlay[K, V]) apply(base map[K]V) {
	for k, c := range o.m {
		if c.gone {
			delete(base, k)
		} else {
			base[k] = c.v
		}
	}
}

// now is the stores' clock for the times they fill in: UTC at the
// microsecond, like the SQL adapter, so a value read back equals the
// value written.
func now() time.Time { return norm(time.Now()) }

func norm(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := norm(*t)
	return &v
}

func conflict(what string) error {
	return apperr.New(apperr.Conflict, CodeConflict, fmt.Sprintf("the change conflicts with existing data (%s)", what))
}

// without returns list without x, as a new slice.
func without[T comparable](list []T, x T) []T {
	out := make([]T, 0, len(list))
	for _, v := range list {
		if v != x {
			out = append(out, v)
		}
	}
	return out
}

// with returns list with x appended, as a new slice.
func with[T any](list []T, x T) []T {
	out := make([]T, len(list), len(list)+1)
	copy(out, list)
	return append(out, x)
}
