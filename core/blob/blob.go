// Package blob declares the port to the store of files: screenshots
// attached to trades and journal entries, uploaded import files, report
// files. Adapters: a directory (local profile) and S3-compatible object
// storage (production). Blobs are private: callers authorise every read
// (no public URLs).
package blob

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// Error codes.
const (
	CodeNotFound   = "blob_not_found"
	CodeKeyInvalid = "blob_key_invalid"
	CodeShortRead  = "blob_size_mismatch"
)

// MaxKeyLen bounds a key (S3 allows 1024 bytes; leave room for a prefix).
const MaxKeyLen = 512

// Info describes a stored blob.
type Info struct {
	Key         string
	Size        int64
	ContentType string
	ModTime     time.Time
}

// Store keeps blobs by key. Keys are slash-separated paths of segments made
// of letters, digits, '.', '-' and '_' (no empty, "." or ".." segment, at
// most MaxKeyLen bytes); any other key is refused with apperr.Invalid
// "blob_key_invalid" before anything is touched. Implementations may fail
// with apperr.Unavailable when the backend is down.
type Store interface {
	// Put stores exactly size bytes read from r under key, replacing any
	// blob there atomically: a reader sees the old blob or the new one,
	// never a part. When r yields fewer or more than size bytes nothing is
	// stored and the error is apperr.Invalid "blob_size_mismatch".
	Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error
	// Open returns the blob's content (the caller closes it) and its info,
	// or apperr.NotFound "blob_not_found".
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat returns the blob's info or apperr.NotFound "blob_not_found".
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob; deleting a missing blob is not an error.
	Delete(ctx context.Context, key string) error
}

// ValidateKey checks key against the rules of Store.
func ValidateKey(key string) error {
	bad := func(why string) error {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, fmt.Sprintf("invalid blob key: %s", why))
	}
	if key == "" || len(key) > MaxKeyLen {
		return bad(fmt.Sprintf("must be 1 to %d bytes", MaxKeyLen))
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return bad("empty, '.' and '..' segments are not allowed")
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
				return bad("segments are letters, digits, '.', '-' and '_'")
			}
		}
	}
	return nil
}

// NotFound is the error of a missing blob.
func NotFound(key string) error {
	return apperr.New(apperr.NotFound, CodeNotFound, "blob not found")
}

// SizeMismatch is the error of a Put whose reader did not yield size
// bytes.
func SizeMismatch(want, got int64) error {
	return apperr.New(apperr.Invalid, CodeShortRead, fmt.Sprintf("the content is %d bytes, not the %d announced", got, want))
}
