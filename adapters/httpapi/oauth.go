package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/oauth"
)

// What the OAuth operations ask of the OAuth module, one interface per
// concern; *oauth.Service is both (OAuth).
type (
	// OAuthLogins are the sign-in flows through providers.
	OAuthLogins interface {
		Providers() []oauth.ProviderInfo
		Start(ctx context.Context, req oauth.StartRequest) (*oauth.Started, error)
		Callback(ctx context.Context, req oauth.CallbackRequest) (*oauth.Landing, error)
		Exchange(ctx context.Context, req oauth.ExchangeRequest) (identity.LoginResult, error)
	}
	// LinkedIdentities are the caller's provider accounts.
	LinkedIdentities interface {
		Identities(ctx context.Context, p identity.Principal) ([]oauth.Identity, error)
		StartLink(ctx context.Context, p identity.Principal, req oauth.LinkRequest) (*oauth.Started, error)
		Unlink(ctx context.Context, p identity.Principal, id uuid.UUID, password string) error
	}
	// OAuth is the OAuth module as the API serves it.
	OAuth interface {
		OAuthLogins
		LinkedIdentities
	}
)

// FlowCookie is the cookie that binds OAuth flows to the browser that
// started them. The __Host- prefix makes browsers refuse it unless it is
// Secure, has Path=/ and no Domain: no sibling subdomain can plant or
// overwrite it.
const FlowCookie = "__Host-ts_oauth"

// callbackPath is the registered redirect URI's path (adapters/oidc's
// CallbackPath), served by hand: see oauthHandlers.callback.
const callbackPath = "/api/v1/auth/oauth/:provider/callback"

// noStore is the Cache-Control of every answer that carries a flow.
const noStore = "no-store"

// oauthHandlers serve /api/v1/auth/providers, /api/v1/auth/oauth and
// /api/v1/auth/identities: thin translations between HTTP and the OAuth
// module, which holds every rule (core/oauth).
type oauthHandlers struct {
	svc OAuth
	log *slog.Logger
}

// flowCookie renders the Set-Cookie of a started flow: the browser
// secret until the flow expires.
func flowCookie(st *oauth.Started) string {
	c := http.Cookie{Name: FlowCookie, Value: st.BrowserSecret, Path: "/", MaxAge: max(1, int(st.MaxAge/time.Second)),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode}
	return c.String()
}

func cookieValue(c *gen.OAuthFlowCookie) string {
	if c == nil {
		return ""
	}
	return *c
}

func (h *oauthHandlers) ListAuthProviders(context.Context, gen.ListAuthProvidersRequestObject) (gen.ListAuthProvidersResponseObject, error) {
	list := h.svc.Providers()
	out := gen.ListAuthProviders200JSONResponse{Providers: make([]gen.AuthProvider, len(list))}
	for i, p := range list {
		out.Providers[i] = gen.AuthProvider{Name: p.Name, DisplayName: p.DisplayName}
	}
	return out, nil
}

func (h *oauthHandlers) StartOAuth(ctx context.Context, r gen.StartOAuthRequestObject) (gen.StartOAuthResponseObject, error) {
	req := oauth.StartRequest{Provider: r.Provider, RedirectTo: r.Params.RedirectTo, CodeChallenge: deref(r.Params.CodeChallenge),
		BrowserSecret: cookieValue(r.Params.UnderscoreUnderscoreHostTsOauth)}
	if r.Params.CodeChallengeMethod != nil {
		req.CodeChallengeMethod = string(*r.Params.CodeChallengeMethod)
	}
	st, err := h.svc.Start(ctx, req)
	if err != nil {
		return nil, err
	}
	return gen.StartOAuth302Response{Headers: gen.StartOAuth302ResponseHeaders{Location: st.AuthURL, SetCookie: flowCookie(st), CacheControl: noStore}}, nil
}

