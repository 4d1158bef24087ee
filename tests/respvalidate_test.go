package tests

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/tradesense/tradesense/adapters/httpapi"
)

// Every response the component tests receive over the in-memory network
// (serve) is checked against openapi.yaml with kin-openapi's response
// validator: status declared for the operation, media type declared, body
// matching the schema, required headers present. A test whose traffic
// drifts from the spec fails (issue 11 item 5), so the spec and the server
// cannot drift apart again without a red test.

var specRouter = sync.OnceValues(func() (routers.Router, error) {
	// The documents the raw endpoints serve are checked as opaque strings
	// (their media type is what is declared; their bytes are not JSON).
	for _, ct := range []string{"text/html", "text/css", "text/javascript", "image/png", "application/yaml"} {
		openapi3filter.RegisterBodyDecoder(ct, openapi3filter.FileBodyDecoder)
	}
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.SpecYAML())
	if err != nil {
		return nil, err
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, err
	}
	return gorillamux.NewRouter(doc)
})

// validatingTransport validates each response of next against the spec
// and reports a mismatch on t.
type validatingTransport struct {
	t    testing.TB
	next http.RoundTripper
}

func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := v.next.RoundTrip(req)
	if err != nil || res.StatusCode == http.StatusSwitchingProtocols || strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		return res, err
	}
	body, rerr := io.ReadAll(res.Body)
	_ = res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	if rerr != nil {
		v.t.Errorf("response of %s %s: read the body: %v", req.Method, req.URL.Path, rerr)
		return res, nil //nolint:nilerr // reported on t; the test sees the short body
	}
	if verr := validateResponse(req, res, body); verr != nil {
		v.t.Errorf("response not in the spec: %s %s -> %d: %v", req.Method, req.URL.Path, res.StatusCode, verr)
	}
	return res, nil
}

// validateResponse checks one exchange; requests that match no operation
// (404s of unknown paths, 405s) are answered by the router's problem and
// have no operation to check against.
func validateResponse(req *http.Request, res *http.Response, body []byte) error {
	router, err := specRouter()
	if err != nil {
		return err
	}
	r := req.Clone(context.Background())
	r.Host, r.URL.Host, r.URL.Scheme = "", "", ""
	route, params, err := router.FindRoute(r)
	if err != nil {
		return nil //nolint:nilerr // no operation matches (a 404 of an unknown path): nothing to check against
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 res.StatusCode,
		Header:                 res.Header,
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(body)
	return openapi3filter.ValidateResponse(context.Background(), in)
}

// TestResponseValidatorCatchesDrift: the validator is able to fail: an
// undeclared status, a wrong media type and a body off its schema are each
// reported.
func TestResponseValidatorCatchesDrift(t *testing.T) {
	req, _ := http.NewRequest("GET", "http://tradesense.test/api/v1/version", nil)
	mk := func(status int, ct, body string) (*http.Response, []byte) {
		return &http.Response{StatusCode: status, Header: http.Header{"Content-Type": {ct}, "X-Request-Id": {"r"}}}, []byte(body)
	}
	good := `{"version":"v","commit":"c","build_date":"d","go_version":"go"}`
	if res, b := mk(200, "application/json", good); validateResponse(req, res, b) != nil {
		t.Fatalf("a response as declared is refused: %v", validateResponse(req, res, b))
	}
	for name, c := range map[string][3]string{
		"undeclared status": {"418", "application/json", good},
		"wrong media type":  {"200", "text/plain", good},
		"body off schema":   {"200", "application/json", `{"version":1}`},
	} {
		status := map[string]int{"418": 418, "200": 200}[c[0]]
		if res, b := mk(status, c[1], c[2]); validateResponse(req, res, b) == nil {
			t.Errorf("%s: not reported", name)
		}
	}
}

// TestRawEndpointsMatchTheSpec fetches the hand-written endpoints (the
// reference page and each of its assets, the spec, the probes, the JWKS)
// through the validating client: their media types are the declared ones.
func TestRawEndpointsMatchTheSpec(t *testing.T) {
	inStack(t, stackSpec{}, func(t *testing.T, st *stack) {
		for _, path := range []string{"/docs", "/docs/init.js", "/docs/swagger-ui-bundle.js", "/docs/swagger-ui-standalone-preset.js",
			"/docs/swagger-ui.css", "/docs/favicon-32x32.png", "/docs/favicon-16x16.png", "/docs/nope.js",
			"/openapi.yaml", "/health", "/health/ready", "/.well-known/jwks.json", "/api/v1/version"} {
			res, err := st.client.Get(st.url + path)
			if err != nil {
				t.Fatal(err)
			}
			_ = res.Body.Close()
			if want := map[bool]int{true: 404, false: 200}[path == "/docs/nope.js"]; res.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
			}
		}
	})
}
