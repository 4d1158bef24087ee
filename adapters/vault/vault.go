// Package vault serves "vault:" secret references from HashiCorp Vault (or
// OpenBao) KV secrets engines, version 2 or 1.
//
// Authentication is by token, Kubernetes service-account JWT or AppRole. The
// client token is renewed in the background with the library's
// LifetimeWatcher; when it can no longer be renewed (max TTL reached, or
// renewal failed) the provider logs in again (kubernetes, approle) or logs an
// error (a static token cannot be replaced). A read refused with 403 also
// triggers one fresh login and a retry, which covers a token revoked
// underneath us.
//
// Reference mapping (KV v2): vault:secret/tradesense/api#jwt_key reads
// GET /v1/secret/data/tradesense/api and returns data.data.jwt_key;
// vault:secret/data/tradesense/api#jwt_key (the API path) reads the same; a
// mount made of several segments must be written in that API-path form
// (vault:kv/team-a/data/app#k). ?version=N reads that version. KV v1:
// vault:kv/app#k reads GET /v1/kv/app.
package vault

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-cleanhttp"
	"github.com/hashicorp/vault/api"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/core/secrets"
)

const backend = "vault"

const instrumentation = "github.com/tradesense/tradesense/adapters/vault"

// Provider implements secrets.Provider over a Vault client.
type Provider struct {
	cfg    Config
	client *api.Client
	log    *slog.Logger
	tracer trace.Tracer

	loginMu   sync.Mutex
	lastLogin time.Time
	loginTok  *api.Secret // the auth response of the last login, for the watcher
	relogin   chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

var _ secrets.Provider = (*Provider)(nil)

// New connects to Vault, authenticates (failing fast on a bad token or login)
// and starts token renewal. The cleanup stops renewal and, for tokens it
// obtained by logging in, revokes the token (a static token is left alone).
// log and tp may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, tp trace.TracerProvider) (*Provider, func(), error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	client, err := newClient(cfg)
	if err != nil {
		return nil, nil, err
	}
	p := &Provider{
		cfg:     cfg,
		client:  client,
		log:     log.With("component", "vault", "vault_addr", cfg.Addr),
		tracer:  tp.Tracer(instrumentation),
		relogin: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	auth, err := p.login(ctx)
	if err != nil {
		return nil, nil, err
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go p.renewLoop(rctx, auth)
	p.log.InfoContext(ctx, "vault secrets provider ready", "auth_method", cfg.AuthMethod, "kv_version", cfg.KVVersion, "namespace", cfg.Namespace)
	return p, p.close, nil
}

// newClient builds the client from cfg alone. api.DefaultConfig and
// api.NewClient read VAULT_* variables from the process environment; we
// start from an explicit config and then reset the token and namespace
// NewClient may have picked up, so that Config is the only input.
func newClient(cfg Config) (*api.Client, error) {
	httpClient := cleanhttp.DefaultPooledClient()
	transport := httpClient.Transport.(*http.Transport)
	transport.TLSHandshakeTimeout = 10 * time.Second
	transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	// The Vault client handles redirects itself (standby nodes); net/http must
	// not follow them, as in api.DefaultConfig.
	httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	ac := &api.Config{
		Address:      cfg.Addr,
		HttpClient:   httpClient,
		Timeout:      cfg.Timeout,
		MaxRetries:   cfg.MaxRetries,
		MinRetryWait: 250 * time.Millisecond,
		MaxRetryWait: 2 * time.Second,
	}
	if err := ac.ConfigureTLS(&api.TLSConfig{
		CACert:        cfg.CACert,
		ClientCert:    cfg.ClientCert,
		ClientKey:     cfg.ClientKey,
		TLSServerName: cfg.TLSServerName,
		Insecure:      cfg.SkipVerify,
	}); err != nil {
		return nil, fmt.Errorf("vault: TLS settings: %w", err)
	}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault: create client: %w", err)
	}
	client.ClearToken()
	if cfg.Namespace != "" {
		client.SetNamespace(cfg.Namespace)
	} else {
		client.ClearNamespace()
	}
	return client, nil
}

// login authenticates and installs the client token. For token auth it looks
// the token up, so that a wrong token fails at start-up, and returns an auth
// secret the watcher can renew.
func (p *Provider) login(ctx context.Context) (*api.Secret, error) {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	return p.loginLocked(ctx)
}

func (p *Provider) loginLocked(ctx context.Context) (*api.Secret, error) {
	ctx, span := p.tracer.Start(ctx, "vault.login", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("vault.auth_method", p.cfg.AuthMethod)))
	defer span.End()
	p.lastLogin = time.Now()
	auth, err := p.doLogin(ctx)
	if err != nil {
		span.SetStatus(codes.Error, "login failed")
		return nil, err
	}
	p.loginTok = auth
	return auth, nil
}

