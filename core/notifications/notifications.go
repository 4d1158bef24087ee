// Package notifications sends email: messages, the embedded templates, the
// Sender port, and the Service that renders a template and enqueues an
// email.send job, plus the email.bulk fan-out.
package notifications

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/jobs"
)

// The job kinds of this package.
const (
	KindSend = "email.send"
	KindBulk = "email.bulk"
)

// Error codes.
const (
	CodeInvalidAddress = "email_address_invalid"
	CodeNoRecipients   = "email_recipients_missing"
	CodeTooMany        = "email_recipients_too_many"
	CodeRejected       = "email_rejected"
	CodeMailDown       = "mail_unavailable"
)

// Message is one email, rendered.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	Tags    []string
	// ID is the job that sends it; senders use it as the Message-ID's
	// unique part, so a resend is recognisable.
	ID string
}

// Sender delivers a message. It fails with apperr.Unavailable
// "mail_unavailable" on a transient failure (connection, timeout, SMTP
// 4xx), which is retried, and apperr.Invalid "email_rejected" on a
// permanent one (SMTP 5xx), which is not.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Enqueuer enqueues jobs (*jobs.Client): one, or many in one batch (the
// bulk fan-out, a chunk of recipients per EnqueueMany).
type Enqueuer interface {
	Enqueue(ctx context.Context, kind string, payload any, opts ...jobs.Option) (string, error)
	EnqueueMany(ctx context.Context, reqs []jobs.Request) ([]string, error)
}

// Email asks for one templated email.
type Email struct {
	To       string
	Template string
	Data     map[string]any
	// IdempotencyKey, when set, makes a second request with the same key
	// return the first job instead of sending again.
	IdempotencyKey string
}

// Bulk asks for one email per recipient: a template with data, or, when
// Template is empty, a plain Subject and Body (the "generic" template).
type Bulk struct {
	Recipients []string
	Template   string
	Data       map[string]any
	Subject    string
	Body       string
	// IdempotencyKey as in Email.
	IdempotencyKey string
}

// Config configures the service.
type Config struct {
	// AppName ("TradeSense") and PublicURL (PUBLIC_URL, default
	// http://localhost:8000) are added to every template's data.
	AppName   string
	PublicURL string
	// MaxRecipients bounds a bulk request (default 100000); ChunkSize is
	// how many sends one progress step enqueues (default 500).
	MaxRecipients int
	ChunkSize     int
	// SentMarkerTTL keeps the done-marker of a sent email (default 7 days,
	// longer than any retry schedule).
	SentMarkerTTL time.Duration
}

func (c Config) withDefaults() Config {
	if c.AppName == "" {
		c.AppName = "TradeSense"
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://localhost:8000"
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 100000
	}
	if c.ChunkSize <= 0 {
		c.ChunkSize = 500
	}
	if c.SentMarkerTTL <= 0 {
		c.SentMarkerTTL = 7 * 24 * time.Hour
	}
	return c
}

// Service renders and sends email through jobs.
type Service struct {
	cfg     Config
	tpl     *Templates
	q       Enqueuer
	markers jobs.Markers
	sender  Sender
	log     *slog.Logger
}

// NewService returns the service. Call Register on the registry the
// workers use, so email.send and email.bulk have handlers.
func NewService(cfg Config, tpl *Templates, q Enqueuer, markers jobs.Markers, sender Sender, log *slog.Logger) *Service {
	return &Service{cfg: cfg.withDefaults(), tpl: tpl, q: q, markers: markers, sender: sender, log: log}
}

// Templates returns the templates the service renders.
func (s *Service) Templates() *Templates { return s.tpl }

// sendPayload is the email.send job's payload: the rendered message.
type sendPayload struct {
	To      string   `json:"to"`
	Subject string   `json:"subject"`
	Text    string   `json:"text"`
	HTML    string   `json:"html"`
	Tags    []string `json:"tags,omitempty"`
}

