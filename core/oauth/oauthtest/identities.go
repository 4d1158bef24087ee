// Package oauthtest holds the contract suite of oauth.Identities, run
// against every implementation, and an in-memory implementation that
// passes it (for the core tests).
package oauthtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

// Stores are one implementation's repositories over one empty database.
// NewUser must store a user (identities reference users) and return its
// ID.
type Stores struct {
	Identities oauth.Identities
	NewUser    func(t *testing.T, email string) uuid.UUID
}

// Factory returns empty stores and registers their cleanup.
type Factory func(t *testing.T) Stores

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func newIdentity(userID uuid.UUID, provider, issuer, subject string) *oauth.Identity {
	return &oauth.Identity{UserID: userID, Provider: provider, Issuer: issuer, Subject: subject,
		Profile:   oauth.Profile{Email: "a@example.com", EmailVerified: true, DisplayName: "Ada", AvatarURL: "https://img.example/a.png", Claims: map[string]string{"hd": "example.com"}},
		Confirmed: true, CreatedAt: t0, LastLoginAt: t0}
}

func code(err error) string { return apperr.CodeOf(err) }

// Run runs the contract of oauth.Identities.
func Run(t *testing.T, newStores Factory) {
	ctx := context.Background()

	t.Run("CreateAndGetBySubject", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t, "a@example.com")
		in := newIdentity(uid, "google", "https://accounts.google.com", "1001")
		if err := st.Identities.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		if in.ID == uuid.Nil {
			t.Fatal("Create left the ID zero")
		}
		got, err := st.Identities.GetBySubject(ctx, "https://accounts.google.com", "1001")
		if err != nil {
			t.Fatal(err)
		}
		if got.ID != in.ID || got.UserID != uid || got.Provider != "google" || got.Email != "a@example.com" || !got.EmailVerified ||
			got.DisplayName != "Ada" || got.AvatarURL != in.AvatarURL || got.Claims["hd"] != "example.com" || !got.Confirmed ||
			!got.CreatedAt.Equal(t0) || !got.LastLoginAt.Equal(t0) {
			t.Fatalf("GetBySubject = %+v; want %+v", got, in)
		}
		// Issuer and subject are compared exactly.
		for _, k := range [][2]string{{"https://accounts.google.com/", "1001"}, {"https://accounts.google.com", "1001 "}, {"https://accounts.google.com", "1002"}, {"https://ACCOUNTS.google.com", "1001"}} {
			if _, err := st.Identities.GetBySubject(ctx, k[0], k[1]); !apperr.Is(err, apperr.NotFound) || code(err) != oauth.CodeIdentityNotFound {
				t.Errorf("GetBySubject(%q, %q) = %v; want identity_not_found", k[0], k[1], err)
			}
		}
	})

	t.Run("ConflictsAreNamed", func(t *testing.T) {
		st := newStores(t)
		alice, bob := st.NewUser(t, "alice@example.com"), st.NewUser(t, "bob@example.com")
		first := newIdentity(alice, "google", "https://accounts.google.com", "1")
		if err := st.Identities.Create(ctx, first); err != nil {
			t.Fatal(err)
		}
		if err := st.Identities.Create(ctx, newIdentity(bob, "google", "https://accounts.google.com", "1")); !apperr.Is(err, apperr.Conflict) || code(err) != oauth.CodeIdentityTaken {
			t.Fatalf("same (issuer, subject) for another user = %v; want identity_taken", err)
		}
		if err := st.Identities.Create(ctx, newIdentity(alice, "google", "https://accounts.google.com", "2")); !apperr.Is(err, apperr.Conflict) || code(err) != oauth.CodeProviderAlreadyLinked {
			t.Fatalf("second identity of one provider = %v; want identity_provider_linked", err)
		}
		dup := newIdentity(bob, "github", "https://github.com/login/oauth", "9")
		dup.ID = first.ID
		if err := st.Identities.Create(ctx, dup); !apperr.Is(err, apperr.Conflict) || code(err) != oauth.CodeIdentityExists {
			t.Fatalf("taken ID = %v; want identity_exists", err)
		}
		// The same subject at another issuer is another identity.
		if err := st.Identities.Create(ctx, newIdentity(bob, "acme", "https://idp.acme.test", "1")); err != nil {
			t.Fatalf("same subject, other issuer: %v", err)
		}
	})

	t.Run("ListUpdateDelete", func(t *testing.T) {
		st := newStores(t)
		alice, bob := st.NewUser(t, "alice@example.com"), st.NewUser(t, "bob@example.com")
		g := newIdentity(alice, "google", "https://accounts.google.com", "g1")
		h := newIdentity(alice, "github", "https://github.com/login/oauth", "h1")
		h.CreatedAt = t0.Add(time.Minute)
		b := newIdentity(bob, "google", "https://accounts.google.com", "g2")
		for _, i := range []*oauth.Identity{h, g, b} {
			if err := st.Identities.Create(ctx, i); err != nil {
				t.Fatal(err)
			}
		}
		list, err := st.Identities.ListByUser(ctx, alice)
		if err != nil || len(list) != 2 || list[0].ID != g.ID || list[1].ID != h.ID {
			t.Fatalf("ListByUser = %v, %v; want google then github", list, err)
		}
		if list, _ := st.Identities.ListByUser(ctx, uuid.New()); len(list) != 0 {
			t.Fatalf("ListByUser(unknown) = %v", list)
		}

		g.Profile = oauth.Profile{Email: "new@example.com", EmailVerified: false, DisplayName: "Ada L", Claims: map[string]string{}}
		g.Confirmed = false
		g.LastLoginAt = t0.Add(time.Hour)
		g.UserID, g.Provider, g.Subject, g.CreatedAt = bob, "other", "changed", t0.Add(time.Hour) // immutable: ignored
		if err := st.Identities.Update(ctx, g); err != nil {
			t.Fatal(err)
		}
		got, err := st.Identities.GetBySubject(ctx, "https://accounts.google.com", "g1")
		if err != nil || got.Email != "new@example.com" || got.EmailVerified || got.DisplayName != "Ada L" || got.AvatarURL != "" || got.Confirmed ||
			!got.LastLoginAt.Equal(t0.Add(time.Hour)) || got.UserID != alice || got.Provider != "google" || !got.CreatedAt.Equal(t0) {
			t.Fatalf("after Update: %+v, %v", got, err)
		}
		if err := st.Identities.Update(ctx, &oauth.Identity{ID: uuid.New()}); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("Update(unknown) = %v; want not found", err)
		}

		// Bob cannot delete Alice's identity.
		if ok, err := st.Identities.Delete(ctx, bob, h.ID); ok || err != nil {
			t.Fatalf("Delete of another user's identity = %v, %v", ok, err)
		}
		if ok, err := st.Identities.Delete(ctx, alice, h.ID); !ok || err != nil {
			t.Fatalf("Delete = %v, %v", ok, err)
		}
		if ok, err := st.Identities.Delete(ctx, alice, h.ID); ok || err != nil {
			t.Fatalf("second Delete = %v, %v; want false", ok, err)
		}
		if list, _ := st.Identities.ListByUser(ctx, alice); len(list) != 1 || list[0].ID != g.ID {
			t.Fatalf("after Delete: %v", list)
		}
		// A deleted identity can be linked again, to anyone.
		if err := st.Identities.Create(ctx, newIdentity(bob, "github", "https://github.com/login/oauth", "h1")); err != nil {
			t.Fatalf("re-link after delete: %v", err)
		}
	})

	t.Run("ConcurrentFirstLoginsCreateOne", func(t *testing.T) {
		st := newStores(t)
		uid := st.NewUser(t, "c@example.com")
		var wg sync.WaitGroup
		errs := make([]error, 6)
		for i := range errs {
			wg.Go(func() {
				errs[i] = st.Identities.Create(ctx, newIdentity(uid, "google", "https://accounts.google.com", "race"))
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !apperr.Is(err, apperr.Conflict):
				t.Errorf("concurrent Create: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d concurrent Creates succeeded; want 1", ok)
		}
	})
}
