package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tradesense/tradesense/core/health"
)

// Health returns the readiness check "jobs": the broker answers (the
// depth of the default queue), the store answers (the counts of the
// default queue), and, when worker is not nil and runs in this process,
// its last stored heartbeat is younger than its heartbeat TTL (a worker
// that cannot reach the store any more is about to be declared dead by
// the others, and must stop receiving traffic). A worker that does not
// run here (an `api` without an embedded worker) is not checked.
// required makes a failure fail readiness instead of degrading it.
func (c *Client) Health(worker *Worker, required bool) health.Registration {
	return health.Registration{
		Name:     "jobs",
		Required: required,
		Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
			details := map[string]any{}
			var errs []error
			if d, err := c.broker.Depth(ctx, QueueDefault); err != nil {
				errs = append(errs, fmt.Errorf("broker: %w", err))
			} else {
				details["default_pending"] = d.Pending
				details["default_in_flight"] = d.InFlight
			}
			if _, err := c.store.Counts(ctx, QueueDefault); err != nil {
				errs = append(errs, fmt.Errorf("store: %w", err))
			}
			if worker != nil {
				details["worker"] = worker.ID()
				if err := worker.heartbeatFresh(details); err != nil {
					errs = append(errs, err)
				}
			}
			return details, errors.Join(errs...)
		}),
	}
}

// heartbeatFresh reports an error when the running worker's last stored
// heartbeat is older than its TTL.
func (w *Worker) heartbeatFresh(details map[string]any) error {
	ns := w.beat.Load()
	if ns == 0 {
		details["worker_running"] = false
		return nil
	}
	details["worker_running"] = true
	age := w.clock.Now().Sub(time.Unix(0, ns))
	details["heartbeat_age_ms"] = age.Milliseconds()
	if age > w.wcfg.HeartbeatTTL {
		return fmt.Errorf("worker %s: last heartbeat %s ago, longer than its TTL %s", w.wcfg.ID, age.Round(time.Millisecond), w.wcfg.HeartbeatTTL)
	}
	return nil
}
