package smtp

import (
	"bytes"
	"io"
	"os"
	"path/filepath"

	mail "github.com/wneessen/go-mail"
)

func mkdir(dir string) error { return os.MkdirAll(dir, 0o750) }

// writeEML writes msg to dir/name atomically (temp file and rename), so a
// reader never sees half a message. The temp file does not end in .eml: a
// reader listing *.eml (Go's Glob matches leading dots) must not see it.
func writeEML(dir, name string, msg *mail.Msg) (string, error) {
	return writeAtomic(dir, name, msg)
}

// writeFile writes b to dir/name atomically, as writeEML.
func writeFile(dir, name string, b []byte) (string, error) {
	return writeAtomic(dir, name, bytes.NewReader(b))
}

func writeAtomic(dir, name string, src io.WriterTo) (string, error) {
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	if _, err := src.WriteTo(f); err != nil {
		_ = f.Close()
		_ = os.Remove(f.Name())
		return "", err
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	path := filepath.Join(dir, name)
	if err := os.Rename(f.Name(), path); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return path, nil
}
