package httpapi

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// errService is what the failing fakes answer: a handler must hand it on
// unchanged (the problem writer maps it), never swallow or replace it.
var errService = errors.New("service down (test)")

// serviceCalls records which service methods a handler called.
type serviceCalls struct {
	mu    sync.Mutex
	names []string
}

func (c *serviceCalls) fail(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, name)
	return errService
}

// take returns the calls recorded since the last take.
func (c *serviceCalls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.names
	c.names = nil
	return n
}

// failingTrading fails every Trading call with errService and records it.
type failingTrading struct{ *serviceCalls }

var _ Trading = failingTrading{}

func (fk failingTrading) CreateAccount(ctx context.Context, userID uuid.UUID, in trading.AccountInput) (*trading.Account, error) {
	return nil, fk.fail("Trading.CreateAccount")
}

func (fk failingTrading) GetAccount(ctx context.Context, userID, id uuid.UUID) (*trading.Account, error) {
	return nil, fk.fail("Trading.GetAccount")
}

func (fk failingTrading) ListAccounts(ctx context.Context, userID uuid.UUID, archived bool) ([]trading.Account, error) {
	return nil, fk.fail("Trading.ListAccounts")
}

func (fk failingTrading) UpdateAccount(ctx context.Context, userID, id uuid.UUID, p trading.AccountPatch, ifVersion int64) (*trading.Account, error) {
	return nil, fk.fail("Trading.UpdateAccount")
}

func (fk failingTrading) DeleteAccount(ctx context.Context, userID, id uuid.UUID, cascade bool) error {
	return fk.fail("Trading.DeleteAccount")
}

func (fk failingTrading) AddExecutions(ctx context.Context, userID, accountID uuid.UUID, ins []trading.ExecutionInput, o trading.AddOptions) (*trading.AddResult, error) {
	return nil, fk.fail("Trading.AddExecutions")
}

func (fk failingTrading) GetExecution(ctx context.Context, userID, id uuid.UUID) (*trading.Execution, error) {
	return nil, fk.fail("Trading.GetExecution")
}

func (fk failingTrading) ListExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, p trading.Page) ([]trading.Execution, string, error) {
	return nil, "", fk.fail("Trading.ListExecutions")
}

func (fk failingTrading) UpdateExecution(ctx context.Context, userID, id uuid.UUID, p trading.ExecutionPatch, ifVersion int64) (*trading.Execution, []trading.Trade, error) {
	return nil, nil, fk.fail("Trading.UpdateExecution")
}

func (fk failingTrading) DeleteExecutions(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]trading.Trade, error) {
	return nil, fk.fail("Trading.DeleteExecutions")
}

func (fk failingTrading) GetTrade(ctx context.Context, userID, id uuid.UUID) (*trading.Trade, error) {
	return nil, fk.fail("Trading.GetTrade")
}

func (fk failingTrading) ListTradesEncoded(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page, enc cache.Encoding[trading.TradePage]) ([]byte, error) {
	return nil, fk.fail("Trading.ListTradesEncoded")
}

func (fk failingTrading) CreateManualTrade(ctx context.Context, userID uuid.UUID, m trading.ManualTrade) ([]trading.Trade, error) {
	return nil, fk.fail("Trading.CreateManualTrade")
}

func (fk failingTrading) UpdateAnnotation(ctx context.Context, userID, tradeID uuid.UUID, p trading.AnnotationPatch, ifVersion int64) (*trading.Trade, error) {
	return nil, fk.fail("Trading.UpdateAnnotation")
}

func (fk failingTrading) BulkAnnotate(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, b trading.BulkAnnotation) ([]trading.Trade, error) {
	return nil, fk.fail("Trading.BulkAnnotate")
}

func (fk failingTrading) DeleteTrade(ctx context.Context, userID, tradeID uuid.UUID) ([]trading.Trade, error) {
	return nil, fk.fail("Trading.DeleteTrade")
}

// failingJournal fails every Journal call with errService and records it.
type failingJournal struct{ *serviceCalls }

var _ Journal = failingJournal{}

