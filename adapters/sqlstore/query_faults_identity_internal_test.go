package sqlstore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr/apperrtest"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
)

// accountLife is identitytest.AccountLife with the n-th run's accounts.
// Once the fault has struck, a mail that is not there soon is one whose
// send met it.
func accountLife(ctx context.Context, e *identitytest.Env, n int64, faulted func() bool) error {
	await := func(to, template string) (identity.Email, bool) {
		for range 200 {
			wasFaulted := faulted()
			if m, ok := e.Mailer.Await(to, template, 50*time.Millisecond); ok || wasFaulted {
				return m, ok
			}
		}
		return identity.Email{}, false
	}
	return identitytest.AccountLife(ctx, e, identitytest.Life{Email: fmt.Sprintf("user-%d@example.com", n),
		Admin: fmt.Sprintf("admin-%d@example.com", n), Await: await})
}

// TestAQueryFailureAnywhereInAnAccountSurfacesAsUnavailable: as for the
// trading book, for the identity repositories.
func TestAQueryFailureAnywhereInAnAccountSurfacesAsUnavailable(t *testing.T) {
	fdb := openFaultDB(t)
	db := fdb.db
	st := identitytest.Stores{Users: NewUsers(db), Sessions: NewSessions(db), RefreshTokens: NewRefreshTokens(db),
		EmailTokens: NewEmailTokens(db), Events: NewEvents(db), Tx: NewUnitOfWork(db)}
	var n int64
	fdb.everyFault(t, 39, []error{identitytest.ErrNoMail}, func(f *apperrtest.Faults) error {
		n++
		e := identitytest.NewEnv(t, identitytest.Options{Stores: &st})
		defer e.Svc.Close()
		defer f.Disarm()
		f.Arm()
		return accountLife(identitytest.DefaultCtx, e, n, f.Faulted)
	})
}
