// Package filesecrets serves "file:" secret references: files in a
// directory as Kubernetes and Docker mount secrets, or any absolute path
// (the NAME_FILE convention).
//
// Every Get opens the file anew, following symlinks, so a Kubernetes secret
// update — which writes a new timestamped directory and atomically swaps the
// "..data" symlink that each key's symlink points through — is seen by the
// next read; the Resolver's background refresh bounds how soon. Relative
// references are opened with os.OpenInRoot, so they cannot escape the
// directory through ".." or symlinks that point outside it.
package filesecrets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
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

const backend = "file"

// MaxSize bounds a secret file: a misconfigured reference to a log file or a
// device must fail, not fill the memory.
const MaxSize = 1 << 20

// Config configures the provider.
type Config struct {
	// Dir [SECRETS_DIR, default "" = none] is the directory relative file
	// references are read from, for example /var/run/secrets/tradesense.
	// When empty, only absolute file references are served.
	Dir string
}

// Provider implements secrets.Provider over the file system.
type Provider struct {
	dir string
}

var _ secrets.Provider = (*Provider)(nil)

// New returns a Provider. It fails when Dir is set but is not a directory,
// so that a missing secrets mount stops the process at start-up.
func New(cfg Config) (*Provider, error) {
	if cfg.Dir != "" {
		fi, err := os.Stat(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("filesecrets: secrets directory: %w", err)
		}
		if !fi.IsDir() {
			return nil, fmt.Errorf("filesecrets: secrets directory %s is not a directory", cfg.Dir)
		}
	}
	return &Provider{dir: cfg.Dir}, nil
}

// Get implements secrets.Provider. The value is the file's content with
// trailing CR and LF removed (files written by editors and `echo` end with a
// newline that is never part of the secret). The version is the file's
// modification time (RFC 3339, nanoseconds, UTC); two writes within the file
// system's timestamp granularity may share one, so rotation detection also
// compares values.
func (p *Provider) Get(_ context.Context, ref secrets.Ref) (secrets.Secret, error) {
	if err := secrets.CheckScheme(backend, ref, secrets.SchemeFile); err != nil {
		return secrets.Secret{}, err
	}
	f, err := p.open(ref)
	if err != nil {
		return secrets.Secret{}, p.translate(ref, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return secrets.Secret{}, secrets.Unavailable(backend, ref, err)
	}
	if !fi.Mode().IsRegular() {
		return secrets.Secret{}, secrets.Invalid(backend, ref, "not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return secrets.Secret{}, secrets.Unavailable(backend, ref, err)
	}
	if len(b) > MaxSize {
		return secrets.Secret{}, secrets.Invalid(backend, ref, fmt.Sprintf("file larger than %d bytes", MaxSize))
	}
	val := strings.TrimRight(string(b), "\r\n")
	version := fi.ModTime().UTC().Format(time.RFC3339Nano)
	return secrets.ExtractKey(backend, ref, secrets.New(val, version))
}

func (p *Provider) open(ref secrets.Ref) (*os.File, error) {
	if filepath.IsAbs(ref.Path) {
		return os.Open(ref.Path)
	}
	if p.dir == "" {
		return nil, errNoDir
	}
	return os.OpenInRoot(p.dir, ref.Path)
}

var errNoDir = errors.New("no secrets directory configured")

func (p *Provider) translate(ref secrets.Ref, err error) error {
	switch {
	case errors.Is(err, errNoDir):
		return secrets.Invalid(backend, ref, "relative file references need a secrets directory (SECRETS_DIR)")
	case errors.Is(err, fs.ErrNotExist):
		return secrets.NotFound(backend, ref, err)
	case errors.Is(err, fs.ErrPermission):
		return secrets.Forbidden(backend, ref, err)
	case strings.Contains(err.Error(), "path escapes from parent"):
		// os.Root's error for a symlink leading out of the directory has no
		// exported sentinel.
		return secrets.Invalid(backend, ref, "the file resolves outside the secrets directory")
	}
	return secrets.Unavailable(backend, ref, err)
}

// EnsureRandom makes sure dir/name holds a random secret of size bytes
// (base64url-encoded, so the file holds 4*size/3 characters), creating dir
// (0700) and the file (0600) when missing. It is for development: the
// composition root generates dev keys once under DATA_DIR and logs that it
// did. created reports whether a new key was written. The file appears
// atomically, complete or not at all, and an existing file is never replaced
// (two processes starting together agree on one key).
func EnsureRandom(dir, name string, size int) (path string, created bool, err error) {
	if size < 16 {
		return "", false, fmt.Errorf("filesecrets: refusing to generate a %d-byte key", size)
	}
	if !filepath.IsLocal(name) || strings.ContainsAny(name, `/\`) {
		return "", false, fmt.Errorf("filesecrets: key name %q must be a plain file name", name)
	}
	path = filepath.Join(dir, name)
	if _, err := os.Stat(path); err == nil {
		return path, false, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", false, fmt.Errorf("filesecrets: create %s: %w", dir, err)
	}
	raw := make([]byte, size)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("filesecrets: random: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return "", false, fmt.Errorf("filesecrets: create key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("filesecrets: chmod key file: %w", err)
	}
	if _, err := io.WriteString(tmp, base64.RawURLEncoding.EncodeToString(raw)+"\n"); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("filesecrets: write key file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", false, fmt.Errorf("filesecrets: sync key file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", false, fmt.Errorf("filesecrets: close key file: %w", err)
	}
	// Link fails if the name exists: the first writer wins.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return path, false, nil
		}
		return "", false, fmt.Errorf("filesecrets: install key file: %w", err)
	}
	return path, true, nil
}
