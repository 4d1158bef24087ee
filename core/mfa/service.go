package mfa

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/uow"
)

// Deps are the service's collaborators; all are required but Log.
type Deps struct {
	Factors     Factors
	BackupCodes BackupCodes
	Users       identity.Users
	Events      identity.Events
	Tx          uow.Runner
	// Pending holds pending enrolments and login challenges (Redis in
	// production, shared by replicas).
	Pending   shortlived.Store
	Limiter   ratelimit.Limiter
	Keys      *KeyRing
	Passwords PasswordVerifier
	Mailer    identity.Mailer
	// Push sends security.mfa_changed to the user's devices once a change
	// commits (core/realtime; optional, nil for none).
	Push realtime.Publisher
	Log  *slog.Logger
}

// Service is the MFA use cases (see the package comment for the security
// decisions).
type Service struct {
	cfg   Config
	d     Deps
	audit *identity.Audit
}

var _ identity.SecondFactor = (*Service)(nil)

// NewService returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Factors == nil || d.BackupCodes == nil || d.Users == nil || d.Events == nil || d.Tx == nil || d.Pending == nil ||
		d.Limiter == nil || d.Keys == nil || d.Passwords == nil || d.Mailer == nil {
		return nil, errors.New("mfa: a required dependency is missing")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, d: d, audit: identity.NewAudit("mfa", d.Events, d.Mailer, d.Log)}, nil
}

// now is the service's time: UTC at the microsecond, the precision the
// stores keep. Tests move it with testing/synctest; the TOTP checks take
// it as an argument (TOTP.Match), so the RFC 6238 vectors can name theirs.
func (s *Service) now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Answer is a second factor as typed: a TOTP code or a backup code (one
// of them).
type Answer struct {
	Code       string
	BackupCode string
}

// Status is a user's MFA state.
type Status struct {
	Enabled              bool
	EnabledAt            time.Time
	BackupCodesRemaining int
}

// Status returns the user's MFA state.
func (s *Service) Status(ctx context.Context, userID uuid.UUID) (Status, error) {
	f, err := s.d.Factors.Get(ctx, userID)
	if apperr.Is(err, apperr.NotFound) {
		return Status{}, nil
	}
	if err != nil {
		return Status{}, err
	}
	unused, err := s.d.BackupCodes.Unused(ctx, userID)
	if err != nil {
		return Status{}, err
	}
	return Status{Enabled: true, EnabledAt: f.EnabledAt, BackupCodesRemaining: len(unused)}, nil
}

// notify mails u the template with the facts every MFA notice shows
// (name, client, time) added to data; data never holds a secret.
func (s *Service) notify(ctx context.Context, u *identity.User, template, idem string, data map[string]any) {
	if data == nil {
		data = map[string]any{}
	}
	meta := identity.ClientMetaFrom(ctx)
	data["DisplayName"] = u.DisplayName
	data["IP"] = meta.IP
	data["UserAgent"] = meta.UserAgent
	data["Time"] = s.now().Format(time.RFC1123)
	s.audit.Mail(ctx, u.Email, template, idem, data)
}

// changed registers security.mfa_changed for userID (change "enabled",
// "disabled" or "backup_codes_regenerated") to be published once the
// transaction ctx carries commits (uow.AfterCommit), never on rollback. A
// failed publish is logged: the change itself stands.
func (s *Service) changed(ctx context.Context, userID uuid.UUID, change string) {
	if s.d.Push == nil {
		return
	}
	at := s.now()
	uow.AfterCommit(ctx, func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		if err := s.d.Push.Publish(ctx, realtime.MFAChanged(userID, at, change)); err != nil {
			s.d.Log.WarnContext(ctx, "mfa: security.mfa_changed not published", "user_id", userID.String(), "error", err)
		}
	})
}