// bulkPayload is the email.bulk job's payload.
type bulkPayload struct {
	Recipients []string       `json:"recipients"`
	Template   string         `json:"template"`
	Data       map[string]any `json:"data,omitempty"`
}

// Register adds the handlers of email.send (3 retries, Celery's countdown
// 60 s × attempt) and email.bulk.
func (s *Service) Register(reg *jobs.Registry) {
	// A rendered email may hold a sign-in or reset link: inspection must
	// not show it.
	jobs.Handle(reg, KindSend, jobs.KindConfig{MaxRetries: 3, Confidential: true}, s.handleSend)
	jobs.Handle(reg, KindBulk, jobs.KindConfig{MaxRetries: 3}, s.handleBulk)
}

func (s *Service) data(d map[string]any) map[string]any {
	out := make(map[string]any, len(d)+2)
	maps.Copy(out, d)
	out["AppName"] = s.cfg.AppName
	out["PublicURL"] = s.cfg.PublicURL
	return out
}

// Address validates and normalises one address.
func Address(to string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(to))
	if err != nil || a.Name != "" || strings.ContainsAny(a.Address, "\r\n") {
		return "", apperr.Validation("invalid email address", map[string]string{"to": "must be a plain email address"})
	}
	return a.Address, nil
}

// SendEmail renders e's template (an unknown template or missing data
// fails here, with apperr.Invalid) and enqueues an email.send job, whose ID
// it returns. The job's owner is the authenticated user of ctx, if any.
func (s *Service) SendEmail(ctx context.Context, e Email, opts ...jobs.Option) (string, error) {
	req, err := s.sendRequest(e, opts)
	if err != nil {
		return "", err
	}
	return s.q.Enqueue(ctx, req.Kind, req.Payload, req.Options...)
}

// sendRequest renders e into the email.send job that delivers it.
func (s *Service) sendRequest(e Email, opts []jobs.Option) (jobs.Request, error) {
	to, err := Address(e.To)
	if err != nil {
		return jobs.Request{}, err
	}
	r, err := s.tpl.Render(e.Template, s.data(e.Data))
	if err != nil {
		return jobs.Request{}, err
	}
	if e.IdempotencyKey != "" {
		opts = append(opts, jobs.WithIdempotencyKey("email:"+e.IdempotencyKey))
	}
	return jobs.Request{Kind: KindSend, Payload: sendPayload{To: to, Subject: r.Subject, Text: r.Text, HTML: r.HTML, Tags: []string{e.Template}}, Options: opts}, nil
}

// SendBulk validates a bulk request (every address, the template with its
// data, at most MaxRecipients after removing duplicates ignoring case) and
// enqueues the email.bulk job that fans it out.
func (s *Service) SendBulk(ctx context.Context, b Bulk) (string, error) {
	tpl, data := b.Template, b.Data
	if tpl == "" {
		if strings.TrimSpace(b.Subject) == "" || strings.TrimSpace(b.Body) == "" {
			return "", apperr.Validation("a template, or a subject and a body, are required", map[string]string{"template": "required without subject and body"})
		}
		tpl, data = "generic", map[string]any{"Subject": b.Subject, "Body": b.Body}
	}
	recipients, err := s.recipients(b.Recipients)
	if err != nil {
		return "", err
	}
	if _, err := s.tpl.Render(tpl, s.data(data)); err != nil {
		return "", err
	}
	var opts []jobs.Option
	if b.IdempotencyKey != "" {
		opts = append(opts, jobs.WithIdempotencyKey("email.bulk:"+b.IdempotencyKey))
	}
	return s.q.Enqueue(ctx, KindBulk, bulkPayload{Recipients: recipients, Template: tpl, Data: data}, opts...)
}

