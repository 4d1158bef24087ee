//go:build unix

package filesecrets_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tradesense/tradesense/adapters/filesecrets"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

// wantCode fails unless err is an apperr of kind with the code.
func wantCode(t *testing.T, what string, err error, kind apperr.Kind, code string) {
	t.Helper()
	if !apperr.Is(err, kind) || apperr.CodeOf(err) != code {
		t.Errorf("%s: %v; want %v %s", what, err, kind, code)
	}
}

// TestSecretPutRefusals: Put refuses what Get could not read back as
// written, and what it must not replace, and leaves the file as it was.
func TestSecretPutRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p := newProvider(t, dir)
	ref := func(s string) secrets.Ref { return secrets.MustParseRef("file:" + s) }

	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := p.Put(ctx, ref("adir"), secrets.New("v", ""), secrets.NoVersion)
	wantCode(t, "Put over a directory", err, apperr.Invalid, secrets.CodeInvalid)

	for name, v := range map[string]string{"lf": "value\n", "cr": "value\r"} {
		_, err := p.Put(ctx, ref(name), secrets.New(v, ""), secrets.NoVersion)
		wantCode(t, "a value ending in a line break", err, apperr.Invalid, secrets.CodeInvalid)
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("refused Put of %q created the file: %v", v, err)
		}
	}
	_, err = p.Put(ctx, ref("huge"), secrets.New(strings.Repeat("k", filesecrets.MaxSize+1), ""), secrets.NoVersion)
	wantCode(t, "a value over MaxSize", err, apperr.Invalid, secrets.CodeInvalid)

	// A #key write needs the file to hold a JSON object.
	writeFile(t, filepath.Join(dir, "plain"), "not json")
	cur, err := p.Get(ctx, ref("plain"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Put(ctx, ref("plain#jwt"), secrets.New("v", ""), cur.Version())
	wantCode(t, "a #key write into a file that is not JSON", err, apperr.Invalid, secrets.CodeMalformedValue)
	_, err = p.Put(ctx, ref("fields#jwt"), secrets.New("\xff\xfe", ""), secrets.NoVersion)
	wantCode(t, "a #key value that is not UTF-8", err, apperr.Invalid, secrets.CodeInvalid)
	if b, _ := os.ReadFile(filepath.Join(dir, "plain")); string(b) != "not json" {
		t.Errorf("refused Put changed the file: %q", b)
	}

	// A directory that does not exist is NotFound, not an outage.
	_, err = p.Put(ctx, ref("missing/key"), secrets.New("v", ""), secrets.NoVersion)
	wantCode(t, "Put into a missing directory", err, apperr.NotFound, secrets.CodeNotFound)
	_, err = p.Put(ctx, ref(filepath.Join(dir, "missing", "key")), secrets.New("v", ""), secrets.NoVersion)
	wantCode(t, "absolute Put into a missing directory", err, apperr.NotFound, secrets.CodeNotFound)
}

// TestSecretPutWaitsForTheLockUntilItsContextEnds: a writer holding the
// file's lock (another process's rotation) makes Put wait; when the
// caller gives up, Put answers Unavailable and writes nothing.
func TestSecretPutWaitsForTheLockUntilItsContextEnds(t *testing.T) {
	dir := t.TempDir()
	p := newProvider(t, dir)
	lock, err := os.OpenFile(filepath.Join(dir, ".key.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = p.Put(ctx, secrets.MustParseRef("file:key"), secrets.New("v", ""), secrets.NoVersion)
	wantCode(t, "Put while another writer holds the lock", err, apperr.Unavailable, secrets.CodeUnavailable)
	if _, err := os.Stat(filepath.Join(dir, "key")); !os.IsNotExist(err) {
		t.Fatalf("Put without the lock wrote the file: %v", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_UN); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Put(context.Background(), secrets.MustParseRef("file:key"), secrets.New("v", ""), secrets.NoVersion); err != nil {
		t.Fatalf("Put once the lock is free: %v", err)
	}
}

func TestNewRejectsAFileAsTheDirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	writeFile(t, f, "x")
	if _, err := filesecrets.New(filesecrets.Config{Dir: f}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("New(Dir: a file) = %v; want not a directory", err)
	}
}

func TestEnsureRandomRefusals(t *testing.T) {
	dir := t.TempDir()
	if _, _, err := filesecrets.EnsureRandom(dir, "short", 8); err == nil {
		t.Error("EnsureRandom made an 8-byte key")
	}
	for _, name := range []string{"../escape", "sub/key", `a\b`, ""} {
		if _, _, err := filesecrets.EnsureRandom(dir, name, 32); err == nil {
			t.Errorf("EnsureRandom accepted the name %q", name)
		}
	}
	file := filepath.Join(dir, "file")
	writeFile(t, file, "x")
	if _, _, err := filesecrets.EnsureRandom(filepath.Join(file, "keys"), "jwt_key", 32); err == nil {
		t.Error("EnsureRandom under a file succeeded")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("refused calls left files: %v", entries)
	}
}
