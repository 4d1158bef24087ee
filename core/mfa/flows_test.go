package mfa_test

import (
	"context"
	"encoding/base32"
	"reflect"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
	"github.com/tradesense/tradesense/core/uow"
)

type fakeSessions struct {
	issued  []int
	amr     [][]string
	revoked []identity.Principal
	// hub, when set, is asked at each revocation's commit (as identity
	// disconnects then) which MFA changes were already published.
	hub            *realtimetest.Hub
	publishedFirst [][]string
}

func (f *fakeSessions) IssueSession(_ context.Context, u *identity.User, aal int, amr []string) (*identity.TokenPair, error) {
	f.issued = append(f.issued, aal)
	f.amr = append(f.amr, amr)
	return &identity.TokenPair{AccessToken: "at", User: u}, nil
}

func (f *fakeSessions) RevokeOtherSessions(ctx context.Context, p identity.Principal) (int, error) {
	f.revoked = append(f.revoked, p)
	if f.hub != nil {
		uow.AfterCommit(ctx, func(context.Context) { f.publishedFirst = append(f.publishedFirst, mfaChanges(f.hub, p.UserID)) })
	}
	return 1, nil
}

func TestFlows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := realtimetest.NewHub()
		e := mfatest.NewEnv(t, mfatest.Options{Push: hub})
		fs := &fakeSessions{hub: hub}
		fl, err := mfa.NewFlows(e.Svc, fs)
		if err != nil {
			t.Fatal(err)
		}
		u := e.NewUser(t, "flows@example.com", "pw")
		p := identity.Principal{UserID: u.ID, SessionID: uuid.New()}
		en, err := e.Svc.BeginEnrolment(ctxUA, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		secret, _ := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
		if _, err := fl.ConfirmEnrolment(ctxUA, p, "000000"); err == nil && code(t, secret, time.Now()) != "000000" {
			t.Fatal("wrong code accepted")
		}
		if len(fs.revoked) != 0 {
			t.Fatal("sessions ended by a failed confirmation")
		}
		codes, err := fl.ConfirmEnrolment(ctxUA, p, code(t, secret, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if len(fs.revoked) != 1 || fs.revoked[0].SessionID != p.SessionID {
			t.Fatalf("revoked = %v; want the caller's other sessions once", fs.revoked)
		}
		u, _ = e.Users.Get(ctxUA, u.ID)
		pair, out, err := fl.CompleteLogin(ctxUA, login(t, e, u), mfa.Answer{BackupCode: codes[0]})
		if err != nil || pair.AccessToken != "at" || out.Verified.BackupCodesRemaining != 9 {
			t.Fatalf("CompleteLogin = %v, %+v, %v", pair, out, err)
		}
		if !slices.Equal(fs.issued, []int{2}) || !slices.Equal(fs.amr[0], []string{"pwd", "backup_code"}) {
			t.Fatalf("issued aal %v amr %v; want aal 2, pwd+backup_code", fs.issued, fs.amr)
		}
		if err := fl.Disable(ctxUA, p, "pw", mfa.Answer{BackupCode: codes[1]}); err != nil {
			t.Fatal(err)
		}
		if len(fs.revoked) != 2 {
			t.Fatal("disable did not end other sessions")
		}
		// The other sessions end in the change's transaction, and their
		// devices are disconnected (at its commit) before the change is
		// published: enabling, then disabling.
		if want := [][]string{nil, {"enabled"}}; !reflect.DeepEqual(fs.publishedFirst, want) {
			t.Fatalf("MFA changes published before each revocation's commit: %v; want %v", fs.publishedFirst, want)
		}
		if got := mfaChanges(hub, u.ID); !slices.Equal(got, []string{"enabled", "disabled"}) {
			t.Fatalf("published %v", got)
		}
	})
}
