package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/idempotency"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/trading"
)

// IdentityConfig configures accounts, sessions and tokens.
type IdentityConfig struct {
	Service identity.Config
	JWT     jwtauth.Config
	Argon2  identity.Argon2Params
	// Hashing bounds concurrent argon2id runs (AUTH_HASH_CONCURRENCY,
	// AUTH_HASH_QUEUE_WAIT): one bound for every password the process
	// hashes or verifies (identity and MFA), so memory stays bounded under a
	// login flood.
	Hashing identity.HashLimit
	// PreviousSigningKeys are JWT_PREVIOUS_SIGNING_KEYS: comma-separated
	// secret references (or literals) of keys retired from signing whose
	// tokens are still accepted.
	PreviousSigningKeys []string
}

func (r *envReader) identityConfig(prod bool) IdentityConfig {
	d := identity.DefaultConfig()
	svc := identity.Config{
		AccessTTL:      r.duration("AUTH_ACCESS_TOKEN_TTL", d.AccessTTL),
		SessionTTL:     r.duration("AUTH_SESSION_TTL", d.SessionTTL),
		SessionIdle:    r.duration("AUTH_SESSION_IDLE_TIMEOUT", d.SessionIdle),
		RefreshGrace:   r.duration("AUTH_REFRESH_GRACE", d.RefreshGrace),
		VerifyTTL:      d.VerifyTTL,
		ResetTTL:       d.ResetTTL,
		PublicURL:      r.str("PUBLIC_URL", d.PublicURL),
		NotifyNewLogin: r.bool("AUTH_NOTIFY_NEW_LOGIN", true),
		Limits:         identity.DefaultLimits(r.float("AUTH_IP_RATE_MULTIPLIER", 1, 0.01, 100000)),
	}
	o := identity.OWASPParams
	c := IdentityConfig{
		Service: svc,
		JWT: jwtauth.Config{
			Issuer:   r.str("AUTH_JWT_ISSUER", "tradesense"),
			Audience: r.str("AUTH_JWT_AUDIENCE", "tradesense-api"),
		},
		Argon2: identity.Argon2Params{
			// #nosec G115 -- each value is bounded by its range check.
			MemoryKiB: uint32(r.int64("AUTH_ARGON2_MEMORY_KIB", int64(o.MemoryKiB), 8, 4<<20)), // #nosec G115
			Time:      uint32(r.int64("AUTH_ARGON2_TIME", int64(o.Time), 1, 64)),               // #nosec G115
			Threads:   uint8(r.int64("AUTH_ARGON2_THREADS", int64(o.Threads), 1, 64)),          // #nosec G115
			KeyLen:    o.KeyLen,
			SaltLen:   o.SaltLen,
		},
		Hashing: identity.HashLimit{
			Concurrent: hashConcurrency(int(r.int64("AUTH_HASH_CONCURRENCY", 0, 0, 1024))),
			QueueWait:  r.duration("AUTH_HASH_QUEUE_WAIT", identity.DefaultHashQueueWait),
		},
		PreviousSigningKeys: r.list("JWT_PREVIOUS_SIGNING_KEYS"),
	}
	if c.Hashing.QueueWait <= 0 || c.Hashing.QueueWait > time.Minute {
		r.fail("AUTH_HASH_QUEUE_WAIT", "must be between 1ns and 1m")
	}
	if err := svc.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	if prod {
		if !c.Argon2.AtLeast(o) {
			r.fail("AUTH_ARGON2_MEMORY_KIB", "production needs argon2id at least m=%d KiB, t=%d (OWASP)", o.MemoryKiB, o.Time)
		}
		if !strings.HasPrefix(svc.PublicURL, "https://") {
			r.fail("PUBLIC_URL", "production links in emails must be https://")
		}
	}
	return c
}

// IdentitySet provides the identity service and what it needs but the
// profile's adapters, the Mailer and the SecondFactor, which each program
// chooses.
var IdentitySet = wire.NewSet(
	provideKeyRing,
	provideAccessTokens,
	provideProfileInvalidation,
	providePasswordHasher,
	provideIdentity,
)

// providePasswordHasher is the one argon2id hasher of the process: identity
// and MFA share its concurrency bound.
func providePasswordHasher(argon identity.Argon2Params, l identity.HashLimit) (*identity.PasswordHasher, error) {
	h, err := identity.NewBoundedPasswordHasher(argon, l)
	if err != nil {
		return nil, fmt.Errorf("AUTH_ARGON2_*: %w", err)
	}
	return h, nil
}

