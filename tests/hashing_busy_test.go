package tests

import (
	"mime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/tradesense/tradesense/core/identity"
)

// A full argon2id bound queues a request for AUTH_HASH_QUEUE_WAIT, then
// answers 503 problem+json password_hashing_busy with Retry-After, on every
// route that hashes, for registered and unknown emails alike; nothing is
// spent (a reset token stays valid) and the same requests succeed once a
// slot is free.
func TestHashingBusyOverHTTP(t *testing.T) {
	const wait = 2 * time.Second
	inStack(t, stackSpec{limit: identity.HashLimit{Concurrent: 1, QueueWait: wait}}, func(t *testing.T, st *stack) {
		if got := st.hasher.Limit(); got.Concurrent != 1 || got.QueueWait != wait {
			t.Fatalf("hasher bound %+v; want the configured one", got)
		}
		access, _ := st.registerVerified("busy@example.com")
		st.expect(st.do("POST", "/api/v1/auth/password/forgot", "", map[string]any{"email": "busy@example.com"}), 202, "")
		resetTok := linkToken(t, st.waitMail("busy@example.com", identity.TemplatePasswordReset))

		type call struct {
			name, path, token string
			body              map[string]any
			ok                int
		}
		calls := []call{
			{"login", "/api/v1/auth/login", "", map[string]any{"email": "busy@example.com", "password": goodPassword}, 200},
			{"login unknown email", "/api/v1/auth/login", "", map[string]any{"email": "nobody@example.com", "password": goodPassword}, 401},
			{"register", "/api/v1/auth/register", "", map[string]any{"email": "new@example.com", "password": goodPassword, "display_name": "New"}, 201},
			{"reset", "/api/v1/auth/password/reset", "", map[string]any{"token": resetTok, "new_password": "a brand new passphrase"}, 204},
		}
		release, err := st.hasher.Hold(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := make([]resp, len(calls))
		var answered atomic.Int32
		var wg sync.WaitGroup
		for i, c := range calls {
			wg.Go(func() { got[i] = st.do("POST", c.path, c.token, c.body); answered.Add(1) })
		}
		// The change of password needs the access token of a session the
		// reset ends: it runs (and is refused) on its own below.
		time.Sleep(wait - time.Millisecond)
		synctest.Wait()
		if n := answered.Load(); n != 0 {
			t.Fatalf("%d requests answered before the queue wait ended", n)
		}
		wg.Wait()
		if d := time.Since(start); d < wait {
			t.Fatalf("refused after %s; want a queue of %s", d, wait)
		}
		change := st.do("POST", "/api/v1/auth/password/change", access, map[string]any{"current_password": goodPassword, "new_password": "changed passphrase 3"})
		for i, r := range append(got, change) {
			name := "change"
			if i < len(calls) {
				name = calls[i].name
			}
			st.expect(r, 503, identity.CodeHashingBusy)
			if ct, _, _ := mime.ParseMediaType(r.header.Get("Content-Type")); ct != "application/problem+json" {
				t.Errorf("%s: Content-Type %q; want application/problem+json", name, ct)
			}
			if ra := r.header.Get("Retry-After"); ra != "2" {
				t.Errorf("%s: Retry-After %q; want 2 (the queue wait)", name, ra)
			}
		}
		if logs := st.logs.String(); strings.Contains(logs, `"level":"ERROR"`) || !strings.Contains(logs, "request shed: at capacity") {
			t.Errorf("a shed request is logged at warn, never error:\n%s", logs)
		}
		release()
		for _, c := range calls {
			if c.name == "reset" {
				continue // after change: it ends the session change needs
			}
			st.expect(st.do("POST", c.path, c.token, c.body), c.ok, "")
		}
		st.expect(st.do("POST", "/api/v1/auth/password/change", access, map[string]any{"current_password": goodPassword, "new_password": "changed passphrase 3"}), 204, "")
		// The refused reset did not spend its token.
		st.expect(st.do("POST", "/api/v1/auth/password/reset", "", calls[3].body), 204, "")
	})
}
