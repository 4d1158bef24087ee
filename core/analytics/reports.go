package analytics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/shopspring/decimal"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/blob"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/trading"
)

// The job kinds of reports.
const (
	KindRender        = "reports.render"            // one report: render, store, announce (and mail, if scheduled)
	KindScheduleTick  = "reports.schedule_tick"     // periodic: fan out the due scheduled reports
	KindPurgeReports  = "maintenance.purge_reports" // periodic: delete expired report files
	ReportKind        = "performance"               // the kind of report in report.ready events
	CodeReportMissing = "report_not_found"
	CodeReportExpired = "report_expired"
	CodeReportPending = "report_not_ready"
	CodeReportInvalid = "report_invalid"
)

// ReportState is where a report is in its life.
type ReportState string

// The states.
const (
	ReportQueued  ReportState = "queued"
	ReportRunning ReportState = "running"
	ReportReady   ReportState = "ready"
	ReportFailed  ReportState = "failed"
	ReportExpired ReportState = "expired" // the file was deleted after the retention
)

// Period names what a report covers.
type Period string

// The periods.
const (
	Weekly  Period = "weekly"  // Monday to Sunday, the user's zone
	Monthly Period = "monthly" // a calendar month, the user's zone
	Custom  Period = "custom"  // From and To as asked
)

// Report is one requested or scheduled report file.
type Report struct {
	ID     uuid.UUID
	UserID uuid.UUID
	Format Format
	Period Period
	// From and To (inclusive, close dates in the user's zone) are the
	// range; Filter the other criteria (its date range is From and To).
	From, To trading.Date
	Filter   trading.Filter
	Basis    Basis
	// ScheduleKey is "weekly:2026-05-04" or "monthly:2026-05-01" for a
	// scheduled report (unique per user), "" for a requested one.
	ScheduleKey string
	State       ReportState
	BlobKey     string
	Size        int64
	Error       string
	Emailed     bool
	CreatedAt   time.Time
	FinishedAt  time.Time // zero until ready or failed
	ExpiresAt   time.Time // zero until ready
	Version     int64     // +1 on every update
}

// Reports stores reports. Every read is scoped to the user: another
// user's report is apperr.NotFound "report_not_found".
type Reports interface {
	// Create stores r; apperr.Conflict "report_exists" when its ID or its
	// (user, schedule key) is taken.
	Create(ctx context.Context, r *Report) error
	// Get returns the report or NotFound.
	Get(ctx context.Context, userID, id uuid.UUID) (*Report, error)
	// Update writes r if its stored version is r.Version−1 (the caller
	// increments it); Conflict "version_mismatch" otherwise.
	Update(ctx context.Context, r *Report) error
	// Expired returns up to limit ready reports whose ExpiresAt is not
	// after now.
	Expired(ctx context.Context, now time.Time, limit int) ([]Report, error)
	// List returns up to limit of the user's reports after the cursor
	// (zero: from the newest), newest first: by CreatedAt, then ID, both
	// descending.
	List(ctx context.Context, userID uuid.UUID, after ReportCursor, limit int) ([]Report, error)
	// Delete removes one of the user's reports; NotFound otherwise.
	Delete(ctx context.Context, userID, id uuid.UUID) error
}

// Schedule is a user's choice of scheduled reports.
type Schedule struct {
	UserID    uuid.UUID
	Weekly    bool
	Monthly   bool
	UpdatedAt time.Time
}

// Schedules stores schedules.
type Schedules interface {
	// Put stores s (replacing the user's).
	Put(ctx context.Context, s *Schedule) error
	// Get returns the user's schedule (all false when none was stored).
	Get(ctx context.Context, userID uuid.UUID) (*Schedule, error)
	// Active returns up to limit schedules with weekly or monthly set, of
	// users after the given ID in ID order (uuid.Nil from the start).
	Active(ctx context.Context, after uuid.UUID, limit int) ([]Schedule, error)
}

// Enqueuer enqueues jobs (*jobs.Client).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error)
}

// Mailer sends a scheduled report to its owner. Sending the same report
// twice must send one email (implementations enqueue the email with an
// idempotency key made of the report ID).
type Mailer interface {
	SendReport(ctx context.Context, r *Report, s []Summary) error
}