func (fk failingJournal) CreateTag(ctx context.Context, userID uuid.UUID, in journal.TagInput) (*journal.Tag, error) {
	return nil, fk.fail("Journal.CreateTag")
}

func (fk failingJournal) GetTag(ctx context.Context, userID, id uuid.UUID) (*journal.Tag, error) {
	return nil, fk.fail("Journal.GetTag")
}

func (fk failingJournal) ListTags(ctx context.Context, userID uuid.UUID, kind journal.TagKind) ([]journal.Tag, error) {
	return nil, fk.fail("Journal.ListTags")
}

func (fk failingJournal) UpdateTag(ctx context.Context, userID, id uuid.UUID, p journal.TagPatch, ifVersion int64) (*journal.Tag, error) {
	return nil, fk.fail("Journal.UpdateTag")
}

func (fk failingJournal) DeleteTag(ctx context.Context, userID, id uuid.UUID) error {
	return fk.fail("Journal.DeleteTag")
}

func (fk failingJournal) CreatePlaybook(ctx context.Context, userID uuid.UUID, in journal.PlaybookInput) (*journal.Playbook, error) {
	return nil, fk.fail("Journal.CreatePlaybook")
}

func (fk failingJournal) GetPlaybook(ctx context.Context, userID, id uuid.UUID) (*journal.Playbook, error) {
	return nil, fk.fail("Journal.GetPlaybook")
}

func (fk failingJournal) ListPlaybooks(ctx context.Context, userID uuid.UUID) ([]journal.Playbook, error) {
	return nil, fk.fail("Journal.ListPlaybooks")
}

func (fk failingJournal) UpdatePlaybook(ctx context.Context, userID, id uuid.UUID, p journal.PlaybookPatch, ifVersion int64) (*journal.Playbook, error) {
	return nil, fk.fail("Journal.UpdatePlaybook")
}

func (fk failingJournal) DeletePlaybook(ctx context.Context, userID, id uuid.UUID) error {
	return fk.fail("Journal.DeletePlaybook")
}

func (fk failingJournal) GetEntry(ctx context.Context, userID uuid.UUID, day trading.Date) (*journal.EntryView, error) {
	return nil, fk.fail("Journal.GetEntry")
}

func (fk failingJournal) PutEntry(ctx context.Context, userID uuid.UUID, day trading.Date, in journal.EntryInput, ifVersion int64) (*journal.EntryView, error) {
	return nil, fk.fail("Journal.PutEntry")
}

func (fk failingJournal) ListEntries(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]journal.EntryView, error) {
	return nil, fk.fail("Journal.ListEntries")
}

func (fk failingJournal) UploadAttachment(ctx context.Context, userID uuid.UUID, u journal.Upload) (*journal.Attachment, error) {
	return nil, fk.fail("Journal.UploadAttachment")
}

func (fk failingJournal) GetAttachment(ctx context.Context, userID, id uuid.UUID) (*journal.Attachment, error) {
	return nil, fk.fail("Journal.GetAttachment")
}

func (fk failingJournal) ListAttachments(ctx context.Context, userID uuid.UUID, o journal.Owner) ([]journal.Attachment, error) {
	return nil, fk.fail("Journal.ListAttachments")
}

func (fk failingJournal) OpenAttachment(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *journal.Attachment, error) {
	return nil, nil, fk.fail("Journal.OpenAttachment")
}

func (fk failingJournal) DeleteAttachment(ctx context.Context, userID, id uuid.UUID) error {
	return fk.fail("Journal.DeleteAttachment")
}

// failingImports fails every Imports call with errService and records it.
type failingImports struct{ *serviceCalls }

var _ Imports = failingImports{}

func (failingImports) Config() imports.Config { return stubImports{}.Config() }

func (fk failingImports) Preview(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Preview, error) {
	return nil, fk.fail("Imports.Preview")
}

func (fk failingImports) Create(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Import, error) {
	return nil, fk.fail("Imports.Create")
}

func (fk failingImports) Get(ctx context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	return nil, fk.fail("Imports.Get")
}

func (fk failingImports) List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]imports.Import, error) {
	return nil, fk.fail("Imports.List")
}

