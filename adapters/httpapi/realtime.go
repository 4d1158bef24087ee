package httpapi

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
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
func realtimeUpgrade(h http.Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		r := c.Request.WithContext(context.Background())
		h.ServeHTTP(c.Writer, r)
	}
}