// ReportsConfig tunes reports.
type ReportsConfig struct {
	// Retention is how long a report file is kept (env
	// REPORTS_RETENTION, default 30 days).
	Retention time.Duration
	// DefinitionsURL is printed on the title page (env
	// REPORTS_DEFINITIONS_URL).
	DefinitionsURL string
	// Hour is the local hour scheduled reports go out (07).
	Hour int
}

// DefaultReportsConfig returns the defaults documented on ReportsConfig.
func DefaultReportsConfig() ReportsConfig {
	return ReportsConfig{Retention: 30 * 24 * time.Hour, DefinitionsURL: "https://tradesense.app/docs/analytics", Hour: 7}
}

// ReportDeps are the collaborators of Reporter; Mailer is optional
// (scheduled reports are then stored, not mailed).
type ReportDeps struct {
	Analytics *Service
	Reports   Reports
	Schedules Schedules
	Blobs     blob.Store
	Renderer  Renderer
	Jobs      Enqueuer
	Events    realtime.Publisher
	Zones     trading.UserZones
	Mailer    Mailer
	Log       *slog.Logger
	Now       func() time.Time
}

// Reporter holds the report use cases and their job handlers.
type Reporter struct {
	cfg ReportsConfig
	d   ReportDeps
}

// NewReporter checks d and returns the reporter.
func NewReporter(cfg ReportsConfig, d ReportDeps) (*Reporter, error) {
	if d.Analytics == nil || d.Reports == nil || d.Schedules == nil || d.Blobs == nil || d.Renderer == nil || d.Jobs == nil || d.Events == nil || d.Zones == nil {
		return nil, errors.New("analytics: NewReporter: a required dependency is nil")
	}
	def := DefaultReportsConfig()
	if cfg.Retention <= 0 {
		cfg.Retention = def.Retention
	}
	if cfg.DefinitionsURL == "" {
		cfg.DefinitionsURL = def.DefinitionsURL
	}
	if cfg.Hour <= 0 || cfg.Hour > 23 {
		cfg.Hour = def.Hour
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return &Reporter{cfg: cfg, d: d}, nil
}

// ReportRequest asks for a report: a period ending today (weekly: the
// last seven days; monthly: the month so far) or From and To.
type ReportRequest struct {
	Period   Period
	From, To trading.Date
	Filter   trading.Filter
	Basis    Basis
	Format   Format
}

func invalid(field, msg string) error {
	e := apperr.Validation("invalid report request", map[string]string{field: msg})
	e.Code = CodeReportInvalid
	return e
}

// Request stores a queued report and enqueues its job on the reports
// queue (the job's ID is the report's). The caller polls Get, or waits for
// report.ready.
func (r *Reporter) Request(ctx context.Context, userID uuid.UUID, in ReportRequest) (*Report, error) {
	if in.Format == "" {
		in.Format = PDF
	}
	if !in.Format.Valid() {
		return nil, invalid("format", "must be pdf, csv or xlsx")
	}
	q := Query{Filter: in.Filter, Basis: in.Basis}
	if err := q.validate(); err != nil {
		return nil, err
	}
	loc, err := r.d.Zones.Location(ctx, userID)
	if err != nil {
		return nil, err
	}
	today := trading.DateOf(r.d.Now().In(loc))
	if (in.Period == Weekly || in.Period == Monthly) && (!in.From.IsZero() || !in.To.IsZero()) {
		return nil, invalid("period", "give a period (weekly, monthly) or from and to, not both")
	}
	switch in.Period {
	case Weekly:
		in.From, in.To = today.AddDays(-6), today
	case Monthly:
		in.From, in.To = trading.Date{Year: today.Year, Month: today.Month, Day: 1}, today
	case Custom, "":
		in.Period = Custom
		if in.From.IsZero() || in.To.IsZero() {
			return nil, invalid("from", "give a period (weekly, monthly) or both from and to")
		}
		if in.To.Before(in.From) {
			return nil, invalid("to", "must not be before from")
		}
		if in.To.Before(in.From.AddDays(-1)) || in.From.AddDays(3700).Before(in.To) {
			return nil, invalid("to", "a report covers at most ten years")
		}
	default:
		return nil, invalid("period", "must be weekly, monthly or custom")
	}
	q.Filter.From, q.Filter.To = in.From, in.To
	if err := r.d.Analytics.d.Trading.PrepareFilter(ctx, userID, &q.Filter); err != nil {
		return nil, err
	}
	// Another user's account, tag or playbook in the filter is a 404, as on
	// every route (a report of it would only ever be empty).
	if err := r.d.Analytics.d.Trading.CheckFilterOwner(ctx, userID, &q.Filter); err != nil {
		return nil, err
	}
	q.Filter.Location = nil // the zone is the user's when the report runs
	rep := &Report{ID: uuid.Must(uuid.NewV7()), UserID: userID, Format: in.Format, Period: in.Period, From: in.From, To: in.To,
		Filter: q.Filter, Basis: q.Basis, State: ReportQueued, CreatedAt: r.d.Now().UTC(), Version: 1}
	if err := r.d.Reports.Create(ctx, rep); err != nil {
		return nil, err
	}
	if err := r.enqueue(ctx, rep); err != nil {
		// The caller is told it failed (503): no report may stay behind,
		// queued for ever with no job to render it.
		if derr := r.d.Reports.Delete(context.WithoutCancel(ctx), userID, rep.ID); derr != nil {
			r.d.Log.ErrorContext(ctx, "reports: delete the report whose job could not be queued",
				slog.String("report_id", rep.ID.String()), slog.Any("error", derr))
		}
		return nil, err
	}
	return rep, nil
}

func (r *Reporter) enqueue(ctx context.Context, rep *Report) error {
	_, err := r.d.Jobs.Enqueue(ctx, KindRender, renderPayload{ReportID: rep.ID, UserID: rep.UserID},
		jobs.WithID(rep.ID.String()), jobs.WithOwner(rep.UserID.String()))
	if err != nil {
		return fmt.Errorf("enqueue report %s: %w", rep.ID, err)
	}
	return nil
}

// Get returns one of the user's reports.
func (r *Reporter) Get(ctx context.Context, userID, id uuid.UUID) (*Report, error) {
	rep, err := r.d.Reports.Get(ctx, userID, id)
	if err != nil {
		return nil, err
	}
	r.settle(ctx, rep)
	return rep, nil
}

// ReportStaleAfter is how long a report may stay queued or running: its
// render job (3 retries of at most 5 minutes, with their backoff) has
// died by then.
const ReportStaleAfter = time.Hour

// settle turns a report still queued or running ReportStaleAfter after
// it was asked for into the failure it is (its job died out of retries,
// through a database outage say, and nothing would ever render it),
// recorded when the database lets it; the answer says failed either way.
func (r *Reporter) settle(ctx context.Context, rep *Report) {
	if (rep.State != ReportQueued && rep.State != ReportRunning) || r.d.Now().Sub(rep.CreatedAt) < ReportStaleAfter {
		return
	}
	rep.State, rep.Error, rep.FinishedAt, rep.Version = ReportFailed, "the report's job stopped before it finished: ask for it again", r.d.Now().UTC(), rep.Version+1
	if err := r.d.Reports.Update(ctx, rep); err != nil {
		r.d.Log.WarnContext(ctx, "reports: record a stale report as failed", slog.String("report_id", rep.ID.String()), slog.Any("error", err))
	}
}

// Open returns the file of one of the user's ready reports (the caller
// closes it); apperr.Conflict "report_not_ready" before it is, NotFound
// "report_expired" after the retention.
func (r *Reporter) Open(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *Report, error) {
	rep, err := r.Get(ctx, userID, id)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rep.State == ReportExpired || rep.State == ReportReady && !rep.ExpiresAt.After(r.d.Now()):
		return nil, nil, apperr.New(apperr.NotFound, CodeReportExpired, "the report file has expired: ask for it again")
	case rep.State != ReportReady:
		return nil, nil, apperr.New(apperr.Conflict, CodeReportPending, fmt.Sprintf("the report is %s", rep.State))
	}
	rc, _, err := r.d.Blobs.Open(ctx, rep.BlobKey)
	if err != nil {
		return nil, nil, err
	}
	return rc, rep, nil
}