func (p *Provider) doLogin(ctx context.Context) (*api.Secret, error) {
	var data map[string]any
	switch p.cfg.AuthMethod {
	case AuthToken:
		tok := p.cfg.Token.Reveal()
		p.client.SetToken(tok)
		self, err := p.client.Auth().Token().LookupSelfWithContext(ctx)
		if err != nil {
			return nil, fmt.Errorf("vault: token auth: look up the token: %w", err)
		}
		renewable, _ := self.TokenIsRenewable()
		ttl, _ := self.TokenTTL()
		return &api.Secret{Auth: &api.SecretAuth{
			ClientToken:   tok,
			Renewable:     renewable,
			LeaseDuration: int(ttl / time.Second),
		}}, nil
	case AuthKubernetes:
		jwt, err := os.ReadFile(p.cfg.K8sTokenPath)
		if err != nil {
			return nil, fmt.Errorf("vault: kubernetes auth: read the service-account token: %w", err)
		}
		data = map[string]any{"role": p.cfg.K8sRole, "jwt": strings.TrimSpace(string(jwt))}
	case AuthAppRole:
		data = map[string]any{"role_id": p.cfg.RoleID, "secret_id": p.cfg.SecretID.Reveal()}
	}
	// Login must not carry a previous (possibly revoked) token.
	p.client.ClearToken()
	path := "auth/" + p.cfg.AuthMount + "/login"
	resp, err := p.client.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, fmt.Errorf("vault: %s auth: login at %s: %w", p.cfg.AuthMethod, path, err)
	}
	if resp == nil || resp.Auth == nil || resp.Auth.ClientToken == "" {
		return nil, fmt.Errorf("vault: %s auth: login at %s returned no token", p.cfg.AuthMethod, path)
	}
	p.client.SetToken(resp.Auth.ClientToken)
	return resp, nil
}

// renewLoop keeps the client token alive until ctx is done.
func (p *Provider) renewLoop(ctx context.Context, auth *api.Secret) {
	defer close(p.done)
	for {
		next, ok := p.watch(ctx, auth)
		if !ok {
			return
		}
		auth = next
	}
}

// watch renews auth until it cannot be renewed or a re-login is requested,
// then logs in again. It returns false when the loop should end.
func (p *Provider) watch(ctx context.Context, auth *api.Secret) (*api.Secret, bool) {
	canRelogin := p.cfg.AuthMethod != AuthToken
	if auth.Auth == nil || (!auth.Auth.Renewable && !canRelogin) {
		// A static, non-renewable token (a root or periodic dev token with no
		// TTL): nothing to do until shutdown.
		<-ctx.Done()
		return nil, false
	}
	w, err := p.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: auth})
	if err != nil {
		p.log.ErrorContext(ctx, "vault: cannot watch the token lifetime", "error", err)
		<-ctx.Done()
		return nil, false
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, false
		case r := <-w.RenewCh():
			if r.Secret != nil && r.Secret.Auth != nil {
				p.log.DebugContext(ctx, "vault token renewed", "ttl", time.Duration(r.Secret.Auth.LeaseDuration)*time.Second)
			}
		case err := <-w.DoneCh():
			if !canRelogin {
				if err != nil {
					p.log.ErrorContext(ctx, "vault token renewal failed; reads will fail once it expires (VAULT_TOKEN is static)", "error", err)
				} else {
					p.log.WarnContext(ctx, "vault token reached its maximum TTL and cannot be renewed (VAULT_TOKEN is static)")
				}
				<-ctx.Done()
				return nil, false
			}
			if err != nil {
				p.log.WarnContext(ctx, "vault token renewal failed; logging in again", "error", err)
			}
			return p.reloginUntilOK(ctx, auth)
		case <-p.relogin:
			return p.reloginUntilOK(ctx, auth)
		}
	}
}

