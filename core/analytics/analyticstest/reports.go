package analyticstest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

// ReportStores adds the report repositories to Stores.
type ReportStores struct {
	Stores
	Reports   analytics.Reports
	Schedules analytics.Schedules
}

// queue records enqueued jobs, one per ID (as jobs.WithID promises).
type queue struct {
	mu   sync.Mutex
	jobs map[string]*jobs.Job
	ids  []string
	down bool // the job store is unavailable
}

func (q *queue) Enqueue(_ context.Context, kind string, payload any, opts ...jobs.Option) (string, error) {
	q.mu.Lock()
	down := q.down
	q.mu.Unlock()
	if down {
		return "", apperr.New(apperr.Unavailable, "jobs_store_unavailable", "the job store is unavailable")
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return "", err
	}
	// The options are opaque: the payload carries the report ID, which
	// Reporter also uses as the job ID.
	var p struct {
		ReportID string `json:"report_id"`
	}
	_ = json.Unmarshal(b, &p)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.jobs == nil {
		q.jobs = map[string]*jobs.Job{}
	}
	if _, ok := q.jobs[p.ReportID]; !ok {
		q.jobs[p.ReportID] = &jobs.Job{ID: p.ReportID, Kind: kind, Payload: b}
		q.ids = append(q.ids, p.ReportID)
	}
	return p.ReportID, nil
}

type mailer struct {
	mu   sync.Mutex
	sent map[uuid.UUID]int
}

func (m *mailer) SendReport(_ context.Context, r *analytics.Report, _ []analytics.Summary) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sent == nil {
		m.sent = map[uuid.UUID]int{}
	}
	m.sent[r.ID]++
	return nil
}

// fakeRenderer writes a small file naming the period and the net P&L.
type fakeRenderer struct{}

func (fakeRenderer) Render(_ context.Context, d *analytics.Document, f analytics.Format, w io.Writer) error {
	_, err := io.WriteString(w, string(f)+"|"+d.Period)
	for _, s := range d.Analysis.Summaries {
		_, _ = io.WriteString(w, "|"+s.Currency+" "+s.NetPnL.String())
	}
	return err
}

