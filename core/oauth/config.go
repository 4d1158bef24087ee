package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/tradesense/tradesense/core/ratelimit"
)

// Config holds the package's policies. Variable names are in
// docs/oauth.md; adapters/oidc reads them.
type Config struct {
	// RedirectAllowList are the exact URLs a flow may end on
	// (OAUTH_REDIRECT_ALLOWLIST): absolute, no query, fragment or
	// credentials; https, http only for localhost, or an app's own scheme.
	RedirectAllowList []string
	// ErrorRedirect is where failures land when the flow's own
	// redirect_to is not known (an unknown or expired state); it must be
	// in the allow-list. "" makes them problem responses.
	ErrorRedirect string
	// PublicURL is the web app's base URL, for links in mails.
	PublicURL string
	// FlowTTL bounds a flow from start to callback (10 min).
	FlowTTL time.Duration
	// CodeTTL bounds the one-time code from callback to exchange (60 s).
	CodeTTL time.Duration
	// RecentLogin is how young a session must be to link or unlink
	// without re-entering the password (15 min).
	RecentLogin time.Duration
	Limits      Limits
}

// Limits are the per-IP budgets of the endpoints.
type Limits struct {
	StartIP    ratelimit.Limit
	CallbackIP ratelimit.Limit
	ExchangeIP ratelimit.Limit
}

// DefaultConfig returns the defaults; ipScale multiplies the per-IP
// budgets (AUTH_IP_RATE_MULTIPLIER).
func DefaultConfig(ipScale float64) Config {
	if ipScale <= 0 {
		ipScale = 1
	}
	ip := func(n int) ratelimit.Limit {
		return ratelimit.Limit{Max: max(1, int(float64(n)*ipScale)), Window: time.Minute}
	}
	return Config{
		PublicURL:   "http://localhost:3000",
		FlowTTL:     10 * time.Minute,
		CodeTTL:     time.Minute,
		RecentLogin: 15 * time.Minute,
		Limits:      Limits{StartIP: ip(30), CallbackIP: ip(30), ExchangeIP: ip(60)},
	}
}

// Validate reports unusable settings, naming the variable.
func (c Config) Validate() error {
	var errs []error
	for _, e := range c.RedirectAllowList {
		if err := CheckRedirectEntry(e); err != nil {
			errs = append(errs, fmt.Errorf("OAUTH_REDIRECT_ALLOWLIST: %q: %w", e, err))
		}
	}
	if c.ErrorRedirect != "" && !c.allowed(c.ErrorRedirect) {
		errs = append(errs, errors.New("OAUTH_ERROR_REDIRECT: must be one of OAUTH_REDIRECT_ALLOWLIST"))
	}
	if c.FlowTTL < time.Minute || c.FlowTTL > time.Hour {
		errs = append(errs, errors.New("oauth: flow TTL must be from 1m to 1h"))
	}
	if c.CodeTTL < 10*time.Second || c.CodeTTL > 5*time.Minute {
		errs = append(errs, errors.New("oauth: code TTL must be from 10s to 5m"))
	}
	if c.RecentLogin < time.Minute {
		errs = append(errs, errors.New("oauth: recent-login window must be at least 1m"))
	}
	for _, l := range []ratelimit.Limit{c.Limits.StartIP, c.Limits.CallbackIP, c.Limits.ExchangeIP} {
		if err := l.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// allowed reports whether to is an allow-list entry: the very same
// string. No normalisation happens, so no two parsers can disagree about
// what was allowed, and what the browser is sent to is the operator's own
// string.
func (c Config) allowed(to string) bool {
	for _, e := range c.RedirectAllowList {
		if e == to {
			return true
		}
	}
	return false
}

// refusedSchemes can run code or read local files in a browser.
var refusedSchemes = map[string]bool{"javascript": true, "data": true, "vbscript": true, "file": true, "blob": true, "about": true}

// CheckRedirectEntry reports why an allow-list entry is unusable: it must
// parse as an absolute URL without query, fragment, credentials, spaces or
// control characters; https (http only for localhost and loopback
// addresses), or an app's own scheme (RFC 8252, "com.example.app:/cb").
func CheckRedirectEntry(e string) error {
	if e == "" || len(e) > 2048 || strings.ContainsFunc(e, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\\' }) {
		return errors.New("must be a URL without spaces, backslashes or control characters")
	}
	u, err := url.Parse(e)
	if err != nil {
		return errors.New("does not parse as a URL")
	}
	scheme := strings.ToLower(u.Scheme)
	switch {
	case scheme == "":
		return errors.New("must be absolute (scheme://host/path)")
	case refusedSchemes[scheme]:
		return fmt.Errorf("scheme %s is not allowed", scheme)
	case u.Opaque != "":
		return errors.New("must have a path (scheme:/path or scheme://host/path)")
	case u.User != nil:
		return errors.New("must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(e, "?#"):
		return errors.New("must not have a query or fragment")
	}
	if scheme == "https" || scheme == "http" {
		if u.Host == "" {
			return errors.New("must name a host")
		}
		if scheme == "http" {
			switch u.Hostname() {
			case "localhost", "127.0.0.1", "::1":
			default:
				return errors.New("http is only for localhost; use https")
			}
		}
	}
	return nil
}

// withParams returns the allow-listed to with params as its query; to
// has no query (CheckRedirectEntry).
func withParams(to string, params url.Values) string {
	return to + "?" + params.Encode()
}
