package identity

import "context"

// Email is a templated message for the notifications service (same shape
// as notifications.Email; wire converts). Data must hold no secret other
// than the single-use link token the message exists to deliver.
type Email struct {
	To             string
	Template       string
	Data           map[string]any
	IdempotencyKey string
}

// Mailer enqueues an email and returns the job's ID.
type Mailer interface {
	SendEmail(ctx context.Context, e Email) (jobID string, err error)
}

// The templates of this module, in core/notifications/templates.
const (
	TemplateVerifyEmail     = "identity_verify_email"
	TemplateWelcome         = "identity_welcome"
	TemplatePasswordReset   = "identity_password_reset"
	TemplatePasswordChanged = "identity_password_changed"
	TemplateNewLogin        = "identity_new_login"
	TemplateAccountLocked   = "identity_account_locked"
	TemplateRegisterAttempt = "identity_register_attempt"
)
