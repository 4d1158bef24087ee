package oauth

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/shortlived"
	"github.com/tradesense/tradesense/core/uow"
)

// Error codes of the service (stable: apps switch on them, and the
// landing's ?error= carries them).
const (
	CodeProviderUnknown    = "oauth_provider_unknown"
	CodeRedirectInvalid    = "oauth_redirect_invalid"
	CodeChallengeInvalid   = "oauth_code_challenge_invalid"
	CodeStateInvalid       = "oauth_state_invalid"
	CodeBrowserMismatch    = "oauth_browser_mismatch"
	CodeAccessDenied       = "oauth_access_denied"
	CodeProviderError      = "oauth_provider_error"
	CodeCodeInvalid        = "oauth_code_invalid"
	CodeEmailMissing       = "oauth_email_missing"
	CodeAccountExists      = "oauth_account_exists"
	CodeIdentityInUse      = "oauth_identity_taken"
	CodeAlreadyLinked      = "oauth_provider_already_linked"
	CodeIdentityStale      = "oauth_identity_unconfirmed"
	CodeReauthRequired     = "reauthentication_required"
	CodeEmailUnverified    = "email_unverified"
	CodeLastSignInMethod   = "last_sign_in_method"
	CodeTemporarilyDown    = "temporarily_unavailable"
	CodeServerError        = "server_error"
	codeTooManyRequests    = "too_many_requests"
	landingParamError      = "error"
	landingParamCode       = "code"
	landingParamProvider   = "provider"
	landingParamLinked     = "linked"
	reasonPreHijack        = "identity_linked_unverified_account"
	maxClaimLen            = 512
	maxExtraClaims         = 8
	detailProvider         = "provider"
	detailHow              = "how"
	detailReason           = "reason"
	howExisting            = "existing"
	howAuto                = "auto_verified_email"
	howVerifiedByProvider  = "verified_by_provider"
	howNewAccount          = "new_account"
	howSettings            = "settings"
	linkRefusedUnverified  = "email_not_verified_by_provider"
	linkRefusedTaken       = "identity_of_another_account"
	linkRefusedUnconfirmed = "identity_unconfirmed"
)

// Deps are the service's collaborators; all but SecondFactor and Log
// are required. Without SecondFactor a user with MFA on cannot finish an
// OAuth login (fail closed, apperr.Unavailable "mfa_unavailable").
type Deps struct {
	Providers    Providers
	Identities   Identities
	Users        Users
	Sessions     Sessions
	Accounts     Accounts
	SecondFactor SecondFactor
	Events       Events
	Tx           uow.Runner
	// Flows holds flow states and one-time codes (Redis in production,
	// shared by replicas).
	Flows   shortlived.Store
	Limiter ratelimit.Limiter
	Mailer  identity.Mailer
	Log     *slog.Logger
}

// Service is the OAuth use cases (see the package comment).
type Service struct {
	cfg Config
	d   Deps
}

// NewService returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Providers == nil || d.Identities == nil || d.Users == nil || d.Sessions == nil || d.Accounts == nil || d.Events == nil ||
		d.Tx == nil || d.Flows == nil || d.Limiter == nil || d.Mailer == nil {
		return nil, errors.New("oauth: a required dependency is missing")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, d: d}, nil
}

func (s *Service) now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// Providers lists the configured providers (GET /auth/providers).
func (s *Service) Providers() []ProviderInfo { return s.d.Providers.List() }

// StartRequest is what GET /auth/oauth/{provider}/start carries.
type StartRequest struct {
	Provider   string
	RedirectTo string
	// CodeChallenge and CodeChallengeMethod are the app's own PKCE
	// (optional; the method must then be S256).
	CodeChallenge       string
	CodeChallengeMethod string
	// BrowserSecret is the value of the flow cookie if the browser sent
	// one.
	BrowserSecret string
}

// Started is start's answer: redirect to AuthURL, and set the flow
// cookie to BrowserSecret until ExpiresAt, MaxAge from now (__Host-,
// HttpOnly, Secure, SameSite=Lax, Path=/).
type Started struct {
	AuthURL       string
	BrowserSecret string
	ExpiresAt     time.Time
	MaxAge        time.Duration
}

