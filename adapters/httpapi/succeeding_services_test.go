package httpapi

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// The ok fakes succeed with a value whose every exported field is set
// (see filled), so that a handler maps all of it.
type okTrading struct{}

type okJournal struct{}

type okImports struct{}

type okAnalytics struct{}

type okReports struct{}

func (okTrading) CreateAccount(ctx context.Context, userID uuid.UUID, in trading.AccountInput) (*trading.Account, error) {
	return filled[*trading.Account](), nil
}

func (okTrading) GetAccount(ctx context.Context, userID, id uuid.UUID) (*trading.Account, error) {
	return filled[*trading.Account](), nil
}

func (okTrading) ListAccounts(ctx context.Context, userID uuid.UUID, archived bool) ([]trading.Account, error) {
	return filled[[]trading.Account](), nil
}

func (okTrading) UpdateAccount(ctx context.Context, userID, id uuid.UUID, p trading.AccountPatch, ifVersion int64) (*trading.Account, error) {
	return filled[*trading.Account](), nil
}

func (okTrading) DeleteAccount(ctx context.Context, userID, id uuid.UUID, cascade bool) error {
	return nil
}

func (okTrading) AddExecutions(ctx context.Context, userID, accountID uuid.UUID, ins []trading.ExecutionInput, o trading.AddOptions) (*trading.AddResult, error) {
	return filled[*trading.AddResult](), nil
}

func (okTrading) GetExecution(ctx context.Context, userID, id uuid.UUID) (*trading.Execution, error) {
	return filled[*trading.Execution](), nil
}

func (okTrading) ListExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, p trading.Page) ([]trading.Execution, string, error) {
	return filled[[]trading.Execution](), filled[string](), nil
}

func (okTrading) UpdateExecution(ctx context.Context, userID, id uuid.UUID, p trading.ExecutionPatch, ifVersion int64) (*trading.Execution, []trading.Trade, error) {
	return filled[*trading.Execution](), filled[[]trading.Trade](), nil
}

func (okTrading) DeleteExecutions(ctx context.Context, userID uuid.UUID, ids []uuid.UUID) ([]trading.Trade, error) {
	return filled[[]trading.Trade](), nil
}

func (okTrading) GetTrade(ctx context.Context, userID, id uuid.UUID) (*trading.Trade, error) {
	return filled[*trading.Trade](), nil
}

func (okTrading) ListTradesEncoded(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, p trading.Page, enc cache.Encoding[trading.TradePage]) ([]byte, error) {
	return enc.Encode(filled[trading.TradePage]())
}

func (okTrading) CreateManualTrade(ctx context.Context, userID uuid.UUID, m trading.ManualTrade) ([]trading.Trade, error) {
	return filled[[]trading.Trade](), nil
}

func (okTrading) UpdateAnnotation(ctx context.Context, userID, tradeID uuid.UUID, p trading.AnnotationPatch, ifVersion int64) (*trading.Trade, error) {
	return filled[*trading.Trade](), nil
}

func (okTrading) BulkAnnotate(ctx context.Context, userID uuid.UUID, ids []uuid.UUID, b trading.BulkAnnotation) ([]trading.Trade, error) {
	return filled[[]trading.Trade](), nil
}

func (okTrading) DeleteTrade(ctx context.Context, userID, tradeID uuid.UUID) ([]trading.Trade, error) {
	return filled[[]trading.Trade](), nil
}

func (okJournal) CreateTag(ctx context.Context, userID uuid.UUID, in journal.TagInput) (*journal.Tag, error) {
	return filled[*journal.Tag](), nil
}

func (okJournal) GetTag(ctx context.Context, userID, id uuid.UUID) (*journal.Tag, error) {
	return filled[*journal.Tag](), nil
}

func (okJournal) ListTags(ctx context.Context, userID uuid.UUID, kind journal.TagKind) ([]journal.Tag, error) {
	return filled[[]journal.Tag](), nil
}

func (okJournal) UpdateTag(ctx context.Context, userID, id uuid.UUID, p journal.TagPatch, ifVersion int64) (*journal.Tag, error) {
	return filled[*journal.Tag](), nil
}

func (okJournal) DeleteTag(ctx context.Context, userID, id uuid.UUID) error {
	return nil
}

func (okJournal) CreatePlaybook(ctx context.Context, userID uuid.UUID, in journal.PlaybookInput) (*journal.Playbook, error) {
	return filled[*journal.Playbook](), nil
}

func (okJournal) GetPlaybook(ctx context.Context, userID, id uuid.UUID) (*journal.Playbook, error) {
	return filled[*journal.Playbook](), nil
}

func (okJournal) ListPlaybooks(ctx context.Context, userID uuid.UUID) ([]journal.Playbook, error) {
	return filled[[]journal.Playbook](), nil
}

func (okJournal) UpdatePlaybook(ctx context.Context, userID, id uuid.UUID, p journal.PlaybookPatch, ifVersion int64) (*journal.Playbook, error) {
	return filled[*journal.Playbook](), nil
}

func (okJournal) DeletePlaybook(ctx context.Context, userID, id uuid.UUID) error {
	return nil
}

func (okJournal) GetEntry(ctx context.Context, userID uuid.UUID, day trading.Date) (*journal.EntryView, error) {
	return filled[*journal.EntryView](), nil
}