// ReportCursor is where a page of reports ends: the last report's
// creation instant and ID.
type ReportCursor struct {
	CreatedAt time.Time
	ID        uuid.UUID
}

// CursorOf is the cursor after r.
func CursorOf(r *Report) ReportCursor { return ReportCursor{CreatedAt: r.CreatedAt, ID: r.ID} }

// List returns up to limit (1–200) of the user's reports after the cursor
// (zero: from the newest), newest first.
func (r *Reporter) List(ctx context.Context, userID uuid.UUID, after ReportCursor, limit int) ([]Report, error) {
	if limit < 1 || limit > 200 {
		return nil, invalid("limit", "must be from 1 to 200")
	}
	list, err := r.d.Reports.List(ctx, userID, after, limit)
	if err != nil {
		return nil, err
	}
	for i := range list {
		r.settle(ctx, &list[i])
	}
	return list, nil
}

// Delete deletes one of the user's reports and its file. A render job
// still queued for it finds it gone and stops.
func (r *Reporter) Delete(ctx context.Context, userID, id uuid.UUID) error {
	rep, err := r.d.Reports.Get(ctx, userID, id)
	if err != nil {
		return err
	}
	if rep.BlobKey != "" {
		if err := r.d.Blobs.Delete(ctx, rep.BlobKey); err != nil && !apperr.Is(err, apperr.NotFound) {
			return err
		}
	}
	return r.d.Reports.Delete(ctx, userID, id)
}

