// Package jobs is the background job system: the Job and its states, the
// ports of the state store and of the message broker, the registry of
// handlers by kind, the Client that enqueues and inspects jobs, and the
// Worker that runs them.
//
// The semantics follow Celery's configuration that TradeSense started from
// (JSON payloads, results kept one hour, tracked start, soft and hard time
// limits, retries with a countdown, routing by kind) with what users of
// asynq and River expect on top: dead letters, idempotency keys, delayed
// jobs, periodic jobs run by one leader, and inspection.
//
// Delivery is at least once. The store is the source of truth: a broker
// message carries only the job ID and a sequence number, so a stale or
// duplicated message is recognised and dropped, and a handler with side
// effects guards them with a done-marker (see Markers).
package jobs

import (
	"encoding/json"
	"strings"
	"time"
)

// State is where a job is in its life.
type State string

// The states. Terminal states are succeeded, failed and dead.
const (
	// StateQueued: waiting for a worker (possibly until RunAt).
	StateQueued State = "queued"
	// StateStarted: a worker runs it (Celery's task_track_started).
	StateStarted State = "started"
	// StateProgress: running, and the handler reported progress.
	StateProgress State = "progress"
	// StateRetrying: an attempt failed; the next one runs at RunAt.
	StateRetrying State = "retrying"
	// StateSucceeded: done; Result holds the handler's result.
	StateSucceeded State = "succeeded"
	// StateFailed: ended without success and without a dead letter: the
	// handler cancelled it (Cancel), so it must not run again.
	StateFailed State = "failed"
	// StateDead: out of retries, or failed with a permanent error: kept as
	// a dead letter with the reason and original queue, and retriable by
	// an operator.
	StateDead State = "dead"
)

// States lists every state, in life order.
var States = []State{StateQueued, StateStarted, StateProgress, StateRetrying, StateSucceeded, StateFailed, StateDead}

// Valid reports whether s is one of States.
func (s State) Valid() bool {
	for _, v := range States {
		if s == v {
			return true
		}
	}
	return false
}

// Terminal reports whether no attempt will follow without an operator.
func (s State) Terminal() bool {
	return s == StateSucceeded || s == StateFailed || s == StateDead
}

// Running reports whether a worker holds the job.
func (s State) Running() bool { return s == StateStarted || s == StateProgress }

// The queues. Kinds are routed by their prefix (see Route).
const (
	QueueDefault     = "default"
	QueueEmail       = "email"
	QueueReports     = "reports"
	QueueMaintenance = "maintenance"
)

// Queues lists every queue.
var Queues = []string{QueueDefault, QueueEmail, QueueReports, QueueMaintenance}

// KnownQueue reports whether q is one of Queues.
func KnownQueue(q string) bool {
	for _, v := range Queues {
		if q == v {
			return true
		}
	}
	return false
}

// Route returns the queue of a kind: "email.*" to email, "reports.*" to
// reports, "maintenance.*" to maintenance, anything else to default.
func Route(kind string) string {
	prefix, _, ok := strings.Cut(kind, ".")
	if ok {
		switch prefix {
		case QueueEmail, QueueReports, QueueMaintenance:
			return prefix
		}
	}
	return QueueDefault
}

// AttemptError records why one attempt failed.
type AttemptError struct {
	Attempt int
	At      time.Time
	Error   string
}

// maxErrors bounds the error history kept on a job.
const maxErrors = 10

// Job is the stored record of one job.
type Job struct {
	ID    string
	Kind  string
	Queue string
	// Payload is the handler's input, JSON.
	Payload json.RawMessage
	// Owner is the user who enqueued the job ("" for the system); only
	// the owner and admins may read it over the API.
	Owner          string
	IdempotencyKey string

	State State
	// Attempt counts the attempts started so far (1 during the first).
	Attempt    int
	MaxRetries int
	// Seq identifies the broker message that may start the next attempt;
	// it grows on every retry, so stale and duplicated messages are
	// dropped.
	Seq int
	// SoftTimeout cancels the handler's context; HardTimeout abandons the
	// handler and fails the attempt.
	SoftTimeout time.Duration
	HardTimeout time.Duration

	// RunAt is when the job is due.
	RunAt time.Time
	// Scheduled reports that the job waits in the store's timer set until
	// TimerAt: for RunAt (a delay, a retry countdown), or, for a job
	// published at once, for the rescue of a message lost between store
	// and broker (see Config.RescueAfter).
	Scheduled bool
	TimerAt   time.Time

	CreatedAt  time.Time
	UpdatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time
	// ExpiresAt is when a terminal job's record is purged (zero: never).
	ExpiresAt time.Time

	// Worker names the worker process that runs or last ran the job.
	Worker string
	// Error is the last attempt's error; Errors the recent history.
	Error  string
	Errors []AttemptError
	// Progress is the last progress report, Result the handler's result;
	// both JSON.
	Progress json.RawMessage
	Result   json.RawMessage
	// Trace carries the W3C trace context of the enqueuing request, so
	// every attempt's span joins its trace.
	Trace map[string]string
}

// Clone returns a deep copy of j.
func (j *Job) Clone() *Job {
	c := *j
	c.Payload = cloneBytes(j.Payload)
	c.Progress = cloneBytes(j.Progress)
	c.Result = cloneBytes(j.Result)
	if j.Errors != nil {
		c.Errors = append([]AttemptError(nil), j.Errors...)
	}
	if j.Trace != nil {
		c.Trace = make(map[string]string, len(j.Trace))
		for k, v := range j.Trace {
			c.Trace[k] = v
		}
	}
	return &c
}

func cloneBytes(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}

func (j *Job) addError(at time.Time, msg string) {
	j.Error = msg
	j.Errors = append(j.Errors, AttemptError{Attempt: j.Attempt, At: at, Error: msg})
	if len(j.Errors) > maxErrors {
		j.Errors = append([]AttemptError(nil), j.Errors[len(j.Errors)-maxErrors:]...)
	}
}
