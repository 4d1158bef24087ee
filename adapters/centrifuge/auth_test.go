package centrifuge_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/tradesense/tradesense/adapters/centrifuge"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

func issue(t testing.TB, tk *centrifuge.Tokens, u, s uuid.UUID) string {
	t.Helper()
	tok, err := tk.IssueConnectionToken(context.Background(), u, s)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Token
}

func TestTokensRoundTrip(t *testing.T) {
	ring := newRing(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tk, err := centrifuge.NewTokens(centrifuge.Config{}, ring, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	u, s := uuid.New(), uuid.New()
	tok, err := tk.IssueConnectionToken(context.Background(), u, s)
	if err != nil {
		t.Fatal(err)
	}
	if !tok.ExpiresAt.Equal(now.Add(10 * time.Minute)) {
		t.Fatalf("ExpiresAt = %s; want 10 minutes after issue", tok.ExpiresAt)
	}
	c, err := tk.Verify(tok.Token)
	if err != nil || c.UserID != u || c.SessionID != s || !c.ExpiresAt.Equal(tok.ExpiresAt) {
		t.Fatalf("Verify = %+v, %v", c, err)
	}
	var claims map[string]any
	part := strings.Split(tok.Token, ".")[1]
	b, _ := jwt.NewParser().DecodeSegment(part)
	_ = json.Unmarshal(b, &claims)
	if claims["aud"] != "tradesense-realtime" && !strings.Contains(string(b), `"aud":["tradesense-realtime"]`) {
		t.Fatalf("claims %s: want the realtime audience", b)
	}
	if _, err := tk.IssueConnectionToken(context.Background(), uuid.Nil, s); err == nil {
		t.Fatal("issued a token without a user")
	}

	now = now.Add(10*time.Minute + centrifuge.TokenLeeway + time.Second)
	if _, err := tk.Verify(tok.Token); apperr.CodeOf(err) != centrifuge.CodeTokenExpired {
		t.Fatalf("Verify(expired) = %v; want %s", err, centrifuge.CodeTokenExpired)
	}
}

func TestTokensRefuseForgeries(t *testing.T) {
	ring := newRing(t)
	tk, _ := centrifuge.NewTokens(centrifuge.Config{}, ring, nil)
	u, s := uuid.New(), uuid.New()
	good := issue(t, tk, u, s)

	otherRing, _ := centrifuge.NewTokens(centrifuge.Config{}, newRing(t), nil)
	accessAudience, _ := centrifuge.NewTokens(centrifuge.Config{TokenAudience: "tradesense-api"}, ring, nil)
	otherIssuer, _ := centrifuge.NewTokens(centrifuge.Config{TokenIssuer: "evil"}, ring, nil)

	sign := func(method jwt.SigningMethod, key any, claims jwt.MapClaims, kid string) string {
		tok := jwt.NewWithClaims(method, claims)
		if kid != "" {
			tok.Header["kid"] = kid
		}
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	now := time.Now()
	base := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "tradesense", "aud": []string{"tradesense-realtime"}, "sub": u.String(), "sid": s.String(),
			"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	}
	key := ring.Signing()
	noSid := base()
	delete(noSid, "sid")
	noExp := base()
	delete(noExp, "exp")
	badSub := base()
	badSub["sub"] = "alice"
	extra := base()
	extra["role"] = "admin"
	longLived := base()
	longLived["exp"] = now.Add(24 * time.Hour).Unix()
	noIat := base()
	delete(noIat, "iat")
	crit := jwt.NewWithClaims(jwt.SigningMethodEdDSA, base())
	crit.Header["kid"] = key.ID
	crit.Header["crit"] = []string{"exp"}
	critTok, err := crit.SignedString(key.Private)
	if err != nil {
		t.Fatal(err)
	}

	cases := map[string]string{
		"empty":             "",
		"garbage":           "not.a.jwt",
		"oversized":         strings.Repeat("a", centrifuge.MaxTokenLen+1),
		"tampered":          good[:len(good)-4] + "AAAA",
		"other key ring":    issue(t, otherRing, u, s),
		"access audience":   issue(t, accessAudience, u, s),
		"other issuer":      issue(t, otherIssuer, u, s),
		"alg none":          sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, base(), key.ID),
		"hmac with pubkey":  sign(jwt.SigningMethodHS256, []byte(key.Public), base(), key.ID),
		"no kid":            sign(jwt.SigningMethodEdDSA, key.Private, base(), ""),
		"unknown kid":       sign(jwt.SigningMethodEdDSA, key.Private, base(), "nope"),
		"no sid":            sign(jwt.SigningMethodEdDSA, key.Private, noSid, key.ID),
		"no exp":            sign(jwt.SigningMethodEdDSA, key.Private, noExp, key.ID),
		"bad sub":           sign(jwt.SigningMethodEdDSA, key.Private, badSub, key.ID),
		"random ed25519":    sign(jwt.SigningMethodEdDSA, ed25519.NewKeyFromSeed(make([]byte, 32)), base(), key.ID),
		"unknown claim too": sign(jwt.SigningMethodEdDSA, key.Private, extra, key.ID),
		"24h lifetime":      sign(jwt.SigningMethodEdDSA, key.Private, longLived, key.ID),
		"no iat":            sign(jwt.SigningMethodEdDSA, key.Private, noIat, key.ID),
		"crit header":       critTok,
	}
	for name, tok := range cases {
		_, err := tk.Verify(tok)
		if name == "unknown claim too" {
			// Extra claims are harmless: only the ones read are trusted.
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		if apperr.CodeOf(err) != centrifuge.CodeTokenInvalid {
			t.Errorf("Verify(%s) = %v; want %s", name, err, centrifuge.CodeTokenInvalid)
		}
	}
}

func TestTokensSurviveKeyRotation(t *testing.T) {
	old := make([]byte, 32)
	next := make([]byte, 32)
	next[0] = 1
	ring, err := identity.NewKeyRing(old)
	if err != nil {
		t.Fatal(err)
	}
	tk, _ := centrifuge.NewTokens(centrifuge.Config{}, ring, nil)
	tok := issue(t, tk, uuid.New(), uuid.New())
	if err := ring.Set(next, old); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(tok); err != nil {
		t.Fatalf("token of the previous key refused after rotation: %v", err)
	}
	if err := ring.Set(next); err != nil {
		t.Fatal(err)
	}
	if _, err := tk.Verify(tok); err == nil {
		t.Fatal("token of a removed key still accepted")
	}
}

func TestBadTokensAreRefusedOnTheWire(t *testing.T) {
	s := start(t)
	u, sid := uuid.New(), uuid.New()
	access, _ := centrifuge.NewTokens(centrifuge.Config{TokenAudience: "tradesense-api"}, newRing(t), nil)
	for name, tok := range map[string]string{
		"garbage":         "x.y.z",
		"empty":           "",
		"access audience": issue(t, access, u, sid),
	} {
		r, err := s.rawDial(t, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.WriteJSON(map[string]any{"id": 1, "connect": map[string]any{"token": tok}}); err != nil {
			t.Fatal(err)
		}
		if code := r.closeCode(t, wait); code != 3500 {
			t.Errorf("%s: closed with %d; want 3500 invalid token", name, code)
		}
	}

	// An expired token is answered with error 109, so that a client fetches
	// a new one (and is not closed for good).
	ring := newRing(t)
	srv := start(t, withRing(ring))
	past, _ := centrifuge.NewTokens(centrifuge.Config{}, ring, func() time.Time { return time.Now().Add(-time.Hour) })
	r, err := srv.rawDial(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reply := r.connect(t, issue(t, past, u, sid))
	if !strings.Contains(string(reply["error"]), `"code":109`) {
		t.Fatalf("connect with an expired token = %s; want error 109", reply["error"])
	}
	// Expired 2s ago, inside the verification leeway: 109 as well.
	justNow, _ := centrifuge.NewTokens(centrifuge.Config{}, ring, func() time.Time { return time.Now().Add(-10*time.Minute - 2*time.Second) })
	r, err = srv.rawDial(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if reply := r.connect(t, issue(t, justNow, u, sid)); !strings.Contains(string(reply["error"]), `"code":109`) {
		t.Fatalf("connect with a token expired within the leeway = %s; want error 109", reply["error"])
	}

	// The official client with a bad token is disconnected for good.
	c := s.newClient(t, u, sid, withGetToken(func(int) (string, error) { return "bad", nil }))
	if err := c.C.Connect(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c, 3500)
}

func TestTokenInTheURLIsRefused(t *testing.T) {
	s := start(t)
	for _, q := range []string{"?token=abc", "?access_token=abc", "?x=1&jwt=abc"} {
		resp, err := s.HTTPClient().Get(s.URL + centrifuge.Path + q)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s = %d %s; want 400 problem", q, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
}

func TestOriginAllowList(t *testing.T) {
	s := start(t, withConfig(func(c *centrifuge.Config) {
		c.AllowedOrigins = []string{"https://app.tradesense.example", "http://localhost:3000"}
	}))
	host := strings.TrimPrefix(s.URL, "http://")
	for origin, allowed := range map[string]bool{
		"":                                    true, // native apps send none
		"https://app.tradesense.example":      true,
		"HTTPS://APP.TRADESENSE.EXAMPLE":      true,
		"http://localhost:3000":               true,
		"http://" + host:                      true, // same origin
		"https://evil.example":                false,
		"https://app.tradesense.example.":     false,
		"http://app.tradesense.example":       false, // scheme matters
		"null":                                false,
		"https://app.tradesense.example:8443": false,
	} {
		h := http.Header{}
		if origin != "" {
			h.Set("Origin", origin)
		}
		r, err := s.rawDial(t, h, nil)
		switch {
		case allowed && err != nil:
			t.Errorf("Origin %q refused: %v", origin, err)
		case !allowed && err == nil:
			t.Errorf("Origin %q accepted", origin)
		case !allowed && r.Resp != nil && r.Resp.StatusCode != http.StatusForbidden:
			t.Errorf("Origin %q: status %d; want 403", origin, r.Resp.StatusCode)
		}
	}

	// The official client, from a foreign origin, never connects.
	c := s.newClient(t, uuid.New(), uuid.New(), withHeader(http.Header{"Origin": {"https://evil.example"}}))
	if err := c.C.Connect(); err == nil {
		select {
		case <-c.Connected:
			t.Fatal("client from a foreign origin connected")
		case <-time.After(500 * time.Millisecond):
		}
	}
	if n := s.E.Connections(); n != 0 {
		t.Fatalf("%d connections open; want none", n)
	}
}

func TestConnectionLimitPerUser(t *testing.T) {
	s := start(t, withConfig(func(c *centrifuge.Config) { c.MaxConnectionsPerUser = 2 }))
	u := uuid.New()
	s.dial(t, u, uuid.New())
	s.dial(t, u, uuid.New())
	third := s.newClient(t, u, uuid.New())
	if err := third.C.Connect(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, third, 3504)
	s.dial(t, uuid.New(), uuid.New()) // other users are not affected
}

func TestConnectionLimitSpansReplicas(t *testing.T) {
	prefix := uniquePrefix()
	limit := withConfig(func(c *centrifuge.Config) { c.MaxConnectionsPerUser = 2 })
	a := start(t, onRedis(t, prefix), limit)
	b := start(t, onRedis(t, prefix), limit)
	u := uuid.New()
	a.dial(t, u, uuid.New())
	b.dial(t, u, uuid.New())
	third := a.newClient(t, u, uuid.New())
	if err := third.C.Connect(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, third, 3504)
}

func TestOversizedClientMessageClosesTheConnection(t *testing.T) {
	s := start(t, withConfig(func(c *centrifuge.Config) { c.MaxMessageBytes = 1024 }))
	r, err := s.rawDial(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.connect(t, issue(t, s.Tokens, uuid.New(), uuid.New()))
	if s.E.Connections() != 1 {
		t.Fatalf("%d connections; want 1", s.E.Connections())
	}
	// The server closes with 1009 (message too big) as soon as it reads the
	// frame header; the kernel may turn that close into a reset when the
	// rest of the frame is still unread, so the close frame can be lost.
	_ = r.WriteJSON(map[string]any{"id": 2, "rpc": map[string]any{"data": strings.Repeat("x", 4096)}})
	_ = r.SetReadDeadline(time.Now().Add(wait))
	for {
		_, _, err := r.ReadMessage()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
			t.Fatalf("closed with %d; want 1009 message too big", ce.Code)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("oversized frame did not close the connection")
		}
		break
	}
	eventually(t, func() bool { return s.E.Connections() == 0 }, "connection closed on the server")
}
