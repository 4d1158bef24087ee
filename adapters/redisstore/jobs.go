package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// Jobs is the Redis adapter of jobs.Backend. Its keys live under
// "<KeyPrefix>jobs:":
//
//	job:<id>            the record (jobcodec.go), expiring at ExpiresAt
//	idx:<queue>:<state> sorted set of IDs by UpdatedAt (lists and counts)
//	timers              sorted set of scheduled IDs by TimerAt
//	idem:<key>          the job ID that took an idempotency key
//	total:<queue>:processed|failed   running totals
//	worker:<id>, lease:<name>, mark:<key>   heartbeats, leases, done-markers
//
// Writes that touch several keys are Lua scripts, so a record and its
// indexes never disagree; Update is optimistic (compare-and-set on the
// record's bytes), so it takes two round trips and no locks — one when
// this instance wrote the record last (see written).
type Jobs struct {
	rdb  *redis.Client
	ns   string
	keys *keyTable
	pipe *autoPipe // the record reads and scripts of concurrent calls share round trips
	// create carries the creates, on createLanes pipelines of their own.
	create *autoPipe

	// written holds the bytes this instance last wrote for running jobs
	// (a worker's start, whose finish comes next from the same worker):
	// Update tries its compare-and-set on them without reading the record
	// first. The compare is on the stored bytes, so a record someone else
	// wrote since fails it, and the script hands back the current bytes
	// to retry on.
	mu      sync.Mutex
	written map[string]string
}

// createLanes is how many pipelines of creates may be on the wire at
// once. Producers only create, and a create's caller waits for nothing
// but its reply, so more lanes keep Redis busier while the next batch is
// built: 16 producers enqueued 50–64k jobs/s on four lanes, 42–58k on the
// two the reads and updates share, with the same CPU a job (alternating
// runs, one window). The workers' reads and updates keep their two lanes
// (smaller batches cost them more CPU a job).
const createLanes = 4

// maxWritten bounds Jobs.written; records over maxWrittenSize bytes are
// not kept.
const (
	maxWritten     = 4096
	maxWrittenSize = 16 << 10
)

var (
	_ jobs.Backend        = (*Jobs)(nil)
	_ jobs.StreamAppender = (*Jobs)(nil)
	_ jobs.RecordUpdater  = (*Jobs)(nil)
)

// NewJobs returns the job backend on the shared client. Record TTLs are
// computed from time.Now.
func NewJobs(c *Client) *Jobs {
	return NewJobsOn(c.rdb, c.prefix)
}

// NewJobsOn returns the job backend on rdb under prefix (tests and tools).
func NewJobsOn(rdb *redis.Client, prefix string) *Jobs {
	ns := prefix + "jobs:"
	return &Jobs{rdb: rdb, ns: ns, keys: newKeyTable(ns), pipe: &autoPipe{rdb: rdb, lanes: 2}, create: &autoPipe{rdb: rdb, lanes: createLanes}, written: map[string]string{}}
}

// remember records raw as id's stored bytes; "" forgets them.
func (s *Jobs) remember(id, raw string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if raw == "" {
		delete(s.written, id)
		return
	}
	if len(s.written) >= maxWritten {
		// Entries of jobs finished elsewhere (taken over) pile up here;
		// dropping them all only costs a read each for the others.
		clear(s.written)
	}
	s.written[id] = raw
}

// recalled returns the bytes this instance last wrote for id, if any.
func (s *Jobs) recalled(id string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, ok := s.written[id]
	return raw, ok
}

