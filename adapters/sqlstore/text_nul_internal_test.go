package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal"
)

// TestTextWithNULIsInvalid: PostgreSQL refuses U+0000 in text; a write
// that reaches it with one is a caller's mistake (Invalid "text_invalid",
// a 400), not a database error (a 500). The HTTP layer refuses such
// strings before they get here; this is the store's own answer.
func TestTextWithNULIsInvalid(t *testing.T) {
	db := openPostgresForTest(t)
	ctx := context.Background()
	u := &identity.User{Email: "nul-" + uuid.NewString() + "@example.com"}
	if err := NewUsers(db).Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	err := NewTags(db).Create(ctx, &journal.Tag{ID: uuid.New(), UserID: u.ID, Name: "a\x00b", Kind: journal.Setup, Version: 1, CreatedAt: now, UpdatedAt: now})
	if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Code != CodeTextInvalid {
		t.Fatalf("a tag named with a NUL: %v", err)
	}
}
