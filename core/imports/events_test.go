package imports_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob/blobtest"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/imports/importstest"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
	"github.com/tradesense/tradesense/core/trading/tradingtest"
	"github.com/tradesense/tradesense/core/uow"
)

// The import job's events, over in-memory fakes whose transaction really
// rolls back: import.progress and import.finished are published only
// after the write they report committed, never for a rolled-back one.

// memTx is a uow.Runner over memImports: a rollback restores the imports
// as they were when the outermost transaction began.
type memTx struct {
	st *memImports
	mu sync.Mutex
	// open is true while a transaction runs (a publish then is a bug).
	open bool
	// failCommit, when set, is asked after fn succeeded: true makes the
	// commit fail (the database went away), so the transaction rolls back.
	failCommit func() bool
}

func (tx *memTx) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	tx.mu.Lock()
	nested := tx.open
	tx.open = true
	tx.mu.Unlock()
	if nested {
		return fn(ctx)
	}
	snap := tx.st.snapshot()
	inner, run := uow.WithAfterCommit(ctx)
	err := fn(inner)
	tx.mu.Lock()
	tx.open = false
	tx.mu.Unlock()
	if err == nil && tx.failCommit != nil && tx.failCommit() {
		err = apperr.New(apperr.Unavailable, "db_unavailable", "commit failed")
	}
	if err != nil {
		tx.st.restore(snap)
		return err
	}
	run(ctx)
	return nil
}

func (tx *memTx) inTx() bool {
	tx.mu.Lock()
	defer tx.mu.Unlock()
	return tx.open
}

// memImports stores imports in memory; failStatus, when set, fails the
// next Update to that status once (a crash before the commit).
type memImports struct {
	mu         sync.Mutex
	m          map[uuid.UUID]imports.Import
	failStatus imports.Status
}

func (s *memImports) BlobKeys(context.Context, uuid.UUID, uuid.UUID) ([]string, error) {
	return nil, errors.New("not used")
}

func (s *memImports) Queued(context.Context, time.Time, int) ([]imports.Import, error) {
	return nil, errors.New("not used")
}

func (s *memImports) snapshot() map[uuid.UUID]imports.Import {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := make(map[uuid.UUID]imports.Import, len(s.m))
	for k, v := range s.m {
		c[k] = v
	}
	return c
}

func (s *memImports) restore(c map[uuid.UUID]imports.Import) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = c
}

func (s *memImports) Create(_ context.Context, imp *imports.Import) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[imp.ID]; ok {
		return apperr.New(apperr.Conflict, "import_exists", "exists")
	}
	s.m[imp.ID] = *imp
	return nil
}

func (s *memImports) Get(_ context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	imp, ok := s.m[id]
	if !ok || imp.UserID != userID {
		return nil, apperr.New(apperr.NotFound, imports.CodeImportNotFound, "no such import")
	}
	return &imp, nil
}

func (s *memImports) Update(_ context.Context, imp *imports.Import) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failStatus != "" && imp.Status == s.failStatus {
		s.failStatus = ""
		return errors.New("worker killed before the commit")
	}
	cur, ok := s.m[imp.ID]
	if !ok {
		return apperr.New(apperr.NotFound, imports.CodeImportNotFound, "no such import")
	}
	if cur.Version != imp.Version-1 {
		return apperr.New(apperr.Conflict, trading.CodeVersionMismatch, "stale")
	}
	s.m[imp.ID] = *imp
	return nil
}

func (s *memImports) List(_ context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]imports.Import, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []imports.Import
	for _, imp := range s.m {
		if imp.UserID == userID && (accountID == uuid.Nil || imp.AccountID == accountID) && (before.IsZero() || imp.CreatedAt.Before(before)) {
			out = append(out, imp)
		}
	}
	slices.SortFunc(out, func(a, b imports.Import) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out[:min(len(out), limit)], nil
}

func (s *memImports) Delete(context.Context, uuid.UUID, uuid.UUID) error {
	return errors.New("not used")
}

// recTrading records executions: one trade per import.
type recTrading struct {
	imports.Trading // the methods the job does not call
	added           int
}

func (*recTrading) OnAccountDelete(trading.AccountDeleteHook) {}

func (*recTrading) GetAccount(_ context.Context, userID, id uuid.UUID) (*trading.Account, error) {
	return &trading.Account{ID: id, UserID: userID, Currency: "USD"}, nil
}

