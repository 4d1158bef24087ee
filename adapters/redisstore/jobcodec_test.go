package redisstore

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/tests/testenv"
)

// toRow is j in the JSON form records had before the binary one: the
// tests write it to check that such records still read.
func toRow(j *jobs.Job) jobRow {
	return jobRow{
		ID: j.ID, Kind: j.Kind, Queue: j.Queue, Payload: j.Payload, Owner: j.Owner, IdempotencyKey: j.IdempotencyKey,
		State: string(j.State), Attempt: j.Attempt, MaxRetries: j.MaxRetries, Seq: j.Seq,
		SoftTimeoutMS: j.SoftTimeout.Milliseconds(), HardTimeoutMS: j.HardTimeout.Milliseconds(),
		RunAt: j.RunAt, Scheduled: j.Scheduled, TimerAt: j.TimerAt, CreatedAt: j.CreatedAt, UpdatedAt: j.UpdatedAt,
		StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, ExpiresAt: j.ExpiresAt, Worker: j.Worker,
		Error: j.Error, Errors: j.Errors, Progress: j.Progress, Result: j.Result, Trace: j.Trace,
	}
}

func sampleJob() *jobs.Job {
	t0 := time.Date(2026, 12, 1, 14, 30, 0, 123456789, time.UTC)
	return &jobs.Job{
		ID: "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", Kind: "email.send", Queue: "email",
		Payload: json.RawMessage(`{"to":"ada@example.com","n":1}`), Owner: "user-1", IdempotencyKey: "k1",
		State: jobs.StateRetrying, Attempt: 2, MaxRetries: 3, Seq: 3,
		SoftTimeout: 240 * time.Second, HardTimeout: 300 * time.Second,
		RunAt: t0.Add(time.Minute), Scheduled: true, TimerAt: t0.Add(time.Minute),
		CreatedAt: t0, UpdatedAt: t0.Add(time.Second), StartedAt: t0.Add(500 * time.Millisecond),
		Worker: "w-1", Error: "boom",
		Errors:   []jobs.AttemptError{{Attempt: 1, At: t0, Error: "first"}, {Attempt: 2, At: t0.Add(time.Second), Error: "boom"}},
		Progress: json.RawMessage(`{"done":3}`), Result: json.RawMessage(`"ok"`),
		Trace: map[string]string{"traceparent": "00-abc-def-01", "tracestate": "x=1"},
	}
}

// equalJobs compares field by field, times with Equal.
func equalJobs(t *testing.T, got, want *jobs.Job) {
	t.Helper()
	g, w := *got.Clone(), *want.Clone()
	for _, p := range []struct{ a, b *time.Time }{
		{&g.RunAt, &w.RunAt}, {&g.TimerAt, &w.TimerAt}, {&g.CreatedAt, &w.CreatedAt}, {&g.UpdatedAt, &w.UpdatedAt},
		{&g.StartedAt, &w.StartedAt}, {&g.FinishedAt, &w.FinishedAt}, {&g.ExpiresAt, &w.ExpiresAt},
	} {
		if !p.a.Equal(*p.b) {
			t.Errorf("time %v, want %v", *p.a, *p.b)
		}
		*p.a, *p.b = time.Time{}, time.Time{}
	}
	if len(g.Errors) != len(w.Errors) {
		t.Fatalf("errors %v, want %v", g.Errors, w.Errors)
	}
	for i := range g.Errors {
		if !g.Errors[i].At.Equal(w.Errors[i].At) {
			t.Errorf("error %d at %v, want %v", i, g.Errors[i].At, w.Errors[i].At)
		}
		g.Errors[i].At, w.Errors[i].At = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("decoded\n%+v\nwant\n%+v", g, w)
	}
}

