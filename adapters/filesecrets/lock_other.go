//go:build !unix

package filesecrets

import (
	"context"
	"errors"
	"os"
)

var errNoLock = errors.New("file locking is not supported on this platform: secret files cannot be written safely")

func lockFile(context.Context, *os.File) error { return errNoLock }

func unlockFile(*os.File) error { return nil }

func isReadOnlyFS(error) bool { return false }
