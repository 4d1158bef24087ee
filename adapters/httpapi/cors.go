package httpapi

import (
	"net/http"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
)

// corsHeaders are the headers a page on an allowed origin may send
// (Access-Control-Allow-Headers) and read (Access-Control-Expose-Headers).
type corsHeaders struct{ allow, expose []string }

// The headers every API answer may involve that no operation of the spec
// declares, because the middleware, not an operation, reads or writes
// them: the bearer token, the body's type, the request ID, the
// Retry-After of a 429 or 503 problem and the mark of a replayed
// idempotent answer.
var (
	baseAllowHeaders  = []string{"Authorization", "Content-Type", RequestIDHeader}
	baseExposeHeaders = []string{RequestIDHeader, "Retry-After", replayedHeader}
)

// corsHeadersOf is the base lists plus every header parameter and every
// response header openapi.yaml declares, so that a header the spec gains
// (If-Match, Idempotency-Key, ETag, Content-Disposition, …) is usable from
// a browser without a second list to keep in step. Set-Cookie is left out:
// browsers never let a script read it (a forbidden response header name).
// A nil doc (the ops server) gives the base lists.
func corsHeadersOf(doc *openapi3.T) corsHeaders {
	h := corsHeaders{allow: slices.Clone(baseAllowHeaders), expose: slices.Clone(baseExposeHeaders)}
	if doc == nil || doc.Paths == nil {
		return h
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, ps := range [...]openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, p := range ps {
					if p.Value != nil && p.Value.In == openapi3.ParameterInHeader {
						h.allow = append(h.allow, p.Value.Name)
					}
				}
			}
			if op.Responses == nil {
				continue
			}
			for _, r := range op.Responses.Map() {
				if r.Value == nil {
					continue
				}
				for name := range r.Value.Headers {
					if http.CanonicalHeaderKey(name) != "Set-Cookie" {
						h.expose = append(h.expose, name)
					}
				}
			}
		}
	}
	return corsHeaders{allow: canonicalSet(h.allow), expose: canonicalSet(h.expose)}
}

// canonicalSet is names in canonical form, sorted, each once.
func canonicalSet(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = http.CanonicalHeaderKey(n)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
