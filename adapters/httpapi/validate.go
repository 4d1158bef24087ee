package httpapi

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/gin-gonic/gin"

	"github.com/tradesense/tradesense/core/apperr"
)

// validator checks each request that matches a spec operation against it:
// parameters, content type and body schema. The operation comes from the
// route table (one map lookup; operations with nothing to validate stop
// there). Requests that match no route pass through to the 404/405
// handlers. It runs after the authenticator, which has already answered
// 401/403 for protected operations, so kin-openapi's own security check is
// switched off.
func validator(routes routeTable, log *slog.Logger) gin.HandlerFunc {
	opts := &openapi3filter.Options{
		MultiError:         true,
		AuthenticationFunc: openapi3filter.NoopAuthenticationFunc,
	}
	streamed := *opts
	streamed.ExcludeRequestBody = true
	return func(c *gin.Context) {
		r := routes.of(c)
		if r == nil || r.validate == nil {
			c.Next()
			return
		}
		params := make(map[string]string, len(c.Params))
		for _, p := range c.Params {
			params[p.Key] = p.Value
		}
		in := &openapi3filter.RequestValidationInput{
			Request: c.Request, PathParams: params, Route: r.validate, Options: opts,
		}
		if r.upload {
			// A multipart body is streamed by its handler: validating it
			// here would buffer the whole upload.
			in.Options = &streamed
		}
		if err := openapi3filter.ValidateRequest(c.Request.Context(), in); err != nil {
			writeProblem(c, log, requestProblem(err))
			return
		}
		c.Next()
	}
}

const prefixInvalidContentType = "header Content-Type has unexpected value"

// requestProblem turns kin-openapi's validation errors into one Invalid error
// with a message per field. Field names are the parameter name or the JSON
// pointer into the body; messages never echo the offending value.
func requestProblem(err error) error {
	var errs []error
	var me openapi3.MultiError
	if errors.As(err, &me) {
		errs = me
	} else {
		errs = []error{err}
	}
	fields := map[string]string{}
	for _, e := range errs {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			var rte *routers.RouteError
			if errors.As(e, &rte) {
				return apperr.Wrap(e, apperr.NotFound, "not_found", "No such resource.")
			}
			fields["request"] = "is invalid"
			continue
		}
		var tooLarge *http.MaxBytesError
		if errors.As(re.Err, &tooLarge) {
			return errTooLarge(e, "The request body is larger than the server accepts.")
		}
		if strings.HasPrefix(re.Reason, prefixInvalidContentType) {
			return errUnsupportedMedia(e)
		}
		switch {
		case re.Parameter != nil:
			fields[re.Parameter.Name] = reasonOf(re)
		case re.RequestBody != nil:
			collectBodyErrors(fields, re)
		default:
			fields["request"] = reasonOf(re)
		}
	}
	return &apperr.Error{Kind: apperr.Invalid, Code: "validation_failed",
		Message: "The request does not match the API contract.", Fields: fields, Cause: err}
}

func collectBodyErrors(fields map[string]string, re *openapi3filter.RequestError) {
	var inner []error
	var me openapi3.MultiError
	if errors.As(re.Err, &me) {
		inner = me
	} else {
		inner = []error{re.Err}
	}
	for _, e := range inner {
		var se *openapi3.SchemaError
		if errors.As(e, &se) {
			key := "/" + strings.Join(se.JSONPointer(), "/")
			if key == "/" {
				key = "body"
			}
			fields[key] = se.Reason
			continue
		}
		if e == nil {
			fields["body"] = reasonOf(re)
			continue
		}
		fields["body"] = bodyReason(e)
	}
}

// bodyReason keeps decoder messages short and value-free.
func bodyReason(err error) string {
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) {
		return "is not valid JSON"
	}
	if errors.Is(err, openapi3filter.ErrInvalidRequired) {
		return "is required"
	}
	return "is invalid"
}

func reasonOf(re *openapi3filter.RequestError) string {
	var se *openapi3.SchemaError
	if errors.As(re.Err, &se) {
		return se.Reason
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		return "is required"
	}
	if re.Reason != "" {
		return re.Reason
	}
	return "is invalid"
}
