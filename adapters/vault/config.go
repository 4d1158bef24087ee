package vault

import (
	"fmt"
	"net/url"
	"time"

	"github.com/tradesense/tradesense/core/secrets"
)

// Auth methods.
const (
	AuthToken      = "token"
	AuthKubernetes = "kubernetes"
	AuthAppRole    = "approle"
)

// DefaultK8sTokenPath is where Kubernetes mounts the pod's service-account
// token.
const DefaultK8sTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token" // #nosec G101 -- a file path, not a credential

// Config configures the Vault provider. The adapter reads no environment
// variable itself (the Vault client library would, so New overrides what it
// picks up); the composition root fills this struct. Suggested variable names
// are in brackets; they match the Vault CLI's where one exists.
type Config struct {
	// Addr [VAULT_ADDR, required] is the server URL, e.g. https://vault:8200.
	Addr string
	// Namespace [VAULT_NAMESPACE, default none] is the Vault Enterprise /
	// HCP namespace.
	Namespace string

	// AuthMethod [VAULT_AUTH_METHOD, default "token"]: token, kubernetes or
	// approle.
	AuthMethod string
	// AuthMount [VAULT_AUTH_MOUNT, default the method's name] is where the
	// kubernetes or approle auth method is mounted.
	AuthMount string
	// Token [VAULT_TOKEN or VAULT_TOKEN_FILE] for token auth. A renewable
	// token is renewed in the background.
	Token secrets.Secret
	// K8sRole [VAULT_K8S_ROLE] is the Vault role for kubernetes auth.
	K8sRole string
	// K8sTokenPath [VAULT_K8S_TOKEN_PATH, default DefaultK8sTokenPath] is the
	// service-account JWT file; it is re-read at every login because the
	// kubelet rotates projected tokens.
	K8sTokenPath string
	// RoleID [VAULT_ROLE_ID] and SecretID [VAULT_SECRET_ID or
	// VAULT_SECRET_ID_FILE] for approle auth.
	RoleID   string
	SecretID secrets.Secret

	// CACert [VAULT_CACERT] is a PEM CA bundle file to verify the server.
	CACert string
	// ClientCert and ClientKey [VAULT_CLIENT_CERT, VAULT_CLIENT_KEY] are PEM
	// files for mutual TLS.
	ClientCert string
	ClientKey  string
	// TLSServerName [VAULT_TLS_SERVER_NAME] overrides the SNI host name.
	TLSServerName string
	// SkipVerify [VAULT_SKIP_VERIFY, default false] disables certificate
	// verification: development only; the production guard must refuse it.
	SkipVerify bool

	// KVVersion [VAULT_KV_VERSION, default 2] is the KV engine version of the
	// mounts references point at: 1 or 2.
	KVVersion int
	// Timeout [VAULT_CLIENT_TIMEOUT, default 10s] bounds each request.
	Timeout time.Duration
	// MaxRetries [VAULT_MAX_RETRIES, default 2] is how often a request that
	// failed with a 5xx, 412 or a connection error is retried; negative means
	// never.
	MaxRetries int
	// MinReloginInterval [default 5s] spaces logins out, so that a
	// misbehaving server (a lease shorter than the renewal grace, a 403 on
	// every read) cannot cause a login storm.
	MinReloginInterval time.Duration
}

func (c Config) withDefaults() (Config, error) {
	if c.AuthMethod == "" {
		c.AuthMethod = AuthToken
	}
	if c.AuthMount == "" {
		c.AuthMount = c.AuthMethod
	}
	if c.K8sTokenPath == "" {
		c.K8sTokenPath = DefaultK8sTokenPath
	}
	if c.KVVersion == 0 {
		c.KVVersion = 2
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 2
	}
	if c.MinReloginInterval == 0 {
		c.MinReloginInterval = 5 * time.Second
	}
	if c.MaxRetries < 0 {
		c.MaxRetries = 0
	}
	if c.Addr == "" {
		return c, fmt.Errorf("vault: address is required (VAULT_ADDR)")
	}
	if u, err := url.Parse(c.Addr); err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "unix") || u.Host == "" && u.Scheme != "unix" {
		return c, fmt.Errorf("vault: address %q is not an http(s) URL (VAULT_ADDR)", c.Addr)
	}
	if c.KVVersion != 1 && c.KVVersion != 2 {
		return c, fmt.Errorf("vault: KV version must be 1 or 2, not %d (VAULT_KV_VERSION)", c.KVVersion)
	}
	switch c.AuthMethod {
	case AuthToken:
		if c.Token.Reveal() == "" {
			return c, fmt.Errorf("vault: token auth needs a token (VAULT_TOKEN)")
		}
	case AuthKubernetes:
		if c.K8sRole == "" {
			return c, fmt.Errorf("vault: kubernetes auth needs a role (VAULT_K8S_ROLE)")
		}
	case AuthAppRole:
		if c.RoleID == "" || c.SecretID.Reveal() == "" {
			return c, fmt.Errorf("vault: approle auth needs a role id and a secret id (VAULT_ROLE_ID, VAULT_SECRET_ID)")
		}
	default:
		return c, fmt.Errorf("vault: unknown auth method %q (VAULT_AUTH_METHOD: token, kubernetes or approle)", c.AuthMethod)
	}
	return c, nil
}
