package mfa_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
)

type faultyFactors struct {
	mfa.Factors
	f *apperrtest.Faults
}

func (s faultyFactors) Create(ctx context.Context, x *mfa.Factor) error {
	if err := s.f.Next("Factors.Create"); err != nil {
		return err
	}
	return s.Factors.Create(ctx, x)
}

func (s faultyFactors) Get(ctx context.Context, userID uuid.UUID) (*mfa.Factor, error) {
	if err := s.f.Next("Factors.Get"); err != nil {
		return nil, err
	}
	return s.Factors.Get(ctx, userID)
}

func (s faultyFactors) AdvanceStep(ctx context.Context, userID uuid.UUID, step int64) (bool, error) {
	if err := s.f.Next("Factors.AdvanceStep"); err != nil {
		return false, err
	}
	return s.Factors.AdvanceStep(ctx, userID, step)
}

func (s faultyFactors) Reseal(ctx context.Context, userID uuid.UUID, from, to mfa.Sealed) (bool, error) {
	if err := s.f.Next("Factors.Reseal"); err != nil {
		return false, err
	}
	return s.Factors.Reseal(ctx, userID, from, to)
}

func (s faultyFactors) Delete(ctx context.Context, userID uuid.UUID) (bool, error) {
	if err := s.f.Next("Factors.Delete"); err != nil {
		return false, err
	}
	return s.Factors.Delete(ctx, userID)
}

type faultyCodes struct {
	mfa.BackupCodes
	f *apperrtest.Faults
}

func (s faultyCodes) Replace(ctx context.Context, userID uuid.UUID, hashes [][]byte, at time.Time) error {
	if err := s.f.Next("BackupCodes.Replace"); err != nil {
		return err
	}
	return s.BackupCodes.Replace(ctx, userID, hashes, at)
}

func (s faultyCodes) Unused(ctx context.Context, userID uuid.UUID) ([][]byte, error) {
	if err := s.f.Next("BackupCodes.Unused"); err != nil {
		return nil, err
	}
	return s.BackupCodes.Unused(ctx, userID)
}

func (s faultyCodes) Consume(ctx context.Context, userID uuid.UUID, hash []byte, at time.Time) (bool, int, error) {
	if err := s.f.Next("BackupCodes.Consume"); err != nil {
		return false, 0, err
	}
	return s.BackupCodes.Consume(ctx, userID, hash, at)
}

func (s faultyCodes) DeleteAll(ctx context.Context, userID uuid.UUID) error {
	if err := s.f.Next("BackupCodes.DeleteAll"); err != nil {
		return err
	}
	return s.BackupCodes.DeleteAll(ctx, userID)
}

// totpNow is the current code of secret.
func totpNow(secret []byte) string {
	p := mfa.DefaultTOTP()
	c, _ := p.Code(secret, p.Step(time.Now()))
	return c
}

// mfaLife is a user's whole second-factor life: enrol, sign in with a
// code and with a backup code, new backup codes, a password reset's
// check, disable. It returns the first step's error.
func mfaLife(e *mfatest.Env, u *identity.User, pw string) error {
	step := func(name string, err error) error { return fmt.Errorf("%s: %w", name, err) }
	if _, err := e.Svc.Status(ctxUA, u.ID); err != nil {
		return step("Status", err)
	}
	en, err := e.Svc.BeginEnrolment(ctxUA, u.ID)
	if err != nil {
		return step("BeginEnrolment", err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
	if err != nil {
		return err
	}
	codes, err := e.Svc.ConfirmEnrolment(ctxUA, u.ID, totpNow(secret))
	if err != nil {
		return step("ConfirmEnrolment", err)
	}
	time.Sleep(2 * time.Minute)
	if u, err = e.Users.Get(context.Background(), u.ID); err != nil {
		return step("reload", err)
	}
	ch, err := e.Svc.BeginLogin(ctxUA, u, identity.ClientMetaFrom(ctxUA))
	if err != nil {
		return step("BeginLogin", err)
	}
	if _, err := e.Svc.CompleteLogin(ctxUA, ch.Token, mfa.Answer{Code: totpNow(secret)}); err != nil {
		return step("CompleteLogin with a code", err)
	}
	time.Sleep(2 * time.Minute)
	ch, err = e.Svc.BeginLogin(ctxUA, u, identity.ClientMetaFrom(ctxUA))
	if err != nil {
		return step("BeginLogin again", err)
	}
	if _, err := e.Svc.CompleteLogin(ctxUA, ch.Token, mfa.Answer{BackupCode: codes[0]}); err != nil {
		return step("CompleteLogin with a backup code", err)
	}
	if _, err := e.Svc.RegenerateBackupCodes(ctxUA, u.ID, totpNow(secret)); err != nil {
		return step("RegenerateBackupCodes", err)
	}
	time.Sleep(2 * time.Minute)
	if err := e.Svc.VerifyForReset(ctxUA, u, identity.ResetFactor{Code: totpNow(secret)}); err != nil {
		return step("VerifyForReset", err)
	}
	time.Sleep(2 * time.Minute)
	if err := e.Svc.Disable(ctxUA, u.ID, pw, mfa.Answer{Code: totpNow(secret)}); err != nil {
		return step("Disable", err)
	}
	if st, err := e.Svc.Status(ctxUA, u.ID); err != nil || st.Enabled {
		return fmt.Errorf("Status after Disable: %+v %w", st, err)
	}
	return nil
}

// TestAStoreFailureAnywhereSurfacesAsItsError: the second factor's life is
// run again and again, the n-th store call failing each time, until a
// run meets no fault. The step that meets the fault returns that error
// (still Unavailable: the API answers 503 and the client retries) or goes
// on where the write is best-effort; never a panic, and never a wrong-code
// or expired-setup answer that would send the user elsewhere.
func TestAStoreFailureAnywhereSurfacesAsItsError(t *testing.T) {
	const pw = "correct horse battery"
	apperrtest.EveryFault(t, apperrtest.Scenario{MinCalls: 14}, func(f *apperrtest.Faults) error {
		var err error
		synctest.Test(t, func(t *testing.T) {
			mem, codes := memstore.New(), mfatest.NewMemStore()
			e := mfatest.NewEnv(t, mfatest.Options{Factors: faultyFactors{codes, f}, BackupCodes: faultyCodes{codes, f},
				Users: identitytest.FaultyUsers{Users: mem.Users(), F: f}, Events: identitytest.FaultyEvents{Events: mem.Events(), F: f}, Tx: mem.Tx()})
			u := e.NewUser(t, "ada@example.com", pw)
			f.Arm()
			err = apperrtest.Safely(func() error { return mfaLife(e, u, pw) })
		})
		return err
	})
}
