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
// is the provider's name upper-cased with '-' as '_'.
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

// Config configures the providers.
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

// LoadConfig reads the configuration from getenv and reports every bad or
// missing variable by name. In production API_PUBLIC_URL and every issuer
// must be https, and the allow-list may not name http://localhost.
// Client secrets are not read here: see UseSecrets.
func LoadConfig(getenv func(string) string, production bool) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	var errs []error
	fail := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := get(name, "")
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			fail(name, "%q is not a positive duration such as 10s", v)
			return def
		}
		return d
	}
	cfg := Config{
		PublicURL:     strings.TrimRight(get("API_PUBLIC_URL", "http://localhost:8000"), "/"),
		ErrorRedirect: get("OAUTH_ERROR_REDIRECT", ""),
		HTTPTimeout:   dur("OAUTH_HTTP_TIMEOUT", 10*time.Second),
		DiscoveryTTL:  dur("OAUTH_DISCOVERY_TTL", time.Hour),
	}
	if u, err := url.Parse(cfg.PublicURL); err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "" {
		fail("API_PUBLIC_URL", "%q is not an http(s) base URL", cfg.PublicURL)
	} else if production && u.Scheme != "https" {
		fail("API_PUBLIC_URL", "production needs https (the redirect URIs registered at the providers derive from it)")
	}
	for e := range strings.SplitSeq(get("OAUTH_REDIRECT_ALLOWLIST", ""), ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if err := oauth.CheckRedirectEntry(e); err != nil {
			fail("OAUTH_REDIRECT_ALLOWLIST", "%q %v", e, err)
		} else if production && strings.HasPrefix(e, "http://") {
			fail("OAUTH_REDIRECT_ALLOWLIST", "%q: production redirects must be https (or an app scheme)", e)
		}
		cfg.RedirectAllowList = append(cfg.RedirectAllowList, e)
	}
	seen := map[string]bool{}
	for name := range strings.SplitSeq(get("OAUTH_PROVIDERS", ""), ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		if !nameRE.MatchString(name) || seen[name] {
			fail("OAUTH_PROVIDERS", "%q must be a unique name of lower-case letters, digits and '-' (at most 32)", name)
			continue
		}
		seen[name] = true
		p := readProvider(name, get, fail, production)
		cfg.Providers = append(cfg.Providers, p)
	}
	if len(cfg.Providers) > 0 && len(cfg.RedirectAllowList) == 0 {
		fail("OAUTH_REDIRECT_ALLOWLIST", "set at least one address for flows to end on when OAUTH_PROVIDERS is set")
	}
	if cfg.ErrorRedirect != "" && !contains(cfg.RedirectAllowList, cfg.ErrorRedirect) {
		fail("OAUTH_ERROR_REDIRECT", "must be one of OAUTH_REDIRECT_ALLOWLIST")
	}
	return cfg, errors.Join(errs...)
}

func readProvider(name string, get func(string, string) string, fail func(string, string, ...any), production bool) ProviderConfig {
	pre := EnvName(name)
	defKind, defDisplay, defIssuer := KindOIDC, name, ""
	switch name {
	case "github":
		defKind, defDisplay = KindGitHub, "GitHub"
	case "google":
		defDisplay, defIssuer = "Google", "https://accounts.google.com"
	}
	p := ProviderConfig{
		Name:        name,
		Kind:        Kind(strings.ToLower(get(pre+"TYPE", string(defKind)))),
		DisplayName: get(pre+"DISPLAY_NAME", defDisplay),
		ClientID:    get(pre+"CLIENT_ID", ""),
		SecretVar:   pre + "CLIENT_SECRET",
	}
	if p.ClientID == "" {
		fail(pre+"CLIENT_ID", "required for provider %s", name)
	}
	if len(p.DisplayName) > 64 {
		fail(pre+"DISPLAY_NAME", "at most 64 characters")
	}
	scopes := strings.FieldsFunc(get(pre+"SCOPES", ""), func(r rune) bool { return r == ' ' || r == ',' })
	httpsURL := func(v, name string) {
		u, err := url.Parse(v)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || u.RawQuery != "" || u.Fragment != "":
			fail(name, "%q is not an http(s) URL", v)
		case production && u.Scheme != "https":
			fail(name, "production needs https")
		}
	}
	switch p.Kind {
	case KindOIDC:
		p.Issuer = get(pre+"ISSUER", defIssuer)
		if p.Issuer == "" {
			fail(pre+"ISSUER", "required for OpenID provider %s", name)
		} else {
			httpsURL(p.Issuer, pre+"ISSUER")
		}
		if len(scopes) == 0 {
			scopes = []string{"openid", "email", "profile"}
		}
		if !contains(scopes, "openid") {
			scopes = append([]string{"openid"}, scopes...)
		}
	case KindGitHub:
		p.GitHubURL = strings.TrimRight(get(pre+"GITHUB_URL", "https://github.com"), "/")
		p.GitHubAPIURL = strings.TrimRight(get(pre+"GITHUB_API_URL", "https://api.github.com"), "/")
		httpsURL(p.GitHubURL, pre+"GITHUB_URL")
		httpsURL(p.GitHubAPIURL, pre+"GITHUB_API_URL")
		if len(scopes) == 0 {
			scopes = []string{"read:user", "user:email"}
		}
	default:
		fail(pre+"TYPE", "%q is not one of oidc, github", p.Kind)
	}
	p.Scopes = scopes
	return p
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
