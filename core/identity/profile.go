package identity

import (
	"context"
	"log/slog"
	"sync"
	"time"

	gojson "github.com/goccy/go-json"
	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/uow"
)

// The profile cache serves GET /auth/me without the database: Authenticate
// reads the session's revocation entry and the user's profile entry in one
// cache round trip (MGET on Redis) and hands the profile to Me through the
// Principal. The entry lives in the Revocations cache under
// "userprof:<user id>" for ProfileTTL, holds no secret (no password hash),
// and is deleted after every committed write of the user through
// ProfileInvalidation's decorators (identity, MFA and the CLI all write
// users through them). A write whose deletion fails, or a read that raced
// a write, can show a stale profile for at most ProfileTTL. Security does
// not depend on it: the revocation entry is still checked per request, and
// a cached profile that says "disabled" is refused as well.

// ProfileTTL is how long a cached profile lives.
const ProfileTTL = time.Minute

func profileKey(id uuid.UUID) string { return "userprof:" + id.String() }

// cachedProfile is the cache form of a User: every field but the password
// hash.
type cachedProfile struct {
	ID              uuid.UUID  `json:"id"`
	Email           string     `json:"email"`
	DisplayName     string     `json:"dn,omitempty"`
	Timezone        string     `json:"tz,omitempty"`
	Role            Role       `json:"role"`
	EmailVerifiedAt *time.Time `json:"ev,omitempty"`
	DisabledAt      *time.Time `json:"dis,omitempty"`
	EmailChange     *time.Time `json:"ec,omitempty"`
	MFAEnabled      bool       `json:"mfa,omitempty"`
	CreatedAt       time.Time  `json:"ca"`
	UpdatedAt       time.Time  `json:"ua"`
}

func encodeProfile(u *User) ([]byte, error) {
	return gojson.Marshal(cachedProfile{ID: u.ID, Email: u.Email, DisplayName: u.DisplayName, Timezone: u.Timezone, Role: u.Role,
		EmailVerifiedAt: u.EmailVerifiedAt, DisabledAt: u.DisabledAt, EmailChange: u.EmailChangeUntil, MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt})
}

// decodeProfile returns the user of a cache entry, or nil when the entry
// does not decode or belongs to another user. Every authenticated request
// decodes one: goccy/go-json's compiled decoder takes about a third of
// encoding/json's time for it (the same JSON).
func decodeProfile(b []byte, id uuid.UUID) *User {
	var p cachedProfile
	if err := gojson.Unmarshal(b, &p); err != nil || p.ID != id || !p.Role.Valid() {
		return nil
	}
	return &User{ID: p.ID, Email: p.Email, DisplayName: p.DisplayName, Timezone: p.Timezone, Role: p.Role,
		EmailVerifiedAt: p.EmailVerifiedAt, DisabledAt: p.DisabledAt, EmailChangeUntil: p.EmailChange, MFAEnabled: p.MFAEnabled, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}

// cacheProfile stores u's profile; a failure only costs a later database
// read.
func (s *Service) cacheProfile(ctx context.Context, u *User) {
	b, err := encodeProfile(u)
	if err == nil {
		err = s.d.Revocations.Set(ctx, profileKey(u.ID), b, ProfileTTL)
	}
	if err != nil {
		s.d.Log.DebugContext(ctx, "identity: profile not cached", "user_id", u.ID.String(), "error", err)
	}
}

// ProfileInvalidation deletes cached profiles when users are written. Wrap
// every Users repository with Users and every unit of work that writes
// users with Tx: a write inside a transaction deletes the entry when it
// happens and again once the outermost transaction committed, so that a
// read between the write and the commit cannot keep the old profile.
type ProfileInvalidation struct {
	cache cache.Cache
	log   *slog.Logger
}

// NewProfileInvalidation returns the invalidation over c, the cache given
// to the Service as Deps.Revocations.
func NewProfileInvalidation(c cache.Cache, log *slog.Logger) *ProfileInvalidation {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProfileInvalidation{cache: c, log: log}
}

func (pi *ProfileInvalidation) forget(ctx context.Context, ids ...uuid.UUID) {
	if len(ids) == 0 {
		return
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = profileKey(id)
	}
	// The request may be ending: the deletion must still happen.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := pi.cache.Delete(ctx, keys...); err != nil {
		pi.log.WarnContext(ctx, "identity: cached profile not invalidated; it may be stale until it expires", "ttl", ProfileTTL.String(), "error", err)
	}
}

// Users returns u with cache invalidation on Create and Update.
func (pi *ProfileInvalidation) Users(u Users) Users { return &invalidatingUsers{Users: u, pi: pi} }

// Tx returns r with the after-commit invalidation of the users written in
// its transactions.
func (pi *ProfileInvalidation) Tx(r uow.Runner) uow.Runner { return &invalidatingTx{r: r, pi: pi} }

type invalidatingUsers struct {
	Users
	pi *ProfileInvalidation
}

func (u *invalidatingUsers) Create(ctx context.Context, usr *User) error {
	err := u.Users.Create(ctx, usr)
	if err == nil {
		u.pi.written(ctx, usr.ID)
	}
	return err
}

func (u *invalidatingUsers) Update(ctx context.Context, id uuid.UUID, fn func(*User) (*User, error)) error {
	err := u.Users.Update(ctx, id, fn)
	// Also on error: the write may have happened before a failing commit
	// was reported.
	u.pi.written(ctx, id)
	return err
}

// written deletes the profile now and, inside a transaction, again after
// its commit.
func (pi *ProfileInvalidation) written(ctx context.Context, id uuid.UUID) {
	if w, ok := ctx.Value(writtenKey{}).(*writtenUsers); ok {
		w.add(id)
	}
	pi.forget(ctx, id)
}

type writtenKey struct{}

type writtenUsers struct {
	mu  sync.Mutex
	ids []uuid.UUID
}

func (w *writtenUsers) add(id uuid.UUID) {
	w.mu.Lock()
	w.ids = append(w.ids, id)
	w.mu.Unlock()
}

type invalidatingTx struct {
	r  uow.Runner
	pi *ProfileInvalidation
}

func (t *invalidatingTx) Do(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, nested := ctx.Value(writtenKey{}).(*writtenUsers); nested {
		return t.r.Do(ctx, fn)
	}
	w := &writtenUsers{}
	err := t.r.Do(context.WithValue(ctx, writtenKey{}, w), fn)
	// Rolled back or not, the entries deleted inside may have been
	// re-filled meanwhile: delete them again.
	w.mu.Lock()
	ids := w.ids
	w.mu.Unlock()
	t.pi.forget(ctx, ids...)
	return err
}
