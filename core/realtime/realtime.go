// Package realtime declares the events pushed to a user's connected devices
// and the port that publishes them. The engine that carries them (channels,
// history, recovery, fan-out across replicas) lives in an adapter.
package realtime

import (
	"context"
	"time"

	"github.com/google/uuid"
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

// Publisher delivers events to every connection of the event's user, on
// every replica.
//
// Callers publish only after the write that caused the event has committed
// (see uow), never for a rolled-back write. Publish is best effort for the
// caller: an error (apperr.Unavailable when the broker is down) is logged
// by the caller, never turned into a failure of the committed write.
type Publisher interface {
	Publish(ctx context.Context, e Event) error
}
