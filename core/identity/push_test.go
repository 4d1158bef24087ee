package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/identitytest"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

const pushPassword = "push passphrase 0001"

func closedWith(t *testing.T, c *realtimetest.Conn, what string, want realtime.DisconnectReason) {
	t.Helper()
	select {
	case <-c.Closed:
		if got := c.Reason(); got != want {
			t.Fatalf("%s closed with %q, want %q", what, got, want)
		}
	default:
		t.Fatalf("%s is still connected", what)
	}
}

func open(t *testing.T, c *realtimetest.Conn, what string) {
	t.Helper()
	select {
	case <-c.Closed:
		t.Fatalf("%s was closed (%q)", what, c.Reason())
	default:
	}
}

// lastRevoked returns the last security.session_revoked event of the hub.
func lastRevoked(t *testing.T, h *realtimetest.Hub, user uuid.UUID) realtime.Event {
	t.Helper()
	evs := h.Published()
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Type == realtime.TypeSecuritySessionRevoked && evs[i].UserID == user {
			return evs[i]
		}
	}
	t.Fatalf("no security.session_revoked for %s in %+v", user, evs)
	return realtime.Event{}
}

func sessionIDs(e realtime.Event) []any { ids, _ := e.Payload["session_ids"].([]any); return ids }

// A session's end closes exactly its devices' connections, with the close
// reason of the cause, and tells the user's other devices.
func TestEndedSessionsAreDisconnectedAndAnnounced(t *testing.T) {
	hub := realtimetest.NewHub()
	inEnv(t, identitytest.Options{Realtime: hub}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "pusher@example.com", pushPassword)
		phone := e.Principal(t, e.Login(t, identitytest.DefaultCtx, u.Email, pushPassword).AccessToken)
		laptop := e.Principal(t, e.Login(t, identitytest.DefaultCtx, u.Email, pushPassword).AccessToken)
		tablet := e.Principal(t, e.Login(t, identitytest.DefaultCtx, u.Email, pushPassword).AccessToken)
		phoneConn := hub.Connect(t, u.ID, phone.SessionID)
		laptopConn := hub.Connect(t, u.ID, laptop.SessionID)
		tabletConn := hub.Connect(t, u.ID, tablet.SessionID)

		if err := e.Svc.Logout(identitytest.DefaultCtx, phone); err != nil {
			t.Fatal(err)
		}
		closedWith(t, phoneConn, "the phone after its logout", realtime.ReasonSessionRevoked)
		open(t, laptopConn, "the laptop after the phone's logout")
		ev := lastRevoked(t, hub, u.ID)
		if ids := sessionIDs(ev); ev.Payload["reason"] != "logout" || len(ids) != 1 || ids[0] != phone.SessionID.String() {
			t.Fatalf("logout event %+v", ev.Payload)
		}

		// A password change from the laptop ends the tablet's session: it
		// is closed as "password changed", the laptop stays.
		if err := e.Svc.ChangePassword(identitytest.DefaultCtx, laptop, pushPassword, "a brand new passphrase 2"); err != nil {
			t.Fatal(err)
		}
		closedWith(t, tabletConn, "the tablet after the password change", realtime.ReasonPasswordChanged)
		open(t, laptopConn, "the laptop that changed the password")
		ev = lastRevoked(t, hub, u.ID)
		if ids := sessionIDs(ev); ev.Payload["reason"] != "password_changed" || len(ids) != 1 || ids[0] != tablet.SessionID.String() {
			t.Fatalf("password change event %+v", ev.Payload)
		}
	})
}

func TestDisabledUserLosesEveryConnection(t *testing.T) {
	hub := realtimetest.NewHub()
	inEnv(t, identitytest.Options{Realtime: hub}, func(t *testing.T, e *identitytest.Env) {
		ctx := identitytest.DefaultCtx
		if _, err := e.Svc.CreateUser(ctx, "root@example.com", "operator passphrase 1", identity.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		admin := e.Principal(t, e.Login(t, ctx, "root@example.com", "operator passphrase 1").AccessToken)
		u := e.Verified(t, "doomed@example.com", pushPassword)
		s := e.Principal(t, e.Login(t, ctx, u.Email, pushPassword).AccessToken)
		c1 := hub.Connect(t, u.ID, s.SessionID)
		c2 := hub.Connect(t, u.ID, uuid.New()) // a connection of a session the test does not know
		adminConn := hub.Connect(t, admin.UserID, admin.SessionID)
		if _, err := e.Svc.DisableUser(ctx, admin, u.ID); err != nil {
			t.Fatal(err)
		}
		closedWith(t, c1, "the disabled user's connection", realtime.ReasonUserDisabled)
		closedWith(t, c2, "the disabled user's other connection", realtime.ReasonUserDisabled)
		open(t, adminConn, "the admin's connection")
	})
}

// Ending sessions inside a unit of work that rolls back leaves every
// connection open and announces nothing.
func TestRolledBackRevocationPushesNothing(t *testing.T) {
	hub := realtimetest.NewHub()
	inEnv(t, identitytest.Options{Realtime: hub}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "lucky@example.com", pushPassword)
		s := e.Principal(t, e.Login(t, identitytest.DefaultCtx, u.Email, pushPassword).AccessToken)
		c := hub.Connect(t, u.ID, s.SessionID)
		before := len(hub.Published())
		boom := errors.New("boom")
		err := e.Stores.Tx.Do(identitytest.DefaultCtx, func(ctx context.Context) error {
			if n, err := e.Svc.RevokeAccess(ctx, u.ID, "account_linked"); err != nil || n != 1 {
				t.Fatalf("revoke access: %d %v", n, err)
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		open(t, c, "the connection after the rollback")
		if n := len(hub.Published()); n != before {
			t.Fatalf("%d events published for a rolled-back write", n-before)
		}

		// The same, committed, closes it.
		if err := e.Stores.Tx.Do(identitytest.DefaultCtx, func(ctx context.Context) error {
			_, err := e.Svc.RevokeAccess(ctx, u.ID, "account_linked")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		closedWith(t, c, "the connection after the commit", realtime.ReasonSessionRevoked)
	})
}

// TestRevokeAccessEndsAPendingEmailChange: the link of an email change
// is voided with every other mailed link, and the change is then no
// longer pending.
func TestRevokeAccessEndsAPendingEmailChange(t *testing.T) {
	inEnv(t, identitytest.Options{}, func(t *testing.T, e *identitytest.Env) {
		u := e.Verified(t, "mover@example.com", pushPassword)
		p := e.Principal(t, e.Login(t, identitytest.DefaultCtx, u.Email, pushPassword).AccessToken)
		email, pw := "moved@example.com", pushPassword
		if _, pending, err := e.Svc.UpdateMe(identitytest.DefaultCtx, p, identity.ProfileUpdate{Email: &email, CurrentPassword: &pw}); err != nil || !pending {
			t.Fatalf("email change: pending %v, %v", pending, err)
		}
		if _, err := e.Svc.RevokeAccess(identitytest.DefaultCtx, u.ID, "account_linked"); err != nil {
			t.Fatal(err)
		}
		name := "Mover"
		if _, pending, err := e.Svc.UpdateMe(identitytest.DefaultCtx, p, identity.ProfileUpdate{DisplayName: &name}); err != nil || pending {
			t.Fatalf("after RevokeAccess: pending %v, %v; want none", pending, err)
		}
	})
}