func (s *Service) recipients(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, apperr.New(apperr.Invalid, CodeNoRecipients, "at least one recipient is required")
	}
	if len(in) > s.cfg.MaxRecipients {
		return nil, apperr.New(apperr.Invalid, CodeTooMany, fmt.Sprintf("at most %d recipients per request", s.cfg.MaxRecipients))
	}
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for i, r := range in {
		a, err := Address(r)
		if err != nil {
			return nil, apperr.Validation("invalid recipient", map[string]string{fmt.Sprintf("recipients[%d]", i): "must be a plain email address"})
		}
		k := strings.ToLower(a)
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out, nil
}

// handleSend delivers one message once: a done-marker keyed by the job ID
// makes a redelivered job skip a message already accepted by the server.
// (A crash between the server's acceptance and the marker can still send
// twice: SMTP offers nothing better.)
func (s *Service) handleSend(ctx context.Context, j *jobs.Job, p sendPayload) (any, error) {
	key := "email.sent:" + j.ID
	if done, err := s.markers.Marked(ctx, key); err != nil {
		return nil, err
	} else if done {
		return map[string]any{"to": p.To, "skipped": "already sent"}, nil
	}
	err := s.sender.Send(ctx, Message{ID: j.ID, To: p.To, Subject: p.Subject, Text: p.Text, HTML: p.HTML, Tags: p.Tags})
	if err != nil {
		if apperr.Is(err, apperr.Invalid) {
			return nil, jobs.Permanent(err)
		}
		return nil, err
	}
	if _, err := s.markers.Mark(ctx, key, s.cfg.SentMarkerTTL); err != nil {
		s.log.WarnContext(ctx, "email sent but its done-marker was not stored", "job_id", j.ID, "error", err)
	}
	return map[string]any{"to": p.To}, nil
}

// BulkResult is the result of an email.bulk job.
type BulkResult struct {
	Enqueued int `json:"enqueued"`
}

// ChildID is the deterministic ID of the send for recipient i of a bulk
// job, so that a retried fan-out enqueues the same jobs, not new ones.
func ChildID(bulkID string, i int, recipient string) string {
	ns, err := uuid.Parse(bulkID)
	if err != nil {
		ns = uuid.NameSpaceOID
	}
	return uuid.NewSHA1(ns, fmt.Appendf(nil, "%d:%s", i, strings.ToLower(recipient))).String()
}

func (s *Service) handleBulk(ctx context.Context, j *jobs.Job, p bulkPayload) (any, error) {
	n := 0
	for start := 0; start < len(p.Recipients); start += s.cfg.ChunkSize {
		end := min(start+s.cfg.ChunkSize, len(p.Recipients))
		// One EnqueueMany per chunk: a few round trips for the chunk, not
		// a couple per recipient. The IDs are derived, so a retried
		// fan-out re-enqueues the same jobs and nobody is mailed twice.
		reqs := make([]jobs.Request, 0, end-start)
		for i := start; i < end; i++ {
			to := p.Recipients[i]
			req, err := s.sendRequest(Email{To: to, Template: p.Template, Data: p.Data},
				[]jobs.Option{jobs.WithID(ChildID(j.ID, i, to)), jobs.WithOwner(j.Owner)})
			if err != nil {
				s.log.WarnContext(ctx, "bulk email: recipient skipped", "job_id", j.ID, "index", i, "error", err)
				continue
			}
			reqs = append(reqs, req)
		}
		if len(reqs) > 0 {
			if _, err := s.q.EnqueueMany(ctx, reqs); err != nil {
				return nil, fmt.Errorf("fan out recipients %d-%d of %d: %w", start, end-1, len(p.Recipients), err)
			}
		}
		n += len(reqs)
		if err := jobs.Progress(ctx, map[string]int{"done": end, "total": len(p.Recipients)}); err != nil {
			s.log.WarnContext(ctx, "bulk email progress", "job_id", j.ID, "error", err)
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("fan out interrupted after %d of %d: %w", end, len(p.Recipients), ctx.Err())
		}
	}
	return BulkResult{Enqueued: n}, nil
}
