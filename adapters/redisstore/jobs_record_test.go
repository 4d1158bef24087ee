package redisstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tradesense/tradesense/adapters/redisstore"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/jobs/jobstest"
)

// openJobsClient returns the job backend on a private key prefix, whose
// keys are removed at the end of the test, with the client it is on.
func openJobsClient(t *testing.T) (*redisstore.Jobs, *redisstore.Client) {
	c := openTest(t)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := c.Redis().Keys(ctx, c.KeyPrefix()+"jobs:*").Result()
		if len(keys) > 0 {
			c.Redis().Del(ctx, keys...)
		}
	})
	return redisstore.NewJobs(c), c
}

// The message appended with a job carries the stored record, and a start
// from it (UpdateFromRecord) is the same as Update: it writes what fn
// made of the stored job.
func TestJobsMessageCarriesTheStoredRecord(t *testing.T) {
	s, c := openJobsClient(t)
	ctx := context.Background()
	stream := c.KeyPrefix() + "jobs:stream:record-test"
	t.Cleanup(func() { c.Redis().Del(ctx, stream) })

	j := jobstest.NewJob("default.echo")
	if _, created, err := s.CreateAppend(ctx, j, time.Minute, jobs.StreamEntry{Stream: stream, Fields: []string{"payload", "x"}}); err != nil || !created {
		t.Fatalf("CreateAppend: created %v, %v", created, err)
	}
	msgs, err := c.Redis().XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stream: %d messages, %v", len(msgs), err)
	}
	rec, _ := msgs[0].Values[jobs.StreamRecordField].(string)
	stored, err := c.Redis().Get(ctx, c.KeyPrefix()+"jobs:job:"+j.ID).Result()
	if err != nil {
		t.Fatal(err)
	}
	if rec == "" || rec != stored {
		t.Fatalf("the message carries %d bytes of record, want the %d stored", len(rec), len(stored))
	}
	if v, _ := msgs[0].Values["payload"].(string); v != "x" {
		t.Fatalf("the entry's own fields changed: payload %q", v)
	}

	got, err := s.UpdateFromRecord(ctx, j.ID, rec, func(cur *jobs.Job) (*jobs.Job, error) {
		cur.State, cur.Worker, cur.Attempt = jobs.StateStarted, "w1", cur.Attempt+1
		return cur, nil
	})
	if err != nil || got.State != jobs.StateStarted || got.Attempt != 1 {
		t.Fatalf("UpdateFromRecord: %+v, %v", got, err)
	}
	if cur, err := s.Get(ctx, j.ID); err != nil || cur.State != jobs.StateStarted || cur.Worker != "w1" {
		t.Fatalf("stored after the start: %+v, %v", cur, err)
	}
	counts, err := s.Counts(ctx, j.Queue)
	if err != nil || counts.ByState[jobs.StateStarted] != 1 || counts.ByState[jobs.StateQueued] != 0 {
		t.Fatalf("indexes after the start: %+v, %v", counts, err)
	}
}

