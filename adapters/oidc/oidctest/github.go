package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// GitHubEmail is an entry of GET /user/emails. Primary and Verified are
// sent as given, so a test can send "true" as a string.
type GitHubEmail struct {
	Email    string `json:"email"`
	Primary  any    `json:"primary"`
	Verified any    `json:"verified"`
}

// GitHubUser is an account at the fake.
type GitHubUser struct {
	ID        int64         `json:"id"`
	Login     string        `json:"login"`
	Name      string        `json:"name"`
	Email     string        `json:"email"` // the public profile address
	AvatarURL string        `json:"avatar_url"`
	Emails    []GitHubEmail `json:"-"`
	// NoEmailScope makes /user/emails answer 404, as without user:email.
	NoEmailScope bool `json:"-"`
}

// GitHub fakes github.com's OAuth endpoints (authorize with PKCE,
// access_token) and the REST API's /user and /user/emails, at URL and
// URL + "/api".
type GitHub struct {
	Server       *httptest.Server
	ClientID     string
	ClientSecret string

	mu      sync.Mutex
	queue   []*GitHubUser
	grants  map[string]githubGrant
	tokens  map[string]*GitHubUser
	sendIss bool
	down    bool
	counts  map[string]int
}

type githubGrant struct {
	user      *GitHubUser
	challenge string
}

// NewGitHub starts the fake on a loopback port until the test ends.
func NewGitHub(t testing.TB) *GitHub {
	t.Helper()
	return NewGitHubOn(t, nil)
}

// NewGitHubOn starts the fake on ln (nil: a loopback port) until the test
// ends; its URL is http://<ln.Addr()>.
func NewGitHubOn(t testing.TB, ln net.Listener) *GitHub {
	t.Helper()
	g := &GitHub{ClientID: "gh-client", ClientSecret: "gh-secret-" + randomString(), grants: map[string]githubGrant{}, tokens: map[string]*GitHubUser{}, counts: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login/oauth/authorize", g.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", g.token)
	mux.HandleFunc("GET /api/user", g.user)
	mux.HandleFunc("GET /api/user/emails", g.emails)
	g.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.counts[r.URL.Path]++
		down := g.down
		g.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	if ln != nil {
		_ = g.Server.Listener.Close()
		g.Server.Listener = ln
	}
	g.Server.Start()
	t.Cleanup(g.Server.Close)
	return g
}

func randomString() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// URL is OAUTH_<NAME>_GITHUB_URL; APIURL is OAUTH_<NAME>_GITHUB_API_URL.
func (g *GitHub) URL() string    { return g.Server.URL }
func (g *GitHub) APIURL() string { return g.Server.URL + "/api" }

// Queue makes u the account of the next authorization.
func (g *GitHub) Queue(u *GitHubUser) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queue = append(g.queue, u)
}

// SendIss makes the authorization response carry iss (as GitHub does).
func (g *GitHub) SendIss(on bool) { g.mu.Lock(); g.sendIss = on; g.mu.Unlock() }

// Down makes every endpoint answer 502.
func (g *GitHub) Down(on bool) { g.mu.Lock(); g.down = on; g.mu.Unlock() }

// Requests counts requests to a path ("/api/user").
func (g *GitHub) Requests(path string) int { g.mu.Lock(); defer g.mu.Unlock(); return g.counts[path] }

func (g *GitHub) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != g.ClientID || q.Get("state") == "" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.mu.Unlock()
		http.Error(w, "no user queued", http.StatusBadRequest)
		return
	}
	u := g.queue[0]
	g.queue = g.queue[1:]
	code := randomString()
	g.grants[code] = githubGrant{user: u, challenge: q.Get("code_challenge")}
	sendIss := g.sendIss
	g.mu.Unlock()
	to, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	p := url.Values{"code": {code}, "state": {q.Get("state")}}
	if sendIss {
		p.Set("iss", g.Server.URL+"/login/oauth")
	}
	to.RawQuery = p.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound) // #nosec G710 -- a test fake: it redirects where the client under test asked, as GitHub does for a registered URI
}

func (g *GitHub) token(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if err := r.ParseForm(); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	f := r.PostForm
	refuse := func(code string) { _ = json.NewEncoder(w).Encode(map[string]string{"error": code}) } // GitHub answers 200
	if f.Get("client_id") != g.ClientID || subtle.ConstantTimeCompare([]byte(f.Get("client_secret")), []byte(g.ClientSecret)) != 1 {
		refuse("incorrect_client_credentials")
		return
	}
	g.mu.Lock()
	gr, ok := g.grants[f.Get("code")]
	delete(g.grants, f.Get("code"))
	g.mu.Unlock()
	sum := sha256.Sum256([]byte(f.Get("code_verifier")))
	if !ok || base64.RawURLEncoding.EncodeToString(sum[:]) != gr.challenge {
		refuse("bad_verification_code")
		return
	}
	tok := "gho_" + randomString()
	g.mu.Lock()
	g.tokens[tok] = gr.user
	g.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]string{"access_token": tok, "token_type": "bearer", "scope": "read:user,user:email"})
}

func (g *GitHub) bearer(r *http.Request) *GitHubUser {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tokens[tok]
}

func (g *GitHub) user(w http.ResponseWriter, r *http.Request) {
	u := g.bearer(r)
	if u == nil {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(u)
}

func (g *GitHub) emails(w http.ResponseWriter, r *http.Request) {
	u := g.bearer(r)
	switch {
	case u == nil:
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	case u.NoEmailScope:
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(u.Emails)
	}
}
