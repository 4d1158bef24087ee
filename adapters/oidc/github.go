package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
	"golang.org/x/sync/errgroup"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/oauth"
)

// GitHub is GitHub's OAuth 2.0 (github.com or GitHub Enterprise Server).
// It is not OpenID Connect: the account is read from the REST API (GET
// /user, and GET /user/emails for the addresses with their verification),
// and the identity is (GitHubURL + "/login/oauth", the numeric account ID):
// logins can be renamed, IDs cannot.
type GitHub struct {
	cfg         ProviderConfig
	redirectURL string
	client      *http.Client
	log         *slog.Logger
}

var _ oauth.Provider = (*GitHub)(nil)

// NewGitHub returns the provider.
func NewGitHub(cfg ProviderConfig, redirectURL string, client *http.Client, log *slog.Logger) (*GitHub, error) {
	if cfg.Kind != KindGitHub || cfg.ClientID == "" || cfg.ClientSecret == nil || client == nil || cfg.GitHubURL == "" || cfg.GitHubAPIURL == "" {
		return nil, fmt.Errorf("oidc: provider %s: client ID, client secret, GitHub URLs and HTTP client are required", cfg.Name)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &GitHub{cfg: cfg, redirectURL: redirectURL, client: client, log: log}, nil
}

// Issuer is the iss GitHub puts on its callbacks (RFC 9207) and the
// issuer of its identities.
func (g *GitHub) Issuer() string { return g.cfg.GitHubURL + "/login/oauth" }

func (g *GitHub) oauth2Config(secret string) *oauth2.Config {
	return &oauth2.Config{ClientID: g.cfg.ClientID, ClientSecret: secret, RedirectURL: g.redirectURL, Scopes: g.cfg.Scopes,
		Endpoint: oauth2.Endpoint{AuthURL: g.cfg.GitHubURL + "/login/oauth/authorize", TokenURL: g.cfg.GitHubURL + "/login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams}}
}

// AuthCodeURL implements oauth.Provider (GitHub honours PKCE S256).
func (g *GitHub) AuthCodeURL(_ context.Context, a oauth.Authorization) (string, error) {
	return g.oauth2Config("").AuthCodeURL(a.State, oauth2.S256ChallengeOption(a.Verifier)), nil
}

type githubUser struct {
	ID        int64  `json:"id"`
	Login     string `json:"login"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	AvatarURL string `json:"avatar_url"`
}

type githubEmail struct {
	Email    string          `json:"email"`
	Primary  json.RawMessage `json:"primary"`
	Verified json.RawMessage `json:"verified"`
}

// Exchange implements oauth.Provider. The verified address is the
// primary one of /user/emails when GitHub says it is verified (the JSON
// boolean true); a primary address not yet verified is returned as
// unverified, and without the user:email scope the public profile address
// counts as unverified.
func (g *GitHub) Exchange(ctx context.Context, c oauth.Completion) (oauth.Claims, error) {
	if c.IssuerGiven && c.Issuer != g.Issuer() {
		return oauth.Claims{}, issuerMismatch(g.cfg.Name, c.Issuer)
	}
	secret, err := g.cfg.ClientSecret(ctx)
	if err != nil {
		return oauth.Claims{}, fmt.Errorf("oidc: %s: %w", g.cfg.SecretVar, err)
	}
	tok, err := g.oauth2Config(secret.Reveal()).Exchange(context.WithValue(ctx, oauth2.HTTPClient, g.client), c.Code, oauth2.VerifierOption(c.Verifier))
	if err != nil {
		return oauth.Claims{}, exchangeError(g.cfg.Name, err)
	}
	var u githubUser
	var emails []githubEmail
	var emailsErr error
	eg, ectx := errgroup.WithContext(ctx)
	eg.Go(func() error { return g.get(ectx, tok, "/user", &u) })
	eg.Go(func() error {
		emailsErr = g.get(ectx, tok, "/user/emails", &emails)
		return nil
	})
	if err := eg.Wait(); err != nil {
		return oauth.Claims{}, err
	}
	if u.ID <= 0 {
		return oauth.Claims{}, invalidToken(g.cfg.Name, errors.New("/user without an id"))
	}
	out := oauth.Claims{Issuer: g.Issuer(), Subject: strconv.FormatInt(u.ID, 10), Name: u.Name, AvatarURL: u.AvatarURL,
		Extra: map[string]string{"login": u.Login}}
	if out.Name == "" {
		out.Name = u.Login
	}
	switch {
	case emailsErr == nil:
		for _, e := range emails {
			if string(e.Primary) == "true" {
				out.Email, out.EmailVerified = e.Email, string(e.Verified) == "true"
			}
		}
	case apperr.Is(emailsErr, apperr.Forbidden):
		g.log.WarnContext(ctx, "oidc: GitHub /user/emails refused (no user:email scope?); the profile address counts as unverified", "provider", g.cfg.Name)
		out.Email = u.Email
	default:
		return oauth.Claims{}, emailsErr
	}
	return out, nil
}

// get reads one API resource into v: 401 is an invalid token, 403 and 404
// apperr.Forbidden (a missing scope), others unavailable.
func (g *GitHub) get(ctx context.Context, tok *oauth2.Token, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.cfg.GitHubAPIURL+path, nil)
	if err != nil {
		return err
	}
	tok.SetAuthHeader(req)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	resp, err := g.client.Do(req)
	if err != nil {
		return unavailable(g.cfg.Name, fmt.Errorf("GET %s: %w", path, err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return unavailable(g.cfg.Name, fmt.Errorf("GET %s: %w", path, err))
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return invalidToken(g.cfg.Name, fmt.Errorf("GET %s: 401", path))
	case resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusNotFound:
		return apperr.Wrap(fmt.Errorf("GET %s: %d", path, resp.StatusCode), apperr.Forbidden, oauth.CodeProviderError, "GitHub refused the request.")
	case resp.StatusCode != http.StatusOK:
		return unavailable(g.cfg.Name, fmt.Errorf("GET %s: %d", path, resp.StatusCode))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return invalidToken(g.cfg.Name, fmt.Errorf("GET %s: %w", path, err))
	}
	return nil
}