// GetSchedule returns the user's schedule.
func (r *Reporter) GetSchedule(ctx context.Context, userID uuid.UUID) (*Schedule, error) {
	return r.d.Schedules.Get(ctx, userID)
}

// PutSchedule sets the user's schedule.
func (r *Reporter) PutSchedule(ctx context.Context, userID uuid.UUID, weekly, monthly bool) (*Schedule, error) {
	s := &Schedule{UserID: userID, Weekly: weekly, Monthly: monthly, UpdatedAt: r.d.Now().UTC()}
	if err := r.d.Schedules.Put(ctx, s); err != nil {
		return nil, err
	}
	return s, nil
}

type renderPayload struct {
	ReportID uuid.UUID `json:"report_id"`
	UserID   uuid.UUID `json:"user_id"`
}

// Register registers the report job kinds.
func (r *Reporter) Register(reg *jobs.Registry) {
	jobs.Handle(reg, KindRender, jobs.KindConfig{MaxRetries: 3, SoftTimeout: 5 * time.Minute}, func(ctx context.Context, _ *jobs.Job, p renderPayload) (any, error) {
		return nil, r.render(ctx, p.UserID, p.ReportID)
	})
	reg.Register(KindScheduleTick, jobs.KindConfig{MaxRetries: 1, Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
		n, err := r.FanOut(ctx)
		return map[string]int{"enqueued": n}, err
	}})
	reg.Register(KindPurgeReports, jobs.KindConfig{MaxRetries: 1, Handler: func(ctx context.Context, _ *jobs.Job) (any, error) {
		n, err := r.PurgeExpired(ctx)
		return map[string]int{"purged": n}, err
	}})
}

var extensions = map[Format]string{PDF: "pdf", CSV: "csv", XLSX: "xlsx"}