func TestJobCodecRoundTrip(t *testing.T) {
	j := sampleJob()
	raw := encodeJob(j)
	if raw[0] != recordV1 {
		t.Fatalf("first byte %#x", raw[0])
	}
	got, err := decodeJob(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	equalJobs(t, got, j.Clone())
	if got.RunAt.Location() != time.UTC {
		t.Errorf("location %v, want UTC", got.RunAt.Location())
	}
	// The same job encodes to the same bytes (the compare-and-set of a
	// re-encoded record must not fail on map order).
	for range 20 {
		if string(encodeJob(j)) != string(raw) {
			t.Fatal("encoding is not deterministic")
		}
	}
}

// A minimal job (zero times, no payload, no trace) keeps its nils, and
// empty payloads read back as nil, as the JSON form (omitempty) did.
func TestJobCodecZeroValues(t *testing.T) {
	j := &jobs.Job{ID: "x", State: jobs.StateQueued, Payload: json.RawMessage{}, Trace: map[string]string{}}
	got, err := decodeJob(string(encodeJob(j)))
	if err != nil {
		t.Fatal(err)
	}
	want := &jobs.Job{ID: "x", State: jobs.StateQueued}
	equalJobs(t, got, want)
	if got.Payload != nil || got.Trace != nil || got.Errors != nil || !got.RunAt.IsZero() {
		t.Errorf("zero values not kept: %+v", got)
	}
	// Times before 1970 and far ahead survive too.
	j.RunAt = time.Date(1960, 1, 2, 3, 4, 5, 6, time.UTC)
	j.ExpiresAt = time.Date(2400, 1, 1, 0, 0, 0, 999999999, time.UTC)
	got, err = decodeJob(string(encodeJob(j)))
	if err != nil {
		t.Fatal(err)
	}
	if !got.RunAt.Equal(j.RunAt) || !got.ExpiresAt.Equal(j.ExpiresAt) {
		t.Errorf("times %v %v, want %v %v", got.RunAt, got.ExpiresAt, j.RunAt, j.ExpiresAt)
	}
}

// Records written in the JSON form before the binary one still decode to
// the same job.
func TestJobCodecReadsJSONRecords(t *testing.T) {
	j := sampleJob()
	old, err := json.Marshal(toRow(j))
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeJob(string(old))
	if err != nil {
		t.Fatal(err)
	}
	equalJobs(t, got, j.Clone())
	bin, err := decodeJob(string(encodeJob(j)))
	if err != nil {
		t.Fatal(err)
	}
	equalJobs(t, bin, got)
}

// Every truncation of a record, and trailing bytes, are errors, never a
// panic or a wrong job.
func TestJobCodecRejectsMalformedRecords(t *testing.T) {
	raw := string(encodeJob(sampleJob()))
	for n := 1; n < len(raw); n++ {
		if _, err := decodeJob(raw[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: decoded", n, len(raw))
		}
	}
	if _, err := decodeJob(raw + "x"); err == nil {
		t.Fatal("trailing byte: decoded")
	}
	if _, err := decodeJob(string([]byte{recordV1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})); err == nil {
		t.Fatal("overlong varint: decoded")
	}
	if _, err := decodeJob("not a record"); err == nil {
		t.Fatal("garbage: decoded")
	}
}

// Random jobs round-trip.
func TestJobCodecRandomJobs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return string(b)
	}
	tm := func() time.Time {
		if r.IntN(3) == 0 {
			return time.Time{}
		}
		return time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)).UTC()
	}
	for range 500 {
		j := &jobs.Job{
			ID: str(), Kind: str(), Queue: str(), Owner: str(), IdempotencyKey: str(), State: jobs.State(str()),
			Attempt: r.IntN(1000) - 10, MaxRetries: r.IntN(100), Seq: r.IntN(1 << 30),
			SoftTimeout: time.Duration(r.Int64N(1<<40)) * time.Millisecond, HardTimeout: time.Duration(r.Int64N(1<<40)) * time.Millisecond,
			RunAt: tm(), Scheduled: r.IntN(2) == 0, TimerAt: tm(), CreatedAt: tm(), UpdatedAt: tm(), StartedAt: tm(),
			FinishedAt: tm(), ExpiresAt: tm(), Worker: str(), Error: str(),
		}
		if s := str(); s != "" {
			j.Payload = json.RawMessage(s)
		}
		if s := str(); s != "" {
			j.Result = json.RawMessage(s)
		}
		for range r.IntN(4) {
			j.Errors = append(j.Errors, jobs.AttemptError{Attempt: r.IntN(10), At: tm(), Error: str()})
		}
		if n := r.IntN(4); n > 0 {
			j.Trace = map[string]string{}
			for range n {
				j.Trace[str()] = str()
			}
		}
		got, err := decodeJob(string(encodeJob(j)))
		if err != nil {
			t.Fatal(err)
		}
		equalJobs(t, got, j.Clone())
	}
}

