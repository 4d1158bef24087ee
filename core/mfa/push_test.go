package mfa_test

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/mfa/mfatest"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

func mfaChanges(h *realtimetest.Hub, user uuid.UUID) []string {
	var out []string
	for _, e := range h.Published() {
		if e.Type == realtime.TypeSecurityMFAChanged && e.UserID == user {
			out = append(out, e.Payload["change"].(string))
		}
	}
	return out
}

// Each committed change of the second factor is pushed once; a refused
// one is not.
func TestMFAChangesArePushed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hub := realtimetest.NewHub()
		e := mfatest.NewEnv(t, mfatest.Options{Push: hub})
		u, secret, codes := enrolled(t, e, "pushed@example.com")
		if got := mfaChanges(hub, u.ID); !slices.Equal(got, []string{"enabled"}) {
			t.Fatalf("after enrolment: %v", got)
		}
		if _, err := e.Svc.RegenerateBackupCodes(ctxUA, u.ID, code(t, secret, time.Now())); err != nil {
			t.Fatal(err)
		}
		if err := e.Svc.Disable(ctxUA, u.ID, "wrong password", mfa.Answer{BackupCode: codes[0]}); err == nil {
			t.Fatal("disabled with a wrong password")
		}
		if got := mfaChanges(hub, u.ID); !slices.Equal(got, []string{"enabled", "backup_codes_regenerated"}) {
			t.Fatalf("after regenerate and a refused disable: %v", got)
		}
		time.Sleep(time.Minute) // the next TOTP step
		if err := e.Svc.Disable(ctxUA, u.ID, "correct horse battery", mfa.Answer{Code: code(t, secret, time.Now())}); err != nil {
			t.Fatal(err)
		}
		if got := mfaChanges(hub, u.ID); !slices.Equal(got, []string{"enabled", "backup_codes_regenerated", "disabled"}) {
			t.Fatalf("after disable: %v", got)
		}
	})
}
