package httpapi

import (
	"context"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"time"

	"github.com/google/uuid"
	openapi_types "github.com/oapi-codegen/runtime/types"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/trading"
)

// Journal is what the journal handlers call (*journal.Service). Every
// method is scoped to the user: another user's id is not found.
type Journal interface {
	CreateTag(ctx context.Context, userID uuid.UUID, in journal.TagInput) (*journal.Tag, error)
	GetTag(ctx context.Context, userID, id uuid.UUID) (*journal.Tag, error)
	ListTags(ctx context.Context, userID uuid.UUID, kind journal.TagKind) ([]journal.Tag, error)
	UpdateTag(ctx context.Context, userID, id uuid.UUID, p journal.TagPatch, ifVersion int64) (*journal.Tag, error)
	DeleteTag(ctx context.Context, userID, id uuid.UUID) error

	CreatePlaybook(ctx context.Context, userID uuid.UUID, in journal.PlaybookInput) (*journal.Playbook, error)
	GetPlaybook(ctx context.Context, userID, id uuid.UUID) (*journal.Playbook, error)
	ListPlaybooks(ctx context.Context, userID uuid.UUID) ([]journal.Playbook, error)
	UpdatePlaybook(ctx context.Context, userID, id uuid.UUID, p journal.PlaybookPatch, ifVersion int64) (*journal.Playbook, error)
	DeletePlaybook(ctx context.Context, userID, id uuid.UUID) error

	GetEntry(ctx context.Context, userID uuid.UUID, day trading.Date) (*journal.EntryView, error)
	PutEntry(ctx context.Context, userID uuid.UUID, day trading.Date, in journal.EntryInput, ifVersion int64) (*journal.EntryView, error)
	ListEntries(ctx context.Context, userID uuid.UUID, from, to trading.Date) ([]journal.EntryView, error)

	UploadAttachment(ctx context.Context, userID uuid.UUID, u journal.Upload) (*journal.Attachment, error)
	GetAttachment(ctx context.Context, userID, id uuid.UUID) (*journal.Attachment, error)
	ListAttachments(ctx context.Context, userID uuid.UUID, o journal.Owner) ([]journal.Attachment, error)
	OpenAttachment(ctx context.Context, userID, id uuid.UUID) (io.ReadCloser, *journal.Attachment, error)
	DeleteAttachment(ctx context.Context, userID, id uuid.UUID) error
}

// journalHandlers serve /api/v1/tags, /playbooks, /journal and
// /attachments.
type journalHandlers struct {
	svc Journal
	// trades answers whether a trade is the caller's (a trade's
	// attachments of another user's trade are a 404, not an empty list).
	trades interface {
		GetTrade(ctx context.Context, userID, id uuid.UUID) (*trading.Trade, error)
	}
}

// ---- tags

func tagBody(t *journal.Tag) gen.Tag {
	return gen.Tag{Id: t.ID, Name: t.Name, Kind: gen.TagKind(t.Kind), Color: t.Color, Version: t.Version}
}

func (h *journalHandlers) ListTags(ctx context.Context, r gen.ListTagsRequestObject) (gen.ListTagsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := h.svc.ListTags(ctx, p.UserID, journal.TagKind(val(r.Params.Kind)))
	if err != nil {
		return nil, err
	}
	return gen.ListTags200JSONResponse{Items: bodies(ts, tagBody)}, nil
}

func (h *journalHandlers) CreateTag(ctx context.Context, r gen.CreateTagRequestObject) (gen.CreateTagResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	t, err := h.svc.CreateTag(ctx, p.UserID, journal.TagInput{Name: r.Body.Name, Kind: journal.TagKind(r.Body.Kind), Color: val(r.Body.Color)})
	if err != nil {
		return nil, err
	}
	return gen.CreateTag201JSONResponse{Body: tagBody(t), Headers: gen.CreateTag201ResponseHeaders{ETag: etag(t.Version)}}, nil
}

func (h *journalHandlers) GetTag(ctx context.Context, r gen.GetTagRequestObject) (gen.GetTagResponseObject, error) {
	t, err := callerByID(ctx, h.svc, r.Id, Journal.GetTag)
	if err != nil {
		return nil, err
	}
	return gen.GetTag200JSONResponse{Body: tagBody(t), Headers: gen.GetTag200ResponseHeaders{ETag: etag(t.Version)}}, nil
}

