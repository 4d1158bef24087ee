package oidc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/tradesense/tradesense/core/oauth"
)

// Registry is the configured providers (oauth.Providers).
type Registry struct {
	infos  []oauth.ProviderInfo
	byName map[string]oauth.Provider
}

var _ oauth.Providers = (*Registry)(nil)

// Options are the registry's collaborators; all may be zero.
type Options struct {
	// Client makes the requests to providers; nil builds one with
	// Config.HTTPTimeout.
	Client *http.Client
	Log    *slog.Logger
}

// New builds the registry. It resolves every client secret once, so that
// a missing or unresolvable one stops the start with its variable's name;
// providers themselves are contacted on first use.
func New(ctx context.Context, cfg Config, o Options) (*Registry, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Client == nil {
		rt := http.DefaultTransport
		if t, ok := rt.(*http.Transport); ok {
			rt = t.Clone()
		}
		o.Client = &http.Client{Timeout: cfg.HTTPTimeout, Transport: rt}
	}
	if o.Client.Timeout <= 0 {
		o.Client.Timeout = 10 * time.Second
	}
	if cfg.DiscoveryTTL <= 0 {
		cfg.DiscoveryTTL = time.Hour
	}
	r := &Registry{byName: map[string]oauth.Provider{}}
	var errs []error
	for _, p := range cfg.Providers {
		if p.ClientSecret == nil {
			errs = append(errs, fmt.Errorf("%s: no secret source (Config.UseSecrets)", p.SecretVar))
			continue
		}
		s, err := p.ClientSecret(ctx)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %w", p.SecretVar, err))
			continue
		case s.IsZero() || s.Len() == 0:
			errs = append(errs, fmt.Errorf("%s: required for provider %s (or %s_FILE)", p.SecretVar, p.Name, p.SecretVar))
			continue
		}
		var prov oauth.Provider
		switch p.Kind {
		case KindOIDC:
			prov, err = NewOpenID(p, cfg.RedirectURL(p.Name), o.Client, cfg.DiscoveryTTL, o.Log)
		case KindGitHub:
			prov, err = NewGitHub(p, cfg.RedirectURL(p.Name), o.Client, o.Log)
		default:
			err = fmt.Errorf("provider %s: unknown kind %q", p.Name, p.Kind)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.byName[p.Name] = prov
		r.infos = append(r.infos, oauth.ProviderInfo{Name: p.Name, DisplayName: p.DisplayName})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("oauth providers:\n%w", err)
	}
	return r, nil
}

// Lookup implements oauth.Providers.
func (r *Registry) Lookup(name string) (oauth.Provider, bool) {
	p, ok := r.byName[name]
	return p, ok
}

// List implements oauth.Providers.
func (r *Registry) List() []oauth.ProviderInfo { return append([]oauth.ProviderInfo(nil), r.infos...) }
