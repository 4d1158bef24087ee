package realtime

import (
	"encoding/json"
	"time"

	"github.com/google/uuid"
)

// The constructors below build version 1 of each event type, so that its
// payload has one definition, the one docs/realtime.md documents. Payloads
// name what changed (IDs and states), not its content: the client fetches
// the resource over the REST API, where ownership is checked, so an event
// never carries more than the user may read and never a secret.

// MaxJobProgressBytes bounds the progress report a job.updated event
// carries verbatim; a larger one is left out (the client fetches the job).
const MaxJobProgressBytes = 1024

// JobUpdated is job.updated: a state change of one of the user's jobs.
// progress, the handler's last JSON report, is included when state is
// "progress" and it is at most MaxJobProgressBytes.
func JobUpdated(userID uuid.UUID, at time.Time, jobID, kind, queue, state string, attempt int, progress json.RawMessage) Event {
	p := map[string]any{"job_id": jobID, "kind": kind, "queue": queue, "state": state, "attempt": attempt}
	if state == "progress" && len(progress) > 0 && len(progress) <= MaxJobProgressBytes && json.Valid(progress) {
		p["progress"] = json.RawMessage(append([]byte(nil), progress...))
	}
	return NewEvent(TypeJobUpdated, userID, at, p)
}

// ImportProgress is import.progress: rows of an import processed so far;
// rowsTotal is -1 while unknown (sent as null).
func ImportProgress(userID uuid.UUID, at time.Time, importID uuid.UUID, rowsDone, rowsTotal, rowsRejected int) Event {
	var total any
	if rowsTotal >= 0 {
		total = rowsTotal
	}
	return NewEvent(TypeImportProgress, userID, at, map[string]any{
		"import_id": importID.String(), "rows_done": rowsDone, "rows_total": total, "rows_rejected": rowsRejected,
	})
}

// ImportFinished is import.finished: an import ended; status is
// "succeeded" or "failed".
func ImportFinished(userID uuid.UUID, at time.Time, importID uuid.UUID, status string, executionsImported, tradesAffected, rowsRejected int) Event {
	return NewEvent(TypeImportFinished, userID, at, map[string]any{
		"import_id": importID.String(), "status": status,
		"executions_imported": executionsImported, "trades_affected": tradesAffected, "rows_rejected": rowsRejected,
	})
}

// ReportReady is report.ready: a requested report file can be downloaded.
func ReportReady(userID uuid.UUID, at time.Time, reportID uuid.UUID, kind, format string) Event {
	return NewEvent(TypeReportReady, userID, at, map[string]any{"report_id": reportID.String(), "kind": kind, "format": format})
}

// TradeChange says which trade (or which account's trades) a
// trade.created, trade.updated or trade.deleted event is about.
type TradeChange struct {
	// TradeID is the trade; uuid.Nil with Bulk.
	TradeID uuid.UUID
	// AccountID is the trade's trading account (always set).
	AccountID uuid.UUID
	// DataVersion is the user's data version after the write.
	DataVersion int64
	// Bulk: too many trades of the account changed in one write to name
	// them (an import, a rebuild); the client refetches the account's
	// trades.
	Bulk bool
	// AttachmentID is the journal attachment added to or removed from the
	// trade, uuid.Nil when the change is not about an attachment.
	AttachmentID uuid.UUID
}

// TradeChanged is trade.created, trade.updated or trade.deleted (typ):
// payload {trade_id (absent with bulk), account_id, data_version, bulk
// (only when true), attachment_id (only when set)}.
func TradeChanged(typ string, userID uuid.UUID, at time.Time, c TradeChange) Event {
	p := map[string]any{"account_id": c.AccountID.String(), "data_version": c.DataVersion}
	if c.Bulk {
		p["bulk"] = true
	} else {
		p["trade_id"] = c.TradeID.String()
	}
	if c.AttachmentID != uuid.Nil {
		p["attachment_id"] = c.AttachmentID.String()
	}
	return NewEvent(typ, userID, at, p)
}

// Journal entities and changes of journal.updated.
const (
	JournalEntityNote       = "note"
	JournalEntityDailyEntry = "daily_entry"
	JournalEntityTag        = "tag"
	JournalEntityPlaybook   = "playbook"
	JournalEntityAttachment = "attachment"

	ChangeCreated = "created"
	ChangeUpdated = "updated"
	ChangeDeleted = "deleted"
)

// JournalUpdated is journal.updated: entity ("note", "daily_entry", "tag",
// "playbook" or "attachment") was created, updated or deleted (change).
// date is the journal day (YYYY-MM-DD) the item belongs to when it is
// known (a daily entry, a note or an attachment of a day), "" otherwise
// (sent as null); dataVersion is the user's data version after the write.
func JournalUpdated(userID uuid.UUID, at time.Time, entity string, entityID uuid.UUID, change, date string, dataVersion int64) Event {
	var d any
	if date != "" {
		d = date
	}
	return NewEvent(TypeJournalUpdated, userID, at, map[string]any{
		"entity": entity, "entity_id": entityID.String(), "change": change, "date": d, "data_version": dataVersion,
	})
}

// SessionRevoked is security.session_revoked: sessions of the user ended
// (their devices are disconnected; the others refresh their session list).
// reason is identity's revocation reason ("logout", "revoked_by_user",
// "password_changed", ...).
func SessionRevoked(userID uuid.UUID, at time.Time, sessionIDs []uuid.UUID, reason string) Event {
	ids := make([]string, len(sessionIDs))
	for i, s := range sessionIDs {
		ids[i] = s.String()
	}
	return NewEvent(TypeSecuritySessionRevoked, userID, at, map[string]any{"session_ids": ids, "reason": reason})
}

// MFAChanged is security.mfa_changed: change is "enabled", "disabled" or
// "backup_codes_regenerated".
func MFAChanged(userID uuid.UUID, at time.Time, change string) Event {
	return NewEvent(TypeSecurityMFAChanged, userID, at, map[string]any{"change": change})
}