// jobRow is the JSON form of a record, written before the binary form
// (jobcodec.go) and still read.
type jobRow struct {
	ID             string              `json:"id"`
	Kind           string              `json:"kind"`
	Queue          string              `json:"queue"`
	Payload        json.RawMessage     `json:"payload,omitempty"`
	Owner          string              `json:"owner,omitempty"`
	IdempotencyKey string              `json:"idempotency_key,omitempty"`
	State          string              `json:"state"`
	Attempt        int                 `json:"attempt"`
	MaxRetries     int                 `json:"max_retries"`
	Seq            int                 `json:"seq"`
	SoftTimeoutMS  int64               `json:"soft_timeout_ms"`
	HardTimeoutMS  int64               `json:"hard_timeout_ms"`
	RunAt          time.Time           `json:"run_at"`
	Scheduled      bool                `json:"scheduled,omitempty"`
	TimerAt        time.Time           `json:"timer_at"`
	CreatedAt      time.Time           `json:"created_at"`
	UpdatedAt      time.Time           `json:"updated_at"`
	StartedAt      time.Time           `json:"started_at"`
	FinishedAt     time.Time           `json:"finished_at"`
	ExpiresAt      time.Time           `json:"expires_at"`
	Worker         string              `json:"worker,omitempty"`
	Error          string              `json:"error,omitempty"`
	Errors         []jobs.AttemptError `json:"errors,omitempty"`
	Progress       json.RawMessage     `json:"progress,omitempty"`
	Result         json.RawMessage     `json:"result,omitempty"`
	Trace          map[string]string   `json:"trace,omitempty"`
}

func (r jobRow) job() *jobs.Job {
	return &jobs.Job{
		ID: r.ID, Kind: r.Kind, Queue: r.Queue, Payload: r.Payload, Owner: r.Owner, IdempotencyKey: r.IdempotencyKey,
		State: jobs.State(r.State), Attempt: r.Attempt, MaxRetries: r.MaxRetries, Seq: r.Seq,
		SoftTimeout: time.Duration(r.SoftTimeoutMS) * time.Millisecond, HardTimeout: time.Duration(r.HardTimeoutMS) * time.Millisecond,
		RunAt: r.RunAt, Scheduled: r.Scheduled, TimerAt: r.TimerAt, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, ExpiresAt: r.ExpiresAt, Worker: r.Worker,
		Error: r.Error, Errors: r.Errors, Progress: r.Progress, Result: r.Result, Trace: r.Trace,
	}
}

func (s *Jobs) jobKey(id string) string { return s.ns + "job:" + id }

// idxKey and totalKey come from tables made once (every update names
// three of these keys); unknown queues or states are built each time.
func (s *Jobs) idxKey(queue string, st jobs.State) string {
	if q, i := slices.Index(jobs.Queues, queue), slices.Index(jobs.States, st); q >= 0 && i >= 0 {
		return s.keys.idx[q][i]
	}
	return s.ns + "idx:" + queue + ":" + string(st)
}
func (s *Jobs) timersKey() string { return s.keys.timers }

// idxArg is idxKey as a command argument.
func (s *Jobs) idxArg(queue string, st jobs.State) any {
	if q, i := slices.Index(jobs.Queues, queue), slices.Index(jobs.States, st); q >= 0 && i >= 0 {
		return s.keys.idxArgs[q][i]
	}
	return s.idxKey(queue, st)
}

func (s *Jobs) totalKey(queue string, st jobs.State) string {
	ok := st == jobs.StateSucceeded
	if q := slices.Index(jobs.Queues, queue); q >= 0 {
		if ok {
			return s.keys.processed[q]
		}
		return s.keys.failed[q]
	}
	if ok {
		return s.ns + "total:" + queue + ":processed"
	}
	return s.ns + "total:" + queue + ":failed"
}

// keyTable holds the index and total keys of the known queues and states.
type keyTable struct {
	idx               [][]string // [queue][state]
	idxArgs           [][]any    // idx, boxed once (createCall)
	timersArg         any
	processed, failed []string // [queue]
	timers            string
}

func newKeyTable(ns string) *keyTable {
	t := &keyTable{timers: ns + "timers"}
	t.timersArg = t.timers
	for _, q := range jobs.Queues {
		row := make([]string, len(jobs.States))
		args := make([]any, len(jobs.States))
		for i, st := range jobs.States {
			row[i] = ns + "idx:" + q + ":" + string(st)
			args[i] = row[i]
		}
		t.idx = append(t.idx, row)
		t.idxArgs = append(t.idxArgs, args)
		t.processed = append(t.processed, ns+"total:"+q+":processed")
		t.failed = append(t.failed, ns+"total:"+q+":failed")
	}
	return t
}

