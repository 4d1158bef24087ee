package oauthflow_test

import (
	"context"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/oidc/oidctest"
	"github.com/tradesense/tradesense/core/oauth"
)

// BenchmarkCallback measures the callback of a returning user against the
// in-process OP (loopback HTTP, discovery and JWKS cached after the first
// run): "full" is Service.Callback (flow take, provider exchange, identity
// lookup and update in SQLite, one-time code); "provider" is the
// adapter's Exchange alone (token request, ID token verification,
// userinfo request). Their difference is this service's own work. The
// authorization step is outside the timer.
//
//	go test ./tests/oauthflow -run '^$' -bench Callback -benchtime 200x -count 5
func BenchmarkCallback(b *testing.B) {
	s := newStack(b)
	ctx := context.Background()
	s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
	s.mustLogin(b, "acme") // the account and identity exist; metadata and keys are cached
	prov, _ := s.reg.Lookup("acme")

	b.Run("full", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
			br := &browser{}
			query := s.flow(b, br, oauth.StartRequest{Provider: "acme"})
			b.StartTimer()
			l, err := s.svc.Callback(ctx, oauth.CallbackRequest{Provider: "acme", RawQuery: query, BrowserSecret: br.secret})
			if err != nil || l.Err != nil || !strings.Contains(l.Location, "code=") {
				b.Fatalf("callback: %v %v", err, l)
			}
		}
	})
	b.Run("provider", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s.op.Queue(oidcUser("ada-1", "ada@example.com", true))
			a := oauth.Authorization{State: "bench-state", Nonce: strings.Repeat("n", 43), Verifier: strings.Repeat("v", 43)}
			u, err := prov.AuthCodeURL(ctx, a)
			if err != nil {
				b.Fatal(err)
			}
			cb, err := oauth.ParseCallback(oidctest.Authorize(b, u))
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := prov.Exchange(ctx, oauth.Completion{Code: cb.Code, Verifier: a.Verifier, Nonce: a.Nonce}); err != nil {
				b.Fatal(err)
			}
		}
	})
	if d, k := s.op.Requests("openid-configuration"), s.op.Requests("jwks.json"); d != 1 || k != 1 {
		b.Fatalf("discovery fetched %d times, JWKS %d; want 1 and 1", d, k)
	}
}
