package centrifuge_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
)

// FuzzVerify: a connection token is outside input. Verify never panics
// and accepts nothing but tokens the issuer signed.
func FuzzVerify(f *testing.F) {
	ring := newRing(f)
	tk, err := centrifuge.NewTokens(centrifuge.Config{}, ring, nil)
	if err != nil {
		f.Fatal(err)
	}
	u, s := uuid.New(), uuid.New()
	tok, _ := tk.IssueConnectionToken(context.Background(), u, s)
	issued := map[string]bool{tok.Token: true}
	f.Add(tok.Token)
	f.Add("")
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add(tok.Token[:len(tok.Token)/2])
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := tk.Verify(raw)
		if err == nil && (!issued[raw] || c.UserID != u || c.SessionID != s) {
			t.Fatalf("Verify accepted %q as %+v", raw, c)
		}
	})
}

// FuzzDecodeEvent: what a client receives is parsed by DecodeEvent; it
// never panics.
func FuzzDecodeEvent(f *testing.F) {
	f.Add([]byte(`{"id":"0192f8a1-0000-7000-8000-000000000000","type":"job.updated","version":1,"occurred_at":"2026-01-02T03:04:05Z","payload":{"state":"queued"}}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"payload":[1,2]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := centrifuge.DecodeEvent(uuid.Nil, data)
		if err == nil && e.UserID != uuid.Nil {
			t.Fatalf("DecodeEvent invented a user: %+v", e)
		}
	})
}