func (okJournal) PutEntry(ctx context.Context, userID uuid.UUID, day trading.Date, in journal.EntryInput, ifVersion int64) (*journal.EntryView, error) {
	return filled[*journal.EntryView](), nil
}

func (okJournal) ListEntries(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]journal.EntryView, error) {
	return filled[[]journal.EntryView](), nil
}

func (okJournal) UploadAttachment(ctx context.Context, userID uuid.UUID, u journal.Upload) (*journal.Attachment, error) {
	return filled[*journal.Attachment](), nil
}

func (okJournal) GetAttachment(ctx context.Context, userID, id uuid.UUID) (*journal.Attachment, error) {
	return filled[*journal.Attachment](), nil
}

func (okJournal) ListAttachments(ctx context.Context, userID uuid.UUID, o journal.Owner) ([]journal.Attachment, error) {
	return filled[[]journal.Attachment](), nil
}

func (okJournal) OpenAttachment(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *journal.Attachment, error) {
	return io.NopCloser(strings.NewReader("file")), filled[*journal.Attachment](), nil
}

func (okJournal) DeleteAttachment(ctx context.Context, userID, id uuid.UUID) error {
	return nil
}

func (okImports) Preview(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Preview, error) {
	return filled[*imports.Preview](), nil
}

func (okImports) Create(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Import, error) {
	return filled[*imports.Import](), nil
}

func (okImports) Get(ctx context.Context, userID, id uuid.UUID) (*imports.Import, error) {
	return filled[*imports.Import](), nil
}

func (okImports) List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]imports.Import, error) {
	return filled[[]imports.Import](), nil
}

func (okImports) Undo(ctx context.Context, userID, id uuid.UUID) (*imports.UndoResult, error) {
	return filled[*imports.UndoResult](), nil
}

func (okImports) CreateMapping(ctx context.Context, userID uuid.UUID, in imports.MappingInput) (*imports.Mapping, error) {
	return filled[*imports.Mapping](), nil
}

func (okImports) GetMapping(ctx context.Context, userID, id uuid.UUID) (*imports.Mapping, error) {
	return filled[*imports.Mapping](), nil
}

func (okImports) ListMappings(ctx context.Context, userID uuid.UUID) ([]imports.Mapping, error) {
	return filled[[]imports.Mapping](), nil
}

func (okImports) UpdateMapping(ctx context.Context, userID, id uuid.UUID, in imports.MappingInput, ifVersion int64) (*imports.Mapping, error) {
	return filled[*imports.Mapping](), nil
}

func (okImports) DeleteMapping(ctx context.Context, userID, id uuid.UUID) error {
	return nil
}

func (okImports) ExportExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, w io.Writer) error {
	_, err := io.WriteString(w, "a,b\n")
	return err
}

func (okImports) ExportTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, w io.Writer) error {
	_, err := io.WriteString(w, "a,b\n")
	return err
}

func (okAnalytics) SummaryEncoded(ctx context.Context, userID uuid.UUID, q analytics.Query, enc analytics.Encoding[[]analytics.Summary]) ([]byte, error) {
	return enc.Encode(filled[[]analytics.Summary]())
}

func (okAnalytics) Equity(ctx context.Context, userID uuid.UUID, q analytics.Query, perTrade bool) ([]analytics.Equity, error) {
	return filled[[]analytics.Equity](), nil
}

func (okAnalytics) Drawdown(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Drawdown, error) {
	return filled[[]analytics.Drawdown](), nil
}

func (okAnalytics) Calendar(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Calendar, error) {
	return filled[[]analytics.Calendar](), nil
}

func (okAnalytics) Breakdown(ctx context.Context, userID uuid.UUID, q analytics.Query, by analytics.Dimension) ([]analytics.Group, error) {
	return filled[[]analytics.Group](), nil
}

func (okAnalytics) Distribution(ctx context.Context, userID uuid.UUID, q analytics.Query, of string) ([]analytics.Distribution, error) {
	return filled[[]analytics.Distribution](), nil
}

func (okAnalytics) Streaks(ctx context.Context, userID uuid.UUID, q analytics.Query) ([]analytics.Streaks, error) {
	return filled[[]analytics.Streaks](), nil
}

func (okReports) Request(ctx context.Context, userID uuid.UUID, in analytics.ReportRequest) (*analytics.Report, error) {
	return filled[*analytics.Report](), nil
}

func (okReports) Get(ctx context.Context, userID, id uuid.UUID) (*analytics.Report, error) {
	return filled[*analytics.Report](), nil
}

func (okReports) Open(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *analytics.Report, error) {
	return io.NopCloser(strings.NewReader("file")), filled[*analytics.Report](), nil
}

func (okReports) List(ctx context.Context, userID uuid.UUID, after analytics.ReportCursor, limit int) ([]analytics.Report, error) {
	return filled[[]analytics.Report](), nil
}

func (okReports) Delete(ctx context.Context, userID, id uuid.UUID) error {
	return nil
}

func (okReports) GetSchedule(ctx context.Context, userID uuid.UUID) (*analytics.Schedule, error) {
	return filled[*analytics.Schedule](), nil
}

func (okReports) PutSchedule(ctx context.Context, userID uuid.UUID, weekly, monthly bool) (*analytics.Schedule, error) {
	return filled[*analytics.Schedule](), nil
}

func (okImports) Config() imports.Config { return stubImports{}.Config() }
