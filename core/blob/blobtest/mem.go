// Package blobtest is the contract suite of blob.Store and an in-memory
// store for tests of the modules that use blobs.
package blobtest

import (
	"bytes"
	"context"
	"io"
	"sync"
	"time"

	"github.com/tradesense/tradesense/core/blob"
)

// Mem is an in-memory blob.Store.
type Mem struct {
	mu    sync.Mutex
	blobs map[string]memBlob
}

type memBlob struct {
	data []byte
	info blob.Info
}

var _ blob.Store = (*Mem)(nil)

// NewMem returns an empty store.
func NewMem() *Mem { return &Mem{blobs: map[string]memBlob{}} }

// Put implements blob.Store.
func (m *Mem) Put(ctx context.Context, key string, r io.Reader, size int64, contentType string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	data, err := io.ReadAll(io.LimitReader(r, size+1))
	if err != nil {
		return err
	}
	if int64(len(data)) != size {
		return blob.SizeMismatch(size, int64(len(data)))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.blobs[key] = memBlob{data: data, info: blob.Info{Key: key, Size: size, ContentType: contentType, ModTime: time.Now().UTC()}}
	return nil
}

// Open implements blob.Store.
func (m *Mem) Open(ctx context.Context, key string) (io.ReadCloser, blob.Info, error) {
	if err := blob.ValidateKey(key); err != nil {
		return nil, blob.Info{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[key]
	if !ok {
		return nil, blob.Info{}, blob.NotFound(key)
	}
	return io.NopCloser(bytes.NewReader(b.data)), b.info, nil
}

// Stat implements blob.Store.
func (m *Mem) Stat(ctx context.Context, key string) (blob.Info, error) {
	rc, info, err := m.Open(ctx, key)
	if err == nil {
		_ = rc.Close()
	}
	return info, err
}

// Delete implements blob.Store.
func (m *Mem) Delete(ctx context.Context, key string) error {
	if err := blob.ValidateKey(key); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.blobs, key)
	m.mu.Unlock()
	return nil
}

// Len returns the number of stored blobs.
func (m *Mem) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.blobs)
}
