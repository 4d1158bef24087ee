package reqctx

import (
	"context"
	"sync"
	"testing"
)

func TestInfoCarriesRequestAndUser(t *testing.T) {
	if From(context.Background()) != nil || RequestID(context.Background()) != "" {
		t.Fatal("empty context must carry nothing")
	}
	ctx, info := With(context.Background(), "r1")
	if RequestID(ctx) != "r1" || info.UserID() != "" {
		t.Fatal("request id")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { From(ctx).SetUserID("u1") })
	}
	wg.Wait()
	if From(ctx).UserID() != "u1" {
		t.Fatal("user id not visible through the context")
	}
}

func TestWithClientCarriesTheClient(t *testing.T) {
	ctx, info := WithClient(context.Background(), "r2", "203.0.113.9", "ua/2")
	if got := From(ctx); got != info || got.RequestID != "r2" || got.ClientIP != "203.0.113.9" || got.UserAgent != "ua/2" {
		t.Fatalf("info %+v", got)
	}
}
