package centrifuge

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzCheckOrigin: the Origin header is outside input. The check never
// panics, and accepts only what is allowed: no header, an allowed origin
// (any case), or the request's own host.
func FuzzCheckOrigin(f *testing.F) {
	e := &Engine{origins: map[string]bool{"https://app.example": true}}
	for _, s := range []string{"", "https://app.example", "HTTPS://App.Example", "https://evil.example", "null", "https://app.example/x", "http://host.test", "https://app.example:443", "://", "https://user@app.example"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, origin string) {
		r := httptest.NewRequest("GET", "http://host.test/connection/websocket", nil)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		ok := e.checkOrigin(r)
		if !ok {
			return
		}
		if got := r.Header.Get("Origin"); got == "" {
			return
		}
		n, valid := normalOrigin(r.Header.Get("Origin"))
		if !valid || (n != "https://app.example" && !strings.HasSuffix(n, "://host.test")) {
			t.Fatalf("accepted Origin %q (normalised %q, valid %v)", origin, n, valid)
		}
	})
}
