package sqlstore_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
)

func TestMFAStoresContract(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			db := openMigrated(t, testConfig(dc.url(t)))
			users := sqlstore.NewUsers(db)
			mfatest.Run(t, func(t *testing.T) mfatest.Stores {
				return mfatest.Stores{
					Factors: sqlstore.NewMFAFactors(db), BackupCodes: sqlstore.NewMFABackupCodes(db), Tx: sqlstore.NewUnitOfWork(db),
					NewUser: func(t *testing.T) uuid.UUID {
						u := &identity.User{Email: "mfa-" + uuid.NewString() + "@example.com"}
						if err := users.Create(context.Background(), u); err != nil {
							t.Fatal(err)
						}
						return u.ID
					},
				}
			})
		})
	}
}

// TestMFAServiceOnSQL runs the service on the SQL repositories: enrolment
// in one transaction, the stored rows hold no plaintext secret or code,
// and of concurrent logins with one TOTP code exactly one passes.
func TestMFAServiceOnSQL(t *testing.T) {
	for _, dc := range dialects {
		t.Run(dc.name, func(t *testing.T) {
			ctx := identity.WithClientMeta(context.Background(), identity.ClientMeta{IP: "203.0.113.9", UserAgent: "sql-test"})
			db := openMigrated(t, testConfig(dc.url(t)))
			e := mfatest.NewEnv(t, mfatest.Options{
				Factors: sqlstore.NewMFAFactors(db), BackupCodes: sqlstore.NewMFABackupCodes(db),
				Users: sqlstore.NewUsers(db), Events: sqlstore.NewEvents(db), Tx: sqlstore.NewUnitOfWork(db),
			})
			u := e.NewUser(t, "sql-mfa@example.com", "pw")
			en, err := e.Svc.BeginEnrolment(ctx, u.ID)
			if err != nil {
				t.Fatal(err)
			}
			secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
			p := mfa.DefaultTOTP()
			codeAt := func(at time.Time) string { c, _ := p.Code(secret, p.Step(at)); return c }
			codes, err := e.Svc.ConfirmEnrolment(ctx, u.ID, codeAt(time.Now()))
			if err != nil {
				t.Fatal(err)
			}
			if u2, _ := e.Users.Get(ctx, u.ID); !u2.MFAEnabled {
				t.Fatal("users.mfa_enabled not set")
			}

			// The rows hold neither the secret (raw or base32) nor any
			// backup code (any form).
			cols, err := sqlstore.MFARowsForTest(ctx, db, u.ID.String())
			if err != nil {
				t.Fatal(err)
			}
			if len(cols) < 12 {
				t.Fatalf("read %d columns; want the factor and 10 codes", len(cols))
			}
			needles := [][]byte{secret, []byte(en.Secret), []byte(strings.ToLower(en.Secret))}
			for _, c := range codes {
				canon, _ := mfa.ParseBackupCode(c)
				needles = append(needles, []byte(c), canon, []byte(strings.ToLower(string(canon))))
			}
			for _, col := range cols {
				for _, n := range needles {
					if bytes.Contains(col, n) {
						t.Fatalf("a stored column contains a plaintext secret or code")
					}
				}
			}

			// Concurrent replay: 6 logins, one code, one winner. The code is
			// the next step's, which the ±1 step window accepts now and the
			// enrolment did not burn.
			c := codeAt(time.Now().Add(30 * time.Second))
			var toks []string
			for range 6 {
				ch, err := e.Svc.BeginLogin(ctx, u, identity.ClientMetaFrom(ctx))
				if err != nil {
					t.Fatal(err)
				}
				toks = append(toks, ch.Token)
			}
			var wins atomic.Int32
			var wg sync.WaitGroup
			for _, tok := range toks {
				wg.Go(func() {
					_, err := e.Svc.CompleteLogin(ctx, tok, mfa.Answer{Code: c})
					if err == nil {
						wins.Add(1)
						return
					}
					if e, ok := apperr.As(err); !ok || (e.Code != mfa.CodeCodeReused && e.Code != mfa.CodeLocked) {
						t.Errorf("CompleteLogin: %v", err)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d concurrent logins passed with one code; want exactly 1", wins.Load())
			}
			// Sequential replay, and the backup code is single use on SQL too.
			_ = e.Limiter.Reset(ctx, "mfa:acct:"+u.ID.String())
			ch, _ := e.Svc.BeginLogin(ctx, u, identity.ClientMetaFrom(ctx))
			if _, err := e.Svc.CompleteLogin(ctx, ch.Token, mfa.Answer{Code: c}); apperrCodeOf(err) != mfa.CodeCodeReused {
				t.Fatalf("replayed code: %v", err)
			}
			if _, err := e.Svc.CompleteLogin(ctx, ch.Token, mfa.Answer{BackupCode: strings.ToUpper(codes[4])}); err != nil {
				t.Fatal(err)
			}
			ch, _ = e.Svc.BeginLogin(ctx, u, identity.ClientMetaFrom(ctx))
			if _, err := e.Svc.CompleteLogin(ctx, ch.Token, mfa.Answer{BackupCode: codes[4]}); apperrCodeOf(err) != mfa.CodeCodeInvalid {
				t.Fatalf("reused backup code: %v", err)
			}
			evs, err := e.Events.List(ctx, identity.EventQuery{UserID: u.ID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[identity.EventType]int{}
			for _, ev := range evs {
				kinds[ev.Type]++
			}
			if kinds[mfa.EventEnrolled] != 1 || kinds[mfa.EventReplayRefused] < 5 || kinds[mfa.EventBackupCodeUsed] != 1 || kinds[mfa.EventChallengePassed] != 2 {
				t.Fatalf("events = %v", kinds)
			}

			// Disable removes the rows.
			if err := e.Svc.Disable(ctx, u.ID, "pw", mfa.Answer{BackupCode: codes[7]}); err != nil {
				t.Fatal(err)
			}
			if cols, _ := sqlstore.MFARowsForTest(ctx, db, u.ID.String()); len(cols) != 0 {
				t.Fatalf("%d MFA columns left after disable", len(cols))
			}
		})
	}
}

func apperrCodeOf(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}
