// Package blobdir is the blob.Store of the local profile: files in a
// directory (DATA_DIR/blobs by default). Writes go to a temporary file in
// the target's directory, are synced and renamed into place, so a reader
// sees the old file or the new one. Every path is resolved through an
// os.Root: no key, symlink or race can reach outside the directory.
package blobdir

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
)

// Config is the adapter's configuration.
type Config struct {
	// Dir is the directory of the blobs; created (0700) when missing.
	Dir string
}

// Store is the directory implementation of blob.Store. The content type of
// each blob is kept in a sidecar file "<name>.meta" beside it.
type Store struct {
	root *os.Root
	dir  string
}

var _ blob.Store = (*Store)(nil)

// New opens (creating) the directory. The cleanup closes it.
func New(cfg Config) (*Store, func(), error) {
	if cfg.Dir == "" {
		return nil, nil, errors.New("blobdir: Config.Dir is empty")
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("blobdir: create %s: %w", cfg.Dir, err)
	}
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, nil, fmt.Errorf("blobdir: open %s: %w", cfg.Dir, err)
	}
	return &Store{root: root, dir: cfg.Dir}, func() { _ = root.Close() }, nil
}

// Dir reports the directory (for start-up logs).
func (s *Store) Dir() string { return s.dir }

// A blob's content is in "<key>.blob" and its content type in
// "<key>.meta", so that no key's files collide with another's.
const (
	dataSuffix = ".blob"
	metaSuffix = ".meta"
)

type meta struct {
	ContentType string `json:"content_type"`
}

func unavailable(err error) error {
	return apperr.Wrap(err, apperr.Unavailable, "blob_store_unavailable", "the file store failed")
}

// Put implements blob.Store.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	if dir := path.Dir(key); dir != "." {
		if err := s.root.MkdirAll(dir, 0o700); err != nil {
			return unavailable(err)
		}
	}
	// The content first: a failed write leaves the old blob whole.
	if err := s.writeAtomic(key+dataSuffix, &ctxReader{ctx: ctx, r: r}, size); err != nil {
		return err
	}
	m, _ := json.Marshal(meta{ContentType: contentType})
	return s.writeAtomic(key+metaSuffix, strings.NewReader(string(m)), int64(len(m)))
}

// writeAtomic writes exactly size bytes of r to name through a synced
// temporary file and a rename.
func (s *Store) writeAtomic(name string, r io.Reader, size int64) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return unavailable(err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = f.Close()
			_ = s.root.Remove(tmp)
		}
	}()
	n, err := io.Copy(f, io.LimitReader(r, size+1))
	if err != nil {
		return fmt.Errorf("blobdir: write %s: %w", name, err)
	}
	if n != size {
		return blob.SizeMismatch(size, n)
	}
	if err := f.Sync(); err != nil {
		return unavailable(err)
	}
	if err := f.Close(); err != nil {
		return unavailable(err)
	}
	if err := s.root.Rename(tmp, name); err != nil {
		return unavailable(err)
	}
	committed = true
	return nil
}

// ctxReader stops a long copy when the caller gives up.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Open implements blob.Store.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, blob.Info{}, err
	}
	f, err := s.root.Open(key + dataSuffix)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.Info{}, blob.NotFound(key)
	}
	if err != nil {
		return nil, blob.Info{}, unavailable(err)
	}
	return f, info, nil
}

// Stat implements blob.Store.
func (s *Store) Stat(_ context.Context, key string) (blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return blob.Info{}, err
	}
	fi, err := s.root.Stat(key + dataSuffix)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && !fi.Mode().IsRegular()) {
		return blob.Info{}, blob.NotFound(key)
	}
	if err != nil {
		return blob.Info{}, unavailable(err)
	}
	info := blob.Info{Key: key, Size: fi.Size(), ModTime: fi.ModTime().UTC(), ContentType: "application/octet-stream"}
	if b, err := s.root.ReadFile(key + metaSuffix); err == nil {
		var m meta
		if json.Unmarshal(b, &m) == nil && m.ContentType != "" {
			info.ContentType = m.ContentType
		}
	}
	return info, nil
}

// Delete implements blob.Store.
func (s *Store) Delete(_ context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	for _, name := range []string{key + dataSuffix, key + metaSuffix} {
		if err := s.root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return unavailable(err)
		}
	}
	return nil
}

// pathOf is the file of a key (tests).
func (s *Store) pathOf(key string) string {
	return filepath.Join(s.dir, filepath.FromSlash(key)+dataSuffix)
}
