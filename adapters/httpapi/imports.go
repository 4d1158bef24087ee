package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/trading"
)

// Imports is what the import routes need (*imports.Service).
type Imports interface {
	Config() imports.Config
	Preview(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Preview, error)
	Create(ctx context.Context, userID uuid.UUID, up imports.Upload) (*imports.Import, error)
	Get(ctx context.Context, userID, id uuid.UUID) (*imports.Import, error)
	List(ctx context.Context, userID, accountID uuid.UUID, before time.Time, limit int) ([]imports.Import, error)
	Undo(ctx context.Context, userID, id uuid.UUID) (*imports.UndoResult, error)
	CreateMapping(ctx context.Context, userID uuid.UUID, in imports.MappingInput) (*imports.Mapping, error)
	GetMapping(ctx context.Context, userID, id uuid.UUID) (*imports.Mapping, error)
	ListMappings(ctx context.Context, userID uuid.UUID) ([]imports.Mapping, error)
	UpdateMapping(ctx context.Context, userID, id uuid.UUID, in imports.MappingInput, ifVersion int64) (*imports.Mapping, error)
	DeleteMapping(ctx context.Context, userID, id uuid.UUID) error
	ExportExecutions(ctx context.Context, userID uuid.UUID, f trading.ExecutionFilter, w io.Writer) error
	ExportTrades(ctx context.Context, userID uuid.UUID, f trading.Filter, s trading.Sort, w io.Writer) error
}

// importHandlers serve /api/v1/imports, /api/v1/import-mappings and the
// CSV exports (/api/v1/executions/export, /api/v1/trades/export).
type importHandlers struct {
	svc Imports
}

// maxFormField bounds a non-file field of the upload form.
const maxFormField = 8 << 10

type uploadForm struct {
	up     imports.Upload
	dryRun bool
}

func formInvalid(field, msg string) error {
	return apperr.Validation("invalid upload", map[string]string{field: msg})
}

// readUpload reads the multipart form: the file into memory (at most the
// import size cap: larger is 413), the other fields as small strings.
// Unknown fields are refused, so a typo is not silently ignored.
func (h *importHandlers) readUpload(mr *multipart.Reader) (*uploadForm, error) {
	if mr == nil {
		return nil, formInvalid("file", "is required (multipart/form-data)")
	}
	limit := h.svc.Config().MaxBytes
	f := &uploadForm{}
	var file *bytes.Buffer
	seen := map[string]bool{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, errTooLarge(err, fmt.Sprintf("The file is larger than the %d bytes an import accepts.", limit))
			}
			return nil, apperr.Wrap(err, apperr.Invalid, "invalid_request", "The multipart form could not be read.")
		}
		name := part.FormName()
		if seen[name] {
			return nil, formInvalid(name, "is given twice")
		}
		seen[name] = true
		if name == "file" {
			file = &bytes.Buffer{}
			n, err := io.Copy(file, io.LimitReader(part, limit+1))
			if err != nil {
				var tooLarge *http.MaxBytesError
				if errors.As(err, &tooLarge) {
					return nil, errTooLarge(err, fmt.Sprintf("The file is larger than the %d bytes an import accepts.", limit))
				}
				return nil, apperr.Wrap(err, apperr.Invalid, "invalid_request", "The file could not be read.")
			}
			if n > limit {
				return nil, errTooLarge(nil, fmt.Sprintf("The file is larger than the %d bytes an import accepts.", limit))
			}
			f.up.Filename = part.FileName()
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, maxFormField+1))
		if err != nil {
			return nil, apperr.Wrap(err, apperr.Invalid, "invalid_request", "The multipart form could not be read.")
		}
		if len(b) > maxFormField {
			return nil, formInvalid(name, "is too long")
		}
		v := strings.TrimSpace(string(b))
		if err := f.set(name, v); err != nil {
			return nil, err
		}
	}
	if file == nil {
		return nil, formInvalid("file", "is required")
	}
	if f.up.AccountID == uuid.Nil {
		return nil, formInvalid("account_id", "is required")
	}
	f.up.Body, f.up.Size = bytes.NewReader(file.Bytes()), int64(file.Len())
	return f, nil
}

func (f *uploadForm) set(name, v string) error {
	parseBool := func() (bool, error) {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return false, formInvalid(name, "must be true or false")
		}
		return b, nil
	}
	var err error
	switch name {
	case "account_id":
		if f.up.AccountID, err = uuid.Parse(v); err != nil {
			return formInvalid(name, "must be a UUID")
		}
	case "mapping_id":
		if f.up.MappingID, err = uuid.Parse(v); err != nil {
			return formInvalid(name, "must be a UUID")
		}
	case "broker":
		f.up.Broker = v
	case "timezone":
		f.up.Timezone = v
	case "mapping":
		dec := json.NewDecoder(strings.NewReader(v))
		if err := dec.Decode(&f.up.Mapping); err != nil {
			return formInvalid(name, "must be a JSON object of field names to column names")
		}
	case "strict":
		f.up.Strict, err = parseBool()
	case "dry_run":
		f.dryRun, err = parseBool()
	default:
		return formInvalid(name, "is not a field of this form")
	}
	return err
}