// reloginUntilOK obtains a token to replace current: the one a concurrent
// 403 retry just got, or a fresh login, retried with backoff. Logins are at
// least MinReloginInterval apart.
func (p *Provider) reloginUntilOK(ctx context.Context, current *api.Secret) (*api.Secret, bool) {
	backoff := time.Second
	for {
		p.loginMu.Lock()
		if p.loginTok != nil && p.loginTok != current {
			auth := p.loginTok
			p.loginMu.Unlock()
			return auth, true
		}
		wait := p.cfg.MinReloginInterval - time.Since(p.lastLogin)
		var err error
		if wait <= 0 {
			var auth *api.Secret
			if auth, err = p.loginLocked(ctx); err == nil {
				p.loginMu.Unlock()
				p.log.InfoContext(ctx, "vault: logged in again", "auth_method", p.cfg.AuthMethod)
				return auth, true
			}
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		}
		p.loginMu.Unlock()
		if err != nil {
			p.log.ErrorContext(ctx, "vault: login failed; retrying", "error", err, "retry_in", wait)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(wait):
		}
	}
}

func (p *Provider) close() {
	p.cancel()
	<-p.done
	if p.cfg.AuthMethod == AuthToken {
		return
	}
	// Tokens from logins are ours: revoke them rather than leave them to
	// expire, so that stopped pods do not accumulate live tokens.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
		p.log.Warn("vault: could not revoke the token at shutdown", "error", err)
	}
}

// Get implements secrets.Provider. The version is the KV v2 version number
// ("" for KV v1).
func (p *Provider) Get(ctx context.Context, ref secrets.Ref) (secrets.Secret, error) {
	if err := secrets.CheckScheme(backend, ref, secrets.SchemeVault); err != nil {
		return secrets.Secret{}, err
	}
	if p.cfg.KVVersion == 1 && ref.Version != "" {
		return secrets.Secret{}, secrets.Invalid(backend, ref, "KV v1 has no versions (VAULT_KV_VERSION=1)")
	}
	mount, path := splitMount(ref.Path, p.cfg.KVVersion)
	if path == "" {
		return secrets.Secret{}, secrets.Invalid(backend, ref, "want <mount>/<path>")
	}
	ctx, span := p.tracer.Start(ctx, "vault.kv.read", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("vault.mount", mount),
			attribute.String("vault.path", path),
			attribute.Int("vault.kv_version", p.cfg.KVVersion)))
	defer span.End()

	data, version, err := p.read(ctx, mount, path, ref.Version)
	if err != nil && p.cfg.AuthMethod != AuthToken && statusOf(err) == http.StatusForbidden && p.reloginNow(ctx) {
		data, version, err = p.read(ctx, mount, path, ref.Version)
	}
	if err != nil {
		err = translate(ref, err)
		span.SetStatus(codes.Error, "read failed")
		return secrets.Secret{}, err
	}
	if data == nil {
		// KV v2 keeps the metadata of a deleted or destroyed version.
		return secrets.Secret{}, secrets.NotFound(backend, ref, errors.New("version deleted or destroyed"))
	}
	span.SetAttributes(attribute.String("secret.version", version))
	val, err := fieldOf(ref, data)
	if err != nil {
		return secrets.Secret{}, err
	}
	return secrets.New(val, version), nil
}