// ttlOf returns the record's TTL in ms: 0 for none, -1 when it expired.
func (s *Jobs) ttlOf(j *jobs.Job) int64 {
	if j.ExpiresAt.IsZero() {
		return 0
	}
	ms := time.Until(j.ExpiresAt).Milliseconds()
	if ms <= 0 {
		return -1
	}
	return ms
}

func score(t time.Time) float64 { return float64(t.UnixMilli()) }

// createScript: KEYS job, idem, idx, timers, stream ("" for none); ARGV
// id, record, idemWindowMs, idxScore, timerScore ("" for none), ttlMs,
// withRecord ("1": the message carries the record too, under
// jobs.StreamRecordField), then the stream entry's field/value pairs: a
// stored job's message is appended in the same script
// (jobs.StreamAppender).
var createScript = redis.NewScript(`
if KEYS[2] ~= "" then
  local first = redis.call("GET", KEYS[2])
  if first then return {first, 0} end
end
local ttl = tonumber(ARGV[6])
local stored
if ttl > 0 then
  stored = redis.call("SET", KEYS[1], ARGV[2], "PX", ttl, "NX")
else
  stored = redis.call("SET", KEYS[1], ARGV[2], "NX")
end
if not stored then return {ARGV[1], 0} end
if KEYS[2] ~= "" then redis.call("SET", KEYS[2], ARGV[1], "PX", ARGV[3]) end
redis.call("ZADD", KEYS[3], ARGV[4], ARGV[1])
if ARGV[5] ~= "" then redis.call("ZADD", KEYS[4], ARGV[5], ARGV[1]) end
if KEYS[5] ~= "" then
  if ARGV[7] == "1" then
    redis.call("XADD", KEYS[5], "*", "` + jobs.StreamRecordField + `", ARGV[2], unpack(ARGV, 8))
  else
    redis.call("XADD", KEYS[5], "*", unpack(ARGV, 8))
  end
end
return {ARGV[1], 1}
`)

// maxStreamRecord bounds the records a message carries (the stream holds
// them until it is trimmed); a larger one, or one of a confidential kind
// (its payload may hold secrets: StreamEntry.Confidential), is read by
// its worker instead.
const maxStreamRecord = 2 << 10

// Create implements jobs.Store.
func (s *Jobs) Create(ctx context.Context, j *jobs.Job, idemWindow time.Duration) (string, bool, error) {
	return s.CreateAppend(ctx, j, idemWindow, jobs.StreamEntry{})
}

// StreamTarget implements jobs.StreamAppender: the Redis client.
func (s *Jobs) StreamTarget() any { return s.rdb }

// createCall is one job's create script as the arguments of its EVALSHA
// command ("evalsha", hash, key count, the createKeys keys, the script's
// arguments). The values sit in the call itself and the command holds
// pointers to them (go-redis writes *string and *int64 as their values),
// and the keys of the index tables are boxed once (keyTable): boxing each
// argument, and go-redis's eval copying the list, cost an enqueue 20 of
// its 49 allocations.
type createCall struct {
	cmd []any

	jobKey, id, idem, stream  string
	idemMs, score, timer, ttl int64
	rec                       []byte
	buf                       [createArgs + 8]any
}

// createKeys and createArgs count createScript's keys and its arguments
// before the stream entry's fields.
const (
	createKeys = 5
	createArgs = 3 + createKeys + 7
)

// createHash is createScript's hash, boxed once.
var createHash any = createScript.Hash()