func (h *journalHandlers) UpdateTag(ctx context.Context, r gen.UpdateTagRequestObject) (gen.UpdateTagResponseObject, error) {
	p, v, err := authenticatedIfMatch(ctx, r.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	patch := journal.TagPatch{Name: r.Body.Name, Color: r.Body.Color}
	if r.Body.Kind != nil {
		k := journal.TagKind(*r.Body.Kind)
		patch.Kind = &k
	}
	t, err := h.svc.UpdateTag(ctx, p.UserID, r.Id, patch, v)
	if err != nil {
		return nil, err
	}
	return gen.UpdateTag200JSONResponse{Body: tagBody(t), Headers: gen.UpdateTag200ResponseHeaders{ETag: etag(t.Version)}}, nil
}

func (h *journalHandlers) DeleteTag(ctx context.Context, r gen.DeleteTagRequestObject) (gen.DeleteTagResponseObject, error) {
	if err := callerDeleteByID(ctx, h.svc, r.Id, Journal.DeleteTag); err != nil {
		return nil, err
	}
	return gen.DeleteTag204Response{}, nil
}

// ---- playbooks

func playbookBody(pb *journal.Playbook) gen.Playbook {
	rules := make([]gen.Rule, len(pb.Rules))
	for i, r := range pb.Rules {
		rules[i] = gen.Rule{Id: idPtr(r.ID), Text: r.Text}
	}
	return gen.Playbook{Id: pb.ID, Name: pb.Name, Description: pb.Description, Rules: rules, Version: pb.Version}
}

func (h *journalHandlers) ListPlaybooks(ctx context.Context, _ gen.ListPlaybooksRequestObject) (gen.ListPlaybooksResponseObject, error) {
	pbs, err := asCaller(ctx, h.svc, Journal.ListPlaybooks)
	if err != nil {
		return nil, err
	}
	return gen.ListPlaybooks200JSONResponse{Items: bodies(pbs, playbookBody)}, nil
}

func (h *journalHandlers) CreatePlaybook(ctx context.Context, r gen.CreatePlaybookRequestObject) (gen.CreatePlaybookResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	pb, err := h.svc.CreatePlaybook(ctx, p.UserID, journal.PlaybookInput{Name: r.Body.Name, Description: val(r.Body.Description), Rules: val(r.Body.Rules)})
	if err != nil {
		return nil, err
	}
	return gen.CreatePlaybook201JSONResponse{Body: playbookBody(pb), Headers: gen.CreatePlaybook201ResponseHeaders{ETag: etag(pb.Version)}}, nil
}

func (h *journalHandlers) GetPlaybook(ctx context.Context, r gen.GetPlaybookRequestObject) (gen.GetPlaybookResponseObject, error) {
	pb, err := callerByID(ctx, h.svc, r.Id, Journal.GetPlaybook)
	if err != nil {
		return nil, err
	}
	return gen.GetPlaybook200JSONResponse{Body: playbookBody(pb), Headers: gen.GetPlaybook200ResponseHeaders{ETag: etag(pb.Version)}}, nil
}

func (h *journalHandlers) UpdatePlaybook(ctx context.Context, r gen.UpdatePlaybookRequestObject) (gen.UpdatePlaybookResponseObject, error) {
	p, v, err := authenticatedIfMatch(ctx, r.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	patch := journal.PlaybookPatch{Name: r.Body.Name, Description: r.Body.Description}
	if r.Body.Rules != nil {
		rules := make([]journal.Rule, len(*r.Body.Rules))
		for i, x := range *r.Body.Rules {
			rules[i] = journal.Rule{ID: val(x.Id), Text: x.Text}
		}
		patch.Rules = &rules
	}
	pb, err := h.svc.UpdatePlaybook(ctx, p.UserID, r.Id, patch, v)
	if err != nil {
		return nil, err
	}
	return gen.UpdatePlaybook200JSONResponse{Body: playbookBody(pb), Headers: gen.UpdatePlaybook200ResponseHeaders{ETag: etag(pb.Version)}}, nil
}

func (h *journalHandlers) DeletePlaybook(ctx context.Context, r gen.DeletePlaybookRequestObject) (gen.DeletePlaybookResponseObject, error) {
	if err := callerDeleteByID(ctx, h.svc, r.Id, Journal.DeletePlaybook); err != nil {
		return nil, err
	}
	return gen.DeletePlaybook204Response{}, nil
}

// ---- journal entries

func dayOf(d openapi_types.Date) trading.Date { return trading.DateOf(d.Time) }

func apiDate(d trading.Date) openapi_types.Date { return openapi_types.Date{Time: d.Start(time.UTC)} }

func attachmentBody(a *journal.Attachment) gen.Attachment {
	return gen.Attachment{
		Id: a.ID, TradeId: idPtr(a.TradeID), JournalEntryId: idPtr(a.EntryID), ContentType: a.ContentType,
		Size: a.Size, Width: a.Width, Height: a.Height, Sha256: a.SHA256, Filename: a.Filename, CreatedAt: a.CreatedAt.UTC(),
	}
}

func entryBody(e *journal.Entry, exists bool, tradeIDs []uuid.UUID, atts []journal.Attachment) gen.JournalEntry {
	out := gen.JournalEntry{
		Date: apiDate(e.Date), Exists: exists, PreMarket: e.PreMarket, PostMarket: e.PostMarket, Mood: e.Mood,
		TradeIds: ids(tradeIDs), TradeIdsChosen: e.TradeIDs != nil, Version: e.Version,
		Attachments: make([]gen.Attachment, len(atts)),
	}
	if exists {
		out.Id = &e.ID
	}
	for i := range atts {
		out.Attachments[i] = attachmentBody(&atts[i])
	}
	return out
}

func viewBody(v *journal.EntryView) gen.JournalEntry {
	return entryBody(&v.Entry, v.Exists, v.TradeIDs, v.Attachments)
}

func (h *journalHandlers) ListJournalEntries(ctx context.Context, r gen.ListJournalEntriesRequestObject) (gen.ListJournalEntriesResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	// The service bounds the range.
	es, err := h.svc.ListEntries(ctx, p.UserID, dayOf(r.Params.From), dayOf(r.Params.To))
	if err != nil {
		return nil, err
	}
	out := gen.ListJournalEntries200JSONResponse{Items: make([]gen.JournalEntry, len(es))}
	for i := range es {
		out.Items[i] = viewBody(&es[i])
	}
	return out, nil
}

func (h *journalHandlers) GetJournalEntry(ctx context.Context, r gen.GetJournalEntryRequestObject) (gen.GetJournalEntryResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	v, err := h.svc.GetEntry(ctx, p.UserID, dayOf(r.Date))
	if err != nil {
		return nil, err
	}
	return gen.GetJournalEntry200JSONResponse{Body: viewBody(v), Headers: gen.GetJournalEntry200ResponseHeaders{ETag: etag(v.Entry.Version)}}, nil
}

func (h *journalHandlers) PutJournalEntry(ctx context.Context, r gen.PutJournalEntryRequestObject) (gen.PutJournalEntryResponseObject, error) {
	p, v, err := authenticatedIfMatch(ctx, r.Params.IfMatch)
	if err != nil {
		return nil, err
	}
	in := journal.EntryInput{PreMarket: val(r.Body.PreMarket), PostMarket: val(r.Body.PostMarket), Mood: val(r.Body.Mood)}
	if r.Body.TradeIds != nil {
		in.TradeIDs = ids(*r.Body.TradeIds)
	}
	view, err := h.svc.PutEntry(ctx, p.UserID, dayOf(r.Date), in, v)
	if err != nil {
		return nil, err
	}
	return gen.PutJournalEntry200JSONResponse{Body: viewBody(view), Headers: gen.PutJournalEntry200ResponseHeaders{ETag: etag(view.Entry.Version)}}, nil
}

// ---- attachments

// UploadAttachment reads the form's owner fields, then streams the file
// part into the service, which bounds, sniffs and sanitises it.
func (h *journalHandlers) UploadAttachment(ctx context.Context, r gen.UploadAttachmentRequestObject) (gen.UploadAttachmentResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	if r.Body == nil {
		return nil, apperr.Validation("No form.", map[string]string{"file": "is required"})
	}
	bad := func(field, msg string) error {
		return apperr.Validation("Invalid upload.", map[string]string{field: msg})
	}
	var u journal.Upload
	for {
		part, err := r.Body.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, bad("file", "is required")
		}
		if err != nil {
			return nil, uploadReadError(err)
		}
		switch part.FormName() {
		case "trade_id", "date":
			v, err := smallField(part)
			if err != nil {
				return nil, err
			}
			if part.FormName() == "trade_id" {
				id, perr := uuid.Parse(v)
				if perr != nil || len(v) != 36 {
					return nil, bad("trade_id", "must be a UUID")
				}
				u.TradeID = id
			} else {
				d, perr := trading.ParseDate(v)
				if perr != nil {
					return nil, bad("date", "must be a date in the form 2026-05-01")
				}
				u.Day = d
			}
		case "file":
			u.Filename, u.Body = part.FileName(), part
			a, err := h.svc.UploadAttachment(ctx, p.UserID, u)
			if err != nil {
				return nil, uploadReadError(err)
			}
			return gen.UploadAttachment201JSONResponse(attachmentBody(a)), nil
		default:
			_ = part.Close()
		}
	}
}

// smallField reads a form field of at most 64 bytes.
func smallField(part *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, 65))
	if err != nil {
		return "", uploadReadError(err)
	}
	if len(b) > 64 {
		return "", apperr.Validation("Invalid upload.", map[string]string{part.FormName(): "is too long"})
	}
	return strings.TrimSpace(string(b)), nil
}

