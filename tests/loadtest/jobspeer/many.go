//go:build !before

package main

import (
	"context"
	"time"

	"github.com/tradesense/tradesense/core/jobs"
)

const build = "current"

func enqueueMany(ctx context.Context, client *jobs.Client, k int) error {
	reqs := make([]jobs.Request, k)
	for i := range reqs {
		reqs[i] = jobs.Request{Kind: kind, Payload: payload{T: time.Now().UnixNano()}}
	}
	_, err := client.EnqueueMany(ctx, reqs)
	return err
}
