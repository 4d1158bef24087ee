package identity_test

import (
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/identity/memstore"
)

// accountLife is identitytest.AccountLife inside e's synctest bubble.
func accountLife(e *identitytest.Env) error {
	return identitytest.AccountLife(identitytest.DefaultCtx, e, identitytest.Life{Email: "faults@example.com", Admin: "admin@example.com",
		Await: func(to, template string) (identity.Email, bool) { return e.Mailer.Await(to, template, time.Minute) }})
}

// TestAStoreFailureAnywhereSurfacesAsItsError: the account's whole life
// (register, verify, log in, refresh, change and reset the password, the
// admin's actions) is run again and again, the n-th store call failing
// each time, until a run meets no fault. A step that meets the fault
// either returns that error (wrapped, still Unavailable, so the API
// answers 503 and the client retries), or goes on when the write was
// best-effort by design (a lockout counter, a last-used time): never a
// panic, never another kind of error that a client would act on, such
// as "wrong password" or "not found".
func TestAStoreFailureAnywhereSurfacesAsItsError(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		if err := accountLife(e); err != nil {
			t.Fatalf("without faults: %v", err)
		}
	})
	apperrtest.EveryFault(t, apperrtest.Scenario{Allowed: []error{identitytest.ErrNoMail}, MinCalls: 39}, func(f *apperrtest.Faults) error {
		mem := memstore.New()
		st := identitytest.Stores{Users: identitytest.FaultyUsers{Users: mem.Users(), F: f}, Sessions: identitytest.FaultySessions{Sessions: mem.Sessions(), F: f},
			RefreshTokens: identitytest.FaultyRefresh{RefreshTokens: mem.RefreshTokens(), F: f}, EmailTokens: identitytest.FaultyEmailTokens{EmailTokens: mem.EmailTokens(), F: f},
			Events: identitytest.FaultyEvents{Events: mem.Events(), F: f}, Tx: mem.Tx()}
		var err error
		f.Arm()
		inEnv(t, identitytest.Options{Stores: &st}, func(t *testing.T, e *identitytest.Env) {
			err = apperrtest.Safely(func() error { return accountLife(e) })
		})
		return err
	})
}
