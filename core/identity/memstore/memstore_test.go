package memstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
	"github.com/tradesense/tradesense/core/uow"
)

func TestUsersContract(t *testing.T) {
	identitytest.RunUsers(t, func(t *testing.T) (identity.Users, uow.Runner) {
		s := memstore.New()
		return s.Users(), s.Tx()
	})
}

func TestStoresContract(t *testing.T) {
	identitytest.RunStores(t, func(t *testing.T) identitytest.Stores {
		s := memstore.New()
		return identitytest.Stores{Users: s.Users(), Sessions: s.Sessions(), RefreshTokens: s.RefreshTokens(),
			EmailTokens: s.EmailTokens(), Events: s.Events(), Tx: s.Tx()}
	})
}

var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// TestTransactionSpansEveryTable: the writes of one transaction to every
// table stay invisible outside it until it commits, and a rollback drops
// all of them.
func TestTransactionSpansEveryTable(t *testing.T) {
	ctx := context.Background()
	for _, commit := range []bool{true, false} {
		s := memstore.New()
		u := &identity.User{Email: fmt.Sprintf("tx-%v@example.com", commit)}
		sid := uuid.Must(uuid.NewV7())
		hash, tokHash := []byte("refresh-hash"), []byte("email-token-hash")
		inside := make(chan struct{})
		release := make(chan struct{})
		boom := errors.New("roll back")
		done := make(chan error, 1)
		go func() {
			done <- s.Tx().Do(ctx, func(ctx context.Context) error {
				if err := s.Users().Create(ctx, u); err != nil {
					return err
				}
				if err := s.Sessions().Create(ctx, &identity.Session{ID: sid, UserID: u.ID, CreatedAt: t0, LastUsedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
					return err
				}
				if err := s.RefreshTokens().Create(ctx, &identity.RefreshToken{Hash: hash, SessionID: sid, CreatedAt: t0}); err != nil {
					return err
				}
				if err := s.EmailTokens().Issue(ctx, &identity.EmailToken{Hash: tokHash, UserID: u.ID, Purpose: identity.PurposeVerifyEmail, Email: u.Email, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
					return err
				}
				if err := s.Events().Record(ctx, &identity.Event{UserID: u.ID, Type: identity.EventRegistered, At: t0}); err != nil {
					return err
				}
				// The transaction sees its own writes.
				if evs, err := s.Events().List(ctx, identity.EventQuery{UserID: u.ID, Limit: 10}); err != nil || len(evs) != 1 {
					return fmt.Errorf("own event invisible inside: %v, %w", evs, err)
				}
				if list, err := s.Sessions().ListActive(ctx, u.ID, t0); err != nil || len(list) != 1 {
					return fmt.Errorf("own session invisible inside: %v, %w", list, err)
				}
				close(inside)
				<-release
				if !commit {
					return boom
				}
				return nil
			})
		}()
		<-inside
		visible := func() (n int) {
			if _, err := s.Users().Get(ctx, u.ID); err == nil {
				n++
			}
			if _, err := s.Sessions().Get(ctx, sid); err == nil {
				n++
			}
			if _, err := s.RefreshTokens().Get(ctx, hash); err == nil {
				n++
			}
			if _, err := s.EmailTokens().Get(ctx, tokHash, []identity.Purpose{identity.PurposeVerifyEmail}, t0); err == nil {
				n++
			}
			if evs, _ := s.Events().List(ctx, identity.EventQuery{UserID: u.ID, Limit: 10}); len(evs) == 1 {
				n++
			}
			return n
		}
		if n := visible(); n != 0 {
			t.Fatalf("%d uncommitted rows visible outside the transaction", n)
		}
		close(release)
		err := <-done
		switch {
		case commit && err != nil:
			t.Fatalf("Do: %v", err)
		case !commit && !errors.Is(err, boom):
			t.Fatalf("Do = %v; want fn's error", err)
		}
		want := 0
		if commit {
			want = 5
		}
		if n := visible(); n != want {
			t.Fatalf("commit=%v: %d of 5 rows visible after the transaction; want %d", commit, n, want)
		}
	}
}

// TestWriterWaitsForTheTurn: a write outside an open transaction waits
// for it, and gives up with apperr.Unavailable when its context ends or
// the lock timeout passes, as a locked database would.
func TestWriterWaitsForTheTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := memstore.New()
		release := make(chan struct{})
		go func() {
			_ = s.Tx().Do(context.Background(), func(ctx context.Context) error {
				<-release
				return s.Users().Create(ctx, &identity.User{Email: "first@example.com"})
			})
		}()
		synctest.Wait() // the transaction holds the turn

		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		start := time.Now()
		err := s.Users().Create(ctx, &identity.User{Email: "impatient@example.com"})
		if !apperr.Is(err, apperr.Unavailable) || apperr.CodeOf(err) != memstore.CodeBusy || time.Since(start) != time.Second {
			t.Fatalf("write during a transaction, 1s deadline = %v after %s; want db_busy after 1s", err, time.Since(start))
		}
		start = time.Now()
		if err := s.Users().Create(context.Background(), &identity.User{Email: "patient@example.com"}); apperr.CodeOf(err) != memstore.CodeBusy || time.Since(start) != memstore.LockTimeout {
			t.Fatalf("write without a deadline = %v after %s; want db_busy after the lock timeout", err, time.Since(start))
		}
		// Reads are never blocked by the open transaction.
		if _, err := s.Users().GetByEmail(context.Background(), "first@example.com"); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("read during the transaction = %v; want NotFound at once", err)
		}
		waiter := make(chan error, 1)
		go func() { waiter <- s.Users().Create(context.Background(), &identity.User{Email: "next@example.com"}) }()
		close(release)
		if err := <-waiter; err != nil {
			t.Fatalf("write after the transaction ended: %v", err)
		}
		for _, e := range []string{"first@example.com", "next@example.com"} {
			if _, err := s.Users().GetByEmail(context.Background(), e); err != nil {
				t.Fatalf("%s: %v", e, err)
			}
		}
		cancelled, cancelNow := context.WithCancel(context.Background())
		cancelNow()
		if err := s.Users().Create(cancelled, &identity.User{Email: "late@example.com"}); apperr.CodeOf(err) != memstore.CodeBusy {
			t.Fatalf("write with a cancelled context = %v; want db_busy", err)
		}
	})
}

