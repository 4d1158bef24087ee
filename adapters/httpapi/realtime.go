package httpapi

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"golang.org/x/net/http/httpguts"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/realtime"
)

// RealtimePath is where the realtime WebSocket is mounted.
const RealtimePath = "/connection/websocket"

// RealtimeEngine is the realtime engine as the server sees it
// (*centrifuge.Engine): its WebSocket handler, mounted at RealtimePath, and
// its shutdown, which Run calls when the server drains so that every
// connection gets the reconnect advice (close 3001) before the process
// exits: net/http's Shutdown neither closes nor waits for hijacked
// connections.
type RealtimeEngine interface {
	Handler() http.Handler
	// AllowsOrigin reports whether a request's Origin may open a
	// connection (the engine's own rule, checked again in its upgrade).
	AllowsOrigin(r *http.Request) bool
	Shutdown(ctx context.Context) error
}

// RealtimeTokens issues connection tokens (*centrifuge.Tokens).
type RealtimeTokens interface {
	IssueConnectionToken(ctx context.Context, userID, sessionID uuid.UUID) (realtime.ConnectionToken, error)
}

// realtimeHandlers serve POST /api/v1/realtime/token.
type realtimeHandlers struct {
	tokens RealtimeTokens
}

func (h *realtimeHandlers) CreateRealtimeToken(ctx context.Context, _ gen.CreateRealtimeTokenRequestObject) (gen.CreateRealtimeTokenResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	t, err := h.tokens.IssueConnectionToken(ctx, p.UserID, p.SessionID)
	if err != nil {
		return nil, err
	}
	return gen.CreateRealtimeToken200JSONResponse{
		Body:    gen.RealtimeToken{Token: t.Token, ExpiresAt: t.ExpiresAt.UTC()},
		Headers: gen.CreateRealtimeToken200ResponseHeaders{CacheControl: "no-store"},
	}, nil
}

// realtimeUpgrade hands the request to the engine's WebSocket handler. The
// engine keeps the request's context for the connection's whole life, so
// it gets one without what the middleware put there (span, request record,
// logger attributes): an idle connection then holds only the engine's own
// state. The access log and metrics still see the upgrade.
//
// What the engine would refuse in plain text is refused here first, as
// every other answer is, in problem+json with the request ID: a token in
// the URL (tokens must never reach access logs), a request that is not a
// WebSocket upgrade, an Origin the engine does not allow.
func realtimeUpgrade(e RealtimeEngine, log *slog.Logger) gin.HandlerFunc {
	h := e.Handler()
	return func(c *gin.Context) {
		q, req := c.Request.URL.Query(), c.Request
		switch {
		case q.Has("token") || q.Has("access_token") || q.Has("jwt"):
			writeProblem(c, log, apperr.New(apperr.Invalid, "realtime_token_in_url", "Send the connection token in the connect message, never in the URL."))
		case !httpguts.HeaderValuesContainsToken(req.Header["Connection"], "upgrade") ||
			!httpguts.HeaderValuesContainsToken(req.Header["Upgrade"], "websocket"):
			writeProblem(c, log, apperr.New(apperr.Invalid, "websocket_upgrade_required",
				"This endpoint speaks WebSocket only: open it with a WebSocket client (an HTTP/1.1 upgrade)."))
		case !e.AllowsOrigin(req):
			writeProblem(c, log, apperr.New(apperr.Forbidden, "realtime_origin_refused", "This page's origin may not open the realtime connection."))
		default:
			h.ServeHTTP(c.Writer, req.WithContext(context.Background()))
		}
	}
}
