package mfatest

import (
	"bytes"
	"context"
	"crypto/rand"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/uow"
)

// Stores are the repositories under test. NewUser returns the ID of a
// stored user (the SQL schema references users); Tx is the unit of work
// they take part in (nil: the suite skips the rollback test).
type Stores struct {
	Factors     mfa.Factors
	BackupCodes mfa.BackupCodes
	Tx          uow.Runner
	NewUser     func(t *testing.T) uuid.UUID
}

// Factory returns stores over an empty database.
type Factory func(t *testing.T) Stores

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

var t0 = time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.UTC)

func newFactor(userID uuid.UUID, step int64) *mfa.Factor {
	return &mfa.Factor{UserID: userID, Secret: mfa.Sealed{KeyID: "k0123456789ab", Ciphertext: randBytes(48)}, LastStep: step, EnabledAt: t0, UpdatedAt: t0}
}

// Run runs the contract suite.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("FactorLifecycle", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t)
		if _, err := st.Factors.Get(ctx, uid); !isCode(err, apperr.NotFound, mfa.CodeNotEnabled) {
			t.Fatalf("Get before Create = %v; want NotFound mfa_not_enabled", err)
		}
		f := newFactor(uid, 100)
		if err := st.Factors.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := st.Factors.Create(ctx, newFactor(uid, 5)); !isCode(err, apperr.Conflict, mfa.CodeAlreadyEnabled) {
			t.Fatalf("second Create = %v; want Conflict mfa_already_enabled", err)
		}
		got, err := st.Factors.Get(ctx, uid)
		if err != nil {
			t.Fatal(err)
		}
		if got.UserID != uid || got.LastStep != 100 || got.Secret.KeyID != f.Secret.KeyID || !bytes.Equal(got.Secret.Ciphertext, f.Secret.Ciphertext) || !got.EnabledAt.Equal(t0) {
			t.Fatalf("Get = %+v; want %+v", got, f)
		}
		ok, err := st.Factors.Delete(ctx, uid)
		if err != nil || !ok {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		if ok, err := st.Factors.Delete(ctx, uid); err != nil || ok {
			t.Fatalf("second Delete = %v, %v; want false", ok, err)
		}
		if _, err := st.Factors.Get(ctx, uid); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Get after Delete = %v", err)
		}
	})

	t.Run("AdvanceStepOnlyForward", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t)
		if ok, err := st.Factors.AdvanceStep(ctx, uid, 10); err != nil || ok {
			t.Fatalf("AdvanceStep without a factor = %v, %v; want false", ok, err)
		}
		if err := st.Factors.Create(ctx, newFactor(uid, 100)); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			step int64
			want bool
		}{{99, false}, {100, false}, {101, true}, {101, false}, {100, false}, {103, true}, {102, false}} {
			ok, err := st.Factors.AdvanceStep(ctx, uid, tc.step)
			if err != nil || ok != tc.want {
				t.Fatalf("AdvanceStep(%d) = %v, %v; want %v", tc.step, ok, err, tc.want)
			}
		}
		if f, _ := st.Factors.Get(ctx, uid); f.LastStep != 103 {
			t.Fatalf("LastStep = %d; want 103", f.LastStep)
		}
	})

	t.Run("AdvanceStepConcurrentOneWinner", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t)
		if err := st.Factors.Create(ctx, newFactor(uid, 100)); err != nil {
			t.Fatal(err)
		}
		for step := int64(101); step < 106; step++ {
			var wins atomic.Int32
			var wg sync.WaitGroup
			for range 6 {
				wg.Go(func() {
					ok, err := st.Factors.AdvanceStep(ctx, uid, step)
					if err != nil {
						t.Errorf("AdvanceStep: %v", err)
					}
					if ok {
						wins.Add(1)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("step %d: %d winners; want exactly 1", step, wins.Load())
			}
		}
	})

	t.Run("Reseal", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t)
		f := newFactor(uid, 1)
		if err := st.Factors.Create(ctx, f); err != nil {
			t.Fatal(err)
		}
		to := mfa.Sealed{KeyID: "knewkey", Ciphertext: randBytes(48)}
		stale := mfa.Sealed{KeyID: f.Secret.KeyID, Ciphertext: randBytes(48)}
		if ok, err := st.Factors.Reseal(ctx, uid, stale, to); err != nil || ok {
			t.Fatalf("Reseal from a value that is not stored = %v, %v; want false", ok, err)
		}
		if ok, err := st.Factors.Reseal(ctx, uid, f.Secret, to); err != nil || !ok {
			t.Fatalf("Reseal = %v, %v", ok, err)
		}
		if ok, _ := st.Factors.Reseal(ctx, uid, f.Secret, to); ok {
			t.Fatal("Reseal from the old value succeeded twice")
		}
		got, _ := st.Factors.Get(ctx, uid)
		if got.Secret.KeyID != "knewkey" || !bytes.Equal(got.Secret.Ciphertext, to.Ciphertext) || got.LastStep != 1 {
			t.Fatalf("after Reseal = %+v", got)
		}
	})

	t.Run("BackupCodes", func(t *testing.T) {
		st := newStores(t)
		uid, other := st.NewUser(t), st.NewUser(t)
		var hashes [][]byte
		for range 10 {
			hashes = append(hashes, randBytes(32))
		}
		if err := st.BackupCodes.Replace(ctx, uid, hashes, t0); err != nil {
			t.Fatal(err)
		}
		if err := st.BackupCodes.Replace(ctx, other, hashes[:2], t0); err != nil {
			t.Fatal(err)
		}
		unused, err := st.BackupCodes.Unused(ctx, uid)
		if err != nil || !sameSet(unused, hashes) {
			t.Fatalf("Unused = %d hashes, %v; want the 10 stored", len(unused), err)
		}
		for i, h := range hashes {
			ok, remaining, err := st.BackupCodes.Consume(ctx, uid, h, t0.Add(time.Minute))
			if err != nil || !ok || remaining != 9-i {
				t.Fatalf("Consume #%d = %v, %d, %v; want true, %d", i, ok, remaining, err, 9-i)
			}
			if ok, _, err := st.BackupCodes.Consume(ctx, uid, h, t0); err != nil || ok {
				t.Fatalf("Consume #%d again = %v, %v; want false", i, ok, err)
			}
		}
		if ok, _, _ := st.BackupCodes.Consume(ctx, uid, randBytes(32), t0); ok {
			t.Fatal("Consume of an unknown hash succeeded")
		}
		if unused, _ := st.BackupCodes.Unused(ctx, other); len(unused) != 2 {
			t.Fatalf("the other user's codes = %d; want 2 (untouched)", len(unused))
		}
		fresh := [][]byte{randBytes(32), randBytes(32)}
		if err := st.BackupCodes.Replace(ctx, other, fresh, t0); err != nil {
			t.Fatal(err)
		}
		if ok, _, _ := st.BackupCodes.Consume(ctx, other, hashes[0], t0); ok {
			t.Fatal("a replaced code was consumed")
		}
		if unused, _ := st.BackupCodes.Unused(ctx, other); !sameSet(unused, fresh) {
			t.Fatal("Replace did not leave exactly the new codes")
		}
		if err := st.BackupCodes.DeleteAll(ctx, other); err != nil {
			t.Fatal(err)
		}
		if unused, _ := st.BackupCodes.Unused(ctx, other); len(unused) != 0 {
			t.Fatalf("after DeleteAll: %d codes", len(unused))
		}
	})

	t.Run("ConsumeConcurrentOneWinner", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t)
		h := randBytes(32)
		if err := st.BackupCodes.Replace(ctx, uid, [][]byte{h, randBytes(32)}, t0); err != nil {
			t.Fatal(err)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				ok, _, err := st.BackupCodes.Consume(ctx, uid, h, t0)
				if err != nil {
					t.Errorf("Consume: %v", err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d winners; want exactly 1", wins.Load())
		}
	})

	t.Run("RollbackWithTransaction", func(t *testing.T) {
		st := newStores(t)
		if st.Tx == nil {
			t.Skip("no unit of work")
		}
		uid := st.NewUser(t)
		boom := apperr.New(apperr.Internal, "boom", "boom")
		err := st.Tx.Do(ctx, func(ctx context.Context) error {
			if err := st.Factors.Create(ctx, newFactor(uid, 1)); err != nil {
				return err
			}
			if err := st.BackupCodes.Replace(ctx, uid, [][]byte{randBytes(32)}, t0); err != nil {
				return err
			}
			return boom
		})
		if err != boom {
			t.Fatalf("Do = %v", err)
		}
		if _, err := st.Factors.Get(ctx, uid); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("factor survived the rollback: %v", err)
		}
		if unused, _ := st.BackupCodes.Unused(ctx, uid); len(unused) != 0 {
			t.Fatal("backup codes survived the rollback")
		}
	})
}

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && e.Code == code
}

func sameSet(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, bytes.Compare)
	slices.SortFunc(b, bytes.Compare)
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
