// Package identitytest holds the contract suites of the identity ports,
// which the in-memory stores (core/identity/memstore) and the SQL adapter
// (SQLite always, PostgreSQL when TEST_POSTGRES_URL is set) pass, and Env:
// the identity service over those stores and the fakes of fakes.go, for
// the rule tests of core/identity.
package identitytest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/uow"
)

// UsersFactory returns an empty Users store and the unit of work it takes
// part in. It registers its own cleanup.
type UsersFactory func(t *testing.T) (identity.Users, uow.Runner)

// RunUsers runs the contract of identity.Users, and of uow.Runner as seen
// through it.
func RunUsers(t *testing.T, newStore UsersFactory) {
	ctx := context.Background()
	ts := time.Date(2025, 3, 4, 5, 6, 7, 123456000, time.UTC)

	t.Run("CreateThenGet", func(t *testing.T) {
		users, _ := newStore(t)
		u := &identity.User{ID: uuid.New(), Email: "Ada@Example.com", CreatedAt: ts, UpdatedAt: ts.Add(time.Second)}
		if err := users.Create(ctx, u); err != nil {
			t.Fatalf("Create: %v", err)
		}
		got, err := users.Get(ctx, u.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		assertUser(t, got, u)
	})

	t.Run("CreateFillsIDAndTimestamps", func(t *testing.T) {
		users, _ := newStore(t)
		before := time.Now().Add(-time.Second)
		u := &identity.User{Email: "new@example.com"}
		if err := users.Create(ctx, u); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if u.ID == uuid.Nil || u.ID.Version() != 7 {
			t.Fatalf("ID = %s; want a fresh UUIDv7", u.ID)
		}
		if u.CreatedAt.Before(before) || u.CreatedAt.After(time.Now().Add(time.Second)) || !u.UpdatedAt.Equal(u.CreatedAt) {
			t.Fatalf("timestamps = %s / %s; want now, equal", u.CreatedAt, u.UpdatedAt)
		}
		if u.CreatedAt.Location() != time.UTC || u.CreatedAt.Nanosecond()%1000 != 0 {
			t.Fatalf("CreatedAt %s is not UTC with microsecond precision", u.CreatedAt)
		}
		got, err := users.Get(ctx, u.ID)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		assertUser(t, got, u)
	})

	t.Run("GetUnknown", func(t *testing.T) {
		users, _ := newStore(t)
		if _, err := users.Get(ctx, uuid.New()); !isKind(err, apperr.NotFound, identity.CodeUserNotFound) {
			t.Fatalf("Get(unknown) error = %v; want NotFound %s", err, identity.CodeUserNotFound)
		}
		if _, err := users.GetByEmail(ctx, "nobody@example.com"); !isKind(err, apperr.NotFound, identity.CodeUserNotFound) {
			t.Fatalf("GetByEmail(unknown) error = %v; want NotFound %s", err, identity.CodeUserNotFound)
		}
	})

	t.Run("EmailIsCaseInsensitive", func(t *testing.T) {
		users, _ := newStore(t)
		u := mustCreate(t, users, "Élise.Dupont@Example.COM")
		for _, email := range []string{"élise.dupont@example.com", "ÉLISE.DUPONT@EXAMPLE.COM", "Élise.Dupont@Example.COM"} {
			got, err := users.GetByEmail(ctx, email)
			if err != nil || got.ID != u.ID {
				t.Fatalf("GetByEmail(%q) = %v, %v; want user %s", email, got, err, u.ID)
			}
			if got.Email != "Élise.Dupont@Example.COM" {
				t.Fatalf("email stored as %q; want it as given", got.Email)
			}
		}
		for _, email := range []string{"élise.dupont@example.com", "ÉLISE.DUPONT@example.com"} {
			err := users.Create(ctx, &identity.User{Email: email})
			if !isKind(err, apperr.Conflict, identity.CodeEmailTaken) {
				t.Fatalf("Create(%q) error = %v; want Conflict %s", email, err, identity.CodeEmailTaken)
			}
		}
		// Lookalikes are distinct.
		mustCreate(t, users, "elise.dupont@example.com")
	})

	t.Run("DuplicateID", func(t *testing.T) {
		users, _ := newStore(t)
		u := mustCreate(t, users, "one@example.com")
		err := users.Create(ctx, &identity.User{ID: u.ID, Email: "two@example.com"})
		if !isKind(err, apperr.Conflict, identity.CodeUserExists) {
			t.Fatalf("Create(duplicate ID) error = %v; want Conflict %s", err, identity.CodeUserExists)
		}
	})

	t.Run("Update", func(t *testing.T) {
		users, _ := newStore(t)
		u := &identity.User{Email: "old@example.com", CreatedAt: ts, UpdatedAt: ts}
		if err := users.Create(ctx, u); err != nil {
			t.Fatal(err)
		}
		before := time.Now().Add(-time.Second)
		err := users.Update(ctx, u.ID, func(cur *identity.User) (*identity.User, error) {
			if cur.Email != "old@example.com" {
				return nil, fmt.Errorf("fn saw email %q", cur.Email)
			}
			cur.Email = "New@example.com"
			return cur, nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		got, err := users.GetByEmail(ctx, "new@example.com")
		if err != nil {
			t.Fatalf("GetByEmail(new): %v", err)
		}
		if got.Email != "New@example.com" || !got.CreatedAt.Equal(ts) || got.UpdatedAt.Before(before) {
			t.Fatalf("after Update = %+v; want new email, CreatedAt kept, UpdatedAt now", got)
		}
		if _, err := users.GetByEmail(ctx, "old@example.com"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("old email still resolves: %v", err)
		}
	})

	t.Run("UpdateErrors", func(t *testing.T) {
		users, _ := newStore(t)
		a := mustCreate(t, users, "a@example.com")
		mustCreate(t, users, "b@example.com")
		boom := errors.New("rejected by the domain")
		if err := users.Update(ctx, a.ID, func(u *identity.User) (*identity.User, error) {
			u.Email = "changed@example.com"
			return nil, boom
		}); !errors.Is(err, boom) {
			t.Fatalf("Update with a failing fn = %v; want its error unchanged", err)
		}
		if err := users.Update(ctx, a.ID, func(u *identity.User) (*identity.User, error) {
			u.Email = "B@EXAMPLE.com"
			return u, nil
		}); !isKind(err, apperr.Conflict, identity.CodeEmailTaken) {
			t.Fatalf("Update to a taken email = %v; want Conflict %s", err, identity.CodeEmailTaken)
		}
		if err := users.Update(ctx, a.ID, func(u *identity.User) (*identity.User, error) {
			u.ID = uuid.New()
			return u, nil
		}); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("Update changing the ID = %v; want Invalid", err)
		}
		if err := users.Update(ctx, uuid.New(), func(u *identity.User) (*identity.User, error) { return u, nil }); !isKind(err, apperr.NotFound, identity.CodeUserNotFound) {
			t.Fatalf("Update(unknown) = %v; want NotFound", err)
		}
		got, err := users.Get(ctx, a.ID)
		if err != nil || got.Email != "a@example.com" {
			t.Fatalf("failed updates changed the user: %+v, %v", got, err)
		}
	})

	t.Run("ConcurrentUpdatesAreNotLost", func(t *testing.T) {
		users, _ := newStore(t)
		u := mustCreate(t, users, "n0@example.com")
		const n = 10
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				errs <- users.Update(ctx, u.ID, func(cur *identity.User) (*identity.User, error) {
					var k int
					if _, err := fmt.Sscanf(cur.Email, "n%d@example.com", &k); err != nil {
						return nil, err
					}
					cur.Email = fmt.Sprintf("n%d@example.com", k+1)
					return cur, nil
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("concurrent Update: %v", err)
			}
		}
		got, err := users.Get(ctx, u.ID)
		if err != nil || got.Email != fmt.Sprintf("n%d@example.com", n) {
			t.Fatalf("after %d concurrent increments email = %v, %v; an update was lost", n, got, err)
		}
	})

	t.Run("List", func(t *testing.T) {
		users, _ := newStore(t)
		var ids []uuid.UUID
		for _, e := range []string{"Ann@x.io", "bob@x.io", "ANNA@y.io", "100%_ann@z.io", "carl@x.io"} {
			ids = append(ids, mustCreate(t, users, e).ID)
			time.Sleep(2 * time.Millisecond) // UUIDv7 order = creation order
		}
		page1, err := users.List(ctx, identity.UserQuery{Limit: 2})
		if err != nil || len(page1) != 2 || page1[0].ID != ids[0] || page1[1].ID != ids[1] {
			t.Fatalf("first page = %v, %v; want the first two users in ID order", page1, err)
		}
		page2, err := users.List(ctx, identity.UserQuery{Limit: 10, After: page1[1].ID})
		if err != nil || len(page2) != 3 || page2[0].ID != ids[2] {
			t.Fatalf("second page = %v, %v; want the remaining three", page2, err)
		}
		ann, err := users.List(ctx, identity.UserQuery{Limit: 10, EmailContains: "ANN"})
		if err != nil || len(ann) != 3 {
			t.Fatalf("filter ANN = %v, %v; want 3 matches ignoring case", ann, err)
		}
		lit, err := users.List(ctx, identity.UserQuery{Limit: 10, EmailContains: "%_"})
		if err != nil || len(lit) != 1 || lit[0].ID != ids[3] {
			t.Fatalf("filter %%_ = %v, %v; LIKE wildcards must match literally", lit, err)
		}
		for _, limit := range []int{0, -1, 201} {
			if _, err := users.List(ctx, identity.UserQuery{Limit: limit}); !apperr.Is(err, apperr.Invalid) {
				t.Fatalf("List(limit=%d) = %v; want Invalid", limit, err)
			}
		}
	})

	t.Run("UnitOfWork", func(t *testing.T) { runUnitOfWork(t, newStore) })
}

func runUnitOfWork(t *testing.T, newStore UsersFactory) {
	ctx := context.Background()

	t.Run("Commit", func(t *testing.T) {
		users, tx := newStore(t)
		var a, b identity.User
		err := tx.Do(ctx, func(ctx context.Context) error {
			a, b = identity.User{Email: "a@example.com"}, identity.User{Email: "b@example.com"}
			if err := users.Create(ctx, &a); err != nil {
				return err
			}
			if _, err := users.Get(ctx, a.ID); err != nil {
				return fmt.Errorf("own write invisible inside the transaction: %w", err)
			}
			return users.Create(ctx, &b)
		})
		if err != nil {
			t.Fatalf("Do: %v", err)
		}
		for _, u := range []identity.User{a, b} {
			if _, err := users.Get(ctx, u.ID); err != nil {
				t.Fatalf("committed user %s missing: %v", u.Email, err)
			}
		}
	})

	t.Run("RollbackOnError", func(t *testing.T) {
		users, tx := newStore(t)
		boom := errors.New("second step failed")
		var a identity.User
		err := tx.Do(ctx, func(ctx context.Context) error {
			a = identity.User{Email: "a@example.com"}
			if err := users.Create(ctx, &a); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Do = %v; want fn's error unchanged", err)
		}
		if _, err := users.Get(ctx, a.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("write of a rolled-back transaction is visible: %v", err)
		}
	})

	t.Run("RollbackOnConflict", func(t *testing.T) {
		users, tx := newStore(t)
		mustCreate(t, users, "taken@example.com")
		var a identity.User
		err := tx.Do(ctx, func(ctx context.Context) error {
			a = identity.User{Email: "fresh@example.com"}
			if err := users.Create(ctx, &a); err != nil {
				return err
			}
			return users.Create(ctx, &identity.User{Email: "TAKEN@example.com"})
		})
		if !isKind(err, apperr.Conflict, identity.CodeEmailTaken) {
			t.Fatalf("Do = %v; want Conflict %s", err, identity.CodeEmailTaken)
		}
		if _, err := users.Get(ctx, a.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("first write survived the failed transaction: %v", err)
		}
	})

	t.Run("RollbackOnPanic", func(t *testing.T) {
		users, tx := newStore(t)
		var a identity.User
		func() {
			defer func() {
				if p := recover(); p != "kaboom" {
					t.Fatalf("recovered %v; want the panic re-raised", p)
				}
			}()
			_ = tx.Do(ctx, func(ctx context.Context) error {
				a = identity.User{Email: "a@example.com"}
				if err := users.Create(ctx, &a); err != nil {
					return err
				}
				panic("kaboom")
			})
		}()
		if _, err := users.Get(ctx, a.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("write before a panic survived: %v", err)
		}
		// The store is still usable: no connection or lock leaked.
		mustCreate(t, users, "after-panic@example.com")
	})

	t.Run("NestedJoinsOuter", func(t *testing.T) {
		users, tx := newStore(t)
		var a, b identity.User
		boom := errors.New("outer fails after inner succeeded")
		err := tx.Do(ctx, func(ctx context.Context) error {
			a = identity.User{Email: "a@example.com"}
			if err := users.Create(ctx, &a); err != nil {
				return err
			}
			if err := tx.Do(ctx, func(ctx context.Context) error {
				b = identity.User{Email: "b@example.com"}
				return users.Create(ctx, &b)
			}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Do = %v", err)
		}
		for _, u := range []identity.User{a, b} {
			if _, err := users.Get(ctx, u.ID); !apperr.Is(err, apperr.NotFound) {
				t.Fatalf("%s survived the outer rollback: the nested Do did not join (%v)", u.Email, err)
			}
		}
	})

	t.Run("AfterCommitHooks", func(t *testing.T) {
		users, tx := newStore(t)
		// Commit: the hook runs once, after the commit, and sees the write
		// from outside the transaction.
		var a identity.User
		ranInside, seen := false, error(nil)
		hooks := 0
		err := tx.Do(ctx, func(ctx context.Context) error {
			a = identity.User{Email: "hooked@example.com"}
			if err := users.Create(ctx, &a); err != nil {
				return err
			}
			uow.AfterCommit(ctx, func(hctx context.Context) {
				hooks++
				_, seen = users.Get(hctx, a.ID)
			})
			ranInside = hooks > 0
			return nil
		})
		if err != nil || ranInside || hooks != 1 || seen != nil {
			t.Fatalf("Do = %v; hook ran inside %v, %d times, read %v; want once after the commit, seeing the user", err, ranInside, hooks, seen)
		}
		// Rollback by error or by panic: no hook.
		boom := errors.New("boom")
		_ = tx.Do(ctx, func(ctx context.Context) error {
			uow.AfterCommit(ctx, func(context.Context) { hooks++ })
			return boom
		})
		func() {
			defer func() { _ = recover() }()
			_ = tx.Do(ctx, func(ctx context.Context) error {
				uow.AfterCommit(ctx, func(context.Context) { hooks++ })
				panic("boom")
			})
		}()
		if hooks != 1 {
			t.Fatalf("a hook ran after a rollback (%d runs)", hooks)
		}
		// Nested: the inner hook waits for the outer commit, and an outer
		// rollback drops it.
		var order []string
		err = tx.Do(ctx, func(ctx context.Context) error {
			if err := tx.Do(ctx, func(ctx context.Context) error {
				uow.AfterCommit(ctx, func(context.Context) { order = append(order, "inner hook") })
				return nil
			}); err != nil {
				return err
			}
			order = append(order, "outer body")
			return nil
		})
		if err != nil || len(order) != 2 || order[1] != "inner hook" {
			t.Fatalf("nested commit: %v, order %v", err, order)
		}
		_ = tx.Do(ctx, func(ctx context.Context) error {
			_ = tx.Do(ctx, func(ctx context.Context) error {
				uow.AfterCommit(ctx, func(context.Context) { hooks++ })
				return nil
			})
			return boom
		})
		if hooks != 1 {
			t.Fatal("an inner hook ran although the outer transaction rolled back")
		}
	})

	t.Run("UncommittedIsInvisibleOutside", func(t *testing.T) {
		users, tx := newStore(t)
		created := make(chan uuid.UUID)
		release := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- tx.Do(ctx, func(ctx context.Context) error {
				u := identity.User{Email: "pending@example.com"}
				if err := users.Create(ctx, &u); err != nil {
					close(created)
					return err
				}
				created <- u.ID
				<-release
				return nil
			})
		}()
		id, ok := <-created
		if !ok {
			t.Fatalf("Create inside Do failed: %v", <-done)
		}
		_, err := users.Get(ctx, id)
		close(release)
		if !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("uncommitted row visible outside its transaction: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatalf("Do: %v", err)
		}
		if _, err := users.Get(ctx, id); err != nil {
			t.Fatalf("row missing after commit: %v", err)
		}
	})
}

func mustCreate(t *testing.T, users identity.Users, email string) *identity.User {
	t.Helper()
	u := &identity.User{Email: email}
	if err := users.Create(context.Background(), u); err != nil {
		t.Fatalf("Create(%s): %v", email, err)
	}
	return u
}

func assertUser(t *testing.T, got, want *identity.User) {
	t.Helper()
	if got.ID != want.ID || got.Email != want.Email || !got.CreatedAt.Equal(want.CreatedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) {
		t.Fatalf("got %+v; want %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC || got.UpdatedAt.Location() != time.UTC {
		t.Fatalf("timestamps %s, %s are not in UTC", got.CreatedAt, got.UpdatedAt)
	}
}

func isKind(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && e.Code == code
}