// uploadReadError keeps a body cut by the size limit a 413 and a broken
// form a 400; the service's own errors pass as they are.
func uploadReadError(err error) error {
	if _, ok := apperr.As(err); ok {
		return err
	}
	if describe(err).status == 413 {
		return err
	}
	return apperr.Wrap(err, apperr.Invalid, "invalid_request", "The multipart form could not be read.")
}

func (h *journalHandlers) ListAttachments(ctx context.Context, r gen.ListAttachmentsRequestObject) (gen.ListAttachmentsResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	var atts []journal.Attachment
	switch {
	case (r.Params.TradeId == nil) == (r.Params.Date == nil):
		return nil, apperr.Validation("Name one owner.", map[string]string{"trade_id": "give exactly one of trade_id or date"})
	case r.Params.TradeId != nil:
		if _, err := h.trades.GetTrade(ctx, p.UserID, *r.Params.TradeId); err != nil {
			return nil, err
		}
		if atts, err = h.svc.ListAttachments(ctx, p.UserID, journal.Owner{TradeID: *r.Params.TradeId}); err != nil {
			return nil, err
		}
	default:
		v, err := h.svc.GetEntry(ctx, p.UserID, dayOf(*r.Params.Date))
		if err != nil {
			return nil, err
		}
		atts = v.Attachments
	}
	return gen.ListAttachments200JSONResponse{Items: bodies(atts, attachmentBody)}, nil
}

