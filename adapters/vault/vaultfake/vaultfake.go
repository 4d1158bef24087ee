// Package vaultfake is an in-process HTTP server that speaks the parts of
// the Vault HTTP API the vault adapter uses, as Vault speaks them: KV v2 and
// v1 reads (versions, deleted versions, 403/404 semantics) and writes (KV v2
// check-and-set), the
// X-Vault-Token, X-Vault-Namespace and X-Vault-Request headers, token
// lookup/renew/revoke-self, and kubernetes and approle logins. It is a test
// double for the adapter's and the application's tests, not a mock: state
// changes through its methods and the adapter reads it over real HTTP.
package vaultfake

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a fake Vault. Create it with New; it stops with the test.
type Server struct {
	*httptest.Server

	mu         sync.Mutex
	namespace  string
	sealed     bool
	mounts     map[string]int // mount -> KV version
	kv         map[string][]version
	tokens     map[string]*token
	deny       map[string]bool // API paths (without /v1/) refused with 403
	k8sRoles   map[string]string
	appRoles   map[string]string
	loginTTL   int
	loginRenew bool
	renewTTL   int

	counts map[string]int
}

type version struct {
	data      map[string]any
	created   time.Time
	deleted   bool
	destroyed bool
}

type token struct {
	ttl       int
	renewable bool
	revoked   bool
}

// New starts a fake Vault with a KV v2 mount "secret" and a KV v1 mount
// "kv", and no tokens.
func New(t testing.TB) *Server {
	s := &Server{
		mounts:     map[string]int{"secret": 2, "kv": 1},
		kv:         map[string][]version{},
		tokens:     map[string]*token{},
		deny:       map[string]bool{},
		k8sRoles:   map[string]string{},
		appRoles:   map[string]string{},
		loginTTL:   3600,
		loginRenew: true,
		renewTTL:   3600,
		counts:     map[string]int{},
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// AddToken registers a token with a TTL in seconds (0: no expiry).
func (s *Server) AddToken(tok string, ttl int, renewable bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[tok] = &token{ttl: ttl, renewable: renewable}
}

// RevokeAll revokes every token, as an operator (or a token expiry) would.
func (s *Server) RevokeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tokens {
		t.revoked = true
	}
}

// SetNamespace makes every request require X-Vault-Namespace: ns.
func (s *Server) SetNamespace(ns string) { s.mu.Lock(); s.namespace = ns; s.mu.Unlock() }

// SetSealed seals or unseals the fake: a sealed Vault answers 503.
func (s *Server) SetSealed(sealed bool) { s.mu.Lock(); s.sealed = sealed; s.mu.Unlock() }

// Deny makes reads of apiPath (e.g. "secret/data/app") fail with 403.
func (s *Server) Deny(apiPath string) { s.mu.Lock(); s.deny[apiPath] = true; s.mu.Unlock() }

// AddMount adds a KV mount of the given version.
func (s *Server) AddMount(mount string, kvVersion int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[mount] = kvVersion
}

// AddKubernetesRole accepts kubernetes logins for role with jwt.
func (s *Server) AddKubernetesRole(role, jwt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.k8sRoles[role] = jwt
}

// AddAppRole accepts approle logins with roleID and secretID.
func (s *Server) AddAppRole(roleID, secretID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appRoles[roleID] = secretID
}

// SetLoginLease sets the lease (seconds) and renewability of tokens issued
// by logins, and the lease renewals grant.
func (s *Server) SetLoginLease(ttl int, renewable bool, renewTTL int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loginTTL, s.loginRenew, s.renewTTL = ttl, renewable, renewTTL
}

// Put writes data at mount/path and returns the new version (KV v2) or 0
// (KV v1, which overwrites).
func (s *Server) Put(mount, path string, data map[string]any) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := mount + "/" + path
	v := version{data: data, created: time.Now().UTC()}
	if s.mounts[mount] == 1 {
		s.kv[key] = []version{v}
		return 0
	}
	s.kv[key] = append(s.kv[key], v)
	return len(s.kv[key])
}

// Latest returns a copy of the data map of the latest version at
// mount/path and its version number (0 when there is none).
func (s *Server) Latest(mount, path string) (map[string]any, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.kv[mount+"/"+path]
	if len(vs) == 0 {
		return nil, 0
	}
	out := make(map[string]any, len(vs[len(vs)-1].data))
	for k, v := range vs[len(vs)-1].data {
		out[k] = v
	}
	return out, len(vs)
}