func FuzzJobCodecDecode(f *testing.F) {
	f.Add(string(encodeJob(sampleJob())))
	f.Add(strings.Repeat("\x01", 30))
	f.Fuzz(func(t *testing.T, raw string) {
		j, err := decodeJob(raw)
		if err != nil || raw == "" || raw[0] != recordV1 {
			return
		}
		// What decodes re-encodes to a record that decodes the same.
		again, err := decodeJob(string(encodeJob(j)))
		if err != nil {
			t.Fatal(err)
		}
		equalJobs(t, again, j)
	})
}

// BenchmarkJobCodec compares the two forms on a typical record (a started
// job with a trace context).
func BenchmarkJobCodec(b *testing.B) {
	j := sampleJob()
	j.Errors, j.Progress, j.Result, j.Error = nil, nil, nil, ""
	jsonRaw, _ := json.Marshal(toRow(j))
	binRaw := string(encodeJob(j))
	b.Run("json", func(b *testing.B) {
		b.ReportMetric(float64(len(jsonRaw)), "bytes")
		for b.Loop() {
			got, err := decodeJob(string(jsonRaw))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := json.Marshal(toRow(got)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		b.ReportMetric(float64(len(binRaw)), "bytes")
		for b.Loop() {
			got, err := decodeJob(binRaw)
			if err != nil {
				b.Fatal(err)
			}
			_ = encodeJob(got)
		}
	})
}

// A record stored in the JSON form (before the upgrade) is started and
// finished through Update, and then stored in the binary form.
func TestJobsUpdateReadsJSONRecord(t *testing.T) {
	url := testenv.URL(t, "TEST_REDIS_URL")
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	ctx := context.Background()
	prefix := fmt.Sprintf("test:codec:%d:", time.Now().UnixNano())
	t.Cleanup(func() {
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
		if left, err := rdb.Keys(ctx, prefix+"*").Result(); err != nil || len(left) > 0 {
			t.Errorf("left %v (%v)", left, err)
		}
		_ = rdb.Close()
	})
	s := NewJobsOn(rdb, prefix)
	j := sampleJob()
	j.State, j.Errors, j.Error, j.Result, j.Progress = jobs.StateQueued, nil, "", nil, nil
	old, err := json.Marshal(toRow(j))
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Set(ctx, s.jobKey(j.ID), old, 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.ZAdd(ctx, s.idxKey(j.Queue, j.State), redis.Z{Score: score(j.UpdatedAt), Member: j.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, j.ID)
	if err != nil {
		t.Fatal(err)
	}
	equalJobs(t, got, j)
	for _, st := range []jobs.State{jobs.StateStarted, jobs.StateSucceeded} {
		if _, err := s.Update(ctx, j.ID, func(cur *jobs.Job) (*jobs.Job, error) {
			cur.State = st
			return cur, nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := rdb.Get(ctx, s.jobKey(j.ID)).Result()
	if err != nil {
		t.Fatal(err)
	}
	if raw[0] != recordV1 {
		t.Fatalf("record not rewritten in the binary form: %q", raw)
	}
	listed, err := s.List(ctx, jobs.Filter{Queue: j.Queue, State: jobs.StateSucceeded})
	if err != nil || len(listed) != 1 || listed[0].ID != j.ID || string(listed[0].Payload) != string(j.Payload) {
		t.Fatalf("List after the upgrade: %v, %v", listed, err)
	}
	c, err := s.Counts(ctx, j.Queue)
	if err != nil || c.Processed != 1 || c.ByState[jobs.StateQueued] != 0 {
		t.Fatalf("Counts after the upgrade: %+v, %v", c, err)
	}
}