// RecordExecutions stores nothing: it hands out IDs and counts the
// executions of a feed that succeeded (a failed one rolls back).
func (f *recTrading) RecordExecutions(ctx context.Context, _, _ uuid.UUID, _ trading.AddOptions,
	feed func(context.Context, trading.RecordFunc) error) (*trading.RecordResult, error) {
	res := &trading.RecordResult{}
	var ids []uuid.UUID
	err := feed(ctx, func(ins []trading.ExecutionInput) ([]uuid.UUID, error) {
		ids = ids[:0]
		for range ins {
			ids = append(ids, uuid.New())
		}
		res.Added += len(ins)
		return ids, nil
	})
	if err != nil {
		return nil, err
	}
	f.added += res.Added
	if res.Added > 0 {
		res.TradesTouched = 1
	}
	return res, nil
}

type noJobs struct{ fail bool }

func (j *noJobs) Enqueue(context.Context, string, any, ...jobs.Option) (string, error) {
	if j.fail {
		return "", apperr.New(apperr.Unavailable, "queue_unavailable", "queue down")
	}
	return "", nil
}

type eventsEnv struct {
	svc   *imports.Service
	st    *memImports
	tx    *memTx
	pub   *tradingtest.Publisher
	trade *recTrading
	jobs  *noJobs
	user  uuid.UUID
}

func newEventsEnv(t *testing.T) *eventsEnv {
	t.Helper()
	st := &memImports{m: map[uuid.UUID]imports.Import{}}
	e := &eventsEnv{st: st, tx: &memTx{st: st}, trade: &recTrading{}, jobs: &noJobs{}, user: uuid.New()}
	e.pub = &tradingtest.Publisher{During: func(ev realtime.Event) {
		if e.tx.inTx() {
			t.Errorf("%s published inside the transaction", ev.Type)
		}
	}}
	svc, err := imports.NewService(imports.DefaultConfig(), imports.Deps{
		Imports: st, Mappings: struct{ imports.Mappings }{}, Trading: e.trade, Blobs: blobtest.NewMem(), Jobs: e.jobs,
		Events: e.pub, Tx: e.tx,
		Zones: trading.ZoneFunc(func(context.Context, uuid.UUID) (*time.Location, error) { return time.UTC, nil }),
	})
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	return e
}

// queued stores a queued import of FlexFile (8 fills, 1 bad row).
func (e *eventsEnv) queued(t *testing.T, strict bool) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	imp, err := e.svc.Create(ctx, e.user, imports.Upload{AccountID: uuid.New(), Timezone: "America/New_York", Strict: strict,
		Filename: "flex.csv", Body: strings.NewReader(importstest.FlexFile), Size: int64(len(importstest.FlexFile))})
	if err != nil {
		t.Fatal(err)
	}
	return imp.ID
}

func (e *eventsEnv) status(t *testing.T, id uuid.UUID) imports.Status {
	t.Helper()
	imp, err := e.st.Get(context.Background(), e.user, id)
	if err != nil {
		t.Fatal(err)
	}
	return imp.Status
}

func types(evs []realtime.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type)
	}
	return out
}

func TestRunPublishesProgressThenFinishedAfterCommit(t *testing.T) {
	e := newEventsEnv(t)
	id := e.queued(t, false)
	if evs := e.pub.Take(); len(evs) != 0 {
		t.Fatalf("creating the import published %v", types(evs))
	}
	if err := e.svc.Run(context.Background(), e.user, id); err != nil {
		t.Fatal(err)
	}
	evs := e.pub.Take()
	if len(evs) != 2 || evs[0].Type != realtime.TypeImportProgress || evs[1].Type != realtime.TypeImportFinished {
		t.Fatalf("events %v; want import.progress then import.finished", types(evs))
	}
	for _, ev := range evs {
		if ev.UserID != e.user || ev.ID.Version() != 7 || ev.Payload["import_id"] != id.String() {
			t.Errorf("%s: user %s id %s import %v", ev.Type, ev.UserID, ev.ID, ev.Payload["import_id"])
		}
	}
	if p := evs[0].Payload; p["rows_done"] != 0 || p["rows_total"] != nil || p["rows_rejected"] != 0 {
		t.Errorf("import.progress = %v", p)
	}
	if p := evs[1].Payload; p["status"] != "succeeded" || p["executions_imported"] != 8 || p["trades_affected"] != 1 || p["rows_rejected"] != 1 {
		t.Errorf("import.finished = %v", p)
	}
	if s := e.status(t, id); s != imports.Succeeded {
		t.Fatalf("status %s", s)
	}
	// A redelivered job finds the import done and publishes nothing.
	if err := e.svc.Run(context.Background(), e.user, id); err != nil {
		t.Fatal(err)
	}
	if evs := e.pub.Take(); len(evs) != 0 {
		t.Fatalf("a redelivery published %v", types(evs))
	}
}

