package wire

import (
	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/adapters/httpapi"
	"github.com/tradesense/tradesense/adapters/jwtauth"
	"github.com/tradesense/tradesense/adapters/oidc"
	"github.com/tradesense/tradesense/adapters/sqlstore"
	"github.com/tradesense/tradesense/core/analytics"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/imports"
	"github.com/tradesense/tradesense/core/journal"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/oauth"
	"github.com/tradesense/tradesense/core/trading"
)

// Stack is the api program as the component tests hold it
// (InitializeStack): its server, and the parts the tests reach behind it.
type Stack struct {
	Server   *httpapi.Server
	Identity *identity.Service
	Keys     *identity.KeyRing
	Tokens   *jwtauth.Tokens
	DB       *sqlstore.DB
	Cache    *cache.Layer
	// MFA and MFAFlows are the second factor (core/mfa).
	MFA      *mfa.Service
	MFAFlows *mfa.Flows
	// OAuth and OAuthProviders are sign-in through providers (core/oauth,
	// adapters/oidc).
	OAuth          *oauth.Service
	OAuthProviders *oidc.Registry
	// Trading and Journal are the trading journal (core/trading,
	// core/journal), over Blobs.
	Trading *trading.Service
	Journal *journal.Service
	Blobs   BlobStore
	// Realtime is the realtime engine (adapters/centrifuge).
	Realtime *centrifuge.Engine
	// Imports is broker imports (core/imports).
	Imports *imports.Service
	// Hasher is the process's one argon2id hasher and its concurrency bound.
	Hasher *identity.PasswordHasher
	// Analytics and Reports are the figures and the report files
	// (core/analytics); Jobs the job system that renders them.
	Analytics *analytics.Service
	Reports   *analytics.Reporter
	Jobs      *JobsRuntime
}