// RunReports runs the report use cases over the repositories newStores
// returns.
func RunReports(t *testing.T, newStores func(t *testing.T) ReportStores) {
	ctx := context.Background()
	type env struct {
		*Env
		rep   *analytics.Reporter
		q     *queue
		mail  *mailer
		blobs *blobtest.Mem
		reg   *jobs.Registry
		now   time.Time
		st    ReportStores
	}
	newEnv := func(t *testing.T) *env {
		st := newStores(t)
		e := &env{Env: NewEnv(t, st.Stores), q: &queue{}, mail: &mailer{}, blobs: blobtest.NewMem(), reg: jobs.NewRegistry(),
			now: time.Date(2026, 12, 31, 12, 0, 0, 0, time.UTC), st: st}
		var err error
		e.rep, err = analytics.NewReporter(analytics.ReportsConfig{Retention: 48 * time.Hour}, analytics.ReportDeps{
			Analytics: e.Analytics, Reports: st.Reports, Schedules: st.Schedules, Blobs: e.blobs, Renderer: fakeRenderer{}, Jobs: e.q,
			Events: e.Events, Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return e.Zone, nil }),
			Mailer: e.mail, Now: func() time.Time { return e.now }})
		if err != nil {
			t.Fatal(err)
		}
		e.rep.Register(e.reg)
		return e
	}
	run := func(t *testing.T, e *env, id string) {
		t.Helper()
		kc, _ := e.reg.Lookup(analytics.KindRender)
		e.q.mu.Lock()
		j := e.q.jobs[id]
		e.q.mu.Unlock()
		if j == nil {
			t.Fatalf("no job %s", id)
		}
		if _, err := kc.Handler(ctx, j); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("RequestRenderOpenExpire", func(t *testing.T) {
		e := newEnv(t)
		g := Seed(t, e.Env.Env)
		r, err := e.rep.Request(ctx, g.User, analytics.ReportRequest{From: trading.Date{Year: 2026, Month: 1, Day: 1}, To: trading.Date{Year: 2026, Month: 12, Day: 31},
			Format: analytics.CSV})
		if err != nil {
			t.Fatal(err)
		}
		if r.State != analytics.ReportQueued || len(e.q.ids) != 1 || e.q.ids[0] != r.ID.String() {
			t.Fatalf("report %+v, jobs %v", r, e.q.ids)
		}
		if _, _, err := e.rep.Open(ctx, g.User, r.ID); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("open before ready: %v", err)
		}
		e.Events.Take()
		run(t, e, r.ID.String())
		got, err := e.rep.Get(ctx, g.User, r.ID)
		if err != nil || got.State != analytics.ReportReady || got.Size == 0 || !got.ExpiresAt.Equal(e.now.Add(48*time.Hour).UTC()) {
			t.Fatalf("after the job: %+v %v", got, err)
		}
		evs := e.Events.Take()
		if len(evs) != 1 || evs[0].Type != realtime.TypeReportReady || evs[0].Payload["report_id"] != r.ID.String() {
			t.Fatalf("events %+v", evs)
		}
		rc, _, err := e.rep.Open(ctx, g.User, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		_ = rc.Close()
		sums, _ := e.Analytics.Summary(ctx, g.User, analytics.Query{})
		want := "csv|1 January – 31 December 2026"
		for _, s := range sums {
			want += "|" + s.Currency + " " + s.NetPnL.String()
		}
		if string(body) != want {
			t.Fatalf("file %q; want %q", body, want)
		}
		// Another user's report is not found, never forbidden.
		other := e.NewUser(t)
		if _, err := e.rep.Get(ctx, other, r.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another user's Get: %v", err)
		}
		if _, _, err := e.rep.Open(ctx, other, r.ID); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another user's Open: %v", err)
		}
		// Redelivery does nothing again.
		run(t, e, r.ID.String())
		if evs := e.Events.Take(); len(evs) != 0 {
			t.Fatalf("a redelivered job published %d events", len(evs))
		}
		// Past the retention: the file is gone, the record says so.
		e.now = e.now.Add(49 * time.Hour)
		if _, _, err := e.rep.Open(ctx, g.User, r.ID); apperr.CodeOf(err) != analytics.CodeReportExpired {
			t.Fatalf("open after retention: %v", err)
		}
		n, err := e.rep.PurgeExpired(ctx)
		if err != nil || n != 1 || e.blobs.Len() != 0 {
			t.Fatalf("purge: %d %v, %d blobs left", n, err, e.blobs.Len())
		}
		if got, _ := e.rep.Get(ctx, g.User, r.ID); got.State != analytics.ReportExpired {
			t.Fatalf("after purge: %+v", got)
		}
		if n, err := e.rep.PurgeExpired(ctx); err != nil || n != 0 {
			t.Fatalf("second purge: %d %v", n, err)
		}
	})

	// A request whose job cannot be queued (Redis down) fails, and leaves
	// no report behind, queued for ever with nothing to render it.
	t.Run("AnUnqueuedRequestLeavesNothing", func(t *testing.T) {
		e := newEnv(t)
		g := Seed(t, e.Env.Env)
		e.q.mu.Lock()
		e.q.down = true
		e.q.mu.Unlock()
		_, err := e.rep.Request(ctx, g.User, analytics.ReportRequest{From: trading.Date{Year: 2026, Month: 1, Day: 1}, To: trading.Date{Year: 2026, Month: 12, Day: 31},
			Format: analytics.CSV})
		if !apperr.Is(err, apperr.Unavailable) {
			t.Fatalf("Request with the job store down = %v; want Unavailable", err)
		}
		list, err := e.rep.List(ctx, g.User, analytics.ReportCursor{}, 10)
		if err != nil || len(list) != 0 {
			t.Fatalf("reports left behind: %+v, %v", list, err)
		}
	})

	// A report whose job died out of retries (a database outage longer
	// than their backoff) is failed once ReportStaleAfter has passed, and
	// recorded so, instead of queued for ever.
	t.Run("AReportWhoseJobDiedFailsAfterAnHour", func(t *testing.T) {
		e := newEnv(t)
		g := Seed(t, e.Env.Env)
		r, err := e.rep.Request(ctx, g.User, analytics.ReportRequest{From: trading.Date{Year: 2026, Month: 1, Day: 1}, To: trading.Date{Year: 2026, Month: 12, Day: 31},
			Format: analytics.CSV})
		if err != nil {
			t.Fatal(err)
		}
		e.now = e.now.Add(analytics.ReportStaleAfter - time.Minute)
		if got, err := e.rep.Get(ctx, g.User, r.ID); err != nil || got.State != analytics.ReportQueued {
			t.Fatalf("before the hour: %+v, %v; want queued", got, err)
		}
		e.now = e.now.Add(2 * time.Minute)
		list, err := e.rep.List(ctx, g.User, analytics.ReportCursor{}, 10)
		if err != nil || len(list) != 1 || list[0].State != analytics.ReportFailed || list[0].Error == "" {
			t.Fatalf("listed after the hour: %+v, %v; want failed with a reason", list, err)
		}
		stored, err := e.st.Reports.Get(ctx, g.User, r.ID)
		if err != nil || stored.State != analytics.ReportFailed {
			t.Fatalf("stored after the hour: %+v, %v; want failed recorded", stored, err)
		}
		if _, _, err := e.rep.Open(ctx, g.User, r.ID); !apperr.Is(err, apperr.Conflict) {
			t.Fatalf("the file of a failed report = %v", err)
		}
	})

	t.Run("ListAndDeleteOwnerOnly", func(t *testing.T) {
		e := newEnv(t)
		u, other := e.NewUser(t), e.NewUser(t)
		var ids []uuid.UUID
		for i := range 3 {
			if i < 2 {
				e.now = e.now.Add(time.Minute) // the last two share an instant: the ID breaks the tie
			}
			r, err := e.rep.Request(ctx, u, analytics.ReportRequest{Period: analytics.Weekly, Format: analytics.CSV})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
			if i == 0 {
				run(t, e, r.ID.String()) // the oldest has a file
			}
		}
		page, err := e.rep.List(ctx, u, analytics.ReportCursor{}, 2)
		hi, lo := ids[1], ids[2]
		if lo.String() > hi.String() {
			hi, lo = lo, hi
		}
		if err != nil || len(page) != 2 || page[0].ID != hi || page[1].ID != lo {
			t.Fatalf("first page %+v %v", page, err)
		}
		rest, err := e.rep.List(ctx, u, analytics.CursorOf(&page[1]), 2)
		if err != nil || len(rest) != 1 || rest[0].ID != ids[0] {
			t.Fatalf("second page %+v %v", rest, err)
		}
		if mine, err := e.rep.List(ctx, other, analytics.ReportCursor{}, 50); err != nil || len(mine) != 0 {
			t.Fatalf("another user's list %+v %v", mine, err)
		}
		if _, err := e.rep.List(ctx, u, analytics.ReportCursor{}, 0); !apperr.Is(err, apperr.Invalid) {
			t.Fatalf("limit 0: %v", err)
		}
		// Another user's delete is not found and deletes nothing.
		if err := e.rep.Delete(ctx, other, ids[0]); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("another user's Delete: %v", err)
		}
		if e.blobs.Len() != 1 {
			t.Fatalf("%d blobs after another user's delete", e.blobs.Len())
		}
		if err := e.rep.Delete(ctx, u, ids[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := e.rep.Get(ctx, u, ids[0]); !apperr.Is(err, apperr.NotFound) || e.blobs.Len() != 0 {
			t.Fatalf("after delete: %v, %d blobs", err, e.blobs.Len())
		}
		if err := e.rep.Delete(ctx, u, ids[0]); !apperr.Is(err, apperr.NotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		e := newEnv(t)
		u := e.NewUser(t)
		for _, in := range []analytics.ReportRequest{
			{Format: "doc", Period: analytics.Weekly},
			{Period: "daily"},
			{From: trading.Date{Year: 2026, Month: 2, Day: 1}},
			{From: trading.Date{Year: 2026, Month: 2, Day: 1}, To: trading.Date{Year: 2026, Month: 1, Day: 1}},
			{Period: analytics.Weekly, Basis: "tax"},
		} {
			if _, err := e.rep.Request(ctx, u, in); !apperr.Is(err, apperr.Invalid) {
				t.Errorf("Request(%+v) = %v; want invalid", in, err)
			}
		}
	})

	t.Run("ScheduledWeeklyOncePerPeriod", func(t *testing.T) {
		e := newEnv(t)
		g := Seed(t, e.Env.Env)
		if _, err := e.rep.PutSchedule(ctx, g.User, true, false); err != nil {
			t.Fatal(err)
		}
		if s, err := e.rep.GetSchedule(ctx, g.User); err != nil || !s.Weekly || s.Monthly {
			t.Fatalf("schedule %+v %v", s, err)
		}
		// Monday 9 March 2026, 06:59 in New York (the day after DST began):
		// not due yet; at 07:00 the week of 2 March is.
		e.now = time.Date(2026, 3, 9, 6, 59, 0, 0, g.Zone)
		if n, err := e.rep.FanOut(ctx); err != nil || n != 0 {
			t.Fatalf("fan-out at 06:59: %d %v", n, err)
		}
		e.now = time.Date(2026, 3, 9, 7, 0, 0, 0, g.Zone)
		for range 2 { // a second tick (or a restarted worker) changes nothing
			if n, err := e.rep.FanOut(ctx); err != nil || n != 1 {
				t.Fatalf("fan-out at 07:00: %d %v", n, err)
			}
		}
		if len(e.q.ids) != 1 {
			t.Fatalf("%d jobs; want 1", len(e.q.ids))
		}
		run(t, e, e.q.ids[0])
		run(t, e, e.q.ids[0]) // redelivered after a crash
		id := uuid.MustParse(e.q.ids[0])
		r, err := e.rep.Get(ctx, g.User, id)
		if err != nil || r.ScheduleKey != "weekly:2026-03-02" || r.From.String() != "2026-03-02" || r.To.String() != "2026-03-08" || !r.Emailed {
			t.Fatalf("scheduled report %+v %v", r, err)
		}
		if e.mail.sent[id] != 1 {
			t.Fatalf("mailed %d times", e.mail.sent[id])
		}
		rc, _, err := e.rep.Open(ctx, g.User, id)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(rc)
		_ = rc.Close()
		if !bytes.HasPrefix(b.Bytes(), []byte("pdf|Week of Monday 2 March 2026|USD ")) {
			t.Fatalf("file %q", b.String())
		}
		// A day later the week is no longer due.
		e.now = time.Date(2026, 3, 10, 7, 1, 0, 0, g.Zone)
		if n, err := e.rep.FanOut(ctx); err != nil || n != 0 {
			t.Fatalf("fan-out a day later: %d %v", n, err)
		}
	})
}
