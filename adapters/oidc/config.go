package oidc

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/secrets"
)

// Kind is the protocol a provider speaks.
type Kind string

// The kinds.
const (
	// KindOIDC is any OpenID Connect provider found by discovery.
	KindOIDC Kind = "oidc"
	// KindGitHub is GitHub's OAuth 2.0 (not OpenID Connect): /user and
	// /user/emails.
	KindGitHub Kind = "github"
)

// SecretSource returns a secret's current value (a secrets.Resolver
// lookup, whose cache keeps it cheap and whose refresh makes a rotated
// value reach the next exchange).
type SecretSource func(ctx context.Context) (secrets.Secret, error)

// ProviderConfig is one provider. Variables OAUTH_<NAME>_*, where <NAME>
// is the provider's name upper-cased with '-' as '_'; wire reads them, with
// the defaults of ProviderDefaults.
type ProviderConfig struct {
	// Name is the entry of OAUTH_PROVIDERS, used in URLs; [a-z0-9-], at
	// most 32 characters.
	Name string
	// Kind is OAUTH_<NAME>_TYPE: "github" for the name github, "oidc"
	// otherwise by default.
	Kind Kind
	// DisplayName is OAUTH_<NAME>_DISPLAY_NAME (default: Google, GitHub,
	// or the name).
	DisplayName string
	// Issuer is OAUTH_<NAME>_ISSUER, an OpenID provider's issuer URL, its
	// discovery document at Issuer + "/.well-known/openid-configuration";
	// default https://accounts.google.com for the name google, required
	// for other OpenID providers.
	Issuer string
	// ClientID is OAUTH_<NAME>_CLIENT_ID (required).
	ClientID string
	// ClientSecret resolves OAUTH_<NAME>_CLIENT_SECRET, a secret setting
	// (literal, secret reference, or OAUTH_<NAME>_CLIENT_SECRET_FILE):
	// set by UseSecrets.
	ClientSecret SecretSource
	// SecretVar is the name of the client secret's variable.
	SecretVar string
	// Scopes is OAUTH_<NAME>_SCOPES, space or comma separated (default
	// "openid email profile"; "read:user user:email" for GitHub). OpenID
	// providers always get openid.
	Scopes []string
	// GitHubURL and GitHubAPIURL are OAUTH_<NAME>_GITHUB_URL (default
	// https://github.com) and OAUTH_<NAME>_GITHUB_API_URL (default
	// https://api.github.com; for GitHub Enterprise Server
	// https://HOST/api/v3).
	GitHubURL    string
	GitHubAPIURL string
}

// Config configures the providers (DefaultConfig; wire reads the
// variables and Validate checks them).
type Config struct {
	// PublicURL is API_PUBLIC_URL (default http://localhost:8000): the
	// API's own base URL. Each provider's registered redirect URI is
	// PublicURL + "/api/v1/auth/oauth/<name>/callback".
	PublicURL string
	// Providers are OAUTH_PROVIDERS, in order.
	Providers []ProviderConfig
	// RedirectAllowList is OAUTH_REDIRECT_ALLOWLIST, comma separated: the
	// exact URLs a flow may end on (oauth.Config.RedirectAllowList).
	RedirectAllowList []string
	// ErrorRedirect is OAUTH_ERROR_REDIRECT (default: none): where a
	// failure lands when the flow is unknown (oauth.Config.ErrorRedirect).
	ErrorRedirect string
	// HTTPTimeout bounds each request to a provider (OAUTH_HTTP_TIMEOUT,
	// default 10s).
	HTTPTimeout time.Duration
	// DiscoveryTTL is how long a discovery document is used before it is
	// fetched again (OAUTH_DISCOVERY_TTL, default 1h). Keys are fetched
	// again at once when a token names a key the cached set lacks.
	DiscoveryTTL time.Duration
}

// CallbackPath returns the path of a provider's callback.
func CallbackPath(name string) string { return "/api/v1/auth/oauth/" + name + "/callback" }

// RedirectURL returns the redirect URI to register at the provider.
func (c Config) RedirectURL(name string) string {
	return strings.TrimRight(c.PublicURL, "/") + CallbackPath(name)
}

var nameRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$`)

// EnvName returns the variable prefix of a provider: OAUTH_<NAME>_.
func EnvName(name string) string {
	return "OAUTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_"
}

// ValidName reports whether name may be a provider's name: [a-z0-9-], at
// most 32 characters, starting and ending with a letter or digit.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// DefaultConfig returns the defaults of the settings shared by every
// provider (none configured).
func DefaultConfig() Config {
	return Config{PublicURL: "http://localhost:8000", HTTPTimeout: 10 * time.Second, DiscoveryTTL: time.Hour}
}

// ProviderDefaults returns the defaults of provider name: its kind (github
// for the name github, oidc otherwise), display name, issuer (Google's for
// google), scopes, GitHub URLs and the client secret's variable.
func ProviderDefaults(name string) ProviderConfig {
	p := ProviderConfig{Name: name, Kind: KindOIDC, DisplayName: name, SecretVar: EnvName(name) + "CLIENT_SECRET",
		GitHubURL: "https://github.com", GitHubAPIURL: "https://api.github.com"}
	switch name {
	case "github":
		p.Kind, p.DisplayName = KindGitHub, "GitHub"
	case "google":
		p.DisplayName, p.Issuer = "Google", "https://accounts.google.com"
	}
	p.Scopes = ParseScopes(p.Kind, "")
	return p
}

// ParseScopes reads OAUTH_<NAME>_SCOPES, space or comma separated: ""
// gives the kind's defaults ("openid email profile"; GitHub "read:user
// user:email"), and OpenID providers always get openid.
func ParseScopes(kind Kind, v string) []string {
	scopes := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
	switch {
	case kind == KindGitHub && len(scopes) == 0:
		return []string{"read:user", "user:email"}
	case kind != KindOIDC:
		return scopes
	case len(scopes) == 0:
		return []string{"openid", "email", "profile"}
	case !contains(scopes, "openid"):
		return append([]string{"openid"}, scopes...)
	}
	return scopes
}

// Validate reports every unusable setting, naming its variable. In
// production API_PUBLIC_URL (when a provider is configured), every issuer
// and GitHub URL must be https, and the allow-list may not name http://.
// Client secrets are not checked here: New resolves them.
func (c Config) Validate(production bool) error {
	var errs []error
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	httpURL := func(v, name string, needHTTPS bool) {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			fail(name, "%q is not an http(s) URL", v)
		case needHTTPS && u.Scheme != "https":
			fail(name, "production needs https")
		}
	}
	httpURL(c.PublicURL, "API_PUBLIC_URL", production && len(c.Providers) > 0)
	if c.HTTPTimeout <= 0 {
		fail("OAUTH_HTTP_TIMEOUT", "must be positive")
	}
	if c.DiscoveryTTL <= 0 {
		fail("OAUTH_DISCOVERY_TTL", "must be positive")
	}
	for _, e := range c.RedirectAllowList {
		if err := oauth.CheckRedirectEntry(e); err != nil {
			fail("OAUTH_REDIRECT_ALLOWLIST", "%q %v", e, err)
		} else if production && strings.HasPrefix(strings.ToLower(e), "http://") {
			fail("OAUTH_REDIRECT_ALLOWLIST", "%q: production redirects must be https (or an app scheme)", e)
		}
	}
	if len(c.Providers) > 0 && len(c.RedirectAllowList) == 0 {
		fail("OAUTH_REDIRECT_ALLOWLIST", "set at least one address for flows to end on when OAUTH_PROVIDERS is set")
	}
	if c.ErrorRedirect != "" && !contains(c.RedirectAllowList, c.ErrorRedirect) {
		fail("OAUTH_ERROR_REDIRECT", "must be one of OAUTH_REDIRECT_ALLOWLIST")
	}
	seen := map[string]bool{}
	for _, p := range c.Providers {
		if !ValidName(p.Name) || seen[p.Name] {
			fail("OAUTH_PROVIDERS", "%q must be a unique name of lower-case letters, digits and '-' (at most 32)", p.Name)
			continue
		}
		seen[p.Name] = true
		pre := EnvName(p.Name)
		if p.ClientID == "" {
			fail(pre+"CLIENT_ID", "required for provider %s", p.Name)
		}
		if p.DisplayName == "" || len(p.DisplayName) > 64 {
			fail(pre+"DISPLAY_NAME", "1 to 64 characters")
		}
		switch p.Kind {
		case KindOIDC:
			if p.Issuer == "" {
				fail(pre+"ISSUER", "required for OpenID provider %s", p.Name)
			} else {
				httpURL(p.Issuer, pre+"ISSUER", production)
			}
		case KindGitHub:
			httpURL(p.GitHubURL, pre+"GITHUB_URL", production)
			httpURL(p.GitHubAPIURL, pre+"GITHUB_API_URL", production)
		default:
			fail(pre+"TYPE", "%q is not one of oidc, github", p.Kind)
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, v string) bool {
	for _, e := range list {
		if e == v {
			return true
		}
	}
	return false
}

// SecretNames lists the client-secret variables of the configured
// providers, for secrets checks (each also accepts NAME_FILE).
func (c Config) SecretNames() []string {
	out := make([]string, len(c.Providers))
	for i, p := range c.Providers {
		out[i] = p.SecretVar
	}
	return out
}

// UseSecrets sets every provider's ClientSecret to resolve its variable
// through resolve (in wire: secrets.Resolver.ResolveEnv over the
// process environment, so literals, references and NAME_FILE all work).
func (c *Config) UseSecrets(resolve func(ctx context.Context, name string) (secrets.Secret, error)) {
	for i := range c.Providers {
		name := c.Providers[i].SecretVar
		c.Providers[i].ClientSecret = func(ctx context.Context) (secrets.Secret, error) { return resolve(ctx, name) }
	}
}

// StaticSecret is a SecretSource of a fixed value (tests, tools).
func StaticSecret(v string) SecretSource {
	s := secrets.New(v, "")
	return func(context.Context) (secrets.Secret, error) { return s, nil }
}
