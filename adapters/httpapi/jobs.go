package httpapi

import (
	"context"
	"encoding/base64"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
)

// JobInspector reads and manages job records (*jobs.Client).
type JobInspector interface {
	Get(ctx context.Context, id string) (*jobs.Job, error)
	List(ctx context.Context, f jobs.Filter) ([]*jobs.Job, error)
	Retry(ctx context.Context, id string) (*jobs.Job, error)
	Delete(ctx context.Context, id string) error
	Stats(ctx context.Context) ([]jobs.QueueStats, error)
	// Confidential reports whether a kind's payload and result must not
	// be shown.
	Confidential(kind string) bool
}

// BulkMailer enqueues bulk email (*notifications.Service).
type BulkMailer interface {
	SendBulk(ctx context.Context, b notifications.Bulk) (string, error)
}

// jobHandlers serve /api/v1/jobs, the job inspection of /api/v1/admin and
// its bulk email.
type jobHandlers struct {
	jobs JobInspector
	mail BulkMailer
}

func jobNotFound() error {
	return apperr.New(apperr.NotFound, jobs.CodeJobNotFound, "No such job.")
}

// jobBody renders a job for its owner or an admin. Payload and result of
// confidential kinds are left out; the worker name and the trace context
// are for admins and operators only, the idempotency key for nobody.
func jobBody(j *jobs.Job, confidential, admin bool) gen.Job {
	out := gen.Job{
		Id: uuid.MustParse(j.ID), Kind: j.Kind, Queue: j.Queue, State: gen.JobState(j.State),
		Attempt: j.Attempt, MaxRetries: j.MaxRetries,
		CreatedAt: j.CreatedAt.UTC(), UpdatedAt: j.UpdatedAt.UTC(), RunAt: j.RunAt.UTC(),
		StartedAt: timePtr(j.StartedAt), FinishedAt: timePtr(j.FinishedAt), ExpiresAt: timePtr(j.ExpiresAt),
	}
	if j.Owner != "" {
		out.OwnerId = &j.Owner
	}
	if j.Error != "" {
		out.Error = &j.Error
	}
	if len(j.Errors) > 0 {
		errs := make([]gen.JobAttemptError, len(j.Errors))
		for i, e := range j.Errors {
			errs[i] = gen.JobAttemptError{Attempt: e.Attempt, At: e.At.UTC(), Error: e.Error}
		}
		out.Errors = &errs
	}
	if len(j.Progress) > 0 {
		out.Progress = j.Progress
	}
	if !confidential {
		if len(j.Payload) > 0 {
			out.Payload = j.Payload
		}
		if len(j.Result) > 0 {
			out.Result = j.Result
		}
	}
	if admin && j.Worker != "" {
		out.Worker = &j.Worker
	}
	return out
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// GetJob answers the job's owner and admins; anyone else gets the same
// 404 as for a job that does not exist, so job IDs cannot be probed.
func (h *jobHandlers) GetJob(ctx context.Context, r gen.GetJobRequestObject) (gen.GetJobResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.jobs.Get(ctx, r.Id.String())
	if err != nil {
		return nil, err
	}
	if !p.IsAdmin() && (j.Owner == "" || j.Owner != p.UserID.String()) {
		return nil, jobNotFound()
	}
	return gen.GetJob200JSONResponse(jobBody(j, h.jobs.Confidential(j.Kind), p.IsAdmin())), nil
}

func (h *jobHandlers) AdminListQueues(ctx context.Context, _ gen.AdminListQueuesRequestObject) (gen.AdminListQueuesResponseObject, error) {
	if _, err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	stats, err := h.jobs.Stats(ctx)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListQueues200JSONResponse{Queues: make([]gen.QueueStats, len(stats))}
	for i, s := range stats {
		by := s.ByState
		running := by[jobs.StateStarted] + by[jobs.StateProgress]
		out.Queues[i] = gen.QueueStats{
			Queue: s.Queue, Depth: s.Pending, InFlight: s.InFlight,
			Queued: by[jobs.StateQueued], Running: running, Retrying: by[jobs.StateRetrying], Dead: by[jobs.StateDead],
			Processed: s.Processed, Failed: s.Failed,
		}
	}
	return out, nil
}

// A listing cursor is the position of the last job of a page,
// "<UpdatedAt in Unix ns>.<job ID>" in unpadded base64url: opaque to
// clients, and checked on the way back in.
func encodeCursor(j *jobs.Job) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(j.UpdatedAt.UnixNano(), 10) + "." + j.ID))
}

