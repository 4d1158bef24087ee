package identity

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/uow"
)

// pushTimeout bounds the realtime side of a revocation: it runs after the
// write committed, even when the request that caused it is going away.
const pushTimeout = 2 * time.Second

// sessionsEnded is what follows the write that ended sessions ids of
// userID for reason, once that write commits (uow.AfterCommit; at once
// when ctx carries no transaction, the write having committed on its own):
// the revocation entries (markRevoked), then, with a realtime engine, the
// connections of those sessions are closed on every replica — all of the
// user's when the user was disabled — and the user's other devices get
// security.session_revoked. Nothing runs for a rolled-back write.
func (s *Service) sessionsEnded(ctx context.Context, userID uuid.UUID, reason string, ids []uuid.UUID) {
	if len(ids) == 0 {
		return
	}
	ids = append([]uuid.UUID(nil), ids...)
	uow.AfterCommit(ctx, func(ctx context.Context) {
		s.markRevoked(ctx, ids...)
		s.pushSessionsEnded(ctx, userID, reason, ids)
	})
}

// disconnectReason is the close reason the devices of an ended session
// get: a changed or reset password and a disabled user have their own
// (their apps say why), every other end is a revoked session.
func disconnectReason(reason string) realtime.DisconnectReason {
	switch reason {
	case "password_changed", "password_reset":
		return realtime.ReasonPasswordChanged
	case "user_disabled":
		return realtime.ReasonUserDisabled
	}
	return realtime.ReasonSessionRevoked
}

func (s *Service) pushSessionsEnded(ctx context.Context, userID uuid.UUID, reason string, ids []uuid.UUID) {
	if s.d.Disconnect == nil && s.d.Push == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), pushTimeout)
	defer cancel()
	if s.d.Disconnect != nil {
		r := disconnectReason(reason)
		var err error
		if r == realtime.ReasonUserDisabled {
			err = s.d.Disconnect.DisconnectUser(ctx, userID, r)
		} else {
			err = s.d.Disconnect.DisconnectSessions(ctx, userID, ids, r)
		}
		if err != nil {
			// The connections end at the latest when their connection
			// token expires: every refresh re-checks the session.
			s.d.Log.WarnContext(ctx, "identity: realtime connections of ended sessions not closed", "user_id", userID.String(), "reason", reason, "error", err)
		}
	}
	if s.d.Push != nil {
		if err := s.d.Push.Publish(ctx, realtime.SessionRevoked(userID, s.now(), ids, reason)); err != nil {
			s.d.Log.WarnContext(ctx, "identity: security.session_revoked not published", "user_id", userID.String(), "error", err)
		}
	}
}
