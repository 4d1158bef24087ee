// Package oidctest runs, in-process, an OpenID provider that speaks the
// real protocol (github.com/oauth2-proxy/mockoidc: discovery, JWKS,
// authorize with PKCE, token, userinfo) with hooks to misbehave, and a
// fake of GitHub's OAuth and REST API. Tests drive the browser's part
// themselves: Authorize follows the authorization URL to the callback
// query the provider would send the browser to.
package oidctest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// Behaviour is how the OP misbehaves; the zero value is a correct
// provider that does not send RFC 9207's iss.
type Behaviour struct {
	// SendIss adds iss to the authorization response: the issuer, or
	// IssValue when set.
	SendIss  bool
	IssValue string
	// AdvertiseIss announces authorization_response_iss_parameter_supported.
	AdvertiseIss bool
	// Down makes every endpoint answer 503.
	Down bool
	// RewriteIDToken, when set, receives the ID token's header and claims
	// and returns the ones to send; signing is "" (RS256 with the OP's
	// current key), "none" (unsigned) or "foreign" (a key the JWKS does
	// not have).
	RewriteIDToken func(claims map[string]any) (out map[string]any, signing string)
}

// User is an account at the OP. Info goes into the ID token and userinfo
// as they are (so email_verified may be missing, false, or a string).
type User struct {
	Subject string
	Info    map[string]any
	// UserinfoSubject, when set, is the sub userinfo answers instead.
	UserinfoSubject string
}

// ID implements mockoidc.User.
func (u *User) ID() string { return u.Subject }

// Userinfo implements mockoidc.User.
func (u *User) Userinfo([]string) ([]byte, error) {
	m := maps.Clone(u.Info)
	if m == nil {
		m = map[string]any{}
	}
	m["sub"] = u.Subject
	if u.UserinfoSubject != "" {
		m["sub"] = u.UserinfoSubject
	}
	return json.Marshal(m)
}

// Claims implements mockoidc.User.
func (u *User) Claims(_ []string, base *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	b, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	m := jwt.MapClaims{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	maps.Copy(m, u.Info)
	return m, nil
}

// OP is a running OpenID provider. Every request holds its lock, so a
// test that changes the OP (Set, Rotate) never races a request.
type OP struct {
	m       *mockoidc.MockOIDC
	foreign *mockoidc.Keypair

	mu     sync.Mutex
	b      Behaviour
	counts map[string]int
}

// NewOP starts an OP on a loopback port until the test ends.
func NewOP(t testing.TB) *OP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return NewOPOn(t, ln)
}

// NewOPOn starts an OP on ln (its issuer is http://<ln.Addr()>/oidc), for
// example an in-memory listener a synctest bubble can wait on.
func NewOPOn(t testing.TB, ln net.Listener) *OP {
	t.Helper()
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	o := &OP{m: m, foreign: foreign, counts: map[string]int{}}
	if err := m.AddMiddleware(o.middleware); err != nil {
		t.Fatal(err)
	}
	if err := m.Start(ln, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	return o
}

// Issuer is the OP's issuer URL.
func (o *OP) Issuer() string { return o.m.Issuer() }

// ClientID and ClientSecret are the credentials the OP accepts.
func (o *OP) ClientID() string     { return o.m.ClientID }
func (o *OP) ClientSecret() string { return o.m.ClientSecret } //nolint:revive // pairs with ClientID

// Queue makes u the account of the next authorization.
func (o *OP) Queue(u *User) { o.m.QueueUser(u) }

// Set changes the OP's behaviour.
func (o *OP) Set(fn func(*Behaviour)) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fn(&o.b)
}

// Rotate replaces the signing key: the JWKS then holds only the new one.
func (o *OP) Rotate(t testing.TB) {
	t.Helper()
	k, err := mockoidc.RandomKeypair(2048)
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m.Keypair = k
}

// Requests reports how many requests reached an endpoint path's last
// element ("openid-configuration", "jwks.json", "authorize", "token",
// "userinfo").
func (o *OP) Requests(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.counts[name]
}

func (o *OP) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		o.counts[r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]]++
		if o.b.Down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		switch r.URL.Path {
		case mockoidc.AuthorizationEndpoint:
			if loc := rec.Header().Get("Location"); loc != "" && o.b.SendIss {
				u, _ := url.Parse(loc)
				q := u.Query()
				iss := o.m.Issuer()
				if o.b.IssValue != "" {
					iss = o.b.IssValue
				}
				q.Set("iss", iss)
				u.RawQuery = q.Encode()
				rec.Header().Set("Location", u.String())
			}
		case mockoidc.DiscoveryEndpoint:
			if o.b.AdvertiseIss {
				body = setJSON(body, "authorization_response_iss_parameter_supported", true)
			}
		case mockoidc.TokenEndpoint:
			if o.b.RewriteIDToken != nil && rec.Code == http.StatusOK {
				body = o.rewriteToken(body)
			}
		}
		maps.Copy(w.Header(), rec.Header())
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		_, _ = w.Write(body)
	})
}

func setJSON(body []byte, k string, v any) []byte {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	m[k] = v
	out, _ := json.Marshal(m)
	return out
}

func (o *OP) rewriteToken(body []byte) []byte {
	var resp map[string]any
	if json.Unmarshal(body, &resp) != nil {
		return body
	}
	raw, _ := resp["id_token"].(string)
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return body
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return body
	}
	claims := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if dec.Decode(&claims) != nil {
		return body
	}
	out, signing := o.b.RewriteIDToken(claims)
	var tok string
	switch signing {
	case "none":
		h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		p, _ := json.Marshal(out)
		tok = h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
	case "foreign":
		tok, _ = o.foreign.SignJWT(jwt.MapClaims(out))
	default:
		tok, _ = o.m.Keypair.SignJWT(jwt.MapClaims(out))
	}
	resp["id_token"] = tok
	b, _ := json.Marshal(resp)
	return b
}

// Authorize plays the browser at the provider: it requests authURL and
// returns the raw query of the callback the provider redirects to.
func Authorize(t testing.TB, authURL string) string {
	t.Helper()
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	defer resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusFound || loc == "" {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		t.Fatalf("authorize answered %d %q: %s", resp.StatusCode, loc, b.String())
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.RawQuery
}