// A record over the bound is not copied into the message.
func TestJobsLargeRecordIsNotCarried(t *testing.T) {
	s, c := openJobsClient(t)
	ctx := context.Background()
	stream := c.KeyPrefix() + "jobs:stream:record-large"
	t.Cleanup(func() { c.Redis().Del(ctx, stream) })
	j := jobstest.NewJob("default.echo")
	j.Payload = json.RawMessage(`"` + strings.Repeat("a", 8<<10) + `"`)
	if _, _, err := s.CreateAppend(ctx, j, time.Minute, jobs.StreamEntry{Stream: stream, Fields: []string{"payload", "x"}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Redis().XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("stream: %d messages, %v", len(msgs), err)
	}
	if _, ok := msgs[0].Values[jobs.StreamRecordField]; ok {
		t.Fatal("a record of over 8 KiB was copied into the message")
	}
}

// A confidential kind's record (its payload may hold sign-in or reset
// links) is never copied into the message, single or batched: the stream
// would keep it until trimmed, after the record itself expired.
func TestJobsConfidentialRecordIsNotCarried(t *testing.T) {
	s, c := openJobsClient(t)
	ctx := context.Background()
	stream := c.KeyPrefix() + "jobs:stream:record-confidential"
	t.Cleanup(func() { c.Redis().Del(ctx, stream) })
	secret := "https://app.example/reset?token=very-secret-token"
	one := jobstest.NewJob("email.send")
	one.Payload = json.RawMessage(`{"link":"` + secret + `"}`)
	e := jobs.StreamEntry{Stream: stream, Fields: []string{"payload", "x"}, Confidential: true}
	if _, _, err := s.CreateAppend(ctx, one, time.Minute, e); err != nil {
		t.Fatal(err)
	}
	many := []*jobs.Job{jobstest.NewJob("email.send"), jobstest.NewJob("email.send")}
	for _, j := range many {
		j.Payload = one.Payload
	}
	if _, err := s.CreateAppendMany(ctx, many, time.Minute, []jobs.StreamEntry{e, e}); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Redis().XRange(ctx, stream, "-", "+").Result()
	if err != nil || len(msgs) != 3 {
		t.Fatalf("stream: %d messages, %v", len(msgs), err)
	}
	for _, m := range msgs {
		if _, ok := m.Values[jobs.StreamRecordField]; ok {
			t.Fatalf("a confidential record was copied into message %s", m.ID)
		}
		for k, v := range m.Values {
			if str, _ := v.(string); strings.Contains(str, "very-secret-token") {
				t.Fatalf("message %s field %s carries the payload's secret", m.ID, k)
			}
		}
	}
}

// A guess never decides: whether stale, unreadable or another job's, fn's
// result counts only on the stored record, and the write is the stored
// record's compare-and-set.
func TestJobsUpdateFromRecordChecksTheGuess(t *testing.T) {
	ctx := context.Background()
	start := func(worker string) func(*jobs.Job) (*jobs.Job, error) {
		return func(cur *jobs.Job) (*jobs.Job, error) {
			if cur.State != jobs.StateQueued || cur.Seq != 2 {
				return nil, errors.New("stale: not queued at seq 2")
			}
			cur.State, cur.Worker, cur.Attempt = jobs.StateStarted, worker, cur.Attempt+1
			return cur, nil
		}
	}
	for name, guess := range map[string]func(s *redisstore.Jobs, c *redisstore.Client, j *jobs.Job) string{
		"stale": func(s *redisstore.Jobs, c *redisstore.Client, j *jobs.Job) string {
			return rawOf(t, c, j.ID) // the record at seq 1, before the retry below
		},
		"unreadable": func(*redisstore.Jobs, *redisstore.Client, *jobs.Job) string { return "\x01\xff\xff" },
		"other job": func(s *redisstore.Jobs, c *redisstore.Client, _ *jobs.Job) string {
			o := jobstest.NewJob("default.echo")
			o.Seq = 2
			if _, _, err := s.Create(ctx, o, time.Minute); err != nil {
				t.Fatal(err)
			}
			return rawOf(t, c, o.ID)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s, c := openJobsClient(t)
			j := jobstest.NewJob("default.echo")
			if _, _, err := s.Create(ctx, j, time.Minute); err != nil {
				t.Fatal(err)
			}
			g := guess(s, c, j)
			// The job moves on after the guess was taken: seq 2.
			if _, err := s.Update(ctx, j.ID, func(cur *jobs.Job) (*jobs.Job, error) {
				cur.Seq = 2
				return cur, nil
			}); err != nil {
				t.Fatal(err)
			}
			calls := 0
			fn := start("w1")
			got, err := s.UpdateFromRecord(ctx, j.ID, g, func(cur *jobs.Job) (*jobs.Job, error) {
				calls++
				return fn(cur)
			})
			if err != nil || got.ID != j.ID || got.State != jobs.StateStarted || got.Seq != 2 {
				t.Fatalf("UpdateFromRecord: %+v, %v", got, err)
			}
			if cur, err := s.Get(ctx, j.ID); err != nil || cur.State != jobs.StateStarted || cur.Seq != 2 || cur.Attempt != 1 {
				t.Fatalf("stored: %+v, %v", cur, err)
			}
			if calls > 3 {
				t.Fatalf("fn called %d times", calls)
			}
		})
	}

	// fn's own error on the stored record is returned, as from Update.
	s, c := openJobsClient(t)
	j := jobstest.NewJob("default.echo")
	if _, _, err := s.Create(ctx, j, time.Minute); err != nil {
		t.Fatal(err)
	}
	drop := errors.New("drop")
	if _, err := s.UpdateFromRecord(ctx, j.ID, "\x01", func(*jobs.Job) (*jobs.Job, error) { return nil, drop }); !errors.Is(err, drop) {
		t.Fatalf("fn's error on the stored record: %v, want it returned", err)
	}
	// A deleted job is NotFound whatever the guess.
	g := rawOf(t, c, j.ID)
	if err := s.Delete(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateFromRecord(ctx, j.ID, g, func(cur *jobs.Job) (*jobs.Job, error) { return cur, nil }); !apperr.Is(err, apperr.NotFound) {
		t.Fatalf("deleted job: %v, want NotFound", err)
	}
}

func rawOf(t *testing.T, c *redisstore.Client, id string) string {
	t.Helper()
	raw, err := c.Redis().Get(context.Background(), c.KeyPrefix()+"jobs:job:"+id).Result()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// A create after Redis lost its scripts (SCRIPT FLUSH: a restart or a
// flush) loads the script again and stores the job, single or batched.
func TestJobsCreateAfterScriptFlush(t *testing.T) {
	s, c := openJobsClient(t)
	ctx := context.Background()
	stream := c.KeyPrefix() + "jobs:stream:noscript"
	t.Cleanup(func() { c.Redis().Del(ctx, stream) })
	e := jobs.StreamEntry{Stream: stream, Fields: []string{"payload", "x"}}
	for _, many := range []bool{false, true} {
		if err := c.Redis().ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		j := jobstest.NewJob("default.echo")
		var created bool
		var err error
		if many {
			var res []jobs.Created
			res, err = s.CreateAppendMany(ctx, []*jobs.Job{j}, time.Minute, []jobs.StreamEntry{e})
			created = err == nil && len(res) == 1 && res[0].Created
		} else {
			_, created, err = s.CreateAppend(ctx, j, time.Minute, e)
		}
		if err != nil || !created {
			t.Fatalf("many %v: create after SCRIPT FLUSH: created %v, %v", many, created, err)
		}
		if got, err := s.Get(ctx, j.ID); err != nil || got.ID != j.ID {
			t.Fatalf("many %v: stored %+v, %v", many, got, err)
		}
	}
	if n, err := c.Redis().XLen(ctx, stream).Result(); err != nil || n != 2 {
		t.Fatalf("stream: %d messages, %v; want 2", n, err)
	}
}

// Every field of a stream entry is appended as given, however many (the
// create command keeps room for a few inline and grows for more).
func TestJobsCreateAppendsEveryField(t *testing.T) {
	s, c := openJobsClient(t)
	ctx := context.Background()
	stream := c.KeyPrefix() + "jobs:stream:fields"
	t.Cleanup(func() { c.Redis().Del(ctx, stream) })
	for _, pairs := range []int{1, 4, 5, 13} {
		var fields []string
		for i := range pairs {
			fields = append(fields, fmt.Sprintf("f%d", i), fmt.Sprintf("v%d-%d", pairs, i))
		}
		j := jobstest.NewJob("default.echo")
		if _, created, err := s.CreateAppend(ctx, j, time.Minute, jobs.StreamEntry{Stream: stream, Fields: fields}); err != nil || !created {
			t.Fatalf("%d fields: created %v, %v", pairs, created, err)
		}
		msgs, err := c.Redis().XRevRangeN(ctx, stream, "+", "-", 1).Result()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%d fields: %d messages, %v", pairs, len(msgs), err)
		}
		for i := range pairs {
			if v, _ := msgs[0].Values[fmt.Sprintf("f%d", i)].(string); v != fmt.Sprintf("v%d-%d", pairs, i) {
				t.Fatalf("%d fields: f%d = %q", pairs, i, v)
			}
		}
		if got := len(msgs[0].Values); got != pairs+1 { // and the record
			t.Fatalf("%d fields: the message has %d", pairs, got)
		}
	}
}
