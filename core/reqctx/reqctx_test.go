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
