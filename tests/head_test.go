package tests

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestHeadAnswersAsGet: every GET operation answers HEAD as it answers GET
// (RFC 9110 9.3.2), with the same status and headers and no content, and
// with the same authentication and ownership rules; a route without GET
// still refuses HEAD with 405 and an Allow header that does not offer it.
func TestHeadAnswersAsGet(t *testing.T) {
	st := newStack(t)
	owner := newTrader(st, "head-owner@example.com")
	trade := field(st.roundTrip(owner, "2026-03-02"), "id")
	intruder := newTrader(st, "head-intruder@example.com")

	for _, c := range []struct {
		path, token string
		status      int
	}{
		{"/health", "", 200},
		{"/openapi.yaml", "", 200},
		{"/api/v1/auth/me", owner.token, 200},
		{"/api/v1/trades?account_id=" + owner.account, owner.token, 200},
		{"/api/v1/trades/" + trade, owner.token, 200},
		{"/api/v1/analytics/summary", owner.token, 200},
		{"/api/v1/trades/" + trade, "", 401},
		{"/api/v1/trades/" + trade, intruder.token, 404},
		{"/api/v1/accounts/" + owner.account, intruder.token, 404},
		{"/api/v1/trades?symbl=AAPL", owner.token, 400},
	} {
		get := st.call("GET", c.path, c.token, nil, nil)
		head := st.call("HEAD", c.path, c.token, nil, nil)
		if get.status != c.status || head.status != c.status {
			t.Errorf("%s: GET %d, HEAD %d, want %d: %s", c.path, get.status, head.status, c.status, get.raw)
			continue
		}
		if head.raw != "" {
			t.Errorf("HEAD %s has content %q", c.path, head.raw)
		}
		for _, h := range []string{"Content-Type", "ETag", "Cache-Control", "X-Content-Type-Options"} {
			if g, hd := get.header.Get(h), head.header.Get(h); g != hd {
				t.Errorf("%s: %s is %q for GET, %q for HEAD", c.path, h, g, hd)
			}
		}
		if n := head.header.Get("Content-Length"); n != "" && n != strconv.Itoa(len(get.raw)) {
			t.Errorf("HEAD %s: Content-Length %s, GET's content is %d bytes", c.path, n, len(get.raw))
		}
	}

	// No content on the wire either: a HEAD and a GET on one connection,
	// the second answer read right after the first one's headers.
	vt, ok := st.client.Transport.(validatingTransport)
	tr, _ := vt.next.(*http.Transport)
	if !ok || tr == nil || tr.DialContext == nil {
		t.Fatalf("the stack's client has no dialer: %T", st.client.Transport)
	}
	conn, err := tr.DialContext(context.Background(), "tcp", "tradesense.test:80")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	rd := bufio.NewReader(conn)
	for _, method := range []string{"HEAD", "GET"} {
		res, err := http.ReadResponse(rd, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("%s answer: %v", method, err)
		}
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || (method == "GET") != (len(body) > 0) {
			t.Fatalf("%s /health on one connection: %d %q", method, res.StatusCode, body)
		}
	}

	// A route without GET: HEAD is not offered.
	r := st.call("HEAD", "/api/v1/auth/login", "", nil, nil)
	allow := strings.Split(r.header.Get("Allow"), ", ")
	if r.status != 405 || slices.Contains(allow, "HEAD") || !slices.Contains(allow, "POST") {
		t.Errorf("HEAD /api/v1/auth/login: %d, Allow %q", r.status, allow)
	}
	// A route with GET offers it beside GET.
	r = st.call("PUT", "/api/v1/trades", owner.token, nil, nil)
	if allow := strings.Split(r.header.Get("Allow"), ", "); r.status != 405 || !slices.Contains(allow, "HEAD") || !slices.Contains(allow, "GET") {
		t.Errorf("PUT /api/v1/trades: %d, Allow %q", r.status, allow)
	}
}