// Start begins a login flow. It fails, before any provider is contacted,
// with apperr.NotFound "oauth_provider_unknown", apperr.Invalid
// "oauth_redirect_invalid" (redirect_to not exactly allow-listed) or
// "oauth_code_challenge_invalid", apperr.RateLimited; and with
// apperr.Unavailable when the provider's metadata or the store cannot be
// had.
func (s *Service) Start(ctx context.Context, req StartRequest) (*Started, error) {
	return s.start(ctx, req, IntentLogin, uuid.Nil, uuid.Nil)
}

func (s *Service) start(ctx context.Context, req StartRequest, intent Intent, userID, sessionID uuid.UUID) (*Started, error) {
	if err := s.limit(ctx, "oauth:start:ip:", s.cfg.Limits.StartIP); err != nil {
		return nil, err
	}
	prov, ok := s.d.Providers.Lookup(req.Provider)
	if !ok {
		return nil, apperr.New(apperr.NotFound, CodeProviderUnknown, "No such sign-in provider.")
	}
	if !s.cfg.allowed(req.RedirectTo) {
		return nil, &apperr.Error{Kind: apperr.Invalid, Code: CodeRedirectInvalid, Message: "redirect_to is not an allowed address.",
			Fields: map[string]string{"redirect_to": "must be exactly one of the configured addresses"}}
	}
	switch {
	case req.CodeChallenge == "" && req.CodeChallengeMethod == "":
	case req.CodeChallengeMethod != "S256" || !validChallenge(req.CodeChallenge):
		return nil, &apperr.Error{Kind: apperr.Invalid, Code: CodeChallengeInvalid, Message: "code_challenge must be an S256 challenge.",
			Fields: map[string]string{"code_challenge": "must be base64url(SHA-256(code_verifier)) with code_challenge_method=S256"}}
	}
	browser := req.BrowserSecret
	if !wellFormed(browser) {
		var err error
		if browser, err = newToken(); err != nil {
			return nil, err
		}
	}
	state, err := newToken()
	if err != nil {
		return nil, err
	}
	nonce, err := newToken()
	if err != nil {
		return nil, err
	}
	verifier, err := newToken()
	if err != nil {
		return nil, err
	}
	exp := s.now().Add(s.cfg.FlowTTL)
	authURL, err := prov.AuthCodeURL(ctx, Authorization{State: state, Nonce: nonce, Verifier: verifier})
	if err != nil {
		return nil, err
	}
	b, err := encodeState(flowState{V: stateVersion, Provider: req.Provider, Intent: intent, UserID: userID, SessionID: sessionID,
		RedirectTo: req.RedirectTo, Verifier: verifier, Nonce: nonce, Browser: hashOf(browser), AppChallenge: req.CodeChallenge, ExpiresAt: exp})
	if err != nil {
		return nil, err
	}
	// The record outlives the flow by another FlowTTL: a callback that
	// comes late still finds its redirect_to and lands there with
	// oauth_state_invalid (ExpiresAt is what refuses it).
	if err := s.d.Flows.Put(ctx, flowKey(state), b, 2*s.cfg.FlowTTL); err != nil {
		return nil, fmt.Errorf("oauth: store flow: %w", err)
	}
	return &Started{AuthURL: authURL, BrowserSecret: browser, ExpiresAt: exp, MaxAge: s.cfg.FlowTTL}, nil
}

// CallbackRequest is what GET /auth/oauth/{provider}/callback carries.
type CallbackRequest struct {
	Provider      string
	RawQuery      string
	BrowserSecret string
}

// Landing is where a callback sends the browser (302 to Location, with
// Cache-Control: no-store and Referrer-Policy: no-referrer). Err is the
// failure that Location reports as ?error=<code>, nil on success: for
// logs and metrics, never for the response.
type Landing struct {
	Location string
	Err      error
}

