package identitytest

import (
	"context"
	"log/slog"
	"testing"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/metric/noop"

	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/identity/memstore"
	"github.com/tradesense/tradesense/core/realtime/realtimetest"
)

// Env is an identity.Service wired as production wires it (profile cache
// layer, profile invalidation around the users and the unit of work) over
// the in-memory stores and the fakes of this package, or over the stores
// a test passes.
//
// Every part reads time.Now. Build the Env inside a synctest bubble
// (synctest.Test) when the test moves time: time.Sleep then moves the
// service, the stores, the limiter and the cache together, and
// synctest.Wait waits for the service's background work (the mails of
// forgot-password and resend-verification).
type Env struct {
	// Stores are the raw repositories, without profile invalidation: a
	// write through them is one "behind the service's back".
	Stores Stores
	// Memory is the in-memory store behind Stores, nil when the test
	// passed its own.
	Memory  *memstore.Store
	Limiter *Limiter
	// Cache is the backend of Revocations, the layer the service reads.
	Cache        *Cache
	Revocations  *cache.Layer
	Mailer       *Mailer
	Tokens       *Tokens
	Hasher       *identity.PasswordHasher
	SecondFactor *SecondFactor // nil unless Options.MFA
	Logs         *Logs         // the service's debug log, as JSON lines
	Config       identity.Config
	Svc          *identity.Service
}

// Options change an Env; the zero value is the default.
type Options struct {
	// Stores replaces the in-memory stores.
	Stores *Stores
	// Config edits the service's configuration (DefaultConfig with the
	// public URL https://app.tradesense.test).
	Config func(*identity.Config)
	// Hashing is the argon2id cost; zero selects identity.TestParams.
	Hashing identity.Argon2Params
	// MFA gives the service a fake SecondFactor.
	MFA bool
	// Realtime gives the service this fake engine as its Push and
	// Disconnect.
	Realtime *realtimetest.Hub
	// Zones, when set, builds the service's ZoneObserver once the Env's
	// stores exist.
	Zones func(*Env) identity.ZoneObserver
}

// PublicURL is the web app's URL in an Env's mails.
const PublicURL = "https://app.tradesense.test"

// NewEnv builds an Env and closes its service when the test ends.
func NewEnv(t testing.TB, o Options) *Env {
	t.Helper()
	e := &Env{Limiter: NewLimiter(), Cache: NewCache(), Mailer: &Mailer{}, Tokens: NewTokens(), Logs: &Logs{}}
	if o.Stores != nil {
		e.Stores = *o.Stores
	} else {
		e.Memory = memstore.New()
		e.Stores = Stores{Users: e.Memory.Users(), Sessions: e.Memory.Sessions(), RefreshTokens: e.Memory.RefreshTokens(),
			EmailTokens: e.Memory.EmailTokens(), Events: e.Memory.Events(), Tx: e.Memory.Tx()}
	}
	log := slog.New(slog.NewJSONHandler(e.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	layer, err := cache.NewLayer(e.Cache, cache.Config{}, log, noop.NewMeterProvider())
	if err != nil {
		t.Fatal(err)
	}
	e.Revocations = layer
	hashing := o.Hashing
	if hashing == (identity.Argon2Params{}) {
		hashing = identity.TestParams
	}
	if e.Hasher, err = identity.NewPasswordHasher(hashing, 0); err != nil {
		t.Fatal(err)
	}
	e.Config = identity.DefaultConfig()
	e.Config.PublicURL = PublicURL
	if o.Config != nil {
		o.Config(&e.Config)
	}
	pi := identity.NewProfileInvalidation(layer, log)
	deps := identity.Deps{
		Users: pi.Users(e.Stores.Users), Sessions: e.Stores.Sessions, RefreshTokens: e.Stores.RefreshTokens,
		EmailTokens: e.Stores.EmailTokens, Events: e.Stores.Events, Tx: pi.Tx(e.Stores.Tx),
		Tokens: e.Tokens, Hasher: e.Hasher, Policy: identity.NewPasswordPolicy(), Limiter: e.Limiter,
		Revocations: layer, Mailer: e.Mailer, Log: log,
	}
	if o.MFA {
		e.SecondFactor = &SecondFactor{}
		deps.SecondFactor = e.SecondFactor
	}
	if o.Realtime != nil {
		deps.Push, deps.Disconnect = o.Realtime, o.Realtime
	}
	if o.Zones != nil {
		deps.Zones = o.Zones(e)
	}
	if e.Svc, err = identity.NewService(e.Config, deps); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Svc.Close)
	return e
}

// Ctx returns a request context from ip with user agent ua.
func Ctx(ip, ua string) context.Context {
	return identity.WithClientMeta(context.Background(), identity.ClientMeta{IP: ip, UserAgent: ua})
}

// DefaultCtx is the request context of the Env's helpers.
var DefaultCtx = Ctx("203.0.113.7", "test-agent/1")

// Register registers email with password and returns the user (as the
// service answers it).
func (e *Env) Register(t testing.TB, email, password string) *identity.User {
	t.Helper()
	u, err := e.Svc.Register(DefaultCtx, identity.RegisterInput{Email: email, Password: password, DisplayName: "Test"})
	if err != nil {
		t.Fatalf("register %s: %v", email, err)
	}
	return u
}

// Verified registers email and follows the mailed verification link.
func (e *Env) Verified(t testing.TB, email, password string) *identity.User {
	t.Helper()
	e.Register(t, email, password)
	u, err := e.Svc.VerifyEmail(DefaultCtx, e.Mailer.LinkToken(t, email, identity.TemplateVerifyEmail))
	if err != nil {
		t.Fatalf("verify %s: %v", email, err)
	}
	return u
}

// Login signs in with a password (no second factor) from ctx and returns
// the tokens.
func (e *Env) Login(t testing.TB, ctx context.Context, email, password string) *identity.TokenPair {
	t.Helper()
	r, err := e.Svc.Login(ctx, email, password)
	if err != nil {
		t.Fatalf("login %s: %v", email, err)
	}
	if r.Tokens == nil {
		t.Fatalf("login %s asked for a second factor", email)
	}
	return r.Tokens
}

// Principal authenticates an access token, failing the test on error.
func (e *Env) Principal(t testing.TB, access string) identity.Principal {
	t.Helper()
	p, err := e.Svc.Authenticate(DefaultCtx, access)
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	return p
}

// EventTypes returns the user's event types, newest first.
func (e *Env) EventTypes(t testing.TB, p identity.Principal) []identity.EventType {
	t.Helper()
	evs, err := e.Svc.Events(DefaultCtx, p, uuid.Nil, 200)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]identity.EventType, len(evs))
	for i, ev := range evs {
		out[i] = ev.Type
	}
	return out
}