func (s *Jobs) createCall(j *jobs.Job, idemWindow time.Duration, e jobs.StreamEntry) *createCall {
	c := &createCall{jobKey: s.jobKey(j.ID), id: j.ID, idemMs: max(idemWindow.Milliseconds(), 1), score: j.UpdatedAt.UnixMilli(), ttl: max(s.ttlOf(j), 0)}
	// Constants in an interface are static: no allocation.
	var idem, timer, stream any = "", "", ""
	if j.IdempotencyKey != "" {
		c.idem = s.ns + "idem:" + j.IdempotencyKey
		idem = &c.idem
	}
	if j.Scheduled {
		c.timer = j.TimerAt.UnixMilli()
		timer = &c.timer
	}
	withStream := e.Stream != "" && len(e.Fields) > 0
	if withStream {
		c.stream = e.Stream
		stream = &c.stream
	}
	c.rec = encodeJob(j)
	var withRecord any = "0"
	if withStream && len(c.rec) <= maxStreamRecord && !e.Confidential {
		withRecord = "1"
	}
	cmd := c.buf[:0]
	if withStream && len(e.Fields) > len(c.buf)-createArgs {
		cmd = make([]any, 0, createArgs+len(e.Fields))
	}
	cmd = append(cmd, "evalsha", createHash, createKeys,
		&c.jobKey, idem, s.idxArg(j.Queue, j.State), s.keys.timersArg, stream,
		&c.id, c.rec, &c.idemMs, &c.score, timer, &c.ttl, withRecord)
	if withStream {
		for i := range e.Fields {
			cmd = append(cmd, &e.Fields[i])
		}
	}
	c.cmd = cmd
	return c
}

// queue adds the call's command to p (a pipeline), or runs it (a client).
func (c *createCall) queue(ctx context.Context, p scriptConn) *redis.Cmd {
	cmd := redis.NewCmd(ctx, c.cmd...)
	cmd.SetFirstKeyPos(3)
	_ = p.Process(ctx, cmd)
	return cmd
}

// CreateAppend implements jobs.StreamAppender: Create, and the message
// appended by the same script when the job is stored.
func (s *Jobs) CreateAppend(ctx context.Context, j *jobs.Job, idemWindow time.Duration, e jobs.StreamEntry) (string, bool, error) {
	c := s.createCall(j, idemWindow, e)
	res, err := s.create.scriptPiped(ctx, createScript, c.queue).Slice()
	if err != nil {
		return "", false, jobs.Unavailable(err)
	}
	if len(res) != 2 {
		return "", false, jobs.Unavailable(fmt.Errorf("create job %s: unexpected reply %v", j.ID, res))
	}
	id, _ := res[0].(string)
	created, _ := res[1].(int64)
	if id != j.ID {
		// The key's first job may have expired since; then the key is free.
		if n, err := s.rdb.Exists(ctx, s.jobKey(id)).Result(); err == nil && n == 0 {
			s.rdb.Del(ctx, s.ns+"idem:"+j.IdempotencyKey)
			return s.CreateAppend(ctx, j, idemWindow, e)
		}
	}
	return id, created == 1, nil
}

// CreateMany implements jobs.Store: every job's create script in one
// pipeline (each script atomic on its own, run in order, so a repeated ID
// or idempotency key within js finds the earlier job).
func (s *Jobs) CreateMany(ctx context.Context, js []*jobs.Job, idemWindow time.Duration) ([]jobs.Created, error) {
	return s.CreateAppendMany(ctx, js, idemWindow, nil)
}

// CreateAppendMany implements jobs.StreamAppender: CreateMany, each
// stored job's message appended by its own script (entries may be nil).
func (s *Jobs) CreateAppendMany(ctx context.Context, js []*jobs.Job, idemWindow time.Duration, entries []jobs.StreamEntry) ([]jobs.Created, error) {
	if len(js) == 0 {
		return nil, nil
	}
	calls := make([]*createCall, len(js))
	for i, j := range js {
		var e jobs.StreamEntry
		if i < len(entries) {
			e = entries[i]
		}
		calls[i] = s.createCall(j, idemWindow, e)
	}
	exec := func() ([]*redis.Cmd, error) {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(calls))
		for i, c := range calls {
			cmds[i] = c.queue(ctx, pipe)
		}
		_, err := pipe.Exec(ctx)
		return cmds, err
	}
	cmds, err := exec()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		// A restarted or flushed Redis: a NOSCRIPT command did nothing,
		// and rerunning the others is safe (a stored job is not stored
		// twice, nor its message appended twice); load the script and
		// run the whole batch again.
		if err := createScript.Load(ctx, s.rdb).Err(); err != nil {
			return nil, jobs.Unavailable(err)
		}
		cmds, err = exec()
	}
	if err != nil {
		return nil, jobs.Unavailable(err)
	}
	out := make([]jobs.Created, len(js))
	for i, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil || len(res) != 2 {
			return nil, jobs.Unavailable(fmt.Errorf("create job %s: %w", js[i].ID, err))
		}
		id, _ := res[0].(string)
		created, _ := res[1].(int64)
		if id != js[i].ID && js[i].IdempotencyKey != "" {
			// The key's first job may have expired since: CreateAppend
			// sorts it out.
			var e jobs.StreamEntry
			if i < len(entries) {
				e = entries[i]
			}
			id, c, err := s.CreateAppend(ctx, js[i], idemWindow, e)
			if err != nil {
				return nil, err
			}
			out[i] = jobs.Created{ID: id, Created: c}
			continue
		}
		out[i] = jobs.Created{ID: id, Created: created == 1}
	}
	return out, nil
}