// Callback finishes a flow. Every outcome with a place to land is a
// Landing: success (redirect_to?code=...&provider=..., or
// ?linked=<provider> for a link) or failure (?error=<code>). An error is
// returned only when there is nowhere to land (unknown or expired state
// and no Config.ErrorRedirect); its apperr kind is then Invalid
// "oauth_state_invalid", RateLimited or Unavailable.
func (s *Service) Callback(ctx context.Context, req CallbackRequest) (*Landing, error) {
	if err := s.limit(ctx, "oauth:callback:ip:", s.cfg.Limits.CallbackIP); err != nil {
		return s.land(ctx, nil, err)
	}
	p, err := ParseCallback(req.RawQuery)
	if err != nil {
		return s.land(ctx, nil, errStateInvalid())
	}
	raw, err := s.d.Flows.Take(ctx, flowKey(p.State))
	if apperr.Is(err, apperr.NotFound) {
		return s.land(ctx, nil, errStateInvalid())
	}
	if err != nil {
		return s.land(ctx, nil, err)
	}
	st, err := decodeFlow(raw)
	if err != nil {
		return s.land(ctx, nil, errStateInvalid())
	}
	// From here on redirect_to is the validated one of this flow.
	switch {
	case !s.now().Before(st.ExpiresAt) || st.Provider != req.Provider:
		return s.land(ctx, st, errStateInvalid())
	case !sameHash(req.BrowserSecret, st.Browser):
		s.d.Log.WarnContext(ctx, "oauth: callback from a browser that did not start the flow", "provider", st.Provider)
		return s.land(ctx, st, apperr.New(apperr.Forbidden, CodeBrowserMismatch, "This sign-in was started in another browser. Start again here."))
	case p.Error == "access_denied":
		return s.land(ctx, st, apperr.New(apperr.Forbidden, CodeAccessDenied, "Sign-in was cancelled at the provider."))
	case p.Error != "":
		s.d.Log.WarnContext(ctx, "oauth: provider returned an error", "provider", st.Provider, "error", truncate(p.Error, 64))
		return s.land(ctx, st, apperr.New(apperr.Unavailable, CodeProviderError, "The sign-in provider reported an error. Try again."))
	}
	prov, ok := s.d.Providers.Lookup(st.Provider)
	if !ok {
		return s.land(ctx, st, apperr.New(apperr.NotFound, CodeProviderUnknown, "No such sign-in provider."))
	}
	c, err := prov.Exchange(ctx, Completion{Code: p.Code, Issuer: p.Issuer, IssuerGiven: p.IssuerGiven, Verifier: st.Verifier, Nonce: st.Nonce})
	if err != nil {
		return s.land(ctx, st, err)
	}
	if err := cleanClaims(&c); err != nil {
		return s.land(ctx, st, err)
	}
	if st.Intent == IntentLink {
		if err := s.completeLink(ctx, st, c); err != nil {
			return s.land(ctx, st, err)
		}
		return &Landing{Location: withParams(st.RedirectTo, url.Values{landingParamLinked: {st.Provider}})}, nil
	}
	u, err := s.signIn(ctx, st.Provider, c)
	if err != nil {
		return s.land(ctx, st, err)
	}
	code, err := newToken()
	if err != nil {
		return s.land(ctx, st, err)
	}
	b, err := encodeState(codeState{V: stateVersion, UserID: u.ID, Provider: st.Provider, Browser: st.Browser, AppChallenge: st.AppChallenge,
		ExpiresAt: s.now().Add(s.cfg.CodeTTL)})
	if err == nil {
		err = s.d.Flows.Put(ctx, codeKey(code), b, s.cfg.CodeTTL)
	}
	if err != nil {
		return s.land(ctx, st, err)
	}
	return &Landing{Location: withParams(st.RedirectTo, url.Values{landingParamCode: {code}, landingParamProvider: {st.Provider}})}, nil
}

func errStateInvalid() error {
	return apperr.New(apperr.Invalid, CodeStateInvalid, "This sign-in link is invalid or has expired. Start again.")
}

