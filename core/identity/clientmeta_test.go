package identity

import (
	"context"
	"testing"

	"github.com/tradesense/tradesense/core/reqctx"
)

// TestClientMetaFrom: the client facts come from WithClientMeta when set,
// else from the request record the HTTP layer installs, else zero.
func TestClientMetaFrom(t *testing.T) {
	if m := ClientMetaFrom(context.Background()); m != (ClientMeta{}) {
		t.Fatalf("outside a request: %+v", m)
	}
	ctx, _ := reqctx.WithClient(context.Background(), "r1", "198.51.100.4", "ua/1")
	if m := ClientMetaFrom(ctx); m != (ClientMeta{IP: "198.51.100.4", UserAgent: "ua/1"}) {
		t.Fatalf("from the request record: %+v", m)
	}
	if m := ClientMetaFrom(WithClientMeta(ctx, ClientMeta{IP: "192.0.2.1", UserAgent: "x"})); m != (ClientMeta{IP: "192.0.2.1", UserAgent: "x"}) {
		t.Fatalf("WithClientMeta wins: %+v", m)
	}
	bare, _ := reqctx.With(context.Background(), "r2")
	if m := ClientMetaFrom(bare); m != (ClientMeta{}) {
		t.Fatalf("request record without client: %+v", m)
	}
}
