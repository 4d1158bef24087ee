package centrifuge_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/realtime"
)

// BenchmarkVerify is the cost a connect or refresh pays for its token.
func BenchmarkVerify(b *testing.B) {
	tk, _ := centrifuge.NewTokens(centrifuge.Config{}, newRing(b), nil)
	tok := issue(b, tk, uuid.New(), uuid.New())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tk.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPublish publishes to a user with one connection (in-process:
// history and fan-out to the connection; Redis: one round trip more).
func BenchmarkPublish(b *testing.B) {
	run := func(b *testing.B, s *server) {
		u := uuid.New()
		c := s.dial(b, u, uuid.New())
		go func() {
			for range c.Events {
			}
		}()
		e := realtime.NewEvent(realtime.TypeJobUpdated, u, time.Now(), map[string]any{"job_id": "j", "state": "progress", "attempt": 1})
		b.ReportAllocs()
		for b.Loop() {
			if err := s.E.Publish(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("InProcess", func(b *testing.B) { run(b, start(b)) })
	b.Run("Redis", func(b *testing.B) { run(b, start(b, onRedis(b, uniquePrefix()))) })
}