// render runs one report. A redelivered job finds the report ready (and
// mailed) and does nothing again.
func (r *Reporter) render(ctx context.Context, userID, id uuid.UUID) error {
	rep, err := r.d.Reports.Get(ctx, userID, id)
	if err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return jobs.Permanent(err)
		}
		return err
	}
	if rep.State == ReportReady || rep.State == ReportExpired {
		return r.mail(ctx, rep, nil)
	}
	rep.State, rep.Version = ReportRunning, rep.Version+1
	if err := r.d.Reports.Update(ctx, rep); err != nil {
		return err
	}
	_ = jobs.Progress(ctx, map[string]string{"step": "computing"})
	loc, err := r.d.Zones.Location(ctx, userID)
	if err != nil {
		return err
	}
	q := Query{Filter: rep.Filter, Basis: rep.Basis}
	q.Filter.Location = loc
	a, err := r.d.Analytics.Analyse(ctx, userID, q, Dimensions)
	if err != nil {
		return r.fail(ctx, rep, err)
	}
	cat, err := r.d.Analytics.d.Source.Catalog(ctx, userID)
	if err != nil {
		return err
	}
	doc := &Document{Title: title(rep.Period), Period: periodText(rep), Accounts: accountNames(rep, cat), Filters: filterNames(&rep.Filter, cat),
		GeneratedAt: r.d.Now(), Zone: loc,
		Basis: q.Basis, DefinitionsURL: r.cfg.DefinitionsURL, Analysis: a, Catalog: cat}
	_ = jobs.Progress(ctx, map[string]string{"step": "rendering"})
	var buf bytes.Buffer
	if err := r.d.Renderer.Render(ctx, doc, rep.Format, &buf); err != nil {
		return r.fail(ctx, rep, err)
	}
	key := fmt.Sprintf("reports/%s/%s.%s", userID, rep.ID, extensions[rep.Format])
	if err := r.d.Blobs.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len()), rep.Format.ContentType()); err != nil {
		return err
	}
	now := r.d.Now().UTC()
	rep.State, rep.BlobKey, rep.Size, rep.FinishedAt, rep.ExpiresAt, rep.Version = ReportReady, key, int64(buf.Len()), now, now.Add(r.cfg.Retention), rep.Version+1
	if err := r.d.Reports.Update(ctx, rep); err != nil {
		return err
	}
	// The update has committed: announce it.
	if err := r.d.Events.Publish(ctx, realtime.ReportReady(userID, now, rep.ID, ReportKind, string(rep.Format))); err != nil {
		r.d.Log.WarnContext(ctx, "reports: publish report.ready", slog.Any("error", err))
	}
	return r.mail(ctx, rep, a.Summaries)
}

// mail sends a scheduled report once: the Emailed flag is set after the
// mailer took it, and the mailer's idempotency key covers a crash between
// the two.
func (r *Reporter) mail(ctx context.Context, rep *Report, sums []Summary) error {
	if rep.ScheduleKey == "" || rep.Emailed || r.d.Mailer == nil || rep.State != ReportReady {
		return nil
	}
	if err := r.d.Mailer.SendReport(ctx, rep, sums); err != nil {
		return fmt.Errorf("mail report %s: %w", rep.ID, err)
	}
	rep.Emailed, rep.Version = true, rep.Version+1
	return r.d.Reports.Update(ctx, rep)
}

func (r *Reporter) fail(ctx context.Context, rep *Report, cause error) error {
	if !apperr.Is(cause, apperr.Invalid) && !apperr.Is(cause, apperr.NotFound) {
		return cause // transient: the job retries
	}
	msg := "the report could not be made"
	if e, ok := apperr.As(cause); ok && e.Message != "" {
		msg = e.Message // safe to show, by apperr's contract
	}
	rep.State, rep.Error, rep.FinishedAt, rep.Version = ReportFailed, msg, r.d.Now().UTC(), rep.Version+1
	if err := r.d.Reports.Update(ctx, rep); err != nil {
		return err
	}
	return jobs.Permanent(cause)
}

func title(p Period) string {
	switch p {
	case Weekly:
		return "Weekly performance report"
	case Monthly:
		return "Monthly performance report"
	}
	return "Performance report"
}

func periodText(rep *Report) string {
	from, to := rep.From.Start(time.UTC), rep.To.Start(time.UTC)
	switch {
	case rep.Period == Monthly && rep.From.Day == 1 && rep.To == (trading.Date{Year: rep.From.Year, Month: rep.From.Month, Day: 1}).AddDays(32).AddDays(-(trading.Date{Year: rep.From.Year, Month: rep.From.Month, Day: 1}).AddDays(32).Day):
		return from.Format("January 2006")
	case rep.Period == Weekly && from.Weekday() == time.Monday && rep.To == rep.From.AddDays(6):
		return "Week of Monday " + from.Format("2 January 2006")
	case rep.From.Year == rep.To.Year:
		return from.Format("2 January") + " – " + to.Format("2 January 2006")
	}
	return from.Format("2 January 2006") + " – " + to.Format("2 January 2006")
}

