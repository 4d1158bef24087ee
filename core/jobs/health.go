package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/health"
)

// ConsumeHealth is implemented by brokers that can tell whether this
// process's running Consume calls can read from the transport (the Redis
// Streams broker: Redis answers and the consumer groups exist).
type ConsumeHealth interface {
	// ConsumeErr returns why the running Consume calls cannot read now,
	// or nil when they can (or none runs).
	ConsumeErr() error
}

// Health returns the readiness check "jobs": the broker answers (the
// depth of the default queue: over Redis Streams that fails too when the
// queue has messages and no consumer group, i.e. no worker consumed since
// Redis lost its state) and the store answers (the counts of the default
// queue). required makes a failure fail readiness instead of degrading it.
func (c *Client) Health(required bool) health.Registration {
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
			return details, errors.Join(errs...)
		}),
	}
}

// Health returns the readiness check "jobs_worker", always required: while
// the worker runs in this process, its last stored heartbeat is younger
// than its heartbeat TTL (a worker that cannot reach the store any more is
// about to be declared dead by the others) and its consumers can read from
// the broker (ConsumeHealth). A worker that does not run here (an `api`
// without an embedded worker) is reported up with worker_running false: it
// is not this process's job.
func (w *Worker) Health() health.Registration {
	return health.Registration{
		Name:     "jobs_worker",
		Required: true,
		Check: health.CheckFunc(func(context.Context) (map[string]any, error) {
			details := map[string]any{"worker": w.ID()}
			if err := w.heartbeatFresh(details); err != nil {
				return details, err
			}
			if details["worker_running"] != true {
				return details, nil
			}
			if ch, ok := w.broker.(ConsumeHealth); ok {
				if err := ch.ConsumeErr(); err != nil {
					details["consuming"] = false
					return details, fmt.Errorf("worker %s cannot consume: %w", w.ID(), err)
				}
				details["consuming"] = true
			}
			return details, nil
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
	age := time.Since(time.Unix(0, ns))
	details["heartbeat_age_ms"] = age.Milliseconds()
	if age > w.wcfg.HeartbeatTTL {
		return fmt.Errorf("worker %s: last heartbeat %s ago, longer than its TTL %s", w.wcfg.ID, age.Round(time.Millisecond), w.wcfg.HeartbeatTTL)
	}
	return nil
}

// Unserved returns the queues among queues that no live worker consumes
// (no worker heartbeat names them: see QueueServedKey), in their order.
func (c *Client) Unserved(ctx context.Context, queues []string) ([]string, error) {
	var out []string
	for _, q := range queues {
		ok, err := c.store.Alive(ctx, QueueServedKey(q))
		if err != nil {
			return nil, fmt.Errorf("worker heartbeat of queue %s: %w", q, err)
		}
		if !ok {
			out = append(out, q)
		}
	}
	return out, nil
}

// ErrNoWorker is the error of the "jobs_consumers" check for queues no
// live worker consumes.
func ErrNoWorker(queues []string) error {
	return fmt.Errorf("no live worker for queue %s: jobs enqueued there wait until a worker serves it", strings.Join(queues, ", "))
}

// ConsumersHealth returns the readiness check "jobs_consumers", for a
// program that enqueues jobs without running their worker (an `api` with
// REDIS_URL and no embedded worker): down, with "no live worker for queue
// email", when some queue has no live worker heartbeat, so that mail does
// not stop silently. Not required: the API still serves, its jobs wait.
func (c *Client) ConsumersHealth(queues []string) health.Registration {
	return health.Registration{
		Name: "jobs_consumers",
		Check: health.CheckFunc(func(ctx context.Context) (map[string]any, error) {
			missing, err := c.Unserved(ctx, queues)
			if err != nil {
				return nil, err
			}
			if len(missing) > 0 {
				return map[string]any{"unserved": missing}, ErrNoWorker(missing)
			}
			return nil, nil
		}),
	}
}