// provideKeyRing derives the JWT key ring from JWT_SIGNING_KEY and
// JWT_PREVIOUS_SIGNING_KEYS and keeps it current (watchJWTKeys): a key
// rotated through its reference (file, Vault, AWS; `tradesense secrets
// rotate`) swaps the ring without a restart, and the replaced key stays
// accepted for verification until its tokens have expired.
func provideKeyRing(ctx context.Context, cfg IdentityConfig, sc SecretsConfig, keys Keys, r *secrets.Resolver, log *slog.Logger) (*identity.KeyRing, func(), error) {
	if keys.JWTSigning.Value.IsZero() {
		return nil, nil, errors.New("JWT_SIGNING_KEY: not resolved")
	}
	return watchJWTKeys(ctx, keys.JWTSigning, cfg.PreviousSigningKeys, jwtGrace(sc.Resolver, cfg.Service), r, telemetry.Component(log, "identity"))
}

func provideAccessTokens(c jwtauth.Config, ring *identity.KeyRing) (*jwtauth.Tokens, error) {
	return jwtauth.New(c, ring)
}

// provideProfileInvalidation deletes the cached profile (see
// identity.Service.Me) after every write of a user, by identity, MFA or the
// CLI: their Users repositories and units of work are wrapped by it.
func provideProfileInvalidation(c *cache.Layer, log *slog.Logger) *identity.ProfileInvalidation {
	return identity.NewProfileInvalidation(c, telemetry.Component(log, "identity"))
}

func provideIdentity(c identity.Config, hasher *identity.PasswordHasher, db *sqlstore.DB, tokens *jwtauth.Tokens, limiter ratelimit.Limiter, layer *cache.Layer, pi *identity.ProfileInvalidation, mailer identity.Mailer, sf identity.SecondFactor, zones identity.ZoneObserver, push realtime.Publisher, disc realtime.Disconnector, log *slog.Logger) (*identity.Service, func(), error) {
	svc, err := identity.NewService(c, identity.Deps{
		Users:         pi.Users(sqlstore.NewUsers(db)),
		Sessions:      sqlstore.NewSessions(db),
		RefreshTokens: sqlstore.NewRefreshTokens(db),
		EmailTokens:   sqlstore.NewEmailTokens(db),
		Events:        sqlstore.NewEvents(db),
		Tx:            pi.Tx(sqlstore.NewUnitOfWork(db)),
		Tokens:        tokens,
		Hasher:        hasher,
		Policy:        identity.NewPasswordPolicy(),
		Limiter:       limiter,
		Revocations:   layer,
		Mailer:        mailer,
		SecondFactor:  sf,
		Push:          push,
		Disconnect:    disc,
		Zones:         zones,
		Log:           telemetry.Component(log, "identity"),
	})
	if err != nil {
		return nil, nil, err
	}
	return svc, svc.Close, nil
}

// provideAPIServer is httpapi.New with the identity, MFA, OAuth,
// trading journal and realtime modules.
func provideAPIServer(ctx context.Context, c httpapi.Config, d httpapi.Deps, svc *identity.Service, ring *identity.KeyRing, factors *mfa.Service, flows *mfa.Flows, signIn *oauth.Service,
	tr *trading.Service, jr *journal.Service, guard *idempotency.Guard, rt *centrifuge.Engine, rtTokens *centrifuge.Tokens, _ realtimeBound,
	figures *analytics.Service, reports *analytics.Reporter) (*httpapi.Server, error) {
	d.Identity, d.Keys, d.MFA, d.MFAFlows = svc, ring, factors, flows
	d.OAuth = signIn
	d.Trading, d.Journal, d.Idempotency = tr, jr, guard
	d.Realtime, d.RealtimeTokens = rt, rtTokens
	d.Analytics, d.Reports = figures, reports
	return httpapi.New(ctx, c, d)
}

// Users is the `tradesense users` program: account administration from
// the command line.
type Users struct {
	Identity *identity.Service
}

// noSecondFactor: the users program logs nobody in, so it has no second
// factor (a login needing one would fail closed, "mfa_unavailable").
func noSecondFactor() identity.SecondFactor { return nil }

// noZones: the users program changes no one's time zone (CreateUser,
// SetRole), so it rebuilds no trades.
func noZones() identity.ZoneObserver { return nil }

// noMail is the users program's Mailer. Its operations (CreateUser,
// SetRole) send no mail, and it runs no job worker that could: a mail
// asked for is refused, and the service logs that.
type noMail struct{}

func (noMail) SendEmail(context.Context, identity.Email) (string, error) {
	return "", errors.New("the users command sends no email")
}

// hashConcurrency is AUTH_HASH_CONCURRENCY, where 0 (the default) means
// half the CPUs the process may use (GOMAXPROCS), at least one: argon2id
// is CPU-bound, so hashes beyond the cores only add memory, and leaving
// the other half to the rest of the API keeps a login flood from taking
// every core from the other requests (docs/benchmarks.md, #18 item 2).
func hashConcurrency(n int) int {
	if n > 0 {
		return n
	}
	return max(1, runtime.GOMAXPROCS(0)/2)
}
