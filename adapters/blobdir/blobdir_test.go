package blobdir

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/blob/blobtest"
)

func newStore(t *testing.T) *Store {
	t.Helper()
	s, cleanup, err := New(Config{Dir: filepath.Join(t.TempDir(), "blobs")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cleanup)
	return s
}

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) blob.Store { return newStore(t) })
}

// TestSymlinkCannotEscape: a symlink planted inside the directory does not
// let a key reach a file outside it.
func TestSymlinkCannotEscape(t *testing.T) {
	s := newStore(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret.blob"), []byte("top secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(s.Dir(), "evil")); err != nil {
		t.Skipf("symlinks unsupported: %v", err)
	}
	if _, _, err := s.Open(context.Background(), "evil/secret"); err == nil {
		t.Fatal("read a file outside the store through a symlink")
	}
	if err := s.Put(context.Background(), "evil/planted", strings.NewReader("x"), 1, "text/plain"); err == nil {
		t.Fatal("wrote outside the store through a symlink")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted.blob")); err == nil {
		t.Fatal("a file appeared outside the store")
	}
}

// TestNoTemporaryFilesLeft: a failed write leaves nothing behind.
func TestNoTemporaryFilesLeft(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", strings.NewReader("short"), 99, "text/plain"); !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("Put = %v", err)
	}
	if err := s.Put(ctx, "a/c", strings.NewReader("ok"), 2, "text/plain"); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(s.Dir(), "a"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Contains(strings.Join(names, " "), ".tmp-") {
		t.Fatalf("temporary files left: %v", names)
	}
	if _, err := os.Stat(s.pathOf("a/c")); err != nil {
		t.Fatalf("blob file: %v", err)
	}
	if _, _, err := New(Config{}); err == nil {
		t.Fatal("New with an empty Dir succeeded")
	}
}