func (h *importHandlers) CreateImport(ctx context.Context, r gen.CreateImportRequestObject) (gen.CreateImportResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	f, err := h.readUpload(r.Body)
	if err != nil {
		return nil, err
	}
	if f.dryRun {
		pv, err := h.svc.Preview(ctx, p.UserID, f.up)
		if err != nil {
			return nil, err
		}
		return gen.CreateImport200JSONResponse(previewBody(pv)), nil
	}
	imp, err := h.svc.Create(ctx, p.UserID, f.up)
	if err != nil {
		return nil, err
	}
	return gen.CreateImport202JSONResponse(importBody(imp)), nil
}

func (h *importHandlers) PreviewImport(ctx context.Context, r gen.PreviewImportRequestObject) (gen.PreviewImportResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	f, err := h.readUpload(r.Body)
	if err != nil {
		return nil, err
	}
	pv, err := h.svc.Preview(ctx, p.UserID, f.up)
	if err != nil {
		return nil, err
	}
	return gen.PreviewImport200JSONResponse(previewBody(pv)), nil
}

func (h *importHandlers) GetImport(ctx context.Context, r gen.GetImportRequestObject) (gen.GetImportResponseObject, error) {
	imp, err := callerByID(ctx, h.svc, r.Id, Imports.Get)
	if err != nil {
		return nil, err
	}
	return gen.GetImport200JSONResponse(importBody(imp)), nil
}

func (h *importHandlers) ListImports(ctx context.Context, r gen.ListImportsRequestObject) (gen.ListImportsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	var account uuid.UUID
	if r.Params.AccountId != nil {
		account = *r.Params.AccountId
	}
	var before time.Time
	if r.Params.Before != nil {
		before = *r.Params.Before
	}
	limit := 0
	if r.Params.Limit != nil {
		limit = *r.Params.Limit
	}
	list, err := h.svc.List(ctx, p.UserID, account, before, limit)
	if err != nil {
		return nil, err
	}
	return gen.ListImports200JSONResponse{Items: bodies(list, importBody)}, nil
}

func (h *importHandlers) UndoImport(ctx context.Context, r gen.UndoImportRequestObject) (gen.UndoImportResponseObject, error) {
	res, err := callerByID(ctx, h.svc, r.Id, Imports.Undo)
	if err != nil {
		return nil, err
	}
	return gen.UndoImport200JSONResponse{ExecutionsRemoved: res.ExecutionsRemoved, TradesRebuilt: res.TradesRebuilt}, nil
}

func (h *importHandlers) ListImportMappings(ctx context.Context, _ gen.ListImportMappingsRequestObject) (gen.ListImportMappingsResponseObject, error) {
	list, err := asCaller(ctx, h.svc, Imports.ListMappings)
	if err != nil {
		return nil, err
	}
	return gen.ListImportMappings200JSONResponse{Items: bodies(list, mappingBody)}, nil
}

func (h *importHandlers) CreateImportMapping(ctx context.Context, r gen.CreateImportMappingRequestObject) (gen.CreateImportMappingResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	m, err := h.svc.CreateMapping(ctx, p.UserID, imports.MappingInput{Name: r.Body.Name, Columns: r.Body.Columns})
	if err != nil {
		return nil, err
	}
	return gen.CreateImportMapping201JSONResponse(mappingBody(m)), nil
}

func (h *importHandlers) GetImportMapping(ctx context.Context, r gen.GetImportMappingRequestObject) (gen.GetImportMappingResponseObject, error) {
	m, err := callerByID(ctx, h.svc, r.Id, Imports.GetMapping)
	if err != nil {
		return nil, err
	}
	return gen.GetImportMapping200JSONResponse{Body: mappingBody(m), Headers: gen.GetImportMapping200ResponseHeaders{ETag: etag(m.Version)}}, nil
}

