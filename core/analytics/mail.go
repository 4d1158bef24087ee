package analytics

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/jobs"
	"github.com/tradesense/tradesense/core/notifications"
)

// TemplateReportReady is the email of a scheduled report: the period, the
// headline figures and the link to the report.
const TemplateReportReady = "analytics_report_ready"

// EmailSender enqueues a templated email (*notifications.Service).
type EmailSender interface {
	SendEmail(ctx context.Context, e notifications.Email, opts ...jobs.Option) (string, error)
}

// Recipients finds where a user's email goes. It may fail with
// apperr.NotFound (the user was deleted) or Unavailable.
type Recipients interface {
	Recipient(ctx context.Context, userID uuid.UUID) (email, displayName string, err error)
}

// EmailMailer is the Mailer of scheduled reports over the notifications
// service: one email per report, enqueued with the idempotency key
// "report:<id>", so a render job that runs twice (a worker restart
// between enqueueing the email and marking the report emailed) sends it
// once.
type EmailMailer struct {
	Email EmailSender
	Users Recipients
}

var _ Mailer = (*EmailMailer)(nil)

// SendReport implements Mailer.
func (m *EmailMailer) SendReport(ctx context.Context, r *Report, sums []Summary) error {
	to, name, err := m.Users.Recipient(ctx, r.UserID)
	if err != nil {
		return fmt.Errorf("report %s recipient: %w", r.ID, err)
	}
	type line struct{ Currency, NetPnL, Trades, WinRate, ProfitFactor, MaxDrawdown string }
	lines := make([]line, 0, len(sums))
	for _, s := range sums {
		str := func(v interface{ String() string }, ok bool) string {
			if !ok {
				return "n/a"
			}
			return v.String()
		}
		lines = append(lines, line{Currency: s.Currency, NetPnL: s.NetPnL.StringFixed(2), Trades: fmt.Sprint(s.Count),
			WinRate:      str(s.WinRate.Decimal.Mul(hundred).Round(1), s.WinRate.Valid) + pct(s.WinRate.Valid),
			ProfitFactor: str(s.ProfitFactor.Decimal, s.ProfitFactor.Valid), MaxDrawdown: s.MaxDrawdown.StringFixed(2)})
	}
	_, err = m.Email.SendEmail(ctx, notifications.Email{To: to, Template: TemplateReportReady, IdempotencyKey: "report:" + r.ID.String(),
		Data: map[string]any{"DisplayName": name, "Title": title(r.Period), "Period": periodText(r), "ReportID": r.ID.String(),
			"Format": string(r.Format), "ExpiresOn": r.ExpiresAt.UTC().Format("2 January 2006"), "Summaries": lines, "NoTrades": len(lines) == 0}})
	if err != nil {
		return fmt.Errorf("enqueue report email %s: %w", r.ID, err)
	}
	return nil
}

func pct(ok bool) string {
	if ok {
		return " %"
	}
	return ""
}