// land turns a failure into a Landing on the flow's redirect_to (or
// Config.ErrorRedirect when st is nil), or returns it when there is
// nowhere to land.
func (s *Service) land(ctx context.Context, st *flowState, err error) (*Landing, error) {
	to := s.cfg.ErrorRedirect
	if st != nil {
		to = st.RedirectTo
	}
	code := landingCode(err)
	if code == CodeServerError {
		s.d.Log.ErrorContext(ctx, "oauth: callback failed", "error", err)
	}
	if to == "" {
		return nil, err
	}
	params := url.Values{landingParamError: {code}}
	if st != nil {
		params.Set(landingParamProvider, st.Provider)
	}
	return &Landing{Location: withParams(to, params), Err: err}, nil
}

// landingCodes are the codes a landing may show as they are; any other
// error shows by kind, so no internal code reaches a URL.
var landingCodes = map[string]bool{
	CodeStateInvalid: true, CodeBrowserMismatch: true, CodeAccessDenied: true, CodeProviderError: true, CodeProviderUnknown: true,
	CodeProviderUnavailable: true, CodeIssuerMismatch: true, CodeTokenInvalid: true, CodeExchangeFailed: true, CodeEmailMissing: true,
	CodeAccountExists: true, CodeIdentityInUse: true, CodeAlreadyLinked: true, CodeIdentityStale: true, CodeEmailUnverified: true,
	identity.CodeAccountDisabled: true, identity.CodeSessionRevoked: true, identity.CodeEmailInvalid: true,
}

func landingCode(err error) string {
	e, ok := apperr.As(err)
	switch {
	case ok && landingCodes[e.Code]:
		return e.Code
	case apperr.Is(err, apperr.RateLimited):
		return codeTooManyRequests
	case apperr.Is(err, apperr.Unavailable):
		return CodeTemporarilyDown
	}
	return CodeServerError
}

// ExchangeRequest is the body of POST /auth/oauth/token, with the flow
// cookie's value.
type ExchangeRequest struct {
	Code          string
	CodeVerifier  string
	BrowserSecret string
}

// Exchange redeems a one-time code for the login answer: tokens (aal 1,
// amr ["oauth"]), or the MFA challenge for a user with MFA on, exactly as
// a password login answers. The code is spent by the first attempt,
// right or wrong. Fails with apperr.Unauthenticated "oauth_code_invalid"
// (unknown, expired, spent, or a code_verifier or browser that does not
// match), apperr.Forbidden "account_disabled", apperr.RateLimited,
// apperr.Unavailable.
func (s *Service) Exchange(ctx context.Context, req ExchangeRequest) (identity.LoginResult, error) {
	if err := s.limit(ctx, "oauth:exchange:ip:", s.cfg.Limits.ExchangeIP); err != nil {
		return identity.LoginResult{}, err
	}
	if !wellFormed(req.Code) {
		return identity.LoginResult{}, errCodeInvalid()
	}
	raw, err := s.d.Flows.Take(ctx, codeKey(req.Code))
	if apperr.Is(err, apperr.NotFound) {
		return identity.LoginResult{}, errCodeInvalid()
	}
	if err != nil {
		return identity.LoginResult{}, err
	}
	cs, err := decodeCode(raw)
	if err != nil || !s.now().Before(cs.ExpiresAt) {
		return identity.LoginResult{}, errCodeInvalid()
	}
	if cs.AppChallenge != "" {
		if !validVerifier(req.CodeVerifier) || subtle.ConstantTimeCompare([]byte(s256(req.CodeVerifier)), []byte(cs.AppChallenge)) != 1 {
			return identity.LoginResult{}, errCodeInvalid()
		}
	} else if !sameHash(req.BrowserSecret, cs.Browser) {
		return identity.LoginResult{}, errCodeInvalid()
	}
	u, err := s.d.Users.Get(ctx, cs.UserID)
	if apperr.Is(err, apperr.NotFound) {
		return identity.LoginResult{}, errCodeInvalid()
	}
	if err != nil {
		return identity.LoginResult{}, err
	}
	if u.Disabled() {
		return identity.LoginResult{}, errDisabled()
	}
	if u.MFAEnabled {
		if s.d.SecondFactor == nil {
			return identity.LoginResult{}, apperr.New(apperr.Unavailable, identity.CodeMFAUnavailable, "Second-factor sign-in is unavailable; try again later.")
		}
		ch, err := s.d.SecondFactor.BeginLoginAfter(ctx, u, identity.ClientMetaFrom(ctx), AMR)
		if err != nil {
			return identity.LoginResult{}, err
		}
		return identity.LoginResult{MFA: &ch}, nil
	}
	pair, err := s.d.Accounts.IssueSession(ctx, u, 1, []string{AMR})
	if err != nil {
		return identity.LoginResult{}, err
	}
	return identity.LoginResult{Tokens: pair}, nil
}