func (fk failingImports) Undo(ctx context.Context, userID, id uuid.UUID) (*imports.UndoResult, error) {
	return nil, fk.fail("Imports.Undo")
}

func (fk failingImports) CreateMapping(ctx context.Context, userID uuid.UUID, in imports.MappingInput) (*imports.Mapping, error) {
	return nil, fk.fail("Imports.CreateMapping")
}

func (fk failingImports) GetMapping(ctx context.Context, userID, id uuid.UUID) (*imports.Mapping, error) {
	return nil, fk.fail("Imports.GetMapping")
}

func (fk failingImports) ListMappings(ctx context.Context, userID uuid.UUID) ([]imports.Mapping, error) {
	return nil, fk.fail("Imports.ListMappings")
}

func (fk failingImports) UpdateMapping(ctx context.Context, userID, id uuid.UUID, in imports.MappingInput, ifVersion int64) (*imports.Mapping, error) {
	return nil, fk.fail("Imports.UpdateMapping")
}

func (fk failingImports) DeleteMapping(ctx context.Context, userID, id uuid.UUID) error {
	return fk.fail("Imports.DeleteMapping")
}

func (fk failingImports) ExportExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, w io.Writer) error {
	return fk.fail("Imports.ExportExecutions")
}

func (fk failingImports) ExportTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, w io.Writer) error {
	return fk.fail("Imports.ExportTrades")
}

// failingAnalytics fails every Analytics call with errService and records it.
type failingAnalytics struct{ *serviceCalls }

var _ Analytics = failingAnalytics{}

func (fk failingAnalytics) SummaryEncoded(ctx context.Context, userID uuid.UUID, q analytics.Query, enc analytics.Encoding[[]analytics.Summary]) ([]byte, error) {
	return nil, fk.fail("Analytics.SummaryEncoded")
}

func (fk failingAnalytics) Equity(ctx context.Context, userID uuid.UUID, q analytics.Query, perTrade bool) ([]analytics.Equity, error) {
	return nil, fk.fail("Analytics.Equity")
}

func (fk failingAnalytics) Drawdown(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Drawdown, error) {
	return nil, fk.fail("Analytics.Drawdown")
}

func (fk failingAnalytics) Calendar(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Calendar, error) {
	return nil, fk.fail("Analytics.Calendar")
}

func (fk failingAnalytics) Breakdown(ctx context.Context, userID uuid.UUID, q analytics.Query, by analytics.Dimension) ([]analytics.Group, error) {
	return nil, fk.fail("Analytics.Breakdown")
}

func (fk failingAnalytics) Distribution(ctx context.Context, userID uuid.UUID, q analytics.Query, of string) ([]analytics.Distribution, error) {
	return nil, fk.fail("Analytics.Distribution")
}

func (fk failingAnalytics) Streaks(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Streaks, error) {
	return nil, fk.fail("Analytics.Streaks")
}

// failingReports fails every Reports call with errService and records it.
type failingReports struct{ *serviceCalls }

var _ Reports = failingReports{}

func (fk failingReports) Request(ctx context.Context, userID uuid.UUID, in analytics.ReportRequest) (*analytics.Report, error) {
	return nil, fk.fail("Reports.Request")
}

func (fk failingReports) Get(ctx context.Context, userID, id uuid.UUID) (*analytics.Report, error) {
	return nil, fk.fail("Reports.Get")
}

func (fk failingReports) Open(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *analytics.Report, error) {
	return nil, nil, fk.fail("Reports.Open")
}

func (fk failingReports) List(ctx context.Context, userID uuid.UUID, after analytics.ReportCursor, limit int) ([]analytics.Report, error) {
	return nil, fk.fail("Reports.List")
}

func (fk failingReports) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return fk.fail("Reports.Delete")
}

func (fk failingReports) GetSchedule(ctx context.Context, userID uuid.UUID) (*analytics.Schedule, error) {
	return nil, fk.fail("Reports.GetSchedule")
}

func (fk failingReports) PutSchedule(ctx context.Context, userID uuid.UUID, weekly, monthly bool) (*analytics.Schedule, error) {
	return nil, fk.fail("Reports.PutSchedule")
}
