package jobs

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics holds the job system's instruments: counts of jobs enqueued,
// started, succeeded, failed, retried, dead and of leaked handlers, and the
// duration of attempts, by kind and queue. Queue depth is observed by the
// Worker. A nil *Metrics records nothing.
type Metrics struct {
	enqueuedC, startedC, succeededC, failedC, retriedC, deadC, leakedC metric.Int64Counter
	durationH                                                          metric.Float64Histogram
	meter                                                              metric.Meter
}

// NewMetrics creates the instruments on mp.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := &Metrics{meter: mp.Meter("github.com/tradesense/tradesense/core/jobs")}
	var err error
	counter := func(name, desc string) metric.Int64Counter {
		if err != nil {
			return nil
		}
		var c metric.Int64Counter
		c, err = m.meter.Int64Counter(name, metric.WithDescription(desc), metric.WithUnit("{job}"))
		return c
	}
	m.enqueuedC = counter("jobs.enqueued", "Jobs enqueued.")
	m.startedC = counter("jobs.started", "Job attempts started.")
	m.succeededC = counter("jobs.succeeded", "Jobs that succeeded.")
	m.failedC = counter("jobs.failed", "Job attempts that failed.")
	m.retriedC = counter("jobs.retried", "Failed attempts scheduled for a retry.")
	m.deadC = counter("jobs.dead", "Jobs moved to the dead letters.")
	m.leakedC = counter("jobs.leaked", "Handlers abandoned at the hard time limit and still running.")
	if err != nil {
		return nil, err
	}
	m.durationH, err = m.meter.Float64Histogram("jobs.duration", metric.WithDescription("Duration of job attempts."), metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 120, 300))
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) get() *metrics { return &metrics{m} }

type metrics struct{ m *Metrics }

func attrs(kind, queue string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String("kind", kind), attribute.String("queue", queue)))
}

func (x *metrics) add(ctx context.Context, c func(*Metrics) metric.Int64Counter, kind, queue string) {
	if x == nil || x.m == nil {
		return
	}
	c(x.m).Add(ctx, 1, attrs(kind, queue))
}

func (x *metrics) enqueued(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.enqueuedC }, kind, queue)
}
func (x *metrics) started(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.startedC }, kind, queue)
}
func (x *metrics) succeeded(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.succeededC }, kind, queue)
}
func (x *metrics) failed(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.failedC }, kind, queue)
}
func (x *metrics) retried(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.retriedC }, kind, queue)
}
func (x *metrics) dead(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.deadC }, kind, queue)
}
func (x *metrics) leaked(ctx context.Context, kind, queue string) {
	x.add(ctx, func(m *Metrics) metric.Int64Counter { return m.leakedC }, kind, queue)
}
func (x *metrics) duration(ctx context.Context, kind, queue string, d time.Duration) {
	if x == nil || x.m == nil {
		return
	}
	x.m.durationH.Record(ctx, d.Seconds(), attrs(kind, queue))
}

// observeDepth registers the queue-depth gauge, read through depth.
func (m *Metrics) observeDepth(depth func(ctx context.Context, queue string) (Depth, error), queues []string) (func(), error) {
	if m == nil {
		return func() {}, nil
	}
	g, err := m.meter.Int64ObservableGauge("jobs.queue.depth", metric.WithDescription("Messages waiting (pending) and delivered but unacknowledged (in_flight), per queue."), metric.WithUnit("{message}"))
	if err != nil {
		return nil, err
	}
	reg, err := m.meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		for _, q := range queues {
			d, err := depth(ctx, q)
			if err != nil && d == (Depth{}) {
				continue // nothing known; a broker may know the depth and still fail (no consumer group)
			}
			o.ObserveInt64(g, d.Pending, metric.WithAttributes(attribute.String("queue", q), attribute.String("status", "pending")))
			o.ObserveInt64(g, d.InFlight, metric.WithAttributes(attribute.String("queue", q), attribute.String("status", "in_flight")))
		}
		return nil
	}, g)
	if err != nil {
		return nil, err
	}
	return func() { _ = reg.Unregister() }, nil
}
