package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/shortlived/shortlivedtest"
)

func TestShortLivedContract(t *testing.T) {
	shortlivedtest.RunRealTime(t, func(t *testing.T) shortlived.Store { return redisstore.NewShortLived(openTest(t)) })
}

func TestShortLivedRedisDown(t *testing.T) {
	c, err := openDead(t, false)
	if err != nil {
		t.Fatalf("an optional client must open even when Redis is down: %v", err)
	}
	s := redisstore.NewShortLived(c)
	if err := s.Put(context.Background(), "k", []byte("v"), time.Minute); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Put with Redis down = %v; want Unavailable", err)
	}
	if _, err := s.Take(context.Background(), "k"); !apperr.Is(err, apperr.Unavailable) {
		t.Fatalf("Take with Redis down = %v; want Unavailable (not NotFound)", err)
	}
}
