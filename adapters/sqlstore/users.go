package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// userRow is the users table as GORM sees it. The domain type stays free of
// tags; this is the only place that knows the columns.
type userRow struct {
	ID              uuid.UUID  `gorm:"column:id;primaryKey"`
	Email           string     `gorm:"column:email"`
	EmailKey        string     `gorm:"column:email_key"`
	DisplayName     string     `gorm:"column:display_name"`
	Timezone        string     `gorm:"column:timezone"`
	PasswordHash    string     `gorm:"column:password_hash"`
	Role            string     `gorm:"column:role"`
	EmailVerifiedAt *time.Time `gorm:"column:email_verified_at"`
	DisabledAt      *time.Time `gorm:"column:disabled_at"`
	EmailChange     *time.Time `gorm:"column:email_change_until"`
	MFAEnabled      bool       `gorm:"column:mfa_enabled"`
	CreatedAt       time.Time  `gorm:"column:created_at;autoCreateTime:false"`
	UpdatedAt       time.Time  `gorm:"column:updated_at;autoUpdateTime:false"`
}

func (userRow) TableName() string { return "users" }

func toRow(u *identity.User) userRow {
	role := u.Role
	if role == "" {
		role = identity.RoleUser
	}
	return userRow{ID: u.ID, Email: u.Email, EmailKey: identity.EmailKey(u.Email), DisplayName: u.DisplayName, Timezone: u.Timezone,
		PasswordHash: u.PasswordHash, Role: string(role), EmailVerifiedAt: normTimePtr(u.EmailVerifiedAt), DisabledAt: normTimePtr(u.DisabledAt),
		EmailChange: normTimePtr(u.EmailChangeUntil), MFAEnabled: u.MFAEnabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

func (r userRow) toUser() *identity.User {
	return &identity.User{ID: r.ID, Email: r.Email, DisplayName: r.DisplayName, Timezone: r.Timezone, PasswordHash: r.PasswordHash,
		Role: identity.Role(r.Role), EmailVerifiedAt: utcPtr(r.EmailVerifiedAt), DisabledAt: utcPtr(r.DisabledAt), EmailChangeUntil: utcPtr(r.EmailChange), MFAEnabled: r.MFAEnabled,
		CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

func normTimePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := normTime(*t)
	return &v
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.UTC()
	return &v
}

// Users is the SQL implementation of identity.Users.
type Users struct {
	db *DB
}

var _ identity.Users = (*Users)(nil)

// NewUsers returns the users repository on db.
func NewUsers(db *DB) *Users { return &Users{db: db} }

// now is the repository's clock: UTC at the microsecond, the precision both
// databases keep, so that a value read back equals the value written.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// Create implements identity.Users.
func (s *Users) Create(ctx context.Context, u *identity.User) error {
	if u.ID == uuid.Nil {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("create user: new id: %w", err)
		}
		u.ID = id
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now()
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt = normTime(u.CreatedAt), normTime(u.UpdatedAt)
	u.EmailVerifiedAt, u.DisabledAt, u.EmailChangeUntil = normTimePtr(u.EmailVerifiedAt), normTimePtr(u.DisabledAt), normTimePtr(u.EmailChangeUntil)
	if u.Role == "" {
		u.Role = identity.RoleUser
	}
	if !u.Role.Valid() {
		return apperr.New(apperr.Invalid, "role_invalid", "unknown role")
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return err
	}
	defer release()
	row := toRow(u)
	if err := g.Create(&row).Error; err != nil {
		return userError(err, "create user")
	}
	return nil
}

// Get implements identity.Users.
func (s *Users) Get(ctx context.Context, id uuid.UUID) (*identity.User, error) {
	return s.find(ctx, "id = ?", id)
}

// TimeZone returns the IANA zone name of user id's profile ("" when none
// is set), or a NotFound error. It reads that one column (a trade list
// asks for it on every page): on PostgreSQL through pgx itself, a cached
// prepared statement, rather than GORM's scan of the whole row.
func (s *Users) TimeZone(ctx context.Context, id uuid.UUID) (string, error) {
	var zone string
	const q = "SELECT timezone FROM users WHERE id = $1"
	ok, err := s.db.withPgx(ctx, "sqlstore.UserTimeZone", q, func(c *pgx.Conn) error {
		return c.QueryRow(ctx, q, id).Scan(&zone)
	})
	if !ok {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return "", err
		}
		defer release()
		var zones []string
		if err := g.Model(&userRow{}).Where("id = ?", id).Limit(1).Pluck("timezone", &zones).Error; err != nil {
			return "", userError(err, "get user time zone")
		}
		if len(zones) == 0 {
			return "", userError(gorm.ErrRecordNotFound, "get user time zone")
		}
		return zones[0], nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		err = gorm.ErrRecordNotFound
	}
	if err != nil {
		return "", userError(err, "get user time zone")
	}
	return zone, nil
}

// GetByEmail implements identity.Users, through the unique index on
// email_key.
func (s *Users) GetByEmail(ctx context.Context, email string) (*identity.User, error) {
	return s.find(ctx, "email_key = ?", identity.EmailKey(email))
}

func (s *Users) find(ctx context.Context, where string, arg any) (*identity.User, error) {
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	var row userRow
	if err := g.Where(where, arg).Take(&row).Error; err != nil {
		return nil, userError(err, "get user")
	}
	return row.toUser(), nil
}

// Update implements identity.Users. On PostgreSQL the row is locked with
// SELECT ... FOR UPDATE; SQLite transactions begin IMMEDIATE, which takes
// the database write lock before the read.
func (s *Users) Update(ctx context.Context, id uuid.UUID, fn func(*identity.User) (*identity.User, error)) error {
	return s.db.inTx(ctx, func(ctx context.Context) error {
		g, release, err := s.db.session(ctx)
		if err != nil {
			return err
		}
		defer release()
		q := g
		if s.db.dialect == Postgres {
			q = q.Clauses(clause.Locking{Strength: clause.LockingStrengthUpdate})
		}
		var row userRow
		if err := q.Where("id = ?", id).Take(&row).Error; err != nil {
			return userError(err, "update user")
		}
		next, err := fn(row.toUser())
		if err != nil {
			return err
		}
		if next == nil {
			return apperr.New(apperr.Invalid, "user_update_invalid", "the update returned no user")
		}
		if next.ID != id {
			return apperr.New(apperr.Invalid, "user_id_immutable", "a user's ID cannot change")
		}
		next.UpdatedAt = now()
		next.CreatedAt = normTime(next.CreatedAt)
		nr := toRow(next)
		if !identity.Role(nr.Role).Valid() {
			return apperr.New(apperr.Invalid, "role_invalid", "unknown role")
		}
		res := g.Model(&userRow{}).Where("id = ?", id).Updates(map[string]any{
			"email":              nr.Email,
			"email_key":          nr.EmailKey,
			"display_name":       nr.DisplayName,
			"timezone":           nr.Timezone,
			"password_hash":      nr.PasswordHash,
			"role":               nr.Role,
			"email_verified_at":  nr.EmailVerifiedAt,
			"disabled_at":        nr.DisabledAt,
			"email_change_until": nr.EmailChange,
			"mfa_enabled":        nr.MFAEnabled,
			"created_at":         nr.CreatedAt,
			"updated_at":         nr.UpdatedAt,
		})
		if res.Error != nil {
			return userError(res.Error, "update user")
		}
		if res.RowsAffected != 1 {
			return apperr.New(apperr.NotFound, identity.CodeUserNotFound, "user not found")
		}
		return nil
	})
}

// maxListLimit bounds UserQuery.Limit.
const maxListLimit = 200

// List implements identity.Users: a keyset page in ID order (UUIDv7, so
// creation order), filtered on email_key with an escaped LIKE.
func (s *Users) List(ctx context.Context, q identity.UserQuery) ([]identity.User, error) {
	if q.Limit < 1 || q.Limit > maxListLimit {
		return nil, apperr.Validation("invalid user query", map[string]string{"limit": fmt.Sprintf("must be between 1 and %d", maxListLimit)})
	}
	g, release, err := s.db.session(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	tx := g.Model(&userRow{})
	if q.EmailContains != "" {
		tx = tx.Where(`email_key LIKE ? ESCAPE '\'`, "%"+escapeLike(identity.EmailKey(q.EmailContains))+"%")
	}
	if q.After != uuid.Nil {
		tx = tx.Where("id > ?", q.After)
	}
	var rows []userRow
	if err := tx.Order("id").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, userError(err, "list users")
	}
	out := make([]identity.User, len(rows))
	for i, r := range rows {
		out[i] = *r.toUser()
	}
	return out, nil
}

// escapeLike makes s match itself literally inside a LIKE pattern whose
// escape character is a backslash.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

// userError translates err and names the users' constraints.
func userError(err error, op string) error {
	if c, ok := uniqueViolation(err); ok {
		if strings.Contains(c, "email_key") {
			return apperr.Wrap(err, apperr.Conflict, identity.CodeEmailTaken, "this email address is already registered")
		}
		return apperr.Wrap(err, apperr.Conflict, identity.CodeUserExists, "a user with this ID already exists")
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return apperr.Wrap(err, apperr.NotFound, identity.CodeUserNotFound, "user not found")
	}
	if e, ok := apperr.As(translate(err)); ok && e.Kind != apperr.Internal {
		return e
	}
	return fmt.Errorf("%s: %w", op, translate(err))
}
