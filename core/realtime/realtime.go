// Package realtime declares the events pushed to a user's connected devices
// and the ports around them: publishing events, closing connections when a
// credential ends, issuing connection tokens, and asking whether a session
// may still hold connections. The engine that carries them (channels,
// history, recovery, fan-out across replicas) lives in an adapter.
package realtime

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
)

// Event types. docs/realtime.md documents each payload; a payload never
// carries a secret.
const (
	TypeJobUpdated             = "job.updated"
	TypeImportProgress         = "import.progress"
	TypeImportFinished         = "import.finished"
	TypeReportReady            = "report.ready"
	TypeTradeCreated           = "trade.created"
	TypeTradeUpdated           = "trade.updated"
	TypeTradeDeleted           = "trade.deleted"
	TypeJournalUpdated         = "journal.updated"
	TypeSecuritySessionRevoked = "security.session_revoked"
	TypeSecurityMFAChanged     = "security.mfa_changed"
)

// Types lists every event type, in the order docs/realtime.md documents
// them.
func Types() []string {
	return []string{
		TypeJobUpdated, TypeImportProgress, TypeImportFinished, TypeReportReady,
		TypeTradeCreated, TypeTradeUpdated, TypeTradeDeleted, TypeJournalUpdated,
		TypeSecuritySessionRevoked, TypeSecurityMFAChanged,
	}
}

// KnownType reports whether t is one of the Type constants.
func KnownType(t string) bool {
	for _, k := range Types() {
		if k == t {
			return true
		}
	}
	return false
}

// Event is one message for one user's devices.
type Event struct {
	ID         uuid.UUID // unique per event; clients deduplicate on it
	Type       string    // one of the Type constants
	Version    int       // payload schema version of Type, starting at 1
	UserID     uuid.UUID // the only user whose connections receive it
	OccurredAt time.Time // UTC
	// Payload is small and JSON-serialisable (a struct with json tags is
	// the adapter's concern: core passes plain maps or value types).
	Payload map[string]any
}

// NewEventID returns a fresh event ID: a UUIDv7 (RFC 9562), so that IDs
// sort by creation time, as docs/realtime.md promises. Every event gets its
// ID here (NewEvent and the constructors call it).
func NewEventID() uuid.UUID {
	return uuid.Must(uuid.NewV7())
}

// NewEvent returns a version 1 event of type typ for userID with a fresh
// time-ordered ID (NewEventID), occurring at now (in UTC). Publishers use
// the constructors of events.go, which fix each type's payload.
func NewEvent(typ string, userID uuid.UUID, now time.Time, payload map[string]any) Event {
	return Event{ID: NewEventID(), Type: typ, Version: 1, UserID: userID, OccurredAt: now.UTC(), Payload: payload}
}

// CodeEventInvalid is the error code of an event Validate refuses.
const CodeEventInvalid = "realtime_event_invalid"

// Validate reports an event no Publisher may accept, as apperr.Invalid
// "realtime_event_invalid": a missing ID, user or time, an unknown type or
// a version below 1. The payload's size is the adapter's limit.
func (e Event) Validate() error {
	var problem string
	switch {
	case e.ID == uuid.Nil:
		problem = "no id"
	case e.UserID == uuid.Nil:
		problem = "no user"
	case !KnownType(e.Type):
		problem = fmt.Sprintf("unknown type %q", e.Type)
	case e.Version < 1:
		problem = fmt.Sprintf("version %d", e.Version)
	case e.OccurredAt.IsZero():
		problem = "no occurred_at"
	default:
		return nil
	}
	return apperr.New(apperr.Invalid, CodeEventInvalid, "realtime event: "+problem)
}

// Publisher delivers events to every connection of the event's user, on
// every replica, and keeps them for a while so that a device that was
// offline briefly recovers what it missed (see docs/realtime.md).
//
// Callers publish only after the write that caused the event has committed
// (see uow), never for a rolled-back write. Publish fails with
// apperr.Invalid for an event Validate refuses or whose payload exceeds the
// adapter's size limit, and apperr.Unavailable when the broker is down.
// Publish is best effort for the caller: an error is logged by the caller,
// never turned into a failure of the committed write.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}

// DisconnectReason says why the server closes a user's connections. It is
// sent to the client (docs/realtime.md lists the close codes) and counted
// in metrics.
type DisconnectReason string

// The reasons credentials end. A client closed for one of them does not
// reconnect by itself: its session (or every session) is over.
const (
	ReasonSessionRevoked  DisconnectReason = "session_revoked"
	ReasonUserDisabled    DisconnectReason = "user_disabled"
	ReasonPasswordChanged DisconnectReason = "password_changed"
)

// Disconnector closes connections whose credentials ended, on every
// replica, within a second.
//
// Both return once the connections they close on this replica can
// receive nothing more: an event published after the return reaches none
// of them (the other replicas close theirs when the disconnect reaches
// them through the broker, within the second). Both are idempotent, and
// succeed when nothing is connected. They fail with apperr.Unavailable
// when the broker that reaches the other replicas is down; the caller logs it (the connections then end at the
// latest when their connection token expires, since refresh re-checks the
// session).
type Disconnector interface {
	// DisconnectUser closes every connection of userID.
	DisconnectUser(ctx context.Context, userID uuid.UUID, reason DisconnectReason) error
	// DisconnectSessions closes userID's connections opened with a token of
	// one of sessionIDs; other sessions' connections stay. An empty list
	// closes nothing.
	DisconnectSessions(ctx context.Context, userID uuid.UUID, sessionIDs []uuid.UUID, reason DisconnectReason) error
}

// ConnectionToken is the short-lived credential a client sends in the first
// message of its realtime connection (never in the URL).
type ConnectionToken struct {
	Token     string
	ExpiresAt time.Time
}

// TokenIssuer issues connection tokens (POST /api/v1/realtime/token).
type TokenIssuer interface {
	// IssueConnectionToken returns a token naming userID and sessionID.
	// The caller has authenticated the request (the session is live).
	IssueConnectionToken(ctx context.Context, userID, sessionID uuid.UUID) (ConnectionToken, error)
}

// Sessions tells the engine whether a session may hold connections. The
// engine asks on every connect and every token refresh, so that a token
// issued before its session ended cannot open a connection afterwards.
type Sessions interface {
	// CheckSession returns nil when sessionID of userID is live,
	// apperr.Unauthenticated when the session ended or the user is
	// disabled, and apperr.Unavailable when it cannot tell. The engine
	// never fails open: on any other answer than nil or Unauthenticated
	// the connect or refresh fails temporarily and the client retries.
	CheckSession(ctx context.Context, userID, sessionID uuid.UUID) error
}
