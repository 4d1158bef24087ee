package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
)

// Audit writes the security events and enqueues the notification mails of
// one module (identity, and mfa through NewAudit): the single place that
// knows how an event gets its time and client facts, and what happens when
// an event or a mail cannot be written.
type Audit struct {
	events Events
	mailer Mailer
	log    *slog.Logger
	module string
}

// NewAudit returns the helper of module ("identity", "mfa": the prefix of
// its log lines); log may be nil.
func NewAudit(module string, events Events, mailer Mailer, log *slog.Logger) *Audit {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Audit{events: events, mailer: mailer, log: log, module: module}
}

// Record appends an event of typ for userID, at the current time (UTC,
// microseconds) with the client facts of ctx (ClientMetaFrom); sessionID
// is uuid.Nil when no session is involved. It takes part in the
// transaction carried by ctx, so that the event commits or rolls back with
// the change it describes.
func (a *Audit) Record(ctx context.Context, typ EventType, userID, sessionID uuid.UUID, details map[string]string) error {
	meta := ClientMetaFrom(ctx)
	e := &Event{UserID: userID, Type: typ, At: time.Now().UTC().Truncate(time.Microsecond), IP: meta.IP, UserAgent: meta.UserAgent,
		SessionID: sessionID, Details: details}
	if err := a.events.Record(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", typ, err)
	}
	return nil
}

// RecordQuiet is Record for callers outside a transaction, whose action
// already happened: a failure is logged, not returned.
func (a *Audit) RecordQuiet(ctx context.Context, typ EventType, userID, sessionID uuid.UUID, details map[string]string) {
	if err := a.Record(ctx, typ, userID, sessionID, details); err != nil {
		a.log.ErrorContext(ctx, a.module+": audit event not recorded", "event", string(typ), "error", err)
	}
}

// Mail enqueues the template for to (a nil data is sent as empty). Mail is
// best effort: a failure is logged, never returned, since the action that
// caused it already happened. data must hold no secret other than the
// single-use link token the message exists to deliver.
func (a *Audit) Mail(ctx context.Context, to, template, idem string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	// The write the mail reports has happened: enqueue it even when the
	// request is being cancelled (its client hung up).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if _, err := a.mailer.SendEmail(ctx, Email{To: to, Template: template, Data: data, IdempotencyKey: idem}); err != nil {
		a.log.ErrorContext(ctx, a.module+": email not enqueued", "template", template, "error", err)
	}
}
