// Package oauth is sign-in with OAuth 2.0 and OpenID Connect providers
// (Google, GitHub, any OpenID provider by discovery): the web and app
// flows, the one-time code that ends them, and the identities that tie a
// provider's account to a local one. It sits beside core/identity and
// reaches it through the small ports below; the protocol work (discovery,
// JWKS, token exchange, ID token verification) is the Provider port's,
// implemented by adapters/oidc.
//
// Decisions a security review will look for:
//   - Flow state lives in the short-lived store under the SHA-256 of the
//     256-bit state, good for FlowTTL (10 min), and is taken atomically by
//     the callback: a state is good once, also across replicas. The record
//     is kept for another FlowTTL after it expires, so that a late callback
//     still lands on its own redirect_to (with oauth_state_invalid). It holds the
//     provider, the PKCE verifier and nonce sent to the provider, the
//     validated redirect_to, the intent (login or link) and, for a link,
//     the user and session that asked.
//   - The state is bound to the browser that started the flow: start hands
//     out a 256-bit browser secret (a __Host- cookie at the HTTP edge) and
//     stores its SHA-256 with the flow; the callback compares in constant
//     time. A browser that already holds a valid secret keeps it, so
//     parallel flows in one browser never overwrite each other's binding,
//     and each flow has its own verifier and nonce server-side.
//   - Towards providers: PKCE S256, a nonce checked against the ID token,
//     the RFC 9207 iss of the callback checked before the code is sent
//     anywhere, the ID token verified (signature from the provider's JWKS,
//     iss, aud, exp) and the userinfo sub compared with the ID token's (all
//     in the Provider adapter, whose contract says so).
//   - No token ever travels in a URL: the callback redirects to the exact
//     allow-listed redirect_to with a one-time code (256 bits, stored as
//     SHA-256, CodeTTL 60 s, taken atomically) that POST /auth/oauth/token
//     redeems for the normal login answer. The code is bound to whoever
//     started the flow: the app's own PKCE code_verifier when start got a
//     code_challenge, the browser secret otherwise.
//   - redirect_to must equal an allow-list entry character for character;
//     anything else is refused before a provider is contacted. Failures
//     after that land on redirect_to with ?error=<code>; failures before it
//     (unknown state, malformed callback) land on Config.ErrorRedirect or,
//     without one, become a problem response.
//   - Identities are keyed by (issuer, subject), never by email. An unknown
//     identity whose email belongs to an account is linked automatically
//     only when the provider asserted email_verified as the JSON boolean
//     true (a missing claim, false or the string "true" are all "not
//     verified"; for GitHub only a verified primary address counts):
//     if the local address was verified too, the accounts are linked as
//     they are; if it never was, the provider's proof wins and the
//     pre-hijack defence runs: the account's password is removed, its
//     sessions are ended, its address is marked verified and the owner is
//     mailed (whoever registered the address without proving it loses
//     every foothold). Otherwise nothing is created and the user is told
//     to sign in as before and link from the settings.
//   - The mirror case: an account created from a provider whose address
//     was not verified, and whose address was proven later by someone
//     (reset or verification link), no longer accepts that identity until
//     its owner links it again while signed in (Identity.Confirmed).
//   - Linking from the settings and unlinking need a session younger than
//     RecentLogin (15 min) or the password re-entered, and a verified
//     account email; the last way to sign in (the only identity of an
//     account without a password) cannot be unlinked, checked under the
//     user's row lock so that two concurrent unlinks cannot both pass.
//   - MFA applies as after a password: a user with MFA on gets the same
//     mfa_required answer and mfa_token; the session then records amr
//     ["oauth", method] at aal 2. Without MFA the session is aal 1, amr
//     ["oauth"]. Disabled users are refused at the callback and at the
//     exchange; a link flow whose session ended meanwhile is refused.
package oauth

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/identity"
)

// AMR is the amr value of a session opened through a provider.
const AMR = "oauth"

// Intent is what a flow is for.
type Intent string