// Get implements jobs.Store.
func (s *Jobs) Get(ctx context.Context, id string) (*jobs.Job, error) {
	j, _, err := s.get(ctx, id)
	return j, err
}

func (s *Jobs) get(ctx context.Context, id string) (*jobs.Job, string, error) {
	var cmd *redis.StringCmd
	if err := s.pipe.do(ctx, func(ctx context.Context, p redis.Pipeliner) { cmd = p.Get(ctx, s.jobKey(id)) }); err != nil {
		return nil, "", jobs.Unavailable(err)
	}
	raw, err := cmd.Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, "", jobs.NotFound(id)
	case err != nil:
		return nil, "", jobs.Unavailable(err)
	}
	j, err := decodeJob(raw)
	return j, raw, err
}

// updateScript: KEYS job, oldIdx, newIdx, timers, total; ARGV old json,
// new json, ttlMs (0 none, -1 expired), id, idxScore, timerOp ("keep",
// "del" or a score), incrTotal (0/1). Returns {1} when it wrote, else
// {0, current json} ({0, nil} when the record is gone).
var updateScript = redis.NewScript(`
local cur = redis.call("GET", KEYS[1])
if cur ~= ARGV[1] then return {0, cur} end
local ttl = tonumber(ARGV[3])
if ttl < 0 then
  redis.call("DEL", KEYS[1])
  redis.call("ZREM", KEYS[2], ARGV[4])
  redis.call("ZREM", KEYS[4], ARGV[4])
  return {1}
elseif ttl > 0 then
  redis.call("SET", KEYS[1], ARGV[2], "PX", ttl)
else
  redis.call("SET", KEYS[1], ARGV[2])
end
if KEYS[2] ~= KEYS[3] then redis.call("ZREM", KEYS[2], ARGV[4]) end
redis.call("ZADD", KEYS[3], ARGV[5], ARGV[4])
if ARGV[6] == "del" then
  redis.call("ZREM", KEYS[4], ARGV[4])
elseif ARGV[6] ~= "keep" then
  redis.call("ZADD", KEYS[4], ARGV[6], ARGV[4])
end
if ARGV[7] == "1" then redis.call("INCR", KEYS[5]) end
return {1}
`)

// Update implements jobs.Store: read, apply fn, and compare-and-set. The
// read is skipped when this instance wrote the record last (it compares
// against those bytes instead), and a failed compare returns the current
// bytes, so a conflict costs no extra read either.
func (s *Jobs) Update(ctx context.Context, id string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	return s.update(ctx, id, "", fn)
}

// UpdateFromRecord implements jobs.RecordUpdater: Update, beginning with
// record (what a message carried) as the stored bytes when this instance
// has none of its own.
func (s *Jobs) UpdateFromRecord(ctx context.Context, id, record string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	return s.update(ctx, id, record, fn)
}

