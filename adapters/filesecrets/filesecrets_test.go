package filesecrets_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tradesense/tradesense/adapters/filesecrets"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

func newProvider(t *testing.T, dir string) *filesecrets.Provider {
	t.Helper()
	p, err := filesecrets.New(filesecrets.Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestContractRelative(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		dir := t.TempDir()
		return secretstest.Fixture{
			Provider: newProvider(t, dir),
			Scheme:   secrets.SchemeFile,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				// A trailing newline, as `echo` writes, is not part of the value.
				writeFile(t, filepath.Join(dir, name), value+"\n")
				return secrets.MustParseRef("file:" + name)
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, _ := json.Marshal(fields)
				writeFile(t, filepath.Join(dir, name), string(b))
				return secrets.MustParseRef("file:" + name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("file:" + name)
			},
		}
	})
}

func TestContractAbsolute(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		dir := t.TempDir()
		return secretstest.Fixture{
			Provider: newProvider(t, ""),
			Scheme:   secrets.SchemeFile,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				writeFile(t, filepath.Join(dir, name), value)
				return secrets.MustParseRef("file:" + filepath.Join(dir, name))
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, _ := json.Marshal(fields)
				writeFile(t, filepath.Join(dir, name), string(b))
				return secrets.MustParseRef("file:" + filepath.Join(dir, name))
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("file:" + filepath.Join(dir, name))
			},
		}
	})
}

// kubeMount lays out dir as the kubelet's atomic writer does:
//
//	dir/..2026_01_01_00_00_00.<n>/jwt_key   the payload
//	dir/..data -> ..2026_01_01_00_00_00.<n>
//	dir/jwt_key -> ..data/jwt_key
//
// and swaps ..data by renaming a new symlink over it.
type kubeMount struct {
	dir string
	n   int
}

func (k *kubeMount) publish(t *testing.T, files map[string]string) {
	t.Helper()
	k.n++
	ts := filepath.Join(k.dir, "..2026_01_01_00_00_00."+strings.Repeat("x", k.n))
	if err := os.Mkdir(ts, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		writeFile(t, filepath.Join(ts, name), content)
	}
	tmp := filepath.Join(k.dir, "..data_tmp")
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(k.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range files {
		link := filepath.Join(k.dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
}

func TestKubernetesDataSymlinkSwap(t *testing.T) {
	dir := t.TempDir()
	k := &kubeMount{dir: dir}
	k.publish(t, map[string]string{"jwt_key": "key-one-0123456789", "db": `{"password":"pw-one"}`})
	p := newProvider(t, dir)
	ctx := context.Background()

	get := func(ref string) string {
		t.Helper()
		s, err := p.Get(ctx, secrets.MustParseRef(ref))
		if err != nil {
			t.Fatalf("Get(%s): %v", ref, err)
		}
		return s.Reveal()
	}
	if got := get("file:jwt_key"); got != "key-one-0123456789" {
		t.Fatalf("before swap: %q", got)
	}
	if got := get("file:db#password"); got != "pw-one" {
		t.Fatalf("before swap, #password: %q", got)
	}
	k.publish(t, map[string]string{"jwt_key": "key-two-9876543210", "db": `{"password":"pw-two"}`})
	if got := get("file:jwt_key"); got != "key-two-9876543210" {
		t.Fatalf("after swap: %q, want the new key", got)
	}
	if got := get("file:db#password"); got != "pw-two" {
		t.Fatalf("after swap, #password: %q", got)
	}
}

func TestRelativeReferencesStayInsideTheDirectory(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "host-secret"), "do-not-read")
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(outside, "host-secret"), filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	p := newProvider(t, dir)
	_, err := p.Get(context.Background(), secrets.Ref{Scheme: secrets.SchemeFile, Path: "evil"})
	if !apperr.Is(err, apperr.Invalid) {
		t.Fatalf("symlink out of the directory: error = %v, want Invalid", err)
	}
	if _, err := secrets.ParseRef("file:../host-secret"); err == nil {
		t.Fatal(`ParseRef("file:../host-secret") accepted a path escaping the directory`)
	}
}

func TestRelativeWithoutDirIsInvalid(t *testing.T) {
	p := newProvider(t, "")
	_, err := p.Get(context.Background(), secrets.MustParseRef("file:jwt_key"))
	if !apperr.Is(err, apperr.Invalid) || !strings.Contains(err.Error(), "SECRETS_DIR") {
		t.Fatalf("error = %v, want Invalid naming SECRETS_DIR", err)
	}
}

func TestRejectsNonRegularAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "huge"), strings.Repeat("a", filesecrets.MaxSize+1))
	p := newProvider(t, dir)
	for _, ref := range []string{"file:adir", "file:huge", "file:/dev/zero"} {
		_, err := p.Get(context.Background(), secrets.MustParseRef(ref))
		if !apperr.Is(err, apperr.Invalid) {
			t.Errorf("Get(%s): error = %v, want Invalid", ref, err)
		}
	}
}

func TestUnreadableIsForbidden(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads files regardless of their mode")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "locked"), "x")
	if err := os.Chmod(filepath.Join(dir, "locked"), 0); err != nil {
		t.Fatal(err)
	}
	_, err := newProvider(t, dir).Get(context.Background(), secrets.MustParseRef("file:locked"))
	if !apperr.Is(err, apperr.Forbidden) {
		t.Fatalf("error = %v, want Forbidden", err)
	}
}

func TestNewRejectsMissingDir(t *testing.T) {
	if _, err := filesecrets.New(filesecrets.Config{Dir: filepath.Join(t.TempDir(), "nope")}); err == nil {
		t.Fatal("New accepted a missing secrets directory")
	}
}

func TestEnsureRandom(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "keys")
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for range 8 {
		wg.Go(func() {
			_, c, err := filesecrets.EnsureRandom(dir, "jwt_key", 32)
			if err != nil {
				t.Error(err)
			}
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if created != 1 {
		t.Fatalf("%d concurrent callers reported creating the key, want exactly 1", created)
	}
	path := filepath.Join(dir, "jwt_key")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	s, err := newProvider(t, dir).Get(context.Background(), secrets.MustParseRef("file:jwt_key"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(s.Reveal())
	if err != nil || len(raw) != 32 {
		t.Fatalf("key decodes to %d bytes (%v), want 32", len(raw), err)
	}
	// A second call keeps the key.
	_, c, err := filesecrets.EnsureRandom(dir, "jwt_key", 32)
	if err != nil || c {
		t.Fatalf("second EnsureRandom: created=%v err=%v, want kept", c, err)
	}
	again, _ := newProvider(t, dir).Get(context.Background(), secrets.MustParseRef("file:jwt_key"))
	if !again.Equal(s) {
		t.Fatal("EnsureRandom replaced an existing key")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key (temp files removed)", len(entries))
	}
}
