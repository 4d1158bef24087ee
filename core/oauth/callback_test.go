package oauth_test

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tradesense/tradesense/core/oauth"
)

func TestParseCallback(t *testing.T) {
	p, err := oauth.ParseCallback("state=s1&code=c%2B1&iss=https%3A%2F%2Fidp.example&scope=openid+email&authuser=0")
	if err != nil || p.State != "s1" || p.Code != "c+1" || p.Issuer != "https://idp.example" || !p.IssuerGiven || p.Error != "" {
		t.Fatalf("ParseCallback = %+v, %v", p, err)
	}
	p, err = oauth.ParseCallback("state=s1&error=access_denied&error_description=User+said+no")
	if err != nil || p.Error != "access_denied" || p.ErrorDescription != "User said no" || p.IssuerGiven {
		t.Fatalf("error response = %+v, %v", p, err)
	}
	for _, q := range []string{
		"", "code=c", "state=s", "state=&code=c", "state=s&code=c&error=x", "state=s&state=t&code=c", "state=s&code=c&code=d",
		"state=s&code=c&iss=a&iss=b", "state=s&code=%ff", "state=s&code=a%00b", "state=s&code=" + strings.Repeat("x", 3000),
		"state=s&code=c;x=y", "state=%zz&code=c", strings.Repeat("a=b&", 2500) + "state=s&code=c",
	} {
		if _, err := oauth.ParseCallback(q); err == nil {
			t.Errorf("ParseCallback(%.60q) accepted", q)
		}
	}
}

func FuzzParseCallback(f *testing.F) {
	for _, s := range []string{"state=s&code=c", "state=s&error=access_denied&error_description=x", "state=s&code=c&iss=https%3A%2F%2Fa", "state=s&state=s&code=c", "%", "state=s&code=%C3%A9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := oauth.ParseCallback(raw)
		if err != nil {
			return
		}
		if p.State == "" || (p.Code == "") == (p.Error == "") {
			t.Fatalf("accepted %q as %+v", raw, p)
		}
		for _, v := range []string{p.State, p.Code, p.Error, p.ErrorDescription, p.Issuer} {
			if !utf8.ValidString(v) || len(v) > 2048 || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				t.Fatalf("accepted value %q from %q", v, raw)
			}
		}
		// What was accepted survives a round trip unchanged.
		q := url.Values{"state": {p.State}}
		for k, v := range map[string]string{"code": p.Code, "error": p.Error, "error_description": p.ErrorDescription} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if p.IssuerGiven {
			q.Set("iss", p.Issuer)
		}
		again, err := oauth.ParseCallback(q.Encode())
		if err != nil || again != p {
			t.Fatalf("round trip of %+v: %+v, %v", p, again, err)
		}
	})
}

func TestCheckRedirectEntry(t *testing.T) {
	for _, ok := range []string{"https://app.example/auth/callback", "http://localhost:3000/cb", "http://127.0.0.1:5173/", "com.example.app:/oauth", "tradesense://oauth/done"} {
		if err := oauth.CheckRedirectEntry(ok); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "/relative", "//evil.example/cb", "javascript:alert(1)", "JavaScript://x/%0aalert(1)", "data:text/html,x", "file:///etc/passwd",
		"https://app.example/cb?x=1", "https://app.example/cb#f", "https://u:p@app.example/cb", "http://app.example/cb", "https:///cb", "https://app.example/c b", `https://app.example\@evil/`, "com.example.app:opaque"} {
		if err := oauth.CheckRedirectEntry(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