func errCodeInvalid() error {
	return &apperr.Error{Kind: apperr.Unauthenticated, Code: CodeCodeInvalid, Message: "The sign-in code is invalid or has expired. Sign in again.",
		Fields: map[string]string{"code": "is invalid or expired"}}
}

func errDisabled() error {
	return apperr.New(apperr.Forbidden, identity.CodeAccountDisabled, "This account is disabled.")
}

// limit counts a hit on the caller's network under l.
func (s *Service) limit(ctx context.Context, prefix string, l ratelimit.Limit) error {
	r, err := s.d.Limiter.Hit(ctx, prefix+identity.ClientNetwork(identity.ClientMetaFrom(ctx).IP), l)
	if err != nil {
		return err
	}
	if !r.Allowed {
		return ratelimit.Exceeded(r, codeTooManyRequests, "Too many requests; try again later.")
	}
	return nil
}

// cleanClaims refuses claims without an identity and trims the rest to
// what is worth storing.
func cleanClaims(c *Claims) error {
	if c.Issuer == "" || c.Subject == "" || len(c.Issuer) > maxClaimLen || len(c.Subject) > 255 {
		return apperr.New(apperr.Unauthenticated, CodeTokenInvalid, "The sign-in provider's answer could not be verified.")
	}
	c.Email = strings.TrimSpace(c.Email)
	c.Name = truncate(strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, c.Name)), 100)
	if len(c.AvatarURL) > maxClaimLen || !strings.HasPrefix(c.AvatarURL, "https://") {
		c.AvatarURL = ""
	}
	extra := map[string]string{}
	for k, v := range c.Extra {
		if len(extra) == maxExtraClaims {
			break
		}
		if k != "" && len(k) <= 64 && v != "" {
			extra[k] = truncate(v, 256)
		}
	}
	c.Extra = extra
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for !utf8.ValidString(s) { // a rune cut midway is dropped whole
		s = s[:len(s)-1]
	}
	return s
}

// record appends an audit event.
func (s *Service) record(ctx context.Context, typ identity.EventType, userID uuid.UUID, details map[string]string) error {
	meta := identity.ClientMetaFrom(ctx)
	e := &identity.Event{UserID: userID, Type: typ, At: s.now(), IP: meta.IP, UserAgent: meta.UserAgent, Details: details}
	if err := s.d.Events.Record(ctx, e); err != nil {
		return fmt.Errorf("record %s: %w", typ, err)
	}
	return nil
}

func (s *Service) recordQuiet(ctx context.Context, typ identity.EventType, userID uuid.UUID, details map[string]string) {
	if err := s.record(ctx, typ, userID, details); err != nil {
		s.d.Log.ErrorContext(ctx, "oauth: audit event not recorded", "event", string(typ), "error", err)
	}
}

// mail enqueues a notification; data never holds a secret.
func (s *Service) mail(ctx context.Context, u *identity.User, template, idem string, data map[string]any) {
	meta := identity.ClientMetaFrom(ctx)
	data["DisplayName"] = u.DisplayName
	data["IP"] = meta.IP
	data["Time"] = s.now().Format(time.RFC1123)
	if _, err := s.d.Mailer.SendEmail(ctx, identity.Email{To: u.Email, Template: template, Data: data, IdempotencyKey: idem}); err != nil {
		s.d.Log.ErrorContext(ctx, "oauth: email not enqueued", "template", template, "error", err)
	}
}

func (s *Service) displayName(provider string) string {
	for _, p := range s.d.Providers.List() {
		if p.Name == provider {
			return p.DisplayName
		}
	}
	return provider
}
