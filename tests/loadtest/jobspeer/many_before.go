//go:build before

// Built with -tags before against a tree without EnqueueMany (the
// before/after comparison): -batch is refused.
package main

import (
	"context"
	"errors"

	"github.com/tradesense/tradesense/core/jobs"
)

const build = "before (no EnqueueMany)"

func enqueueMany(context.Context, *jobs.Client, int) error {
	return errors.New("this build has no EnqueueMany")
}