func (h *importHandlers) UpdateImportMapping(ctx context.Context, r gen.UpdateImportMappingRequestObject) (gen.UpdateImportMappingResponseObject, error) {
	p, version, err := authenticatedIfMatch(ctx, r.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	m, err := h.svc.UpdateMapping(ctx, p.UserID, r.Id, imports.MappingInput{Name: r.Body.Name, Columns: r.Body.Columns}, version)
	if err != nil {
		return nil, err
	}
	return gen.UpdateImportMapping200JSONResponse{Body: mappingBody(m), Headers: gen.UpdateImportMapping200ResponseHeaders{ETag: etag(m.Version)}}, nil
}

func (h *importHandlers) DeleteImportMapping(ctx context.Context, r gen.DeleteImportMappingRequestObject) (gen.DeleteImportMappingResponseObject, error) {
	if err := callerDeleteByID(ctx, h.svc, r.Id, Imports.DeleteMapping); err != nil {
		return nil, err
	}
	return gen.DeleteImportMapping204Response{}, nil
}

// optStr is s, or nil when empty.
func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func importBody(imp *imports.Import) gen.Import {
	out := gen.Import{Id: imp.ID, AccountId: imp.AccountID, Status: gen.ImportStatus(imp.Status), Broker: imp.Broker, Filename: optStr(imp.Filename),
		SizeBytes: &imp.Size, Timezone: imp.Timezone, Strict: &imp.Strict,
		Counts:       gen.ImportCounts{Rows: imp.Counts.Rows, ExecutionsAdded: imp.Counts.ExecutionsAdded, Duplicates: imp.Counts.Duplicates, Rejected: imp.Counts.Rejected},
		RejectedRows: rejectedBody(imp.Rejected), Mismatches: make([]gen.ImportMismatch, len(imp.Mismatches)), TradesRebuilt: imp.TradesRebuilt,
		Warnings: imp.Warnings, Error: optStr(imp.Error), CreatedAt: imp.CreatedAt.UTC(), StartedAt: timePtr(imp.StartedAt), FinishedAt: timePtr(imp.FinishedAt)}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for i, m := range imp.Mismatches {
		out.Mismatches[i] = gen.ImportMismatch{Line: m.Line, BrokerPnl: m.BrokerPnL.String(), ComputedPnl: m.ComputedPnL.String()}
	}
	return out
}

func rejectedBody(rs []imports.RejectedRow) []gen.ImportRejectedRow {
	out := make([]gen.ImportRejectedRow, len(rs))
	for i, r := range rs {
		out[i] = gen.ImportRejectedRow{Line: r.Line, Raw: r.Raw, Reason: r.Reason}
	}
	return out
}

func previewBody(p *imports.Preview) gen.ImportPreview {
	out := gen.ImportPreview{Broker: p.Broker, Timezone: p.Timezone, Columns: p.Columns, RejectedRows: rejectedBody(p.Rejected),
		Warnings: p.Warnings, Executions: make([]gen.ImportedExecution, len(p.Fills))}
	if out.Columns == nil {
		out.Columns = map[string]string{}
	}
	if out.Warnings == nil {
		out.Warnings = []string{}
	}
	for i, f := range p.Fills {
		in := f.Input
		e := gen.ImportedExecution{Line: f.Line, Symbol: in.Symbol, AssetClass: string(in.AssetClass), Side: gen.ImportedExecutionSide(in.Side),
			Quantity: in.Quantity.String(), Price: in.Price.String(), Commission: in.Commission.String(), Fees: in.Fees.String(),
			ExecutedAt: in.ExecutedAt.UTC(), BrokerExecutionId: optStr(in.BrokerExecutionID)}
		if f.BrokerPnL.Valid {
			e.BrokerPnl = optStr(f.BrokerPnL.Decimal.String())
		}
		out.Executions[i] = e
	}
	return out
}

func mappingBody(m *imports.Mapping) gen.ImportMapping {
	return gen.ImportMapping{Id: m.ID, Name: m.Name, Columns: m.Columns, Version: m.Version, CreatedAt: m.CreatedAt.UTC(), UpdatedAt: m.UpdatedAt.UTC()}
}

// startedWriter reports its first write on started.
type startedWriter struct {
	w       io.Writer
	started chan struct{}
	once    bool
}

func (s *startedWriter) Write(p []byte) (int, error) {
	if !s.once {
		s.once = true
		close(s.started)
	}
	return s.w.Write(p)
}

// stream runs export into a pipe the response body reads: a failure
// before the first bytes (the first page read) is answered as a problem;
// a later one cuts the body short (the status is sent by then).
func stream(ctx context.Context, export func(ctx context.Context, w io.Writer) error) (io.ReadCloser, error) {
	pr, pw := io.Pipe()
	sw := &startedWriter{w: pw, started: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		err := export(ctx, sw)
		_ = pw.CloseWithError(err)
		done <- err
	}()
	select {
	case <-sw.started:
		return pr, nil
	case err := <-done:
		if err != nil {
			_ = pr.Close()
			return nil, err
		}
		return pr, nil
	}
}

func (h *importHandlers) ExportExecutions(ctx context.Context, r gen.ExportExecutionsRequestObject) (gen.ExportExecutionsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	var f trading.ExecutionFilter
	if r.Params.AccountId != nil {
		f.AccountIDs = []uuid.UUID{*r.Params.AccountId}
	}
	if r.Params.ImportId != nil {
		f.ImportID = *r.Params.ImportId
	}
	body, err := stream(ctx, func(ctx context.Context, w io.Writer) error { return h.svc.ExportExecutions(ctx, p.UserID, f, w) })
	if err != nil {
		return nil, err
	}
	return gen.ExportExecutions200TextcsvResponse{Body: body}, nil
}

func (h *importHandlers) ExportTrades(ctx context.Context, r gen.ExportTradesRequestObject) (gen.ExportTradesResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	var f trading.Filter
	if r.Params.AccountId != nil {
		f.AccountIDs = []uuid.UUID{*r.Params.AccountId}
	}
	body, err := stream(ctx, func(ctx context.Context, w io.Writer) error {
		return h.svc.ExportTrades(ctx, p.UserID, f, trading.Sort{Key: trading.SortOpened, Asc: true}, w)
	})
	if err != nil {
		return nil, err
	}
	return gen.ExportTrades200TextcsvResponse{Body: body}, nil
}
