// Package oidc implements core/oauth's Provider port: OpenID Connect
// providers found by discovery (github.com/coreos/go-oidc/v3 for discovery,
// JWKS and ID token verification; golang.org/x/oauth2 for the code flow
// with PKCE), and GitHub's OAuth 2.0 with its REST API. No JOSE is
// written here: signatures, algorithms and key selection are go-oidc's
// (go-jose), which never accepts alg "none" or HMAC keys.
package oidc

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/sync/singleflight"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

// OpenID is an OpenID Connect provider. Its discovery document is fetched
// on first use and again after DiscoveryTTL (a failed refresh keeps the
// last good one); go-oidc's key set caches the JWKS and fetches it again
// when a token names a key it lacks, so a provider rotating its keys
// breaks nothing.
type OpenID struct {
	cfg         ProviderConfig
	redirectURL string
	client      *http.Client
	ttl         time.Duration
	log         *slog.Logger

	mu        sync.Mutex
	cur       *discovered
	fetchedAt time.Time
	sf        singleflight.Group
}

var _ oauth.Provider = (*OpenID)(nil)

type discovered struct {
	p         *gooidc.Provider
	verifier  *gooidc.IDTokenVerifier
	issuer    string
	issParam  bool // authorization_response_iss_parameter_supported
	authStyle oauth2.AuthStyle
}