// callback serves the provider's redirect back to us. It is the one
// OAuth operation outside the generated server (tag raw in the spec):
// the authorization response is the provider's, with parameters of its
// own, and it must reach core/oauth's parser as it came, repeated or odd
// parameters included, so that the one parser decides (and a malformed
// response still lands on the error page rather than failing binding).
// The flow cookie is read as the browser sent it and left in place.
func (h *oauthHandlers) callback(c *gin.Context) {
	c.Header("Cache-Control", noStore)
	c.Header("Referrer-Policy", "no-referrer")
	var secret string
	if ck, err := c.Request.Cookie(FlowCookie); err == nil {
		secret = ck.Value
	}
	ctx := c.Request.Context()
	l, err := h.svc.Callback(ctx, oauth.CallbackRequest{Provider: c.Param("provider"), RawQuery: c.Request.URL.RawQuery, BrowserSecret: secret})
	if err != nil {
		writeProblem(c, h.log, err)
		return
	}
	if l.Err != nil {
		h.log.InfoContext(ctx, "oauth callback refused", "provider", c.Param("provider"), "code", apperr.CodeOf(l.Err), "kind", apperr.KindOf(l.Err).String())
	}
	c.Header("Location", l.Location)
	c.Status(http.StatusFound)
	c.Writer.WriteHeaderNow()
}

// loginBody is the answer of every first sign-in step (password or
// provider): tokens, or the second factor's challenge.
func loginBody(res identity.LoginResult) gen.LoginResponse {
	if res.MFA != nil {
		yes := true
		methods := res.MFA.Methods
		return gen.LoginResponse{MfaRequired: &yes, MfaToken: &res.MFA.Token, Methods: &methods}
	}
	t := tokenBody(res.Tokens)
	no := false
	bearer := gen.LoginResponseTokenTypeBearer
	return gen.LoginResponse{AccessToken: &t.AccessToken, RefreshToken: &t.RefreshToken, TokenType: &bearer,
		ExpiresIn: &t.ExpiresIn, User: &t.User, MfaRequired: &no}
}

func (h *oauthHandlers) ExchangeOAuthCode(ctx context.Context, r gen.ExchangeOAuthCodeRequestObject) (gen.ExchangeOAuthCodeResponseObject, error) {
	res, err := h.svc.Exchange(ctx, oauth.ExchangeRequest{Code: r.Body.Code, CodeVerifier: deref(r.Body.CodeVerifier),
		BrowserSecret: cookieValue(r.Params.UnderscoreUnderscoreHostTsOauth)})
	if err != nil {
		return nil, err
	}
	return gen.ExchangeOAuthCode200JSONResponse(loginBody(res)), nil
}

func (h *oauthHandlers) ListIdentities(ctx context.Context, _ gen.ListIdentitiesRequestObject) (gen.ListIdentitiesResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	list, err := h.svc.Identities(ctx, p)
	if err != nil {
		return nil, err
	}
	out := gen.ListIdentities200JSONResponse{Identities: make([]gen.LinkedIdentity, len(list))}
	for i, id := range list {
		li := gen.LinkedIdentity{Id: id.ID, Provider: id.Provider, EmailVerified: id.EmailVerified, LinkedAt: id.CreatedAt.UTC(), LastLoginAt: id.LastLoginAt.UTC()}
		if id.Email != "" {
			li.Email = &list[i].Email
		}
		if id.DisplayName != "" {
			li.DisplayName = &list[i].DisplayName
		}
		if id.AvatarURL != "" {
			li.AvatarUrl = &list[i].AvatarURL
		}
		out.Identities[i] = li
	}
	return out, nil
}

func (h *oauthHandlers) LinkIdentity(ctx context.Context, r gen.LinkIdentityRequestObject) (gen.LinkIdentityResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	req := oauth.LinkRequest{StartRequest: oauth.StartRequest{Provider: r.Identity, RedirectTo: r.Body.RedirectTo, CodeChallenge: deref(r.Body.CodeChallenge),
		BrowserSecret: cookieValue(r.Params.UnderscoreUnderscoreHostTsOauth)}, Password: deref(r.Body.Password)}
	if r.Body.CodeChallengeMethod != nil {
		req.CodeChallengeMethod = string(*r.Body.CodeChallengeMethod)
	}
	st, err := h.svc.StartLink(ctx, p, req)
	if err != nil {
		return nil, err
	}
	return gen.LinkIdentity200JSONResponse{Body: gen.AuthorizationStarted{AuthorizationUrl: st.AuthURL, ExpiresAt: st.ExpiresAt.UTC()},
		Headers: gen.LinkIdentity200ResponseHeaders{SetCookie: flowCookie(st), CacheControl: noStore}}, nil
}

func (h *oauthHandlers) UnlinkIdentity(ctx context.Context, r gen.UnlinkIdentityRequestObject) (gen.UnlinkIdentityResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	return gen.UnlinkIdentity204Response{}, h.svc.Unlink(ctx, p, r.Identity, deref(r.Params.XCurrentPassword))
}