// reloginNow logs in again after a 403, unless a login happened very
// recently; it tells the renew loop to watch the new token.
func (p *Provider) reloginNow(ctx context.Context) bool {
	p.loginMu.Lock()
	defer p.loginMu.Unlock()
	if time.Since(p.lastLogin) < p.cfg.MinReloginInterval {
		return false
	}
	if _, err := p.loginLocked(ctx); err != nil {
		p.log.WarnContext(ctx, "vault: login after a 403 failed", "error", err)
		return false
	}
	select {
	case p.relogin <- struct{}{}:
	default:
	}
	return true
}

func (p *Provider) read(ctx context.Context, mount, path, version string) (map[string]any, string, error) {
	if p.cfg.KVVersion == 1 {
		kv, err := p.client.KVv1(mount).Get(ctx, path)
		if err != nil {
			return nil, "", err
		}
		return kv.Data, "", nil
	}
	var kv *api.KVSecret
	var err error
	if version != "" {
		n, convErr := strconv.Atoi(version)
		if convErr != nil {
			return nil, "", convErr
		}
		kv, err = p.client.KVv2(mount).GetVersion(ctx, path, n)
	} else {
		kv, err = p.client.KVv2(mount).Get(ctx, path)
	}
	if err != nil {
		return nil, "", err
	}
	v := ""
	if kv.VersionMetadata != nil {
		v = strconv.Itoa(kv.VersionMetadata.Version)
		if kv.VersionMetadata.Destroyed || !kv.VersionMetadata.DeletionTime.IsZero() {
			return nil, v, nil
		}
	}
	return kv.Data, v, nil
}

// splitMount separates the mount from the secret path. For KV v2 a path
// written in API form (<mount>/data/<path>) names its mount explicitly, which
// is how mounts of several segments are addressed.
func splitMount(p string, kv int) (mount, path string) {
	if kv == 2 {
		if i := strings.Index(p, "/data/"); i > 0 {
			return p[:i], p[i+len("/data/"):]
		}
	}
	mount, path, _ = strings.Cut(p, "/")
	return mount, path
}

// fieldOf applies ref.Key to a KV data map.
func fieldOf(ref secrets.Ref, data map[string]any) (string, error) {
	if ref.Key == "" {
		b, err := json.Marshal(data)
		if err != nil {
			return "", secrets.Malformed(backend, ref, "data map is not JSON-encodable")
		}
		return string(b), nil
	}
	v, ok := data[ref.Key]
	if !ok {
		return "", secrets.NotFound(backend, ref, nil)
	}
	if s, ok := v.(string); ok {
		return s, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return "", secrets.Malformed(backend, ref, "field is not JSON-encodable")
	}
	return string(b), nil
}

func statusOf(err error) int {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return re.StatusCode
	}
	return 0
}

// translate maps client errors to apperr kinds. Vault's error bodies and the
// client's messages name paths and reasons, never values, so they are kept as
// causes.
func translate(ref secrets.Ref, err error) error {
	if errors.Is(err, api.ErrSecretNotFound) {
		return secrets.NotFound(backend, ref, err)
	}
	switch statusOf(err) {
	case http.StatusNotFound:
		return secrets.NotFound(backend, ref, err)
	case http.StatusForbidden, http.StatusUnauthorized:
		return secrets.Forbidden(backend, ref, err)
	case http.StatusBadRequest:
		return secrets.Invalid(backend, ref, "rejected by Vault: "+firstError(err))
	}
	return secrets.Unavailable(backend, ref, err)
}

func firstError(err error) string {
	var re *api.ResponseError
	if errors.As(err, &re) && len(re.Errors) > 0 {
		return re.Errors[0]
	}
	return "bad request"
}
