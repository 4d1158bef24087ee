package identity

import (
	"context"
	"fmt"
	"time"
)

// KindPurge is the maintenance job that deletes ended sessions, their
// refresh tokens and ended email tokens (see PurgeEnded).
const KindPurge = "maintenance.purge_identity"

// PurgeResult counts what PurgeEnded deleted.
type PurgeResult struct {
	Sessions    int64 `json:"sessions"`
	EmailTokens int64 `json:"email_tokens"`
}

// PurgeEnded deletes the sessions (with their refresh tokens) and the
// email tokens that can no longer be used: expired, revoked or used more
// than keep before now. keep leaves recently ended records for support
// and for the "session ended" answers users see.
func PurgeEnded(ctx context.Context, sessions Sessions, tokens EmailTokens, now time.Time, keep time.Duration) (PurgeResult, error) {
	before := now.Add(-keep)
	var r PurgeResult
	n, err := sessions.PurgeEnded(ctx, before)
	if err != nil {
		return r, fmt.Errorf("purge ended sessions: %w", err)
	}
	r.Sessions = n
	if n, err = tokens.PurgeEnded(ctx, before); err != nil {
		return r, fmt.Errorf("purge ended email tokens: %w", err)
	}
	r.EmailTokens = n
	return r, nil
}