func (h *journalHandlers) GetAttachment(ctx context.Context, r gen.GetAttachmentRequestObject) (gen.GetAttachmentResponseObject, error) {
	a, err := callerByID(ctx, h.svc, r.Id, Journal.GetAttachment)
	if err != nil {
		return nil, err
	}
	return gen.GetAttachment200JSONResponse(attachmentBody(a)), nil
}

func (h *journalHandlers) DownloadAttachment(ctx context.Context, r gen.DownloadAttachmentRequestObject) (gen.DownloadAttachmentResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	body, a, err := h.svc.OpenAttachment(ctx, p.UserID, r.Id)
	if err != nil {
		return nil, err
	}
	// The blob is closed when the request ends, however the copy went.
	context.AfterFunc(ctx, func() { _ = body.Close() })
	cc := "private, max-age=3600"
	return gen.DownloadAttachment200ImageResponse{
		Body: body, ContentType: a.ContentType, ContentLength: a.Size,
		Headers: gen.DownloadAttachment200ResponseHeaders{CacheControl: &cc},
	}, nil
}

func (h *journalHandlers) DeleteAttachment(ctx context.Context, r gen.DeleteAttachmentRequestObject) (gen.DeleteAttachmentResponseObject, error) {
	if err := callerDeleteByID(ctx, h.svc, r.Id, Journal.DeleteAttachment); err != nil {
		return nil, err
	}
	return gen.DeleteAttachment204Response{}, nil
}