// DeleteLatest soft-deletes the latest KV v2 version, as `vault kv delete`.
func (s *Server) DeleteLatest(mount, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs := s.kv[mount+"/"+path]
	if len(vs) > 0 {
		vs[len(vs)-1].deleted = true
	}
}

// Tokens returns every token the fake knows, issued or added.
func (s *Server) Tokens() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.tokens))
	for t := range s.tokens {
		out = append(out, t)
	}
	return out
}

// Count returns how many requests hit an endpoint: "kv.read", "kv.write", "login",
// "token.lookup", "token.renew", "token.revoke".
func (s *Server) Count(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[endpoint]
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErr(w, http.StatusNotFound)
		return
	}
	if r.Header.Get("X-Vault-Request") != "true" {
		writeErr(w, http.StatusPreconditionFailed, "missing X-Vault-Request header")
		return
	}
	if s.sealed {
		writeErr(w, http.StatusServiceUnavailable, "Vault is sealed")
		return
	}
	if r.Header.Get("X-Vault-Namespace") != s.namespace {
		// Vault resolves paths inside the namespace: a wrong one finds nothing
		// the token may see.
		writeErr(w, http.StatusForbidden, "permission denied")
		return
	}
	switch {
	case path == "auth/token/lookup-self" && r.Method == http.MethodGet:
		s.counts["token.lookup"]++
		tok, t := s.auth(r)
		if t == nil {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
			"id": tok, "ttl": t.ttl, "renewable": t.renewable, "policies": []string{"default"},
		}})
	case path == "auth/token/renew-self" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		s.counts["token.renew"]++
		tok, t := s.auth(r)
		if t == nil || !t.renewable {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
		t.ttl = s.renewTTL
		writeJSON(w, http.StatusOK, map[string]any{"auth": map[string]any{
			"client_token": tok, "renewable": true, "lease_duration": t.ttl, "policies": []string{"default"},
		}})
	case path == "auth/token/revoke-self" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		s.counts["token.revoke"]++
		_, t := s.auth(r)
		if t == nil {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
		t.revoked = true
		w.WriteHeader(http.StatusNoContent)
	case strings.HasPrefix(path, "auth/") && strings.HasSuffix(path, "/login") && (r.Method == http.MethodPut || r.Method == http.MethodPost):
		s.counts["login"]++
		s.login(w, r, strings.TrimSuffix(strings.TrimPrefix(path, "auth/"), "/login"))
	case r.Method == http.MethodGet:
		s.counts["kv.read"]++
		if _, t := s.auth(r); t == nil || s.deny[path] {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
		s.read(w, r, path)
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		s.counts["kv.write"]++
		if _, t := s.auth(r); t == nil || s.deny[path] {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
		s.write(w, r, path)
	default:
		writeErr(w, http.StatusMethodNotAllowed, "unsupported operation")
	}
}

// mountOf returns the longest mount that prefixes path, as Vault's router
// picks it, its KV version and the path inside it.
func (s *Server) mountOf(path string) (mount string, kvVersion int, rest string) {
	for m, v := range s.mounts {
		if strings.HasPrefix(path, m+"/") && len(m) > len(mount) {
			mount, kvVersion = m, v
		}
	}
	return mount, kvVersion, strings.TrimPrefix(path, mount+"/")
}

// write serves KV writes as Vault does: KV v1 overwrites; KV v2 appends a
// version and honours options.cas (0: only if the secret does not exist;
// N: only if N is the current version, deleted or not).
func (s *Server) write(w http.ResponseWriter, r *http.Request, path string) {
	mount, kvv, rest := s.mountOf(path)
	if mount == "" {
		writeErr(w, http.StatusForbidden, "permission denied")
		return
	}
	if kvv == 1 {
		var data map[string]any
		if err := json.NewDecoder(r.Body).Decode(&data); err != nil || data == nil {
			writeErr(w, http.StatusBadRequest, "failed to parse JSON input")
			return
		}
		s.kv[path] = []version{{data: data, created: time.Now().UTC()}}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	sub, ok := strings.CutPrefix(rest, "data/")
	if !ok {
		writeErr(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	var body struct {
		Data    map[string]any `json:"data"`
		Options map[string]any `json:"options"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "failed to parse JSON input")
		return
	}
	if body.Data == nil {
		writeErr(w, http.StatusBadRequest, "no data provided")
		return
	}
	key := mount + "/" + sub
	current := len(s.kv[key])
	if cas, ok := body.Options["cas"]; ok {
		n, isNum := cas.(float64)
		if !isNum || int(n) != current {
			writeErr(w, http.StatusBadRequest, "check-and-set parameter did not match the current version")
			return
		}
	}
	v := version{data: body.Data, created: time.Now().UTC()}
	s.kv[key] = append(s.kv[key], v)
	writeJSON(w, http.StatusOK, map[string]any{"data": map[string]any{
		"created_time": v.created.Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": "", "destroyed": false, "version": len(s.kv[key]),
	}})
}

func (s *Server) auth(r *http.Request) (string, *token) {
	tok := r.Header.Get("X-Vault-Token")
	t := s.tokens[tok]
	if t == nil || t.revoked {
		return tok, nil
	}
	return tok, t
}

func (s *Server) login(w http.ResponseWriter, r *http.Request, mount string) {
	if r.Header.Get("X-Vault-Token") != "" {
		// Not an error in Vault, but the adapter must not send a stale token
		// with a login: make it visible.
		writeErr(w, http.StatusBadRequest, "login sent with a client token")
		return
	}
	var body map[string]string
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeErr(w, http.StatusBadRequest, "failed to parse JSON input")
		return
	}
	switch mount {
	case "kubernetes":
		want, ok := s.k8sRoles[body["role"]]
		if !ok || body["jwt"] == "" || body["jwt"] != want {
			writeErr(w, http.StatusForbidden, "permission denied")
			return
		}
	case "approle":
		want, ok := s.appRoles[body["role_id"]]
		if !ok || body["secret_id"] != want {
			writeErr(w, http.StatusBadRequest, "invalid role or secret ID")
			return
		}
	default:
		writeErr(w, http.StatusBadRequest, "no handler for route \"auth/"+mount+"/login\". route entry not found.")
		return
	}
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	tok := "hvs." + hex.EncodeToString(b)
	s.tokens[tok] = &token{ttl: s.loginTTL, renewable: s.loginRenew}
	writeJSON(w, http.StatusOK, map[string]any{"auth": map[string]any{
		"client_token": tok, "accessor": "acc", "policies": []string{"default", "tradesense"},
		"lease_duration": s.loginTTL, "renewable": s.loginRenew,
	}})
}

func (s *Server) read(w http.ResponseWriter, r *http.Request, path string) {
	mount, kvv, rest := s.mountOf(path)
	if mount == "" {
		writeErr(w, http.StatusForbidden, "permission denied")
		return
	}
	if kvv == 1 {
		vs := s.kv[path]
		if len(vs) == 0 {
			writeErr(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"lease_duration": 2764800, "data": vs[0].data})
		return
	}
	sub, ok := strings.CutPrefix(rest, "data/")
	if !ok {
		writeErr(w, http.StatusNotFound)
		return
	}
	vs := s.kv[mount+"/"+sub]
	if len(vs) == 0 {
		writeErr(w, http.StatusNotFound)
		return
	}
	n := len(vs)
	if q := r.URL.Query().Get("version"); q != "" && q != "0" {
		var err error
		if n, err = strconv.Atoi(q); err != nil {
			writeErr(w, http.StatusBadRequest, "invalid version")
			return
		}
		if n < 1 || n > len(vs) {
			writeErr(w, http.StatusNotFound)
			return
		}
	}
	v := vs[n-1]
	meta := map[string]any{
		"created_time": v.created.Format(time.RFC3339Nano), "custom_metadata": nil,
		"deletion_time": "", "destroyed": v.destroyed, "version": n,
	}
	if v.deleted || v.destroyed {
		// Vault answers 404 but still sends the version's metadata.
		meta["deletion_time"] = v.created.Add(time.Second).Format(time.RFC3339Nano)
		writeJSON(w, http.StatusNotFound, map[string]any{"data": map[string]any{"data": nil, "metadata": meta}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"request_id": "r", "lease_id": "", "renewable": false, "lease_duration": 0,
		"data": map[string]any{"data": v.data, "metadata": meta},
	})
}

func writeErr(w http.ResponseWriter, status int, msgs ...string) {
	if msgs == nil {
		msgs = []string{}
	}
	writeJSON(w, status, map[string]any{"errors": msgs})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
