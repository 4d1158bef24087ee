package wire

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/shortlived"
)

// MFAConfig configures two-factor authentication.
type MFAConfig struct {
	Service mfa.Config
	// PreviousKeys are MFA_ENCRYPTION_KEY_PREVIOUS: comma-separated secret
	// references (or literals) of keys MFA_ENCRYPTION_KEY replaced. Secrets
	// sealed under them are re-sealed under the current key when used.
	PreviousKeys []string
}

func (r *envReader) mfaConfig() MFAConfig {
	c := MFAConfig{
		Service:      mfa.DefaultConfig(r.float("AUTH_IP_RATE_MULTIPLIER", 1, 0.01, 100000)),
		PreviousKeys: r.list("MFA_ENCRYPTION_KEY_PREVIOUS"),
	}
	if err := c.Service.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	return c
}

// MFASet provides the MFA service (identity's SecondFactor) and the flows
// the HTTP API serves; the short-lived store of pending enrolments and
// login challenges is the profile's.
var MFASet = wire.NewSet(
	provideMFAKeyRing,
	provideMFA,
	wire.Bind(new(identity.SecondFactor), new(*mfa.Service)),
	provideMFAFlows,
)

// provideMFAKeyRing derives the MFA keys from MFA_ENCRYPTION_KEY and
// MFA_ENCRYPTION_KEY_PREVIOUS and keeps them current (watchMFAKeys): a key
// rotated through its reference (`tradesense secrets rotate`) takes effect
// without a restart, and secrets sealed under the replaced key open and are
// re-sealed on use.
func provideMFAKeyRing(ctx context.Context, cfg MFAConfig, keys Keys, r *secrets.Resolver, log *slog.Logger) (*mfa.KeyRing, func(), error) {
	if keys.MFAEncryption.Value.IsZero() {
		return nil, nil, fmt.Errorf("MFA_ENCRYPTION_KEY: not resolved")
	}
	return watchMFAKeys(ctx, keys.MFAEncryption, cfg.PreviousKeys, r, telemetry.Component(log, "mfa"))
}

func provideMFA(c mfa.Config, hasher *identity.PasswordHasher, db *sqlstore.DB, ring *mfa.KeyRing, store shortlived.Store, limiter ratelimit.Limiter, mailer identity.Mailer, pi *identity.ProfileInvalidation, push realtime.Publisher, log *slog.Logger) (*mfa.Service, error) {
	// identity's hasher: MFA disable verifies a password, and that run
	// counts against the same memory bound as a login.
	return mfa.NewService(c, mfa.Deps{
		Factors:     sqlstore.NewMFAFactors(db),
		BackupCodes: sqlstore.NewMFABackupCodes(db),
		Users:       pi.Users(sqlstore.NewUsers(db)),
		Events:      sqlstore.NewEvents(db),
		Tx:          pi.Tx(sqlstore.NewUnitOfWork(db)),
		Pending:     store,
		Limiter:     limiter,
		Keys:        ring,
		Passwords:   hasher,
		Mailer:      mailer,
		Push:        push,
		Log:         telemetry.Component(log, "mfa"),
	})
}

func provideMFAFlows(m *mfa.Service, svc *identity.Service) (*mfa.Flows, error) {
	return mfa.NewFlows(m, svc)
}