func (s *Jobs) update(ctx context.Context, id, guess string, fn func(*jobs.Job) (*jobs.Job, error)) (*jobs.Job, error) {
	raw, known := s.recalled(id)
	// guessed: raw is the caller's guess, not yet confirmed by a read or
	// a compare; fn's errors on it do not count (see RecordUpdater).
	guessed := false
	if !known && guess != "" {
		raw, known, guessed = guess, true, true
	}
	for attempt := 0; ; attempt++ {
		var old *jobs.Job
		var err error
		if known {
			old, err = decodeJob(raw)
			if guessed && (err != nil || old.ID != id) {
				known, guessed = false, false // not this job's record: read it
				continue
			}
		} else {
			old, raw, err = s.get(ctx, id)
		}
		if err != nil {
			return nil, err
		}
		// old was just decoded and is nobody else's: fn gets it without
		// a copy, and what the write needs of it is kept first.
		was := struct {
			scheduled bool
			timerAt   time.Time
			state     jobs.State
			queue     string
		}{old.Scheduled, old.TimerAt, old.State, old.Queue}
		next, err := fn(old)
		if err != nil {
			if guessed {
				known, guessed = false, false // decide on the stored record
				continue
			}
			return nil, err
		}
		if next.ID != id {
			return nil, apperr.New(apperr.Invalid, jobs.CodeInvalidJobState, "Update must not change the job ID")
		}
		b := encodeJob(next)
		timer := "keep"
		switch {
		case !next.Scheduled && was.scheduled:
			timer = "del"
		case next.Scheduled && (!was.scheduled || !next.TimerAt.Equal(was.timerAt)):
			timer = strconv.FormatFloat(score(next.TimerAt), 'f', 0, 64)
		}
		total := "0"
		if !was.state.Terminal() && next.State.Terminal() {
			total = "1"
		}
		ttl := s.ttlOf(next)
		res, err := s.pipe.evalPiped(ctx, updateScript,
			[]string{s.jobKey(id), s.idxKey(was.queue, was.state), s.idxKey(next.Queue, next.State), s.timersKey(), s.totalKey(next.Queue, next.State)},
			raw, b, ttl, id, score(next.UpdatedAt), timer, total).Slice()
		if err != nil {
			if known {
				s.remember(id, "") // the write may have happened
			}
			return nil, jobs.Unavailable(err)
		}
		guessed = false
		if ok, _ := res[0].(int64); ok == 1 {
			if next.State.Running() && ttl >= 0 && len(b) <= maxWrittenSize {
				s.remember(id, string(b)) // its worker writes it next
			} else {
				s.remember(id, "")
			}
			return next, nil
		}
		cur, found := "", false
		if len(res) > 1 {
			cur, found = res[1].(string)
		}
		if !found {
			s.remember(id, "")
			return nil, jobs.NotFound(id)
		}
		raw, known = cur, true
		if attempt > 1000 {
			s.remember(id, "")
			return nil, apperr.New(apperr.Unavailable, "job_contended", "the job is being updated too often; try again")
		}
	}
}

// Delete implements jobs.Store.
func (s *Jobs) Delete(ctx context.Context, id string) error {
	s.remember(id, "")
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Del(ctx, s.jobKey(id))
		p.ZRem(ctx, s.idxKey(j.Queue, j.State), id)
		p.ZRem(ctx, s.timersKey(), id)
		return nil
	})
	if err != nil {
		return jobs.Unavailable(err)
	}
	return nil
}

