package jobs

import (
	"context"
	"time"
)

// Error codes of the jobs package and its ports.
const (
	CodeJobNotFound     = "job_not_found"
	CodeJobExists       = "job_exists"
	CodeUnknownKind     = "job_kind_unknown"
	CodeUnknownQueue    = "job_queue_unknown"
	CodeInvalidPayload  = "job_payload_invalid"
	CodeNotRetriable    = "job_not_retriable"
	CodeStillRunning    = "job_running"
	CodeStoreDown       = "jobs_store_unavailable"
	CodeBrokerDown      = "jobs_broker_unavailable"
	CodeInvalidJobState = "job_state_invalid"
)

// Filter selects jobs for listing. Zero fields match everything.
type Filter struct {
	State State
	Queue string
	Kind  string
	// After continues a listing: only jobs that sort after this position
	// (in the listing order, most recently updated first) are returned.
	// A job updated between two pages may move and be seen twice or not
	// at all: listings are for inspection, not for processing.
	After *Position
	// Limit bounds the result (the store may cap it); 0 means 100.
	Limit int
}

// Position is a place in a listing: the UpdatedAt and ID of a job.
type Position struct {
	UpdatedAt time.Time
	ID        string
}

// Before reports whether a job updated at t with ID id sorts before p in
// the listing order (UpdatedAt descending, then ID descending), i.e.
// whether it was already listed on a page that ended at p. Stores whose
// index keeps UpdatedAt with less precision compare at that precision.
func (p Position) Before(t time.Time, id string) bool {
	if !t.Equal(p.UpdatedAt) {
		return t.After(p.UpdatedAt)
	}
	return id >= p.ID
}

// QueueCounts is one queue's numbers as the store knows them.
type QueueCounts struct {
	// ByState counts the stored jobs of the queue per state.
	ByState map[State]int64
	// Processed and Failed are running totals: jobs that reached
	// succeeded, and jobs that reached failed or dead.
	Processed int64
	Failed    int64
}

// Store keeps job records. Every method may fail with apperr.Unavailable
// (code "jobs_store_unavailable") when the backend cannot answer.
//
// Implementations index jobs by queue and state, and keep the timer set:
// a job with Scheduled set is due at TimerAt (see ClaimDue). Records of
// terminal jobs disappear at ExpiresAt.
type Store interface {
	// Create stores j unless a job with j.ID exists, or j.IdempotencyKey
	// is set and another job took that key less than idemWindow ago. It
	// returns the ID of j or of the existing job, and whether j was
	// stored. Create copies j.
	Create(ctx context.Context, j *Job, idemWindow time.Duration) (id string, created bool, err error)
	// CreateMany is Create for each job, in order, in one round trip where
	// the backend allows: each job is created or not on its own terms (a
	// job whose ID or idempotency key exists, or repeats an earlier one of
	// js, yields that job's ID and Created false). It returns one Created
	// per job. On an error any prefix of js may be stored.
	CreateMany(ctx context.Context, js []*Job, idemWindow time.Duration) ([]Created, error)
	// Get returns a copy of the job, or apperr.NotFound "job_not_found".
	Get(ctx context.Context, id string) (*Job, error)
	// Update reads the job, passes a copy to fn and stores what fn
	// returns, atomically: concurrent updates of one job apply one after
	// the other. fn may be called more than once. If fn returns an error
	// nothing is written and Update returns it unchanged. Returns the
	// stored job, or apperr.NotFound "job_not_found". The ID must not
	// change.
	Update(ctx context.Context, id string, fn func(*Job) (*Job, error)) (*Job, error)
	// Delete removes the job; apperr.NotFound when it does not exist.
	Delete(ctx context.Context, id string) error
	// List returns jobs matching f, most recently updated first.
	List(ctx context.Context, f Filter) ([]*Job, error)
}

// Created is what CreateMany did with one job: the ID of the job stored
// (or of the existing one), and whether this job was stored.
type Created struct {
	ID      string
	Created bool
}

// Timers is the store's timer set: jobs waiting for RunAt.
type Timers interface {
	// ClaimDue returns up to limit IDs of scheduled jobs whose TimerAt is
	// not after now, and hides each of them from ClaimDue until now+lease,
	// atomically, so that concurrent callers get disjoint sets. The caller
	// publishes them and clears Scheduled; if it dies first, the job is
	// due again after the lease.
	ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error)
}

// Stats counts jobs for inspection.
type Stats interface {
	// Counts returns the numbers of a queue.
	Counts(ctx context.Context, queue string) (QueueCounts, error)
	// PurgeExpired removes the records whose ExpiresAt is not after now
	// and returns how many it removed.
	PurgeExpired(ctx context.Context, now time.Time) (int, error)
}

// Coordinator lets the workers of several processes agree.
type Coordinator interface {
	// Heartbeat records that worker is alive for ttl; ttl <= 0 retires
	// it (Alive reports false at once).
	Heartbeat(ctx context.Context, worker string, ttl time.Duration) error
	// Alive reports whether worker's last heartbeat has not expired.
	Alive(ctx context.Context, worker string) (bool, error)
	// AcquireLease takes the named lease for holder for ttl, or extends it
	// when holder has it already; false when another holder has it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease gives the lease up if holder has it.
	ReleaseLease(ctx context.Context, name, holder string) error
}

