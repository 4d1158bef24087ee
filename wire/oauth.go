package wire

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/wire"

	"github.com/tradesense/tradesense/adapters/oidc"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/shortlived"
)

// OAuthConfig configures sign-in with OAuth 2.0 / OpenID Connect
// providers (docs/oauth.md).
type OAuthConfig struct {
	// Service is core/oauth's policies: the redirect allow-list, the
	// error landing, the web app's URL for mails, TTLs and rate limits.
	Service oauth.Config
	// Providers are the providers and their shared settings.
	Providers oidc.Config
}

// oauthConfig reads API_PUBLIC_URL, OAUTH_PROVIDERS and, per provider,
// OAUTH_<NAME>_*. Client secrets (OAUTH_<NAME>_CLIENT_SECRET, or its
// _FILE) are secret settings, resolved at start by provideOAuthProviders.
// webURL is PUBLIC_URL, the web app that mails link to.
func (r *envReader) oauthConfig(prod bool, webURL string) OAuthConfig {
	d := oidc.DefaultConfig()
	pc := oidc.Config{
		PublicURL:         strings.TrimRight(r.str("API_PUBLIC_URL", d.PublicURL), "/"),
		RedirectAllowList: r.list("OAUTH_REDIRECT_ALLOWLIST"),
		ErrorRedirect:     r.str("OAUTH_ERROR_REDIRECT", ""),
		HTTPTimeout:       r.duration("OAUTH_HTTP_TIMEOUT", d.HTTPTimeout),
		DiscoveryTTL:      r.duration("OAUTH_DISCOVERY_TTL", d.DiscoveryTTL),
	}
	for _, name := range r.list("OAUTH_PROVIDERS") {
		name = strings.ToLower(name)
		p := oidc.ProviderDefaults(name)
		if !oidc.ValidName(name) {
			pc.Providers = append(pc.Providers, p) // Validate names the variable
			continue
		}
		pre := oidc.EnvName(name)
		p.Kind = oidc.Kind(strings.ToLower(r.str(pre+"TYPE", string(p.Kind))))
		p.DisplayName = r.str(pre+"DISPLAY_NAME", p.DisplayName)
		p.ClientID = r.str(pre+"CLIENT_ID", "")
		p.Scopes = oidc.ParseScopes(p.Kind, r.str(pre+"SCOPES", ""))
		switch p.Kind {
		case oidc.KindOIDC:
			p.Issuer = r.str(pre+"ISSUER", p.Issuer)
		case oidc.KindGitHub:
			p.GitHubURL = strings.TrimRight(r.str(pre+"GITHUB_URL", p.GitHubURL), "/")
			p.GitHubAPIURL = strings.TrimRight(r.str(pre+"GITHUB_API_URL", p.GitHubAPIURL), "/")
		}
		r.names = append(r.names, p.SecretVar)
		pc.Providers = append(pc.Providers, p)
	}
	svc := oauth.DefaultConfig(r.float("AUTH_IP_RATE_MULTIPLIER", 1, 0.01, 100000))
	svc.RedirectAllowList, svc.ErrorRedirect, svc.PublicURL = pc.RedirectAllowList, pc.ErrorRedirect, webURL
	// The service checks the allow-list as the providers' Validate does:
	// its errors would only repeat those.
	if err := pc.Validate(prod); err != nil {
		r.errs = append(r.errs, err)
	} else if err := svc.Validate(); err != nil {
		r.errs = append(r.errs, err)
	}
	return OAuthConfig{Service: svc, Providers: pc}
}

// oauthSecretVars names the client-secret variables of the providers
// that getenv's OAUTH_PROVIDERS lists, for the secrets check and the AWS
// detection (which run before, or without, the OAuth configuration).
func oauthSecretVars(getenv Getenv) []string {
	var out []string
	for name := range strings.SplitSeq(getenv("OAUTH_PROVIDERS"), ",") {
		if name = strings.ToLower(strings.TrimSpace(name)); oidc.ValidName(name) {
			out = append(out, oidc.EnvName(name)+"CLIENT_SECRET")
		}
	}
	return out
}

// OAuthSet provides sign-in through OAuth and OpenID Connect providers:
// the providers (adapters/oidc), the identities table and the service. Its
// flow states and one-time codes live in the profile's short-lived store
// (Redis in the services profile, so that any replica can take a flow).
var OAuthSet = wire.NewSet(
	provideOAuthProviders,
	wire.Bind(new(oauth.Providers), new(*oidc.Registry)),
	provideOAuth,
)

// ProviderClient is the HTTP client of the requests to the OAuth
// providers: none in the programs (adapters/oidc builds one with
// OAUTH_HTTP_TIMEOUT), an input of the component tests' injector, whose
// providers are fakes on an in-memory network.
type ProviderClient struct{ *http.Client }

// provideOAuthProviders builds the providers. Each client secret is
// resolved through the secrets resolver (a literal, a reference such as
// vault:… or aws:…, or OAUTH_<NAME>_CLIENT_SECRET_FILE) once at start, so
// a missing one stops the start naming its variable, and again at each
// exchange from the resolver's cache, so a rotated secret needs no restart.
func provideOAuthProviders(ctx context.Context, c oidc.Config, lookup Getenv, r *secrets.Resolver, client ProviderClient, log *slog.Logger) (*oidc.Registry, error) {
	c.UseSecrets(func(ctx context.Context, name string) (secrets.Secret, error) {
		s, err := r.ResolveEnv(ctx, lookup, name)
		return s.Value, err
	})
	return oidc.New(ctx, c, oidc.Options{Client: client.Client, Log: telemetry.Component(log, "oidc")})
}

// provideOAuth is the OAuth service over the same repositories, profile
// cache invalidation and short-lived store as identity and MFA.
func provideOAuth(c oauth.Config, providers oauth.Providers, db *sqlstore.DB, accounts *identity.Service, factors *mfa.Service, store shortlived.Store, limiter ratelimit.Limiter, mailer identity.Mailer, pi *identity.ProfileInvalidation, log *slog.Logger) (*oauth.Service, error) {
	return oauth.NewService(c, oauth.Deps{
		Providers:    providers,
		Identities:   sqlstore.NewIdentities(db),
		Users:        pi.Users(sqlstore.NewUsers(db)),
		Sessions:     sqlstore.NewSessions(db),
		Accounts:     accounts,
		SecondFactor: factors,
		Events:       sqlstore.NewEvents(db),
		Tx:           pi.Tx(sqlstore.NewUnitOfWork(db)),
		Flows:        store,
		Limiter:      limiter,
		Mailer:       mailer,
		Log:          telemetry.Component(log, "oauth"),
	})
}