func TestRunPublishesNoFinishedForARolledBackResult(t *testing.T) {
	e := newEventsEnv(t)
	id := e.queued(t, false)
	// The result's transaction runs to its end (the event is registered),
	// then its commit fails once.
	var once sync.Once
	e.tx.failCommit = func() bool {
		fail := false
		if imp, err := e.st.Get(context.Background(), e.user, id); err == nil && imp.Status == imports.Succeeded {
			once.Do(func() { fail = true })
		}
		return fail
	}
	if err := e.svc.Run(context.Background(), e.user, id); err == nil {
		t.Fatal("the attempt whose commit failed succeeded")
	}
	if s := e.status(t, id); s != imports.Running {
		t.Fatalf("status %s after the rollback; want running (the result was not committed)", s)
	}
	evs := e.pub.Take()
	if len(evs) != 1 || evs[0].Type != realtime.TypeImportProgress {
		t.Fatalf("events %v; want only the import.progress of the committed running state", types(evs))
	}
	// A crash before the result's update is stored publishes nothing either.
	e.st.failStatus = imports.Succeeded
	if err := e.svc.Run(context.Background(), e.user, id); err == nil {
		t.Fatal("the killed attempt succeeded")
	}
	if evs := e.pub.Take(); len(evs) != 1 || evs[0].Type != realtime.TypeImportProgress {
		t.Fatalf("events %v; want only import.progress", types(evs))
	}
	// The retry commits and publishes import.finished once.
	if err := e.svc.Run(context.Background(), e.user, id); err != nil {
		t.Fatal(err)
	}
	evs = e.pub.Take()
	if got := types(evs); len(got) != 2 || got[1] != realtime.TypeImportFinished || evs[1].Payload["status"] != "succeeded" {
		t.Fatalf("retry events %v", got)
	}
}

func TestRunPublishesFailedOnlyOnceTheFailureCommits(t *testing.T) {
	e := newEventsEnv(t)
	id := e.queued(t, true) // strict with a bad row: fails
	e.st.failStatus = imports.Failed
	if err := e.svc.Run(context.Background(), e.user, id); err == nil {
		t.Fatal("the failure's update failed, yet Run reported nothing")
	}
	for _, ev := range e.pub.Take() {
		if ev.Type == realtime.TypeImportFinished {
			t.Fatalf("import.finished %v published for a rolled-back failure", ev.Payload)
		}
	}
	if err := e.svc.Run(context.Background(), e.user, id); err != nil {
		t.Fatal(err)
	}
	evs := e.pub.Take()
	if got := types(evs); len(got) != 2 || got[1] != realtime.TypeImportFinished {
		t.Fatalf("events %v; want import.progress then import.finished", got)
	}
	if p := evs[1].Payload; p["status"] != "failed" || p["executions_imported"] != 0 || p["rows_rejected"] != 1 {
		t.Fatalf("import.finished = %v", p)
	}
	if s := e.status(t, id); s != imports.Failed || e.trade.added != 0 {
		t.Fatalf("status %s, %d executions added; want failed with none", s, e.trade.added)
	}
}

// TestAnImportThatCannotBeQueuedStaysQueued: an upload whose job cannot
// be queued (the job store down) is committed and stays queued, with no
// import.finished, so its 202 holds; the next read enqueues it again.
func TestAnImportThatCannotBeQueuedStaysQueued(t *testing.T) {
	e := newEventsEnv(t)
	e.jobs.fail = true
	id := e.queued(t, false)
	if s := e.status(t, id); s != imports.Queued {
		t.Fatalf("status %s; want queued", s)
	}
	if evs := e.pub.Take(); len(evs) != 0 {
		t.Fatalf("events %v; want none", types(evs))
	}
	e.jobs.fail = false
	if imp, err := e.svc.Get(context.Background(), e.user, id); err != nil || imp.Status != imports.Queued {
		t.Fatalf("read once the store is back: %v, %v; want queued", imp, err)
	}
}
