package filesecrets_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tradesense/tradesense/adapters/filesecrets"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

func writerFixture(t *testing.T, relative bool) secretstest.WriterFixture {
	dir := t.TempDir()
	pdir := ""
	refOf := func(name string) secrets.Ref { return secrets.MustParseRef("file:" + filepath.Join(dir, name)) }
	if relative {
		pdir = dir
		refOf = func(name string) secrets.Ref { return secrets.MustParseRef("file:sub/" + name) }
		if err := os.Mkdir(filepath.Join(dir, "sub"), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p := newProvider(t, pdir)
	path := func(name string) string {
		if relative {
			return filepath.Join(dir, "sub", name)
		}
		return filepath.Join(dir, name)
	}
	return secretstest.WriterFixture{
		Fixture: secretstest.Fixture{
			Provider: p,
			Scheme:   secrets.SchemeFile,
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, _ := json.Marshal(fields)
				writeFile(t, path(name), string(b))
				return refOf(name)
			},
		},
		Writer: p,
		New:    func(t *testing.T, name string) secrets.Ref { return refOf(name) },
	}
}

func TestSecretWriterContractAbsolute(t *testing.T) {
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture { return writerFixture(t, false) })
}

func TestSecretWriterContractRelative(t *testing.T) {
	secretstest.RunWriter(t, func(t *testing.T) secretstest.WriterFixture { return writerFixture(t, true) })
}

// TestPutWritesAtomicallyWith0600 checks the file's mode, that no
// temporary file is left behind, and that a file that was world-readable
// is replaced by a private one.
func TestSecretPutWritesAtomicallyWith0600(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "jwt_key")
	if err := os.WriteFile(path, []byte("old-key-value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, "")
	ref := secrets.MustParseRef("file:" + path)
	cur, err := p.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	v, err := p.Put(context.Background(), ref, secrets.New("new-key-value", ""), cur.Version())
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v after Put, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != "new-key-value\n" {
		t.Errorf("content %q", b)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
	if got, _ := p.Get(context.Background(), ref); got.Version() != v {
		t.Errorf("Get version %q, Put returned %q", got.Version(), v)
	}
}

func TestSecretPutRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	(&kubeMount{dir: dir}).publish(t, map[string]string{"jwt": "mounted-key-value"})
	p := newProvider(t, dir)
	ref := secrets.MustParseRef("file:jwt")
	cur, err := p.Get(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Put(context.Background(), ref, secrets.New("x", ""), cur.Version())
	if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Put over a kubelet symlink: %v, want Invalid naming the symlink", err)
	}
}

func TestSecretPutInAReadOnlyDirectoryIsForbidden(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions")
	}
	ro := t.TempDir()
	writeFile(t, filepath.Join(ro, "key"), "v")
	if err := os.Chmod(ro, 0o500); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(ro, 0o700) })
	rp := newProvider(t, ro)
	rref := secrets.MustParseRef("file:key")
	cur, _ := rp.Get(context.Background(), rref)
	if _, err := rp.Put(context.Background(), rref, secrets.New("x", ""), cur.Version()); !apperr.Is(err, apperr.Forbidden) {
		t.Fatalf("Put in a read-only directory: %v, want Forbidden", err)
	}
}

func TestSecretPutWithoutSecretsDirIsInvalid(t *testing.T) {
	p, err := filesecrets.New(filesecrets.Config{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Put(context.Background(), secrets.MustParseRef("file:rel"), secrets.New("x", ""), secrets.NoVersion)
	if !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("relative Put without SECRETS_DIR: %v, want Invalid", err)
	}
}