// Markers are done-markers: a handler with side effects marks what it did
// (keyed by job ID) so that a second delivery of the same job skips it.
type Markers interface {
	// Mark sets key for ttl and reports whether it was not set before.
	Mark(ctx context.Context, key string, ttl time.Duration) (first bool, err error)
	// Marked reports whether key is set.
	Marked(ctx context.Context, key string) (bool, error)
}

// Backend is everything the job system keeps: one adapter implements it
// (memory for the local profile, Redis in production).
type Backend interface {
	Store
	Timers
	Stats
	Coordinator
	Markers
}

// Message is what the broker carries: a pointer to the stored job.
type Message struct {
	JobID string
	Seq   int
	Queue string
	Kind  string
	// Metadata carries the trace context of the publisher.
	Metadata map[string]string
	// Record is the job's record as the store wrote it in the write that
	// appended this message (StreamAppender, StreamRecordField), empty
	// when the message was published on its own. It is opaque to
	// everything but the store, and only a hint: the store checks it
	// against what it holds (RecordUpdater).
	Record string
}

// RecordUpdater is implemented by a Store that can begin an Update from a
// record a message carried (Message.Record) instead of reading it first:
// one round trip less to start a job.
type RecordUpdater interface {
	// UpdateFromRecord is Update, with record as a guess of the stored
	// bytes. The guess never decides anything: the write is a
	// compare-and-set on the stored bytes, and fn's result counts only
	// when fn was given the stored record (a stale or unreadable guess
	// costs a read, as Update would). An empty record is plain Update.
	UpdateFromRecord(ctx context.Context, id, record string, fn func(*Job) (*Job, error)) (*Job, error)
}

// Depth is a queue's transport-level numbers.
type Depth struct {
	// Pending messages wait for a worker; InFlight are delivered and not
	// yet acknowledged.
	Pending  int64
	InFlight int64
}

// ErrAbandon, returned by a Consume handler, leaves the message
// unacknowledged, so that it is redelivered once this consumer is gone
// (graceful shutdown past its deadline).
var ErrAbandon = abandonError{}

type abandonError struct{}

func (abandonError) Error() string { return "jobs: message abandoned for redelivery" }

// Broker moves messages from publishers to workers, at least once.
type Broker interface {
	// Publish sends m to m.Queue. It fails with apperr.Unavailable
	// "jobs_broker_unavailable" when the transport cannot take it.
	Publish(ctx context.Context, m Message) error
	// PublishMany sends every message, in one round trip where the
	// transport allows; it fails as Publish does, and on an error any
	// subset of ms may have been sent.
	PublishMany(ctx context.Context, ms []Message) error
	// Consume delivers the messages of queue to handle, up to concurrency
	// at a time, until ctx is cancelled; then it stops taking messages,
	// waits for the running handle calls and returns. handle gets a
	// context that is not cancelled with ctx. A message is acknowledged
	// only after handle returns nil; ErrAbandon leaves it pending for
	// redelivery after this consumer is gone; another error redelivers it.
	Consume(ctx context.Context, queue string, concurrency int, handle func(context.Context, Message) error) error
	// Depth reports the queue's transport numbers.
	Depth(ctx context.Context, queue string) (Depth, error)
}

// StreamEntry is a broker message as an entry of a stream: the stream's
// key and the entry's field/value pairs, in the transport's own format.
type StreamEntry struct {
	Stream string
	Fields []string
	// Confidential: the job's kind may carry secrets in its payload
	// (KindConfig.Confidential), so the store must not copy the record
	// into the message (the stream keeps it until it is trimmed, which
	// can be after the record itself expired or was deleted).
	Confidential bool
}

// StreamEncoder is implemented by a Broker on streams (Redis Streams): it
// tells how it would append m, so that a StreamAppender on the same
// server can append it in the write that stores the job.
type StreamEncoder interface {
	// StreamEntry returns m as the Broker's Publish would append it.
	StreamEntry(m Message) (StreamEntry, error)
	// StreamTarget identifies the server (connection) the streams are on,
	// as a comparable value (a client pointer; nil for none); the Client
	// folds the publish into the store's write only when the Backend's
	// StreamTarget is the same value.
	StreamTarget() any
}

// StreamRecordField is the stream entry field in which a StreamAppender
// may append, beside the broker's fields, the record it stored with the
// message; a StreamEncoder's consumer hands it over as Message.Record.
// Consumers that do not know the field ignore it.
const StreamRecordField = "job_record"

// StreamAppender is implemented by a Backend that can append a broker
// message in the same atomic write that stores a job (one round trip for
// an enqueue instead of two, and no window between the record and its
// message).
type StreamAppender interface {
	// StreamTarget identifies the server the Backend writes to.
	StreamTarget() any
	// CreateAppendMany is CreateMany, and for every job it stores,
	// appends entries[i] in the same atomic write (an entry with an empty
	// Stream appends nothing). A job not stored (its ID or idempotency
	// key exists) appends nothing.
	CreateAppendMany(ctx context.Context, js []*Job, idemWindow time.Duration, entries []StreamEntry) ([]Created, error)
	// CreateAppend is CreateAppendMany of one job, sharing round trips
	// with concurrent calls where the backend allows.
	CreateAppend(ctx context.Context, j *Job, idemWindow time.Duration, e StreamEntry) (id string, created bool, err error)
}
