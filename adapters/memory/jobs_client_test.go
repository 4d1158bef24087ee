package memory_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/memory"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

func jobClient(t *testing.T) (*jobs.Client, *jobstest.ChanBroker) {
	t.Helper()
	reg := jobs.NewRegistry()
	reg.Register("report.render", jobs.KindConfig{Handler: func(context.Context, *jobs.Job) (any, error) { return nil, nil }})
	b := jobstest.NewChanBroker()
	return jobs.NewClient(jobs.Config{}, reg, memory.NewJobs(), b, nil, slog.New(slog.DiscardHandler), nil), b
}

// TestEnqueueOptionsAreStored: the queue, the run time, the retries and
// the timeouts an enqueue asks for are the job's; a job due later is not
// handed to the broker yet.
func TestEnqueueOptionsAreStored(t *testing.T) {
	c, b := jobClient(t)
	ctx := context.Background()
	at := time.Now().Add(time.Hour).Round(time.Millisecond)
	id, err := c.Enqueue(ctx, "report.render", map[string]string{"a": "b"}, jobs.OnQueue(jobs.QueueReports), jobs.WithRunAt(at),
		jobs.WithMaxRetries(2), jobs.WithTimeout(40*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	j, err := c.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Queue != jobs.QueueReports || !j.RunAt.Equal(at.UTC()) || j.MaxRetries != 2 || j.SoftTimeout != 40*time.Second || j.HardTimeout != 50*time.Second {
		t.Fatalf("job %+v", j)
	}
	if b.Published() != 0 {
		t.Fatalf("a job due in an hour was published (%d)", b.Published())
	}
	id, err = c.Enqueue(ctx, "report.render", nil, jobs.WithTimeout(10*time.Second), jobs.WithHardTimeout(time.Minute), jobs.WithMaxRetries(-3))
	if err != nil {
		t.Fatal(err)
	}
	if j, err = c.Get(ctx, id); err != nil || j.HardTimeout != time.Minute || j.MaxRetries != 0 {
		t.Fatalf("job %+v %v; want a hard timeout of 1m and no retries", j, err)
	}
	if b.Published() != 1 {
		t.Fatalf("the due job was not published (%d)", b.Published())
	}
}

func TestEnqueueAndInspectionRefusals(t *testing.T) {
	c, _ := jobClient(t)
	ctx := context.Background()
	for name, c := range map[string]struct {
		err  error
		code string
	}{
		"unknown queue":      {func() error { _, err := c.Enqueue(ctx, "report.render", nil, jobs.OnQueue("nope")); return err }(), jobs.CodeUnknownQueue},
		"payload not JSON":   {func() error { _, err := c.Enqueue(ctx, "report.render", make(chan int)); return err }(), jobs.CodeInvalidPayload},
		"ID not a UUID":      {func() error { _, err := c.Enqueue(ctx, "report.render", nil, jobs.WithID("job-1")); return err }(), "job_id_invalid"},
		"unknown state":      {func() error { _, err := c.List(ctx, jobs.Filter{State: "sleeping"}); return err }(), "validation_failed"},
		"unknown list queue": {func() error { _, err := c.List(ctx, jobs.Filter{Queue: "nope"}); return err }(), "validation_failed"},
		"long kind":          {func() error { _, err := c.List(ctx, jobs.Filter{Kind: strings.Repeat("k", 201)}); return err }(), "validation_failed"},
	} {
		if !apperr.Is(c.err, apperr.Invalid) || apperr.CodeOf(c.err) != c.code {
			t.Errorf("%s: %v; want Invalid %s", name, c.err, c.code)
		}
	}
	if _, err := c.Get(ctx, "not-a-uuid"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Get(not a UUID) = %v; want NotFound", err)
	}
	if _, err := c.Retry(ctx, "not-a-uuid"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("Retry(not a UUID) = %v; want NotFound", err)
	}
}