func decodeCursor(s string) (*jobs.Position, error) {
	bad := apperr.Validation("invalid cursor", map[string]string{"cursor": "must be the next_cursor of a previous page"})
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, bad
	}
	ns, id, ok := strings.Cut(string(raw), ".")
	if !ok {
		return nil, bad
	}
	n, err := strconv.ParseInt(ns, 10, 64)
	if err != nil {
		return nil, bad
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, bad
	}
	return &jobs.Position{UpdatedAt: time.Unix(0, n).UTC(), ID: u.String()}, nil
}

func (h *jobHandlers) AdminListJobs(ctx context.Context, r gen.AdminListJobsRequestObject) (gen.AdminListJobsResponseObject, error) {
	_, err := RequireAdmin(ctx)
	if err != nil {
		return nil, err
	}
	limit := 50
	if r.Params.Limit != nil {
		limit = int(*r.Params.Limit)
	}
	f := jobs.Filter{Limit: limit + 1}
	if r.Params.State != nil {
		f.State = jobs.State(*r.Params.State)
	}
	if r.Params.Queue != nil {
		f.Queue = string(*r.Params.Queue)
	}
	if r.Params.Kind != nil {
		f.Kind = *r.Params.Kind
	}
	if r.Params.Cursor != nil {
		if f.After, err = decodeCursor(*r.Params.Cursor); err != nil {
			return nil, err
		}
	}
	list, err := h.jobs.List(ctx, f)
	if err != nil {
		return nil, err
	}
	out := gen.AdminListJobs200JSONResponse{Jobs: make([]gen.Job, 0, min(len(list), limit))}
	for i, j := range list {
		if i == limit {
			c := encodeCursor(list[i-1])
			out.NextCursor = &c
			break
		}
		out.Jobs = append(out.Jobs, jobBody(j, h.jobs.Confidential(j.Kind), true))
	}
	return out, nil
}

func (h *jobHandlers) AdminRetryJob(ctx context.Context, r gen.AdminRetryJobRequestObject) (gen.AdminRetryJobResponseObject, error) {
	if _, err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	j, err := h.jobs.Retry(ctx, r.Id.String())
	if err != nil {
		return nil, err
	}
	return gen.AdminRetryJob200JSONResponse(jobBody(j, h.jobs.Confidential(j.Kind), true)), nil
}

func (h *jobHandlers) AdminDeleteJob(ctx context.Context, r gen.AdminDeleteJobRequestObject) (gen.AdminDeleteJobResponseObject, error) {
	if _, err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	return gen.AdminDeleteJob204Response{}, h.jobs.Delete(ctx, r.Id.String())
}

func (h *jobHandlers) AdminSendBulkEmail(ctx context.Context, r gen.AdminSendBulkEmailRequestObject) (gen.AdminSendBulkEmailResponseObject, error) {
	if _, err := RequireAdmin(ctx); err != nil {
		return nil, err
	}
	if r.Body == nil {
		return nil, apperr.Validation("a request body is required", map[string]string{"body": "is required"})
	}
	b := notifications.Bulk{Recipients: r.Body.Recipients}
	if r.Body.Template != nil {
		b.Template = *r.Body.Template
	}
	if r.Body.Data != nil {
		b.Data = *r.Body.Data
	}
	if r.Body.Subject != nil {
		b.Subject = *r.Body.Subject
	}
	if r.Body.Body != nil {
		b.Body = *r.Body.Body
	}
	if r.Body.IdempotencyKey != nil {
		b.IdempotencyKey = *r.Body.IdempotencyKey
	}
	if b.Template != "" && (b.Subject != "" || b.Body != "") {
		return nil, apperr.Validation("give a template or a subject and a body, not both", map[string]string{"template": "not allowed with subject and body"})
	}
	id, err := h.mail.SendBulk(ctx, b)
	if err != nil {
		return nil, err
	}
	return gen.AdminSendBulkEmail202JSONResponse{JobId: uuid.MustParse(id), Status: gen.JobAcceptedStatusAccepted}, nil
}