func accountNames(rep *Report, cat Catalog) []string {
	var out []string
	for _, id := range rep.Filter.AccountIDs {
		if a, ok := cat.Accounts[id]; ok {
			out = append(out, a.Name)
		}
	}
	return out
}

// filterNames are the criteria of a report's filter but its dates, one
// "name values" text each in the trade list's parameter names ("account
// Main", "symbol AAPL, MSFT", "tag Breakout"): a report of a subset says
// so on its title page and in the CSV's first line. None for the whole
// book.
func filterNames(full *trading.Filter, cat Catalog) []string {
	chosen := chosenCriteria(*full)
	f := &chosen
	var out []string
	add := func(name string, vals ...string) {
		if len(vals) > 0 && vals[0] != "" {
			out = append(out, name+" "+strings.Join(vals, ", "))
		}
	}
	strs := func(n int, at func(i int) string) []string {
		v := make([]string, n)
		for i := range v {
			v[i] = at(i)
		}
		return v
	}
	dec := func(d decimal.NullDecimal) string {
		if !d.Valid {
			return ""
		}
		return d.Decimal.String()
	}
	add("account", strs(len(f.AccountIDs), func(i int) string { return nameOr(cat.Accounts[f.AccountIDs[i]].Name, f.AccountIDs[i]) })...)
	add("symbol", f.Symbols...)
	add("asset_class", strs(len(f.AssetClasses), func(i int) string { return string(f.AssetClasses[i]) })...)
	add("direction", string(f.Direction))
	add("status", string(f.Status))
	add("outcome", strs(len(f.Outcomes), func(i int) string { return string(f.Outcomes[i]) })...)
	add("breakeven_band", dec(f.BreakevenBand))
	add("tag", strs(len(f.TagIDs), func(i int) string { return nameOr(cat.Tags[f.TagIDs[i]], f.TagIDs[i]) })...)
	if len(f.TagIDs) > 1 && f.TagMode == trading.AllTags {
		add("tag_mode", string(f.TagMode))
	}
	add("playbook", strs(len(f.PlaybookIDs), func(i int) string { return nameOr(cat.Playbooks[f.PlaybookIDs[i]].Name, f.PlaybookIDs[i]) })...)
	add("weekday", strs(len(f.Weekdays), func(i int) string { return f.Weekdays[i].String() })...)
	add("hour", strs(len(f.Hours), func(i int) string { return strconv.Itoa(f.Hours[i]) })...)
	if f.MinHolding > 0 {
		add("min_holding", f.MinHolding.String())
	}
	if f.MaxHolding > 0 {
		add("max_holding", f.MaxHolding.String())
	}
	add("min_net_pnl", dec(f.MinNetPnL))
	add("max_net_pnl", dec(f.MaxNetPnL))
	add("min_r", dec(f.MinR))
	add("max_r", dec(f.MaxR))
	return out
}

// ChosenFilter is the part of the report's filter the trader asked for:
// Filter without what every report sets itself (chosenCriteria).
func (r *Report) ChosenFilter() trading.Filter { return chosenCriteria(r.Filter) }

// chosenCriteria drops from a report's filter the criteria every report
// sets itself: its dates (the report's From and To), closed trades by
// close date, and the default tag mode; its symbols are shown in their
// canonical forms (trading.CanonicalSymbols), once each.
func chosenCriteria(f trading.Filter) trading.Filter {
	f.From, f.To, f.Status, f.DateField = trading.Date{}, trading.Date{}, "", ""
	f.Symbols = trading.CanonicalSymbols(f.Symbols, time.Now())
	if f.TagMode == trading.AnyTag {
		f.TagMode = ""
	}
	return f
}

func nameOr(name string, id uuid.UUID) string {
	if name == "" {
		return id.String()
	}
	return name
}