// List implements jobs.Store. It merges the (queue, state) indexes that
// f selects, each ordered by UpdatedAt (to the millisecond) and ID
// descending, reading them in chunks, and filters by kind on the records:
// a rare kind among many jobs costs a scan of the selected indexes.
func (s *Jobs) List(ctx context.Context, f jobs.Filter) ([]*jobs.Job, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	queues, states := jobs.Queues, jobs.States
	if f.Queue != "" {
		queues = []string{f.Queue}
	}
	if f.State != "" {
		states = []jobs.State{f.State}
	}
	maxScore := "+inf"
	listed := func(ref) bool { return false }
	if f.After != nil {
		ms := f.After.UpdatedAt.UnixMilli()
		maxScore = strconv.FormatInt(ms, 10)
		listed = func(r ref) bool {
			if int64(r.score) != ms {
				return int64(r.score) > ms
			}
			return r.id >= f.After.ID
		}
	}
	chunk := int64(max(limit, 50))
	streams := make([]*indexStream, 0, len(queues)*len(states))
	for _, q := range queues {
		for _, st := range states {
			streams = append(streams, &indexStream{key: s.idxKey(q, st)})
		}
	}
	// Fill every stream once in one round trip.
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.ZSliceCmd, len(streams))
	for i, st := range streams {
		cmds[i] = pipe.ZRevRangeByScoreWithScores(ctx, st.key, &redis.ZRangeBy{Max: maxScore, Min: "-inf", Count: chunk})
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, jobs.Unavailable(err)
	}
	for i, st := range streams {
		st.take(cmds[i].Val(), chunk)
	}
	// head returns the stream whose next entry sorts first, refilling
	// drained streams.
	head := func() (*indexStream, error) {
		var best *indexStream
		for _, st := range streams {
			for len(st.buf) > 0 && listed(st.buf[0]) {
				st.buf = st.buf[1:]
			}
			if len(st.buf) == 0 && !st.done {
				zs, err := s.rdb.ZRevRangeByScoreWithScores(ctx, st.key, &redis.ZRangeBy{Max: maxScore, Min: "-inf", Offset: st.offset, Count: chunk}).Result()
				if err != nil {
					return nil, jobs.Unavailable(err)
				}
				st.take(zs, chunk)
				for len(st.buf) > 0 && listed(st.buf[0]) {
					st.buf = st.buf[1:]
				}
			}
			if len(st.buf) == 0 {
				continue
			}
			if best == nil || st.buf[0].sortsBefore(best.buf[0]) {
				best = st
			}
		}
		return best, nil
	}
	out := make([]*jobs.Job, 0, limit)
	// Stale entries are removed after the scan, which reads by offset.
	var stale []ref
	defer func() {
		for _, r := range stale {
			s.rdb.ZRem(ctx, r.idx, r.id)
		}
	}()
	for len(out) < limit {
		batch := make([]ref, 0, limit-len(out))
		for len(batch) < cap(batch) {
			st, err := head()
			if err != nil {
				return nil, err
			}
			if st == nil {
				break
			}
			batch = append(batch, st.buf[0])
			st.buf = st.buf[1:]
		}
		if len(batch) == 0 {
			break
		}
		keys := make([]string, len(batch))
		for i, r := range batch {
			keys[i] = s.jobKey(r.id)
		}
		vals, err := s.rdb.MGet(ctx, keys...).Result()
		if err != nil {
			return nil, jobs.Unavailable(err)
		}
		for i, v := range vals {
			str, ok := v.(string)
			if !ok {
				stale = append(stale, batch[i]) // the record expired
				continue
			}
			j, err := decodeJob(str)
			if err != nil {
				continue
			}
			if f.Kind == "" || j.Kind == f.Kind {
				out = append(out, j)
			}
		}
	}
	return out, nil
}

// ref is one entry of a (queue, state) index.
type ref struct {
	id    string
	score float64
	idx   string
}

// sortsBefore orders refs as List does: score, then ID, descending.
func (r ref) sortsBefore(o ref) bool {
	if r.score != o.score {
		return r.score > o.score
	}
	return r.id > o.id
}

// indexStream reads one index in chunks, in ZREVRANGEBYSCORE order (score
// then member descending).
type indexStream struct {
	key    string
	buf    []ref
	offset int64
	done   bool
}

func (st *indexStream) take(zs []redis.Z, chunk int64) {
	st.offset += int64(len(zs))
	st.done = int64(len(zs)) < chunk
	for _, z := range zs {
		if id, ok := z.Member.(string); ok {
			st.buf = append(st.buf, ref{id: id, score: z.Score, idx: st.key})
		}
	}
}

// claimScript: KEYS timers; ARGV now, hiddenUntil, limit.
var claimScript = redis.NewScript(`
local ids = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", ARGV[1], "LIMIT", 0, ARGV[3])
for _, id in ipairs(ids) do redis.call("ZADD", KEYS[1], ARGV[2], id) end
return ids
`)

// ClaimDue implements jobs.Timers.
func (s *Jobs) ClaimDue(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]string, error) {
	ids, err := claimScript.Run(ctx, s.rdb, []string{s.timersKey()}, score(now), score(now.Add(lease)), limit).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, jobs.Unavailable(err)
	}
	return ids, nil
}