// NewOpenID returns the provider; it contacts nobody until first used.
func NewOpenID(cfg ProviderConfig, redirectURL string, client *http.Client, discoveryTTL time.Duration, log *slog.Logger) (*OpenID, error) {
	if cfg.Kind != KindOIDC || cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == nil || client == nil {
		return nil, fmt.Errorf("oidc: provider %s: issuer, client ID, client secret and HTTP client are required", cfg.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &OpenID{cfg: cfg, redirectURL: redirectURL, client: client, ttl: discoveryTTL, log: log}, nil
}

func unavailable(name string, cause error) error {
	return apperr.Wrap(fmt.Errorf("provider %s: %w", name, cause), apperr.Unavailable, oauth.CodeProviderUnavailable,
		"The sign-in provider cannot be reached; try again later.")
}

func invalidToken(name string, cause error) error {
	return apperr.Wrap(fmt.Errorf("provider %s: %w", name, cause), apperr.Unauthenticated, oauth.CodeTokenInvalid,
		"The sign-in provider's answer could not be verified.")
}

func issuerMismatch(name, got string) error {
	return apperr.Wrap(fmt.Errorf("provider %s: callback iss %q", name, got), apperr.Unauthenticated, oauth.CodeIssuerMismatch,
		"The sign-in answer came from another provider than the one asked.")
}

// discover returns the provider's metadata, fetching it when absent or
// older than the TTL. Concurrent callers share one fetch, bounded by the
// HTTP client's timeout whatever their own contexts do.
func (o *OpenID) discover(ctx context.Context) (*discovered, error) {
	o.mu.Lock()
	cur, age := o.cur, time.Since(o.fetchedAt)
	o.mu.Unlock()
	if cur != nil && age < o.ttl {
		return cur, nil
	}
	v, err, _ := o.sf.Do("discover", func() (any, error) {
		fctx, cancel := context.WithTimeout(gooidc.ClientContext(context.WithoutCancel(ctx), o.client), o.client.Timeout+time.Second)
		defer cancel()
		p, err := gooidc.NewProvider(fctx, o.cfg.Issuer)
		if err != nil {
			return nil, err
		}
		var meta struct {
			IssParam    bool     `json:"authorization_response_iss_parameter_supported"`
			AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
		}
		if err := p.Claims(&meta); err != nil {
			return nil, fmt.Errorf("discovery metadata: %w", err)
		}
		style := oauth2.AuthStyleInHeader
		if slices.Contains(meta.AuthMethods, "client_secret_post") {
			style = oauth2.AuthStyleInParams
		}
		d := &discovered{p: p, issuer: o.cfg.Issuer, issParam: meta.IssParam, authStyle: style,
			verifier: p.Verifier(&gooidc.Config{ClientID: o.cfg.ClientID})}
		o.mu.Lock()
		o.cur, o.fetchedAt = d, time.Now()
		o.mu.Unlock()
		return d, nil
	})
	if err != nil {
		if cur != nil {
			o.log.WarnContext(ctx, "oidc: discovery refresh failed; using the last document", "provider", o.cfg.Name, "error", err)
			return cur, nil
		}
		return nil, unavailable(o.cfg.Name, fmt.Errorf("discovery: %w", err))
	}
	return v.(*discovered), nil
}

func (o *OpenID) oauth2Config(d *discovered, secret string) *oauth2.Config {
	ep := d.p.Endpoint()
	ep.AuthStyle = d.authStyle
	return &oauth2.Config{ClientID: o.cfg.ClientID, ClientSecret: secret, Endpoint: ep, RedirectURL: o.redirectURL, Scopes: o.cfg.Scopes}
}

// AuthCodeURL implements oauth.Provider.
func (o *OpenID) AuthCodeURL(ctx context.Context, a oauth.Authorization) (string, error) {
	d, err := o.discover(ctx)
	if err != nil {
		return "", err
	}
	return o.oauth2Config(d, "").AuthCodeURL(a.State, gooidc.Nonce(a.Nonce), oauth2.S256ChallengeOption(a.Verifier)), nil
}

// Exchange implements oauth.Provider.
func (o *OpenID) Exchange(ctx context.Context, c oauth.Completion) (oauth.Claims, error) {
	d, err := o.discover(ctx)
	if err != nil {
		return oauth.Claims{}, err
	}
	if (c.IssuerGiven && c.Issuer != d.issuer) || (!c.IssuerGiven && d.issParam) {
		return oauth.Claims{}, issuerMismatch(o.cfg.Name, c.Issuer)
	}
	secret, err := o.cfg.ClientSecret(ctx)
	if err != nil {
		return oauth.Claims{}, fmt.Errorf("oidc: %s: %w", o.cfg.SecretVar, err)
	}
	ctx = gooidc.ClientContext(ctx, o.client)
	tok, err := o.oauth2Config(d, secret.Reveal()).Exchange(ctx, c.Code, oauth2.VerifierOption(c.Verifier))
	if err != nil {
		return oauth.Claims{}, exchangeError(o.cfg.Name, err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return oauth.Claims{}, invalidToken(o.cfg.Name, errors.New("token response without id_token"))
	}
	idt, err := d.verifier.Verify(ctx, raw)
	if err != nil {
		return oauth.Claims{}, invalidToken(o.cfg.Name, err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(c.Nonce)) != 1 || c.Nonce == "" {
		return oauth.Claims{}, invalidToken(o.cfg.Name, errors.New("nonce mismatch"))
	}
	var idc map[string]json.RawMessage
	if err := idt.Claims(&idc); err != nil {
		return oauth.Claims{}, invalidToken(o.cfg.Name, err)
	}
	if len(idt.Audience) > 1 && stringClaim(idc, "azp") != o.cfg.ClientID {
		return oauth.Claims{}, invalidToken(o.cfg.Name, errors.New("several audiences and azp is not this client"))
	}
	var uic map[string]json.RawMessage
	if d.p.UserInfoEndpoint() != "" {
		ui, err := d.p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return oauth.Claims{}, userinfoError(o.cfg.Name, err)
		}
		if ui.Subject != idt.Subject {
			return oauth.Claims{}, invalidToken(o.cfg.Name, errors.New("userinfo sub differs from the ID token's"))
		}
		if err := ui.Claims(&uic); err != nil {
			return oauth.Claims{}, invalidToken(o.cfg.Name, err)
		}
	}
	// The configured issuer names the identity: go-oidc accepted the token as
	// its own (Google may write iss without the scheme).
	return claimsOf(d.issuer, idt.Subject, idc, uic), nil
}

// claimsOf picks the facts from the ID token's claims, falling back to
// userinfo's; the email and its verification always come from the same
// source.
func claimsOf(issuer, subject string, idc, uic map[string]json.RawMessage) oauth.Claims {
	c := oauth.Claims{Issuer: issuer, Subject: subject, Extra: map[string]string{}}
	src := idc
	if stringClaim(src, "email") == "" {
		src = uic
	}
	c.Email = stringClaim(src, "email")
	c.EmailVerified = c.Email != "" && trueClaim(src, "email_verified")
	for _, from := range []map[string]json.RawMessage{idc, uic} {
		if c.Name == "" {
			c.Name = stringClaim(from, "name")
		}
		if c.AvatarURL == "" {
			c.AvatarURL = stringClaim(from, "picture")
		}
		for _, k := range []string{"preferred_username", "hd", "locale"} {
			if v := stringClaim(from, k); v != "" && c.Extra[k] == "" {
				c.Extra[k] = v
			}
		}
	}
	return c
}

// trueClaim reports whether the claim is the JSON boolean true: a missing
// claim, false, "true" or 1 are not.
func trueClaim(m map[string]json.RawMessage, k string) bool {
	return string(m[k]) == "true"
}

func stringClaim(m map[string]json.RawMessage, k string) string {
	var s string
	if raw, ok := m[k]; !ok || json.Unmarshal(raw, &s) != nil {
		return ""
	}
	return s
}

// exchangeError classifies a failed token request: a provider that
// refused the code (4xx, or an error in the body) or one that could not
// answer.
func exchangeError(name string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && (re.Response == nil || re.Response.StatusCode < 500) {
		return apperr.Wrap(fmt.Errorf("provider %s: token: %s", name, re.ErrorCode), apperr.Unauthenticated, oauth.CodeExchangeFailed,
			"The sign-in provider refused the sign-in; start again.")
	}
	return unavailable(name, fmt.Errorf("token: %w", err))
}

// userinfoError classifies a failed userinfo request. go-oidc reports a
// non-200 answer as "<status>: <body>": a 5xx or a transport failure is
// the provider being down, anything else (4xx, a body that does not
// decode) an answer that cannot be trusted.
func userinfoError(name string, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) || errors.Is(err, context.DeadlineExceeded) || (len(err.Error()) > 0 && err.Error()[0] == '5') {
		return unavailable(name, fmt.Errorf("userinfo: %w", err))
	}
	return invalidToken(name, fmt.Errorf("userinfo: %w", err))
}