// The intents.
const (
	IntentLogin Intent = "login"
	IntentLink  Intent = "link"
)

// Claims are the verified facts a provider asserted about its user.
type Claims struct {
	// Issuer and Subject identify the user at the provider: the ID
	// token's iss and sub for OpenID providers; a fixed issuer and the
	// numeric account ID for GitHub.
	Issuer  string
	Subject string
	// Email is the address the provider gave ("" when none).
	Email string
	// EmailVerified is true only when the same source as Email asserted
	// it: the JSON boolean true for OpenID, a verified primary address for
	// GitHub.
	EmailVerified bool
	Name          string
	AvatarURL     string
	// Extra holds a few non-secret claims worth keeping (preferred_username,
	// login, hd); at most 8 short values.
	Extra map[string]string
}

// Profile is what an identity remembers of the provider's account, as of
// the last login.
type Profile struct {
	Email         string
	EmailVerified bool
	DisplayName   string
	AvatarURL     string
	Claims        map[string]string
}

// Identity ties a provider account to a local user.
type Identity struct {
	ID       uuid.UUID
	UserID   uuid.UUID
	Provider string // the configured name ("google")
	Issuer   string
	Subject  string
	Profile
	// Confirmed is true when the link was made by someone who controlled
	// the account's verified address (signed in, or a provider that
	// verified the same address): see the package comment.
	Confirmed   bool
	CreatedAt   time.Time // first login through it
	LastLoginAt time.Time
}

// Error codes of the Identities port.
const (
	CodeIdentityNotFound       = "identity_not_found"
	CodeIdentityTaken          = "identity_taken"
	CodeProviderAlreadyLinked  = "identity_provider_linked"
	CodeIdentityExists         = "identity_exists"
	CodeIdentityUpdateConflict = "identity_update_invalid"
)

// Identities stores identities. Implementations take part in the
// transaction carried by ctx (uow.Runner); every method may also fail
// with apperr.Unavailable.
type Identities interface {
	// Create stores i. A zero ID is replaced by a new UUIDv7; the caller
	// sets the timestamps. Fails with apperr.Conflict "identity_taken"
	// when (Issuer, Subject) is linked already, "identity_provider_linked"
	// when the user has an identity of this Provider, "identity_exists"
	// when the ID is taken.
	Create(ctx context.Context, i *Identity) error
	// GetBySubject returns the identity of (issuer, subject), compared
	// exactly, or apperr.NotFound "identity_not_found".
	GetBySubject(ctx context.Context, issuer, subject string) (*Identity, error)
	// ListByUser returns the user's identities, oldest first.
	ListByUser(ctx context.Context, userID uuid.UUID) ([]Identity, error)
	// Update stores i's Profile, Confirmed and LastLoginAt (nothing else
	// changes). Fails with apperr.NotFound "identity_not_found".
	Update(ctx context.Context, i *Identity) error
	// Delete removes the identity id of userID and reports whether it
	// did: another user's identity is left alone and reported false.
	Delete(ctx context.Context, userID, id uuid.UUID) (bool, error)
}

// ProviderInfo names a configured provider for the login screens.
type ProviderInfo struct {
	Name        string // in URLs: /auth/oauth/{name}/start
	DisplayName string // "Google"
}

// Authorization is what the authorization request carries.
type Authorization struct {
	State    string
	Nonce    string
	Verifier string // PKCE code_verifier; the adapter sends its S256 challenge
}

// Completion is what a callback hands to the provider to finish a flow.
type Completion struct {
	Code string
	// Issuer is the callback's iss parameter (RFC 9207); IssuerGiven
	// tells an absent parameter from an empty one.
	Issuer      string
	IssuerGiven bool
	Verifier    string
	Nonce       string
}

// Error codes of the Provider port (and of this package's landings).
const (
	CodeProviderUnavailable = "oauth_provider_unavailable"
	CodeIssuerMismatch      = "oauth_issuer_mismatch"
	CodeTokenInvalid        = "oauth_token_invalid" // #nosec G101 -- an error code, not a credential
	CodeExchangeFailed      = "oauth_exchange_failed"
)

