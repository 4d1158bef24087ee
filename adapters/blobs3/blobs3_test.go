package blobs3_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/tradesense/tradesense/adapters/blobs3"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/blob/blobtest"
)

// fake starts an in-process S3 (gofakes3) with one bucket.
func fake(t *testing.T) (*httptest.Server, *s3mem.Backend) {
	t.Helper()
	be := s3mem.New()
	if err := be.CreateBucket("tradesense"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gofakes3.New(be).Server())
	t.Cleanup(srv.Close)
	return srv, be
}

func newStore(t *testing.T, prefix string) (*blobs3.Store, *s3mem.Backend) {
	t.Helper()
	srv, be := fake(t)
	s, err := blobs3.New(context.Background(), blobs3.Config{Bucket: "tradesense", Prefix: prefix, Region: "us-east-1", Endpoint: srv.URL,
		PathStyle: true, AccessKeyID: "test", SecretAccessKey: "test-secret"})
	if err != nil {
		t.Fatal(err)
	}
	return s, be
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { s, _ := newStore(t, ""); return s })
}

func TestPrefix(t *testing.T) {
	s, be := newStore(t, "env/prod/")
	if err := s.Put(context.Background(), "a/b.png", strings.NewReader("png"), 3, "image/png"); err != nil {
		t.Fatal(err)
	}
	obj, err := be.HeadObject("tradesense", "env/prod/a/b.png")
	if err != nil || obj.Size != 3 {
		t.Fatalf("object under the prefix: %+v, %v", obj, err)
	}
}

func TestConfig(t *testing.T) {
	for _, cfg := range []blobs3.Config{{}, {Bucket: "b", Prefix: "no-slash"}, {Bucket: "b", Prefix: "../x/"}} {
		if _, err := blobs3.New(context.Background(), cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
}
