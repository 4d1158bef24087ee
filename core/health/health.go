// Package health holds the readiness checks that adapters register and the
// logic that runs them. It knows nothing of HTTP: the HTTP adapter renders a
// Report.
package health

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Check reports whether one dependency is usable. Implementations must honour
// ctx's deadline and return quickly. Details, when not nil, is shown to
// operators in the readiness report (pool statistics and the like): it must
// never contain secrets.
type Check interface {
	Check(ctx context.Context) (details map[string]any, err error)
}

// CheckFunc adapts a function to Check.
type CheckFunc func(ctx context.Context) (map[string]any, error)

// Check calls f.
func (f CheckFunc) Check(ctx context.Context) (map[string]any, error) { return f(ctx) }

// Registration is a named check. A failing Required check makes the service
// not ready; a failing optional one makes it degraded but still ready.
type Registration struct {
	Name     string
	Required bool
	Check    Check
}

// Status of one check or of the whole report.
type Status string

// The statuses a report may carry.
const (
	StatusUp       Status = "up"
	StatusDown     Status = "down"
	StatusDegraded Status = "degraded"
	StatusDraining Status = "draining"
)

// Result is the outcome of one check.
type Result struct {
	Name     string
	Required bool
	Status   Status
	Latency  time.Duration
	Error    string
	Details  map[string]any
}

// Report is the outcome of all checks. Ready is false when a required check
// failed or the process is shutting down.
type Report struct {
	Status Status
	Ready  bool
	Checks []Result
}

// Registry holds the checks and the draining flag. It is safe for concurrent
// use. The zero value is not usable; call NewRegistry.
type Registry struct {
	timeout time.Duration

	mu       sync.RWMutex
	checks   []Registration
	draining bool
}

// DefaultTimeout bounds each check when the registry is given none.
const DefaultTimeout = 2 * time.Second

// NewRegistry returns a registry whose checks each get at most timeout.
func NewRegistry(timeout time.Duration) *Registry {
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Registry{timeout: timeout}
}

// Register adds a check. Names must be unique; a duplicate is a programming
// error and panics at start-up.
func (r *Registry) Register(reg Registration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.checks {
		if c.Name == reg.Name {
			panic(fmt.Sprintf("health: check %q registered twice", reg.Name))
		}
	}
	r.checks = append(r.checks, reg)
}

// SetDraining marks the process as shutting down: from now on the report is
// never ready, whatever the checks say.
func (r *Registry) SetDraining() {
	r.mu.Lock()
	r.draining = true
	r.mu.Unlock()
}

// Draining reports whether SetDraining was called.
func (r *Registry) Draining() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.draining
}

// Names lists the registered checks in registration order.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, len(r.checks))
	for i, c := range r.checks {
		names[i] = c.Name
	}
	return names
}

// Run executes every check concurrently, each bounded by the registry's
// timeout, and summarises them. Results are sorted by name.
func (r *Registry) Run(ctx context.Context) Report {
	r.mu.RLock()
	checks := slices.Clone(r.checks)
	draining := r.draining
	r.mu.RUnlock()

	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() { results[i] = r.runOne(ctx, c) })
	}
	wg.Wait()
	slices.SortFunc(results, func(a, b Result) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})

	rep := Report{Status: StatusUp, Ready: true, Checks: results}
	for _, res := range results {
		if res.Status == StatusUp {
			continue
		}
		if res.Required {
			rep.Status, rep.Ready = StatusDown, false
		} else if rep.Status == StatusUp {
			rep.Status = StatusDegraded
		}
	}
	if draining {
		rep.Status, rep.Ready = StatusDraining, false
	}
	return rep
}

func (r *Registry) runOne(ctx context.Context, c Registration) (res Result) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res = Result{Name: c.Name, Required: c.Required}
	start := time.Now()
	defer func() { res.Latency = time.Since(start) }()

	type outcome struct {
		details map[string]any
		err     error
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("check panicked: %v", p)}
			}
		}()
		d, err := c.Check.Check(ctx)
		done <- outcome{d, err}
	}()
	select {
	case o := <-done:
		res.Details = o.details
		if o.err != nil {
			res.Status, res.Error = StatusDown, o.err.Error()
			return res
		}
		res.Status = StatusUp
	case <-ctx.Done():
		res.Status, res.Error = StatusDown, fmt.Sprintf("timed out after %s", r.timeout)
	}
	return res
}
