package reqctx

import (
	"context"
	"errors"
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

// TestWithKeepsTheParent: the request record's context answers every
// other key, the deadline and the cancellation from its parent, and a
// record set below another is the nearer one.
func TestWithKeepsTheParent(t *testing.T) {
	type other struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), other{}, "v"))
	ctx, info := WithClient(parent, "r3", "198.51.100.7", "ua/3")
	if ctx.Value(other{}) != "v" || From(ctx) != info {
		t.Fatal("values of the parent or the record lost")
	}
	inner, innerInfo := With(ctx, "r4")
	if From(inner) != innerInfo || RequestID(inner) != "r4" || From(ctx) != info {
		t.Fatal("the nearer record must win, the outer one stay")
	}
	if ctx.Err() != nil {
		t.Fatal("cancelled early")
	}
	cancel()
	<-ctx.Done()
	if !errors.Is(ctx.Err(), context.Canceled) || !errors.Is(context.Cause(ctx), context.Canceled) {
		t.Fatalf("err %v", ctx.Err())
	}
	if _, ok := context.WithoutCancel(ctx).Value(infoKey{}).(*Info); !ok {
		t.Fatal("WithoutCancel must keep the record")
	}
}
