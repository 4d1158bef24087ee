// Package reqctx carries per-request facts (request ID, authenticated user)
// through a context.Context, so that logs written anywhere below a request can
// name it without the logger knowing about HTTP.
//
// The facts live in one mutable Info installed at the start of the request:
// an authentication step deep in the chain can set the user, and the access
// log written by the outermost middleware still sees it.
package reqctx

import (
	"context"
	"sync/atomic"
)

// Info is the per-request record. Its zero value is usable. RequestID is set
// once at creation; UserID may be set later from any goroutine.
type Info struct {
	RequestID string
	// ClientIP and UserAgent are where the request came from, set once
	// at creation (WithClient); identity.ClientMetaFrom reads them.
	ClientIP, UserAgent string
	userID              atomic.Pointer[string]
}

// SetUserID records the authenticated user.
func (i *Info) SetUserID(id string) { i.userID.Store(&id) }

// UserID returns the authenticated user, or "" before authentication.
func (i *Info) UserID() string {
	if p := i.userID.Load(); p != nil {
		return *p
	}
	return ""
}

type infoKey struct{}

// With returns a context carrying a new Info for requestID.
func With(ctx context.Context, requestID string) (context.Context, *Info) {
	return WithClient(ctx, requestID, "", "")
}

// WithClient is With for a request from clientIP with userAgent: one
// context value for the request's identity and its client facts.
func WithClient(ctx context.Context, requestID, clientIP, userAgent string) (context.Context, *Info) {
	c := &infoContext{Context: ctx, info: Info{RequestID: requestID, ClientIP: clientIP, UserAgent: userAgent}}
	return c, &c.info
}

// infoContext is context.WithValue(parent, infoKey{}, &info) in one
// allocation instead of two (the Info and the context node): it is made
// for every request. Every other key, and Deadline, Done and Err, are the
// parent's.
type infoContext struct {
	context.Context
	info Info
}

func (c *infoContext) Value(key any) any {
	if _, ok := key.(infoKey); ok {
		return &c.info
	}
	return c.Context.Value(key)
}

func (c *infoContext) String() string { return "reqctx.With(" + c.info.RequestID + ")" }

// From returns the Info in ctx, or nil outside a request.
func From(ctx context.Context) *Info {
	info, _ := ctx.Value(infoKey{}).(*Info)
	return info
}

// RequestID returns the request ID in ctx, or "".
func RequestID(ctx context.Context) string {
	if info := From(ctx); info != nil {
		return info.RequestID
	}
	return ""
}
