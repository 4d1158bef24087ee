package redisstore_test

import (
	"context"
	"testing"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

// openJobs returns the job backend on a private key prefix, whose keys are
// removed at the end of the test.
func openJobs(t *testing.T) *redisstore.Jobs {
	j, _ := openJobsClient(t)
	return j
}

func TestJobsBackendContract(t *testing.T) {
	jobstest.RunBackendContractRealTime(t, func(t *testing.T) jobs.Backend { return openJobs(t) })
}

func TestJobsWorkerSuite(t *testing.T) {
	jobstest.RunWorkerSuite(t, func(t *testing.T) jobs.Backend { return openJobs(t) })
}

// Two instances on one key prefix are two processes sharing Redis.
func TestJobsSharedBackendContract(t *testing.T) {
	jobstest.RunSharedBackendContract(t, func(t *testing.T) (jobs.Backend, jobs.Backend) {
		c := openTest(t)
		t.Cleanup(func() {
			ctx := context.Background()
			keys, _ := c.Redis().Keys(ctx, c.KeyPrefix()+"jobs:*").Result()
			if len(keys) > 0 {
				c.Redis().Del(ctx, keys...)
			}
		})
		return redisstore.NewJobs(c), redisstore.NewJobs(c)
	})
}
