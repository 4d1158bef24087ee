package tests

import (
	"context"
	"errors"
	"testing"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/identity"
)

// TestRevokeAccessTakesEffectOnlyWhenItsTransactionCommits: the OAuth
// pre-hijack defence calls identity.RevokeAccess inside its unit of work.
// A rollback must leave the sessions exactly as they were (access and
// refresh tokens work); a commit ends them at once, access tokens
// included.
func TestRevokeAccessTakesEffectOnlyWhenItsTransactionCommits(t *testing.T) {
	st := newStack(t)
	ctx := context.Background()
	access, refresh := st.registerVerified("revoke@example.com")
	p, err := st.svc.Authenticate(ctx, access)
	if err != nil {
		t.Fatal(err)
	}
	tx := sqlstore.NewUnitOfWork(st.db)
	rollback := errors.New("a later step of the use case failed")
	err = tx.Do(ctx, func(ctx context.Context) error {
		if n, err := st.svc.RevokeAccess(ctx, p.UserID, "test"); err != nil || n != 1 {
			t.Fatalf("RevokeAccess = %d, %v", n, err)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatalf("Do = %v", err)
	}
	if _, err := st.svc.Authenticate(ctx, access); err != nil {
		t.Fatalf("access token after the rollback: %v", err)
	}
	st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 200, "")
	r := st.do("POST", "/api/v1/auth/refresh", "", map[string]any{"refresh_token": refresh})
	st.expect(r, 200, "")
	access = r.str("access_token")

	if err := tx.Do(ctx, func(ctx context.Context) error {
		_, err := st.svc.RevokeAccess(ctx, p.UserID, "test")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	st.expect(st.do("GET", "/api/v1/auth/me", access, nil), 401, identity.CodeSessionRevoked)
}