func TestContextOfAnEndedTransactionIsRefused(t *testing.T) {
	s := memstore.New()
	var leaked context.Context
	if err := s.Tx().Do(context.Background(), func(ctx context.Context) error { leaked = ctx; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Users().Create(leaked, &identity.User{Email: "late@example.com"}); apperr.CodeOf(err) != memstore.CodeEnded {
		t.Fatalf("write through an ended transaction = %v; want %s", err, memstore.CodeEnded)
	}
	if _, err := s.Users().Get(leaked, uuid.New()); apperr.CodeOf(err) != memstore.CodeEnded {
		t.Fatalf("read through an ended transaction = %v; want %s", err, memstore.CodeEnded)
	}
	// Another store ignores the transaction: it is not one of its own.
	other := memstore.New()
	if err := other.Users().Create(leaked, &identity.User{Email: "other@example.com"}); err != nil {
		t.Fatalf("another store's write with this context: %v", err)
	}
}

func TestReferencesMustExist(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	ghost := uuid.Must(uuid.NewV7())
	for name, err := range map[string]error{
		"session":       s.Sessions().Create(ctx, &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: ghost, ExpiresAt: t0}),
		"refresh token": s.RefreshTokens().Create(ctx, &identity.RefreshToken{Hash: []byte("h"), SessionID: ghost}),
		"email token":   s.EmailTokens().Issue(ctx, &identity.EmailToken{Hash: []byte("h"), UserID: ghost, Purpose: identity.PurposeVerifyEmail}),
	} {
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("%s of an unknown owner = %v; want Conflict", name, err)
		}
	}
	u := &identity.User{Email: "dup@example.com"}
	if err := s.Users().Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: t0}
	if err := s.Sessions().Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	ev := &identity.Event{UserID: u.ID, Type: identity.EventLogout}
	if err := s.Events().Record(ctx, ev); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"session ID": s.Sessions().Create(ctx, sess),
		"event ID":   s.Events().Record(ctx, ev),
	} {
		if !apperr.Is(err, apperr.Conflict) {
			t.Errorf("duplicate %s = %v; want Conflict", name, err)
		}
	}
	if err := s.Sessions().Touch(ctx, ghost, t0); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Touch(unknown) = %v; want NotFound", err)
	}
	if evs, err := s.Events().List(ctx, identity.EventQuery{Limit: 10}); err != nil || len(evs) != 0 {
		t.Errorf("events of no user = %v, %v; want none", evs, err)
	}
}

// TestValuesAreCopied: what a caller passes in or gets back shares no
// memory with the store.
func TestValuesAreCopied(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	verified := t0
	u := &identity.User{Email: "copy@example.com", EmailVerifiedAt: &verified}
	if err := s.Users().Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	verified = t0.Add(time.Hour)
	got, _ := s.Users().Get(ctx, u.ID)
	*got.EmailVerifiedAt = t0.Add(2 * time.Hour)
	if again, _ := s.Users().Get(ctx, u.ID); !again.EmailVerifiedAt.Equal(t0) {
		t.Fatalf("stored time changed to %s through a caller's pointer", again.EmailVerifiedAt)
	}
	amr := []string{"pwd"}
	sess := &identity.Session{ID: uuid.Must(uuid.NewV7()), UserID: u.ID, ExpiresAt: t0.Add(time.Hour), AMR: amr}
	if err := s.Sessions().Create(ctx, sess); err != nil {
		t.Fatal(err)
	}
	amr[0] = "changed"
	gs, _ := s.Sessions().Get(ctx, sess.ID)
	gs.AMR[0] = "changed too"
	if again, _ := s.Sessions().Get(ctx, sess.ID); again.AMR[0] != "pwd" {
		t.Fatalf("stored AMR = %v", again.AMR)
	}
	hash := []byte("refresh-hash")
	if err := s.RefreshTokens().Create(ctx, &identity.RefreshToken{Hash: hash, SessionID: sess.ID}); err != nil {
		t.Fatal(err)
	}
	rt, _ := s.RefreshTokens().Get(ctx, []byte("refresh-hash"))
	rt.Hash[0] = 'X'
	hash[1] = 'X'
	if _, err := s.RefreshTokens().Get(ctx, []byte("refresh-hash")); err != nil {
		t.Fatalf("stored hash changed through a caller's slice: %v", err)
	}
	details := map[string]string{"k": "v"}
	if err := s.Events().Record(ctx, &identity.Event{UserID: u.ID, Type: identity.EventLogout, Details: details}); err != nil {
		t.Fatal(err)
	}
	details["k"] = "changed"
	evs, _ := s.Events().List(ctx, identity.EventQuery{UserID: u.ID, Limit: 1})
	evs[0].Details["k"] = "changed too"
	if again, _ := s.Events().List(ctx, identity.EventQuery{UserID: u.ID, Limit: 1}); again[0].Details["k"] != "v" {
		t.Fatalf("stored details = %v", again[0].Details)
	}
}