// Provider is one configured OAuth 2.0 / OpenID Connect provider.
type Provider interface {
	// AuthCodeURL returns the provider's authorization URL for a flow,
	// with the adapter's registered redirect URI, the configured scopes,
	// a.State, a.Nonce (OpenID) and the S256 challenge of a.Verifier.
	// Fails with apperr.Unavailable "oauth_provider_unavailable" when the
	// provider's metadata cannot be had.
	AuthCodeURL(ctx context.Context, a Authorization) (string, error)
	// Exchange finishes a flow and returns the verified claims. Before the
	// code leaves, it checks c.Issuer against the provider's issuer when
	// given, and requires it when the provider's metadata announces RFC
	// 9207 (apperr.Unauthenticated "oauth_issuer_mismatch"). It then
	// redeems the code with c.Verifier, verifies the ID token (signature
	// from the provider's keys, iss, aud = the client ID, exp, nonce =
	// c.Nonce), fetches userinfo and requires its sub to equal the ID
	// token's (apperr.Unauthenticated "oauth_token_invalid" for any of
	// these). A code the provider refuses is apperr.Unauthenticated
	// "oauth_exchange_failed"; a provider that cannot be reached or
	// answers 5xx is apperr.Unavailable "oauth_provider_unavailable".
	Exchange(ctx context.Context, c Completion) (Claims, error)
}

// Providers is the set of configured providers.
type Providers interface {
	// Lookup returns the provider of this name.
	Lookup(name string) (Provider, bool)
	// List returns every configured provider in configuration order.
	List() []ProviderInfo
}

// Users is what this package needs of the identity users repository
// (identity.Users, wrapped with its profile-cache invalidation).
type Users interface {
	Create(ctx context.Context, u *identity.User) error
	Get(ctx context.Context, id uuid.UUID) (*identity.User, error)
	GetByEmail(ctx context.Context, email string) (*identity.User, error)
	// Update is identity.Users.Update: the row is locked while fn runs,
	// so fn may read other repositories under that lock through the
	// caller's transaction.
	Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error
}

// Sessions reads sessions (identity.Sessions).
type Sessions interface {
	Get(ctx context.Context, id uuid.UUID) (*identity.Session, error)
}

// Accounts is what this package needs of the identity service
// (*identity.Service implements it).
type Accounts interface {
	// IssueSession opens a session at aal with amr and returns its tokens.
	IssueSession(ctx context.Context, u *identity.User, aal int, amr []string) (*identity.TokenPair, error)
	// RevokeAccess ends every session of the user and voids the links
	// mailed to the account (inside the caller's transaction when ctx
	// carries one).
	RevokeAccess(ctx context.Context, userID uuid.UUID, reason string) (int, error)
	// ConfirmPassword checks a re-entered password (step-up).
	ConfirmPassword(ctx context.Context, p identity.Principal, password string) error
}

// SecondFactor starts the MFA step for a login whose first factor was not
// a password (*mfa.Service implements it).
type SecondFactor interface {
	BeginLoginAfter(ctx context.Context, u *identity.User, meta identity.ClientMeta, first string) (identity.MFAChallenge, error)
}

// Events appends to the audit log (identity.Events).
type Events interface {
	Record(ctx context.Context, e *identity.Event) error
}

// The security events of this package.
const (
	EventLogin            identity.EventType = "oauth_login"
	EventIdentityLinked   identity.EventType = "identity_linked"
	EventIdentityUnlinked identity.EventType = "identity_unlinked"
	EventLinkRefused      identity.EventType = "oauth_link_refused"
)

// The email templates of this package, in core/notifications/templates.
const (
	TemplateIdentityLinked   = "oauth_identity_linked"
	TemplateIdentityUnlinked = "oauth_identity_unlinked"
	TemplatePasswordRemoved  = "oauth_password_removed"
)
