package filesecrets

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/secrets"
)

var _ secrets.Writer = (*Provider)(nil)

// Put implements secrets.Writer. The file is replaced atomically: the new
// content is written to a temporary file (mode 0600) in the same directory,
// synced, and renamed over the old one, so a reader sees the old content
// or the new, never a mix. Writers of one file are serialised by an
// exclusive flock on a lock file beside it (.<name>.lock), which makes the
// check of ifVersion and the rename one step.
//
// The version is the modification time, as Get reports it; Put sets it to
// the current time, or later than the previous one when the clock or the
// file system's timestamp granularity would repeat it, so every write gets
// a new version. With ref.Key, the file must hold a JSON object (or not
// exist, for NoVersion); other fields keep their encoding. A whole value
// may not end with CR or LF (Get trims them). The path must not be a
// symbolic link (a Kubernetes secret volume: update the Secret instead).
func (p *Provider) Put(ctx context.Context, ref secrets.Ref, value secrets.Secret, ifVersion string) (string, error) {
	if err := secrets.CheckWritable(backend, ref, secrets.SchemeFile); err != nil {
		return "", err
	}
	root, name, err := p.rootOf(ref)
	if err != nil {
		return "", err
	}
	defer root.Close()
	dir, base := filepath.Split(name)

	lock, err := root.OpenFile(filepath.Join(dir, "."+base+".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return "", p.translateWrite(ref, err)
	}
	defer lock.Close()
	if err := lockFile(ctx, lock); err != nil {
		return "", secrets.WriteUnavailable(backend, ref, fmt.Errorf("lock the file: %w", err))
	}
	defer func() { _ = unlockFile(lock) }()

	var prev time.Time
	var old []byte
	fi, err := root.Lstat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if ifVersion != secrets.NoVersion {
			return "", secrets.Conflict(backend, ref, fmt.Sprintf("the file does not exist (expected version %s)", ifVersion))
		}
	case err != nil:
		return "", p.translateWrite(ref, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return "", secrets.Invalid(backend, ref, "the path is a symbolic link (a mounted secret?): update the file it points to at its source")
	case !fi.Mode().IsRegular():
		return "", secrets.Invalid(backend, ref, "not a regular file")
	default:
		prev = fi.ModTime()
		if cur := versionOf(prev); ifVersion != cur {
			if ifVersion == secrets.NoVersion {
				return "", secrets.Conflict(backend, ref, "the file already exists (version "+cur+")")
			}
			return "", secrets.Conflict(backend, ref, fmt.Sprintf("the file is at version %s, not %s", cur, ifVersion))
		}
		if ref.Key != "" {
			if old, err = readLimited(root, name); err != nil {
				return "", p.translateWrite(ref, err)
			}
		}
	}

	content := value.Reveal()
	if ref.Key != "" {
		doc, err := secrets.SetJSONField([]byte(strings.TrimRight(string(old), "\r\n")), ref.Key, content)
		switch {
		case errors.Is(err, secrets.ErrNotUTF8):
			return "", secrets.Invalid(backend, ref, err.Error())
		case err != nil:
			return "", secrets.Malformed(backend, ref, `"#key" needs a JSON object`)
		}
		content = string(doc)
	} else if strings.HasSuffix(content, "\n") || strings.HasSuffix(content, "\r") {
		return "", secrets.Invalid(backend, ref, "a file secret cannot end with a line break (reads trim it)")
	}
	if len(content) > MaxSize {
		return "", secrets.Invalid(backend, ref, fmt.Sprintf("the value is larger than %d bytes", MaxSize))
	}

	tmp, err := writeTemp(root, dir, base, content+"\n")
	if err != nil {
		return "", p.translateWrite(ref, err)
	}
	defer func() { _ = root.Remove(tmp) }() // gone after the rename
	mod, err := stampAfter(root, tmp, prev)
	if err != nil {
		return "", p.translateWrite(ref, err)
	}
	if err := root.Rename(tmp, name); err != nil {
		return "", p.translateWrite(ref, err)
	}
	// The rename is durable once the directory is synced.
	if d, err := root.Open(filepath.Join(dir, ".")); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return versionOf(mod), nil
}

// versionOf is the version label of a modification time, as Get reports it.
func versionOf(mod time.Time) string { return mod.UTC().Format(time.RFC3339Nano) }

// rootOf opens the directory ref lives in and returns the file's name
// inside it.
func (p *Provider) rootOf(ref secrets.Ref) (*os.Root, string, error) {
	dir, name := p.dir, ref.Path
	if filepath.IsAbs(ref.Path) {
		dir, name = filepath.Split(ref.Path)
	} else if p.dir == "" {
		return nil, "", p.translate(ref, errNoDir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, "", p.translateWrite(ref, err)
	}
	return root, name, nil
}

func readLimited(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("file larger than %d bytes", MaxSize)
	}
	return b, nil
}

// writeTemp writes content to a new 0600 file beside base and syncs it.
func writeTemp(root *os.Root, dir, base, content string) (string, error) {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	name := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(b))
	f, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, err = io.WriteString(f, content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(name)
		return "", err
	}
	return name, nil
}

// stampAfter sets the modification time of name to now, or to a time after
// prev when now is not after it (a clock step, or a file system that keeps
// coarse timestamps), and returns the time the file system kept.
func stampAfter(root *os.Root, name string, prev time.Time) (time.Time, error) {
	want := time.Now()
	for _, step := range []time.Duration{time.Microsecond, time.Second, 2 * time.Second} {
		if !prev.IsZero() && !want.After(prev) {
			want = prev.Add(step)
		}
		if err := root.Chtimes(name, want, want); err != nil {
			return time.Time{}, err
		}
		fi, err := root.Stat(name)
		if err != nil {
			return time.Time{}, err
		}
		if got := fi.ModTime(); prev.IsZero() || got.After(prev) {
			return got, nil
		}
		want = prev
	}
	return time.Time{}, errors.New("the file system does not keep a newer modification time")
}

func (p *Provider) translateWrite(ref secrets.Ref, err error) error {
	switch {
	case errors.Is(err, fs.ErrPermission), isReadOnlyFS(err):
		return secrets.Forbidden(backend, ref, err)
	case errors.Is(err, fs.ErrNotExist):
		return secrets.NotFound(backend, ref, err)
	case strings.Contains(err.Error(), "path escapes from parent"):
		return secrets.Invalid(backend, ref, "the file resolves outside the secrets directory")
	}
	return secrets.WriteUnavailable(backend, ref, err)
}
