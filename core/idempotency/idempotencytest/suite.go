// Package idempotencytest is the contract suite of idempotency.Store, run
// through idempotency.Guard.
package idempotencytest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/uow"
)

// Factory returns a store over an empty database, the unit of work of
// that database (a request's transactions, which mark its key applied),
// and a function that stores a user (the SQL schema references users).
type Factory func(t *testing.T) (idempotency.Store, uow.Runner, func(t *testing.T) uuid.UUID)

// dying is a store whose process dies once the request's work is done:
// the answer is neither stored nor the claim released.
type dying struct{ idempotency.Store }

var errDied = errors.New("the process died")

func (dying) Complete(context.Context, uuid.UUID, string, idempotency.Response) error { return errDied }
func (dying) Release(context.Context, uuid.UUID, string) error                        { return errDied }

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && e.Code == code
}

// Run runs the suite.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()
	t0 := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

	t.Run("ReplayAndReuse", func(t *testing.T) {
		st, _, newUser := newStore(t)
		now := t0
		g := &idempotency.Guard{Store: st, Now: func() time.Time { return now }}
		u, other := newUser(t), newUser(t)
		calls := 0
		create := func(context.Context) (idempotency.Response, error) {
			calls++
			return idempotency.Response{Status: 201, ContentType: "application/json", Location: "/api/v1/trades/1", Body: []byte(`{"id":"1"}`)}, nil
		}
		h := idempotency.Hash("POST", "/api/v1/trades", []byte(`{"a":1}`))
		r1, replayed, err := g.Do(ctx, u, "key-1", h, create)
		if err != nil || replayed || r1.Status != 201 || calls != 1 {
			t.Fatalf("first = %+v %v %v (calls %d)", r1, replayed, err, calls)
		}
		r2, replayed, err := g.Do(ctx, u, "key-1", h, create)
		if err != nil || !replayed || calls != 1 || string(r2.Body) != `{"id":"1"}` || r2.Location != r1.Location || r2.ContentType != r1.ContentType {
			t.Fatalf("retry = %+v %v %v (calls %d)", r2, replayed, err, calls)
		}
		if _, _, err := g.Do(ctx, u, "key-1", idempotency.Hash("POST", "/api/v1/trades", []byte(`{"a":2}`)), create); !isCode(err, apperr.Invalid, idempotency.CodeKeyReused) {
			t.Fatalf("other body = %v", err)
		}
		// Keys are per user.
		if _, replayed, err := g.Do(ctx, other, "key-1", h, create); err != nil || replayed || calls != 2 {
			t.Fatalf("another user's key = %v %v (calls %d)", replayed, err, calls)
		}
		// After the TTL the key is fresh again, and Purge removes records.
		now = t0.Add(idempotency.DefaultTTL + time.Second)
		if n, err := st.Purge(ctx, now); err != nil || n != 2 {
			t.Fatalf("Purge = %d, %v; want 2", n, err)
		}
		if _, replayed, err := g.Do(ctx, u, "key-1", h, create); err != nil || replayed || calls != 3 {
			t.Fatalf("after expiry = %v %v (calls %d)", replayed, err, calls)
		}
		for _, k := range []string{"", "has space", string(make([]byte, 256)), "é"} {
			if _, _, err := g.Do(ctx, u, k, h, create); !isCode(err, apperr.Invalid, idempotency.CodeKeyInvalid) {
				t.Errorf("key %q = %v", k, err)
			}
		}
	})

	t.Run("FailuresAreNotStored", func(t *testing.T) {
		st, _, newUser := newStore(t)
		g := &idempotency.Guard{Store: st, Now: func() time.Time { return t0 }}
		u := newUser(t)
		boom := errors.New("boom")
		if _, _, err := g.Do(ctx, u, "k", "h", func(context.Context) (idempotency.Response, error) { return idempotency.Response{}, boom }); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		if _, _, err := g.Do(ctx, u, "k", "h", func(context.Context) (idempotency.Response, error) { return idempotency.Response{Status: 503}, nil }); err != nil {
			t.Fatal(err)
		}
		r, replayed, err := g.Do(ctx, u, "k", "h", func(context.Context) (idempotency.Response, error) {
			return idempotency.Response{Status: 422, Body: []byte("bad")}, nil
		})
		if err != nil || replayed || r.Status != 422 {
			t.Fatalf("third try = %+v %v %v", r, replayed, err)
		}
		r, replayed, _ = g.Do(ctx, u, "k", "h", nil)
		if !replayed || r.Status != 422 || string(r.Body) != "bad" {
			t.Fatalf("a 4xx is replayed: %+v %v", r, replayed)
		}
	})

	t.Run("ConcurrentRetriesRunOnce", func(t *testing.T) {
		st, _, newUser := newStore(t)
		now := t0
		var mu sync.Mutex
		g := &idempotency.Guard{Store: st, Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }}
		u := newUser(t)
		var calls, inProgress atomic.Int32
		release := make(chan struct{})
		var wg sync.WaitGroup
		for range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, err := g.Do(ctx, u, "same", "h", func(context.Context) (idempotency.Response, error) {
					calls.Add(1)
					<-release
					return idempotency.Response{Status: 201}, nil
				})
				if isCode(err, apperr.Conflict, idempotency.CodeInProgress) {
					inProgress.Add(1)
				} else if err != nil {
					t.Error(err)
				}
			}()
		}
		// The first holds the key until released; the five others must be
		// told it is in progress.
		for deadline := time.Now().Add(10 * time.Second); !(calls.Load() == 1 && inProgress.Load() == 5) && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		close(release)
		wg.Wait()
		if calls.Load() != 1 || inProgress.Load() != 5 {
			t.Fatalf("%d ran, %d told in progress; want 1 and 5", calls.Load(), inProgress.Load())
		}
		// A pending claim past the lease (its process died) is taken over.
		if _, err := st.Claim(ctx, idempotency.Record{UserID: u, Key: "dead", RequestHash: "h", State: idempotency.Pending, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}, t0.Add(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		now = t0.Add(2 * idempotency.DefaultLease)
		mu.Unlock()
		if _, replayed, err := g.Do(ctx, u, "dead", "h", func(context.Context) (idempotency.Response, error) { return idempotency.Response{Status: 200}, nil }); err != nil || replayed {
			t.Fatalf("take over a stale claim = %v %v", replayed, err)
		}
	})
	t.Run("AnAnswerLostAfterTheCommitIsNotCarriedOutTwice", func(t *testing.T) {
		// The request's transaction marks its key applied as it commits:
		// a process that dies before storing the answer leaves a key whose
		// retry is refused (idempotency_applied) instead of run again. A
		// transaction that rolled back marks nothing: the retry runs.
		st, tx, newUser := newStore(t)
		now := t0
		clock := func() time.Time { return now }
		u := newUser(t)
		calls := 0
		effect := func(fail error) func(ctx context.Context) (idempotency.Response, error) {
			return func(ctx context.Context) (idempotency.Response, error) {
				calls++
				if err := tx.Do(ctx, func(context.Context) error { return fail }); err != nil {
					return idempotency.Response{Status: 500}, nil //nolint:nilerr // a 5xx answer, as the HTTP layer gives it
				}
				return idempotency.Response{Status: 201, Body: []byte(`{"id":"t1"}`)}, nil
			}
		}
		dead := &idempotency.Guard{Store: dying{st}, Now: clock}
		live := &idempotency.Guard{Store: st, Now: clock}
		if _, _, err := dead.Do(ctx, u, "committed", "h", effect(nil)); !errors.Is(err, errDied) {
			t.Fatalf("dying request = %v", err)
		}
		if _, _, err := live.Do(ctx, u, "committed", "h", effect(nil)); !isCode(err, apperr.Conflict, idempotency.CodeInProgress) {
			t.Fatalf("retry within the lease = %v; want in progress", err)
		}
		now = t0.Add(2 * idempotency.DefaultLease)
		if _, _, err := live.Do(ctx, u, "committed", "h", effect(nil)); !isCode(err, apperr.Conflict, idempotency.CodeApplied) || calls != 1 {
			t.Fatalf("retry after the lease = %v (calls %d); want applied, not run again", err, calls)
		}
		if _, _, err := live.Do(ctx, u, "committed", "other", effect(nil)); !isCode(err, apperr.Invalid, idempotency.CodeKeyReused) {
			t.Fatalf("another body under the applied key = %v", err)
		}

		now, calls = t0, 0
		if _, _, err := dead.Do(ctx, u, "rolled-back", "h", effect(errors.New("constraint"))); !errors.Is(err, errDied) {
			t.Fatalf("dying request = %v", err)
		}
		now = t0.Add(2 * idempotency.DefaultLease)
		if r, replayed, err := live.Do(ctx, u, "rolled-back", "h", effect(nil)); err != nil || replayed || r.Status != 201 || calls != 2 {
			t.Fatalf("retry of a rolled-back request = %+v %v %v (calls %d); want it run", r, replayed, err, calls)
		}
		// An answer stored after the mark is replayed as any other.
		if r, replayed, err := live.Do(ctx, u, "rolled-back", "h", effect(nil)); err != nil || !replayed || string(r.Body) != `{"id":"t1"}` || calls != 2 {
			t.Fatalf("replay after the mark = %+v %v %v (calls %d)", r, replayed, err, calls)
		}
	})
}