// PurgeExpired deletes the files of expired reports (their records stay,
// marked expired) and returns how many it deleted.
func (r *Reporter) PurgeExpired(ctx context.Context) (int, error) {
	n := 0
	for {
		batch, err := r.d.Reports.Expired(ctx, r.d.Now(), 200)
		if err != nil {
			return n, err
		}
		if len(batch) == 0 {
			return n, nil
		}
		for i := range batch {
			rep := &batch[i]
			if err := r.d.Blobs.Delete(ctx, rep.BlobKey); err != nil {
				return n, err
			}
			rep.State, rep.BlobKey, rep.Version = ReportExpired, "", rep.Version+1
			if err := r.d.Reports.Update(ctx, rep); err != nil {
				return n, err
			}
			n++
		}
	}
}

// scheduleNS is the UUID namespace of scheduled reports' IDs.
var scheduleNS = uuid.MustParse("6f1c1b1e-9a57-4c7e-8a8e-15a1a1c0ffee")

// Due returns the scheduled periods due at now in loc: the previous week
// (Monday to Sunday) from Monday 07:00 local, the previous month from the
// 1st 07:00 local, each for the 24 hours after that instant (so that a
// tick missed while no worker ran is caught up, and a stale one is not).
func Due(now time.Time, loc *time.Location, hour int, s *Schedule) []Report {
	local := now.In(loc)
	var out []Report
	if s.Weekly {
		d := trading.DateOf(local)
		back := (int(local.Weekday()) + 6) % 7 // days since Monday
		monday := d.AddDays(-back)
		at := time.Date(monday.Year, monday.Month, monday.Day, hour, 0, 0, 0, loc)
		if at.After(now) {
			monday = monday.AddDays(-7)
			at = time.Date(monday.Year, monday.Month, monday.Day, hour, 0, 0, 0, loc)
		}
		if now.Sub(at) < 24*time.Hour {
			from := monday.AddDays(-7)
			out = append(out, Report{Period: Weekly, From: from, To: from.AddDays(6), ScheduleKey: "weekly:" + from.String()})
		}
	}
	if s.Monthly {
		first := trading.Date{Year: local.Year(), Month: local.Month(), Day: 1}
		at := time.Date(first.Year, first.Month, 1, hour, 0, 0, 0, loc)
		if !at.After(now) && now.Sub(at) < 24*time.Hour {
			prev := first.AddDays(-1)
			from := trading.Date{Year: prev.Year, Month: prev.Month, Day: 1}
			out = append(out, Report{Period: Monthly, From: from, To: prev, ScheduleKey: "monthly:" + from.String()})
		}
	}
	return out
}

// FanOut creates the due scheduled reports of every user with a schedule
// and enqueues one render job per report. Idempotent per user and
// period: the report's ID is derived from the user and the period, the
// store refuses a second report of one schedule key, and the job's ID is
// the report's, so neither a second tick nor a worker restart makes a
// second report or a second email.
func (r *Reporter) FanOut(ctx context.Context) (int, error) {
	now := r.d.Now()
	n := 0
	after := uuid.Nil
	for {
		page, err := r.d.Schedules.Active(ctx, after, 500)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			return n, nil
		}
		for i := range page {
			s := &page[i]
			after = s.UserID
			loc, err := r.d.Zones.Location(ctx, s.UserID)
			if err != nil {
				return n, err
			}
			for _, due := range Due(now, loc, r.cfg.Hour, s) {
				rep := due
				rep.ID = uuid.NewSHA1(scheduleNS, []byte(s.UserID.String()+"|"+due.ScheduleKey))
				rep.UserID, rep.Format, rep.Basis, rep.State, rep.CreatedAt, rep.Version = s.UserID, PDF, Net, ReportQueued, now.UTC(), 1
				rep.Filter = trading.Filter{From: rep.From, To: rep.To, DateField: trading.ByClose, TagMode: trading.AnyTag, Status: trading.Closed}
				if err := r.d.Reports.Create(ctx, &rep); err != nil && !apperr.Is(err, apperr.Conflict) {
					return n, err
				}
				if err := r.enqueue(ctx, &rep); err != nil {
					return n, err
				}
				n++
			}
		}
	}
}