// Counts implements jobs.Stats. Counts include records that expired since
// the last PurgeExpired.
func (s *Jobs) Counts(ctx context.Context, queue string) (jobs.QueueCounts, error) {
	c := jobs.QueueCounts{ByState: map[jobs.State]int64{}}
	cards := make([]*redis.IntCmd, len(jobs.States))
	var processed, failed *redis.StringCmd
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, st := range jobs.States {
			cards[i] = p.ZCard(ctx, s.idxKey(queue, st))
		}
		processed = p.Get(ctx, s.totalKey(queue, jobs.StateSucceeded))
		failed = p.Get(ctx, s.totalKey(queue, jobs.StateDead))
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return c, jobs.Unavailable(err)
	}
	for i, st := range jobs.States {
		c.ByState[st] = cards[i].Val()
	}
	c.Processed, _ = processed.Int64()
	c.Failed, _ = failed.Int64()
	return c, nil
}

// PurgeExpired implements jobs.Stats: Redis expires the records itself;
// this removes their IDs from the indexes.
func (s *Jobs) PurgeExpired(ctx context.Context, _ time.Time) (int, error) {
	n := 0
	for _, q := range jobs.Queues {
		for _, st := range jobs.States {
			key := s.idxKey(q, st)
			for start := int64(0); ; {
				ids, err := s.rdb.ZRange(ctx, key, start, start+499).Result()
				if err != nil {
					return n, jobs.Unavailable(err)
				}
				if len(ids) == 0 {
					break
				}
				exists := make([]*redis.IntCmd, len(ids))
				if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
					for i, id := range ids {
						exists[i] = p.Exists(ctx, s.jobKey(id))
					}
					return nil
				}); err != nil {
					return n, jobs.Unavailable(err)
				}
				var gone []any
				for i, e := range exists {
					if e.Val() == 0 {
						gone = append(gone, ids[i])
					}
				}
				if len(gone) > 0 {
					if err := s.rdb.ZRem(ctx, key, gone...).Err(); err != nil {
						return n, jobs.Unavailable(err)
					}
					_ = s.rdb.ZRem(ctx, s.timersKey(), gone...).Err()
					n += len(gone)
				}
				start += int64(len(ids) - len(gone))
				if len(ids) < 500 {
					break
				}
			}
		}
	}
	return n, nil
}

// Heartbeat implements jobs.Coordinator.
func (s *Jobs) Heartbeat(ctx context.Context, worker string, ttl time.Duration) error {
	var err error
	if ttl <= 0 {
		err = s.rdb.Del(ctx, s.ns+"worker:"+worker).Err()
	} else {
		err = s.rdb.Set(ctx, s.ns+"worker:"+worker, "1", ttl).Err()
	}
	if err != nil {
		return jobs.Unavailable(err)
	}
	return nil
}

// Alive implements jobs.Coordinator.
func (s *Jobs) Alive(ctx context.Context, worker string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.ns+"worker:"+worker).Result()
	if err != nil {
		return false, jobs.Unavailable(err)
	}
	return n == 1, nil
}

var acquireScript = redis.NewScript(`
local v = redis.call("GET", KEYS[1])
if not v then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  return 1
elseif v == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
`)

var releaseScript = redis.NewScript(`
if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end
return 0
`)

// AcquireLease implements jobs.Coordinator.
func (s *Jobs) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	n, err := acquireScript.Run(ctx, s.rdb, []string{s.ns + "lease:" + name}, holder, max(ttl.Milliseconds(), 1)).Int()
	if err != nil {
		return false, jobs.Unavailable(err)
	}
	return n == 1, nil
}

// ReleaseLease implements jobs.Coordinator.
func (s *Jobs) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{s.ns + "lease:" + name}, holder).Err(); err != nil {
		return jobs.Unavailable(err)
	}
	return nil
}

// Mark implements jobs.Markers.
func (s *Jobs) Mark(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.ns+"mark:"+key, "1", ttl).Result()
	if err != nil {
		return false, jobs.Unavailable(fmt.Errorf("mark %s: %w", key, err))
	}
	return ok, nil
}

// Marked implements jobs.Markers.
func (s *Jobs) Marked(ctx context.Context, key string) (bool, error) {
	n, err := s.rdb.Exists(ctx, s.ns+"mark:"+key).Result()
	if err != nil {
		return false, jobs.Unavailable(err)
	}
	return n == 1, nil
}
