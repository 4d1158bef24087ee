package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"

	"github.com/tradesense/tradesense/core/identity"
)

// bearerScheme is the security scheme of openapi.yaml that means "needs an
// access token"; roleExtension names the role an operation also needs.
const (
	bearerScheme  = "bearerAuth"
	roleExtension = "x-required-role"
)

// loadSpec parses and validates the embedded OpenAPI document.
func loadSpec(ctx context.Context) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.Context = ctx
	doc, err := loader.LoadFromData(specYAML)
	if err != nil {
		return nil, fmt.Errorf("parse openapi.yaml: %w", err)
	}
	if err := doc.Validate(ctx); err != nil {
		return nil, fmt.Errorf("validate openapi.yaml: %w", err)
	}
	return doc, nil
}

// route is what the spec says about one operation, as the middleware needs
// it: whether it takes an access token and which role, and what to validate.
type route struct {
	// bearer: the operation declares `security: [{bearerAuth: []}]`.
	bearer bool
	// role is its x-required-role ("" any authenticated user).
	role identity.Role
	// validate is the operation for kin-openapi's request validation; nil
	// when it has no parameters and no body, so there is nothing to check.
	validate *routers.Route
	// idempotent: the operation declares the Idempotency-Key header, so
	// its first answer to a key is replayed (idempotent).
	idempotent bool
	// upload: the operation takes multipart/form-data, whose body may be
	// up to Config.MaxUploadBytes (bodyLimit) and is read by the handler
	// as a stream, not validated as a whole.
	upload bool
	// query holds the names of the query parameters the operation
	// declares, sorted: a request naming any other is refused
	// (unknownQuery), unless anyQuery.
	query []string
	// anyQuery: the operation declares x-extra-query: allowed (the probes,
	// the OAuth callback, where providers add parameters of their own, and
	// the WebSocket, whose engine reads the query itself).
	anyQuery bool
}

type routeKey struct{ method, path string }

// routeTable holds every operation of the spec by method and Gin path. It
// is built by one walk of the spec (routesOf); the authenticator and the
// validator both read it, with the route Gin matched as the key (spec
// paths and Gin routes are kept equal by
// TestEveryRouteIsInTheSpecAndEveryOperationIsRouted), so there is no
// second routing pass.
type routeTable map[routeKey]*route

// of returns the operation Gin matched, or nil for a request no spec route
// matched (404, 405, and the few routes outside the spec).
func (t routeTable) of(c *gin.Context) *route {
	full := c.FullPath()
	if full == "" {
		return nil
	}
	return t[routeKey{c.Request.Method, full}]
}

// extraQueryExtension marks an operation that accepts query parameters it
// does not declare (value "allowed").
const extraQueryExtension = "x-extra-query"

// specParam matches an OpenAPI path parameter, {name}.
var specParam = regexp.MustCompile(`\{([^}]+)\}`)

// routesOf walks the spec once. A role without the bearer scheme, or a
// role that does not exist, is an error in the spec, reported at start.
func routesOf(doc *openapi3.T) (routeTable, error) {
	t := routeTable{}
	for path, item := range doc.Paths.Map() {
		ginPath := specParam.ReplaceAllString(path, ":$1")
		for method, op := range item.Operations() {
			r := &route{bearer: op.Security != nil && requiresBearer(*op.Security)}
			if v, ok := op.Extensions[roleExtension]; ok {
				if !r.bearer {
					return nil, fmt.Errorf("openapi.yaml: %s %s has %s but no bearerAuth security", method, path, roleExtension)
				}
				role, _ := v.(string)
				if !identity.Role(role).Valid() {
					return nil, fmt.Errorf("openapi.yaml: %s %s: %s %v is not a role", method, path, roleExtension, v)
				}
				r.role = identity.Role(role)
			}
			for _, p := range op.Parameters {
				if p.Value != nil && p.Value.In == openapi3.ParameterInHeader && p.Value.Name == idempotencyHeader {
					r.idempotent = true
				}
			}
			for _, ps := range [...]openapi3.Parameters{item.Parameters, op.Parameters} {
				for _, p := range ps {
					if p.Value != nil && p.Value.In == openapi3.ParameterInQuery {
						r.query = append(r.query, p.Value.Name)
					}
				}
			}
			slices.Sort(r.query)
			r.query = slices.Compact(r.query)
			if v, ok := op.Extensions[extraQueryExtension]; ok {
				if v != "allowed" {
					return nil, fmt.Errorf("openapi.yaml: %s %s: %s is %v; the only value is allowed", method, path, extraQueryExtension, v)
				}
				r.anyQuery = true
			}
			if op.RequestBody != nil && op.RequestBody.Value != nil && op.RequestBody.Value.Content.Get("multipart/form-data") != nil {
				r.upload = true
			}
			if len(item.Parameters) > 0 || len(op.Parameters) > 0 || op.RequestBody != nil {
				r.validate = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
			}
			t[routeKey{method, ginPath}] = r
			if method == http.MethodGet {
				// HEAD is GET without the body (answerHead): the same
				// operation for authentication and validation.
				t[routeKey{http.MethodHead, ginPath}] = r
			}
		}
	}
	return t, nil
}

func requiresBearer(reqs openapi3.SecurityRequirements) bool {
	for _, r := range reqs {
		if _, ok := r[bearerScheme]; ok {
			return true
		}
	}
	return false
}

// answerHead registers HEAD beside every GET route of engine, with the
// same handler chain: RFC 9110 (9.3.2) has a server answer HEAD as it
// answers GET, without the content, which net/http already drops for a
// HEAD request while keeping the headers (Content-Type, Content-Length
// where it is known, ETag). GET handlers are safe, so running one for
// HEAD changes nothing. Call it after every GET route is registered.
func answerHead(engine *gin.Engine) {
	for _, r := range engine.Routes() {
		if r.Method == http.MethodGet {
			engine.HEAD(r.Path, r.HandlerFunc)
		}
	}
}
