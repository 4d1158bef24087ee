// Package idempotency makes retried POSTs safe: the first response to an
// Idempotency-Key is stored and replayed to every retry for 24 hours, so a
// mobile client that lost the answer creates nothing twice.
//
// The HTTP layer calls Guard.Do around a handler: the key is claimed
// (pending) before the handler runs and completed with its response after;
// a retry while the first request still runs gets apperr.Conflict
// "idempotency_in_progress"; a retry with another request body under the
// same key gets apperr.Invalid "idempotency_key_reused" (HTTP 422). Server
// errors (status ≥ 500) are not stored: the claim is released so that the
// client may retry. A claim whose request died with its process is taken
// over after Lease, unless the request's first transaction committed: that
// transaction marked the key applied (uow.WithCommitMark), and a retry of
// a request whose effect is durable but whose answer was lost gets
// apperr.Conflict "idempotency_applied" instead of carrying it out twice.
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/uow"
)

// Error codes.
const (
	CodeKeyInvalid = "idempotency_key_invalid"
	CodeKeyReused  = "idempotency_key_reused"
	CodeInProgress = "idempotency_in_progress"
	CodeApplied    = "idempotency_applied"
)

// Defaults.
const (
	DefaultTTL   = 24 * time.Hour
	DefaultLease = time.Minute
	MaxKeyLen    = 255
)

// State of a record.
type State string

// The states.
const (
	Pending State = "pending"
	// Applied: the request's transaction committed, its answer is not
	// stored yet (or never will be: the process died).
	Applied State = "applied"
	Done    State = "done"
)

// Response is what is replayed.
type Response struct {
	Status      int
	ContentType string
	Location    string
	Body        []byte
}

// Record is a stored key.
type Record struct {
	UserID      uuid.UUID
	Key         string
	RequestHash string
	State       State
	Response    Response
	CreatedAt   time.Time
	ExpiresAt   time.Time
}

// Store keeps records. Implementations may fail with apperr.Unavailable.
type Store interface {
	// Claim stores a pending record for (r.UserID, r.Key) unless a live one
	// exists: it returns (nil, nil) when the caller now holds the key, or
	// the existing record. A record past its ExpiresAt, or a pending one
	// created before staleBefore, counts as absent and is replaced.
	// Concurrent claims of one key: exactly one gets (nil, nil).
	Claim(ctx context.Context, r Record, staleBefore time.Time) (*Record, error)
	// MarkApplied turns the caller's pending claim applied; ctx carries
	// the transaction of the request's effect, which the write joins.
	MarkApplied(ctx context.Context, userID uuid.UUID, key string) error
	// Complete stores the response of the caller's pending or applied
	// claim.
	Complete(ctx context.Context, userID uuid.UUID, key string, resp Response) error
	// Release deletes the caller's pending claim (the request failed in a
	// way that must not be replayed); an applied one stays.
	Release(ctx context.Context, userID uuid.UUID, key string) error
	// Purge deletes records that expired before now and reports how many.
	Purge(ctx context.Context, now time.Time) (int64, error)
}

// Guard runs requests under idempotency keys.
type Guard struct {
	Store Store
	TTL   time.Duration // DefaultTTL when 0
	Lease time.Duration // DefaultLease when 0
	Now   func() time.Time
}

// Hash is the fingerprint of a request: method, route and body.
func Hash(method, path string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(path))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// ValidateKey checks a client's key: 1 to MaxKeyLen printable ASCII
// characters.
func ValidateKey(key string) error {
	if key == "" || len(key) > MaxKeyLen {
		return apperr.New(apperr.Invalid, CodeKeyInvalid, "Idempotency-Key must be 1 to 255 printable ASCII characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x21 || key[i] > 0x7e {
			return apperr.New(apperr.Invalid, CodeKeyInvalid, "Idempotency-Key must be 1 to 255 printable ASCII characters")
		}
	}
	return nil
}

// Do runs fn once per (userID, key): the first call runs it and stores its
// response (unless fn fails or answers ≥ 500); later calls with the same
// request hash get that response and replayed = true.
func (g *Guard) Do(ctx context.Context, userID uuid.UUID, key, requestHash string, fn func(ctx context.Context) (Response, error)) (resp Response, replayed bool, err error) {
	if err := ValidateKey(key); err != nil {
		return Response{}, false, err
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	ttl, lease := g.TTL, g.Lease
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if lease <= 0 {
		lease = DefaultLease
	}
	t := now().UTC()
	prev, err := g.Store.Claim(ctx, Record{UserID: userID, Key: key, RequestHash: requestHash, State: Pending, CreatedAt: t, ExpiresAt: t.Add(ttl)}, t.Add(-lease))
	if err != nil {
		return Response{}, false, err
	}
	if prev != nil {
		switch {
		case prev.RequestHash != requestHash:
			return Response{}, false, apperr.New(apperr.Invalid, CodeKeyReused, "this Idempotency-Key was used for a different request")
		case prev.State == Pending || prev.State == Applied && t.Sub(prev.CreatedAt) < lease:
			// Applied within the lease: the answer is about to be stored.
			return Response{}, false, apperr.New(apperr.Conflict, CodeInProgress, "a request with this Idempotency-Key is still in progress")
		case prev.State == Applied:
			return Response{}, false, apperr.New(apperr.Conflict, CodeApplied,
				"the request with this Idempotency-Key was carried out but its answer was lost: read the resource instead of sending it again")
		}
		return prev.Response, true, nil
	}
	// The request's first committing transaction marks the key applied.
	ctx = uow.WithCommitMark(ctx, func(txCtx context.Context) error { return g.Store.MarkApplied(txCtx, userID, key) })
	resp, err = fn(ctx)
	// Store or release even when the caller's context ended meanwhile.
	sctx := context.WithoutCancel(ctx)
	if err != nil || resp.Status >= 500 {
		if rerr := g.Store.Release(sctx, userID, key); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return resp, false, err
	}
	if err := g.Store.Complete(sctx, userID, key, resp); err != nil {
		return resp, false, err
	}
	return resp, false, nil
}
