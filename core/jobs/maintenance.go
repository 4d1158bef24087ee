package jobs

import (
	"context"
	"fmt"
	"time"
)

// KindPurgeJobs purges the records of expired jobs (the timer indexes of
// some stores keep them after the record itself expired).
const KindPurgeJobs = "maintenance.purge_jobs"

// PurgeResult is the result of a KindPurgeJobs job.
type PurgeResult struct {
	Purged int `json:"purged"`
}

// RegisterMaintenance registers the job system's own maintenance kinds.
func RegisterMaintenance(reg *Registry, stats Stats) {
	reg.Register(KindPurgeJobs, KindConfig{MaxRetries: 1, Handler: func(ctx context.Context, _ *Job) (any, error) {
		n, err := stats.PurgeExpired(ctx, time.Now().UTC())
		if err != nil {
			return nil, fmt.Errorf("purge expired jobs: %w", err)
		}
		return PurgeResult{Purged: n}, nil
	}})
}
