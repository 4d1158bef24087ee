package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
)

// Factory returns an empty store.
type Factory func(t *testing.T) blob.Store

func isCode(err error, kind apperr.Kind, code string) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == kind && e.Code == code
}

func read(t *testing.T, s blob.Store, key string) ([]byte, blob.Info) {
	t.Helper()
	rc, info, err := s.Open(context.Background(), key)
	if err != nil {
		t.Fatalf("Open(%q): %v", key, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b, info
}

// Run runs the contract suite.
func Run(t *testing.T, newStore Factory) {
	ctx := context.Background()

	t.Run("RoundTrip", func(t *testing.T) {
		s := newStore(t)
		data := make([]byte, 1<<20+3)
		_, _ = rand.Read(data)
		if err := s.Put(ctx, "attachments/u1/a.png", bytes.NewReader(data), int64(len(data)), "image/png"); err != nil {
			t.Fatal(err)
		}
		got, info := read(t, s, "attachments/u1/a.png")
		if !bytes.Equal(got, data) || info.Size != int64(len(data)) || info.ContentType != "image/png" || info.Key != "attachments/u1/a.png" {
			t.Fatalf("read back %d bytes, info %+v", len(got), info)
		}
		st, err := s.Stat(ctx, "attachments/u1/a.png")
		if err != nil || st.Size != int64(len(data)) || st.ContentType != "image/png" || st.ModTime.IsZero() {
			t.Fatalf("Stat = %+v, %v", st, err)
		}
		// Overwrite replaces; empty blobs are blobs.
		if err := s.Put(ctx, "attachments/u1/a.png", strings.NewReader("new"), 3, "text/plain"); err != nil {
			t.Fatal(err)
		}
		if got, info := read(t, s, "attachments/u1/a.png"); string(got) != "new" || info.ContentType != "text/plain" {
			t.Fatalf("after overwrite: %q %+v", got, info)
		}
		if err := s.Put(ctx, "empty", strings.NewReader(""), 0, "application/octet-stream"); err != nil {
			t.Fatal(err)
		}
		if got, _ := read(t, s, "empty"); len(got) != 0 {
			t.Fatalf("empty blob read %d bytes", len(got))
		}
	})

	t.Run("NotFoundAndDelete", func(t *testing.T) {
		s := newStore(t)
		if _, _, err := s.Open(ctx, "missing/x"); !isCode(err, apperr.NotFound, blob.CodeNotFound) {
			t.Fatalf("Open missing = %v", err)
		}
		if _, err := s.Stat(ctx, "missing/x"); !isCode(err, apperr.NotFound, blob.CodeNotFound) {
			t.Fatalf("Stat missing = %v", err)
		}
		if err := s.Delete(ctx, "missing/x"); err != nil {
			t.Fatalf("Delete missing = %v", err)
		}
		_ = s.Put(ctx, "a/b", strings.NewReader("x"), 1, "text/plain")
		if err := s.Delete(ctx, "a/b"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, "a/b"); !isCode(err, apperr.NotFound, blob.CodeNotFound) {
			t.Fatalf("Stat after Delete = %v", err)
		}
	})

	t.Run("InvalidKeys", func(t *testing.T) {
		s := newStore(t)
		for _, k := range []string{"", "../escape", "a/../../b", "/abs", "a//b", "a/", ".", "a/./b", `a\b`, "a\x00b", "é", "a b",
			strings.Repeat("k", blob.MaxKeyLen+1)} {
			if err := s.Put(ctx, k, strings.NewReader("x"), 1, "text/plain"); !isCode(err, apperr.Invalid, blob.CodeKeyInvalid) {
				t.Errorf("Put(%q) = %v; want blob_key_invalid", k, err)
			}
			if _, _, err := s.Open(ctx, k); !isCode(err, apperr.Invalid, blob.CodeKeyInvalid) {
				t.Errorf("Open(%q) = %v", k, err)
			}
			if err := s.Delete(ctx, k); !isCode(err, apperr.Invalid, blob.CodeKeyInvalid) {
				t.Errorf("Delete(%q) = %v", k, err)
			}
		}
	})

	t.Run("SizeMismatchStoresNothing", func(t *testing.T) {
		s := newStore(t)
		for _, c := range []struct {
			data string
			size int64
		}{{"short", 10}, {"longer than said", 4}} {
			if err := s.Put(ctx, "k/size", strings.NewReader(c.data), c.size, "text/plain"); !isCode(err, apperr.Invalid, blob.CodeShortRead) {
				t.Fatalf("Put(%q, %d) = %v; want blob_size_mismatch", c.data, c.size, err)
			}
			if _, err := s.Stat(ctx, "k/size"); !isCode(err, apperr.NotFound, blob.CodeNotFound) {
				t.Fatalf("a mismatched Put left a blob: %v", err)
			}
		}
		// A failing reader stores nothing either, and the old blob stays.
		_ = s.Put(ctx, "k/keep", strings.NewReader("old"), 3, "text/plain")
		boom := errors.New("boom")
		if err := s.Put(ctx, "k/keep", iotest.ErrReader(boom), 3, "text/plain"); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		if got, _ := read(t, s, "k/keep"); string(got) != "old" {
			t.Fatalf("after a failed overwrite: %q", got)
		}
	})

	t.Run("ConcurrentPutsAreAtomic", func(t *testing.T) {
		s := newStore(t)
		const n = 8
		size := 256 << 10
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := s.Put(ctx, "race/k", bytes.NewReader(bytes.Repeat([]byte{byte('a' + i)}, size)), int64(size), "text/plain"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, _ := read(t, s, "race/k")
		if len(got) != size || bytes.Count(got, got[:1]) != size {
			t.Fatalf("blob mixes writers: %d bytes, first %q", len(got), got[:1])
		}
	})
}
