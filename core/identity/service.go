package identity

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
	"golang.org/x/net/idna"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/ratelimit"
	"github.com/tradesense/tradesense/core/realtime"
	"github.com/tradesense/tradesense/core/uow"
	"github.com/tradesense/tradesense/core/zone"
)

// Config holds the service's policies. Environment variable names and
// defaults are in .env.example.
type Config struct {
	AccessTTL    time.Duration // AUTH_ACCESS_TOKEN_TTL, 15m
	SessionTTL   time.Duration // AUTH_SESSION_TTL, 30 days: absolute session lifetime
	SessionIdle  time.Duration // AUTH_SESSION_IDLE_TIMEOUT, 7 days
	RefreshGrace time.Duration // AUTH_REFRESH_GRACE, 10s
	VerifyTTL    time.Duration // 24h, verification and email-change links
	ResetTTL     time.Duration // 30m, password reset links
	// PublicURL is the web app's base URL; mailed links are
	// PublicURL + "/verify-email?token=..." and "/reset-password?token=...".
	PublicURL string
	Limits    Limits
	// NotifyNewLogin mails the user when a login comes from an IP and
	// user agent none of their active sessions has.
	NotifyNewLogin bool
}

// Limits are the rate limits and the lockout. Per-IP limits protect the
// service; per-account ones protect the account and never reveal whether
// it exists (they are keyed by the normalised email, registered or not).
type Limits struct {
	LoginIP       ratelimit.Limit
	LoginAccount  ratelimit.Limit // failed passwords: 5 in 15 min lock 15 min
	RegisterIP    ratelimit.Limit
	ForgotIP      ratelimit.Limit
	EmailPerAddr  ratelimit.Limit // mails of one kind to one address (silent)
	ResetIP       ratelimit.Limit
	VerifyIP      ratelimit.Limit
	RefreshIP     ratelimit.Limit
	ResendIP      ratelimit.Limit
	PasswordCheck ratelimit.Limit // wrong current_password per user (change, email change)
}

// DefaultConfig returns the defaults of the issue.
func DefaultConfig() Config {
	return Config{
		AccessTTL:      15 * time.Minute,
		SessionTTL:     30 * 24 * time.Hour,
		SessionIdle:    7 * 24 * time.Hour,
		RefreshGrace:   10 * time.Second,
		VerifyTTL:      24 * time.Hour,
		ResetTTL:       30 * time.Minute,
		PublicURL:      "http://localhost:3000",
		NotifyNewLogin: true,
		Limits:         DefaultLimits(1),
	}
}

// DefaultLimits returns the default limits with every per-IP budget
// multiplied by ipScale (AUTH_IP_RATE_MULTIPLIER: raise it behind a NAT
// shared by many users, or for load tests).
func DefaultLimits(ipScale float64) Limits {
	ip := func(n int, w time.Duration) ratelimit.Limit {
		return ratelimit.Limit{Max: max(1, int(float64(n)*ipScale)), Window: w}
	}
	return Limits{
		LoginIP:       ip(60, time.Minute),
		LoginAccount:  ratelimit.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute},
		RegisterIP:    ip(20, time.Hour),
		ForgotIP:      ip(20, time.Hour),
		EmailPerAddr:  ratelimit.Limit{Max: 3, Window: time.Hour},
		ResetIP:       ip(30, time.Hour),
		VerifyIP:      ip(60, time.Hour),
		RefreshIP:     ip(300, time.Minute),
		ResendIP:      ip(20, time.Hour),
		PasswordCheck: ratelimit.Limit{Max: 5, Window: 15 * time.Minute, Block: 15 * time.Minute},
	}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	var errs []error
	if c.AccessTTL < time.Minute || c.AccessTTL > time.Hour {
		errs = append(errs, errors.New("AUTH_ACCESS_TOKEN_TTL: must be from 1m to 1h"))
	}
	if c.SessionTTL < c.AccessTTL || c.SessionIdle <= 0 || c.SessionIdle > c.SessionTTL {
		errs = append(errs, errors.New("AUTH_SESSION_TTL / AUTH_SESSION_IDLE_TIMEOUT: need access TTL <= idle timeout <= session TTL"))
	}
	if c.RefreshGrace < 0 || c.RefreshGrace > time.Minute {
		errs = append(errs, errors.New("AUTH_REFRESH_GRACE: must be from 0 to 1m"))
	}
	if c.PublicURL == "" {
		errs = append(errs, errors.New("PUBLIC_URL: required for the links in emails"))
	}
	return errors.Join(errs...)
}

// Deps are the service's collaborators. SecondFactor may be nil until the
// MFA module provides it.
type Deps struct {
	Users         Users
	Sessions      Sessions
	RefreshTokens RefreshTokens
	EmailTokens   EmailTokens
	Events        Events
	Tx            uow.Runner
	Tokens        AccessTokens
	Hasher        *PasswordHasher
	Policy        *PasswordPolicy
	Limiter       ratelimit.Limiter
	// Revocations remembers the answers of the per-request session check
	// of Authenticate (sessioncheck.go; Redis in production, shared by
	// replicas): an entry per revoked session for one access-token
	// lifetime, and per live session for SessionCheckTTL. Losing it costs
	// database reads, never a revocation. It also holds the profile cache of
	// Me (profile.go), read in the same round trip when it is a
	// cache.MultiGetter (the cache.Layer is); wrap Users and Tx with a
	// ProfileInvalidation over the same cache.
	Revocations  cache.Cache
	Mailer       Mailer
	SecondFactor SecondFactor
	// Push and Disconnect reach the user's connected devices (core/realtime;
	// optional, nil for none). Once a write that ended sessions commits,
	// the connections of those sessions (of every session, for a disabled
	// user) are closed and the user's other devices get
	// security.session_revoked.
	Push       realtime.Publisher
	Disconnect realtime.Disconnector
	// Zones is told of a user's time zone change inside the profile
	// update's transaction (ZoneObserver); nil: nobody is.
	Zones ZoneObserver
	Log   *slog.Logger
}

// Service is the identity use cases.
//
// Decisions a security review will look for:
//   - Access tokens (15 min, EdDSA) are checked per request against their
//     session (sessioncheck.go): a revocation entry in the cache
//     (Revocations) refuses them at once; without an answer in the cache
//     (a miss, a flushed or restarted cache, a cache that fails) the
//     session row is read from the database. Nothing fails open: a lost
//     cache costs reads, never a revoked session. Role and the other
//     claims are trusted from the token: every role change ends the
//     user's sessions, so a token whose claims went stale is refused.
//   - Refresh tokens are 256-bit random, stored as SHA-256, single use,
//     rotated in a transaction whose conditional update lets exactly one
//     concurrent rotation win. Reuse of a rotated token within
//     RefreshGrace returns the family's current pair (the successor is
//     kept sealed under a key derived from the old token, so the database
//     alone cannot reveal it); later reuse revokes the family.
//   - No enumeration: register, forgot-password and resend-verification
//     answer the same for known and unknown addresses; login spends an
//     argon2id verification on unknown emails too; the lockout is keyed by
//     the normalised email whether or not it is registered.
type Service struct {
	cfg   Config
	d     Deps
	audit *Audit

	nextRevWarn atomic.Int64 // unix ns before which a failing revocation check is not logged again

	bg     sync.WaitGroup
	bgStop chan struct{}
	closed sync.Once
}

// ZoneObserver is told, inside the transaction of a profile update, that
// the user's time zone changed (core/trading derives again the trades of
// the user's accounts that follow the user's zone: their weekdays, hours
// and session dates). An error undoes the update.
type ZoneObserver interface {
	UserZoneChanged(ctx context.Context, userID uuid.UUID) error
}

// NewService returns the service.
func NewService(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Users == nil || d.Sessions == nil || d.RefreshTokens == nil || d.EmailTokens == nil || d.Events == nil ||
		d.Tx == nil || d.Tokens == nil || d.Hasher == nil || d.Policy == nil || d.Limiter == nil || d.Revocations == nil || d.Mailer == nil {
		return nil, errors.New("identity: a required dependency is missing")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	return &Service{cfg: cfg, d: d, audit: NewAudit("identity", d.Events, d.Mailer, d.Log), bgStop: make(chan struct{})}, nil
}

// Close waits for background work (mails of forgot-password and resend)
// to finish.
func (s *Service) Close() {
	s.closed.Do(func() { close(s.bgStop) })
	s.bg.Wait()
}

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// now is the service's time: UTC at the microsecond, the precision the
// stores keep. Tests move it with testing/synctest.
func (s *Service) now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// background runs fn after the request has been answered, so that the
// response cannot reveal what fn found (or how long it took).
func (s *Service) background(ctx context.Context, name string, fn func(ctx context.Context)) {
	select {
	case <-s.bgStop:
		return
	default:
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		defer func() {
			if p := recover(); p != nil {
				s.d.Log.ErrorContext(ctx, "identity: background task panicked", "task", name, "panic", fmt.Sprint(p))
			}
		}()
		fn(ctx)
	}()
}

// Error codes of the service.
const (
	CodeInvalidCredentials  = "invalid_credentials"
	CodeAccountLocked       = "account_locked"
	CodeAccountDisabled     = "account_disabled"
	CodeTooManyRequests     = "too_many_requests"
	CodeRefreshTokenReused  = "refresh_token_reused"
	CodeSessionExpired      = "session_expired"
	CodeEmailInvalid        = "email_invalid"
	CodeMFARequired         = "mfa_required"
	CodeMFAUnavailable      = "mfa_unavailable"
	CodeForbidden           = "forbidden"
	CodeCurrentPasswordBad  = "current_password_invalid"
	CodeTimezoneInvalid     = "timezone_invalid"
	CodeDisplayNameInvalid  = "display_name_invalid"
	CodeCannotDisableSelf   = "cannot_disable_self"
	CodeEmailChangeConflict = "email_change_failed"
)

func errInvalidCredentials() error {
	return apperr.New(apperr.Unauthenticated, CodeInvalidCredentials, "The email or password is incorrect.")
}

// ---- small helpers ----

// newSecret returns a fresh 256-bit token (base64url, 43 characters) and
// its SHA-256.
func newSecret() (string, []byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	return tok, hashSecret(tok), nil
}

// hashSecret is the stored form of a token. Tokens carry 256 bits of
// entropy, so a fast hash is enough: nobody can search that space.
func hashSecret(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// ParseOpaqueToken accepts what newSecret produces, and nothing else, so
// that junk never reaches the database.
func ParseOpaqueToken(tok string) (string, bool) {
	if len(tok) != 43 {
		return "", false
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) != 32 {
		return "", false
	}
	return tok, true
}

// sealSuccessor encrypts next under a key derived from prev (the token
// being rotated), with prev's hash as associated data.
func sealSuccessor(prev string, prevHash []byte, next string) ([]byte, error) {
	aead, err := successorAEAD(prev)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, []byte(next), prevHash), nil
}

func openSuccessor(prev string, prevHash, sealed []byte) (string, error) {
	aead, err := successorAEAD(prev)
	if err != nil {
		return "", err
	}
	if len(sealed) < aead.NonceSize() {
		return "", errors.New("sealed successor too short")
	}
	pt, err := aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], prevHash)
	if err != nil {
		return "", fmt.Errorf("open sealed successor: %w", err)
	}
	return string(pt), nil
}

func successorAEAD(prev string) (cipher.AEAD, error) {
	key := sha256.Sum256([]byte("tradesense refresh successor v1\x00" + prev))
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// NormalizeEmail validates an address as typed and returns it trimmed.
func NormalizeEmail(field, email string) (string, error) {
	email = strings.TrimSpace(email)
	bad := func() error {
		return &apperr.Error{Kind: apperr.Invalid, Code: CodeEmailInvalid, Message: "The email address is not valid.", Fields: map[string]string{field: "must be an email address"}}
	}
	if email == "" || len(email) > 254 || !utf8.ValidString(email) || strings.ContainsFunc(email, unicode.IsSpace) {
		return "", bad()
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" {
		return "", bad()
	}
	at := strings.LastIndexByte(email, '@')
	if at < 1 || at == len(email)-1 || !strings.Contains(email[at+1:], ".") {
		return "", bad()
	}
	local, domain := email[:at], email[at+1:]
	if strings.ContainsFunc(local, forbiddenInEmail) || !validDomain(domain) {
		return "", bad()
	}
	return email, nil
}

// forbiddenInEmail is true for the code points an address may not carry
// (RFC 6531 §3.3 allows UTF-8 in the local part; RFC 6530 §10 and UTS #39
// explain why these are trouble): controls, format characters (the bidi
// overrides U+202A–U+202E and isolates U+2066–U+2069, zero-width
// characters, the BOM, tags), private-use and surrogate code points, line
// and paragraph separators, and code points not assigned in the Unicode
// version Go knows. They are invisible or reorder text, so an address that
// holds one shows differently from what it is on every admin screen.
func forbiddenInEmail(r rune) bool {
	if r < utf8.RuneSelf {
		return r < 0x21 || r == 0x7f
	}
	return r == utf8.RuneError || unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Zl, unicode.Zp) ||
		!unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Zs)
}

// validDomain applies IDNA 2008 with UTS #46 lookup rules (x/net/idna's
// Lookup profile: valid labels, hyphen rules, bidi rule, no disallowed
// code points, A-labels that decode) to the domain, which must also be
// in the form a user types: its own Unicode form (NFC, lower case as
// mapped), not one the mapping changes, so what is stored is what is shown.
func validDomain(domain string) bool {
	if strings.ContainsFunc(domain, forbiddenInEmail) {
		return false
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil || len(ascii) > 253 {
		return false
	}
	uni, err := idna.Lookup.ToUnicode(ascii)
	if err != nil {
		return false
	}
	// A domain typed as A-labels (xn--…) is kept as typed; a Unicode one
	// must be what the mapping gives back (case aside), so that a
	// soft hyphen or another mapped-away code point cannot hide in it.
	return strings.EqualFold(domain, ascii) || strings.EqualFold(domain, uni)
}

func cleanDisplayName(name string) (string, error) {
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > 100 || strings.ContainsFunc(name, unicode.IsControl) {
		return "", &apperr.Error{Kind: apperr.Invalid, Code: CodeDisplayNameInvalid, Message: "The display name is not valid.",
			Fields: map[string]string{"display_name": "must be at most 100 characters without control characters"}}
	}
	return name, nil
}

func checkTimezone(tz string) error {
	if tz == "" || tz == "UTC" {
		return nil
	}
	if !zone.Valid(tz) {
		return tzErr()
	}
	return nil
}

func tzErr() error {
	return &apperr.Error{Kind: apperr.Invalid, Code: CodeTimezoneInvalid, Message: "The timezone is not valid.",
		Fields: map[string]string{"timezone": "must be an IANA timezone name such as Europe/Paris"}}
}

// limit counts a hit and refuses with 429 when over the budget.
func (s *Service) limit(ctx context.Context, key string, l ratelimit.Limit) error {
	r, err := s.d.Limiter.Hit(ctx, key, l)
	if err != nil {
		return err
	}
	if !r.Allowed {
		return ratelimit.Exceeded(r, CodeTooManyRequests, "Too many requests; try again later.")
	}
	return nil
}

// quietLimit reports whether a hit is within budget, for limits whose
// refusal must not be visible (mails to one address).
func (s *Service) quietLimit(ctx context.Context, key string, l ratelimit.Limit) bool {
	r, err := s.d.Limiter.Hit(ctx, key, l)
	if err != nil {
		s.d.Log.WarnContext(ctx, "identity: rate limiter failed", "error", err)
		return false
	}
	return r.Allowed
}

func ipKey(op string, meta ClientMeta) string {
	return op + ":ip:" + ClientNetwork(meta.IP)
}

// ClientNetwork is the unit per-IP limits count: the address itself for
// IPv4, its /64 for IPv6 (one subscriber's allocation, whose addresses an
// attacker can rotate through freely), "unknown" when absent.
func ClientNetwork(ip string) string {
	addr, err := netip.ParseAddr(ip)
	switch {
	case ip == "":
		return "unknown"
	case err != nil:
		return ip
	case addr.Is4() || addr.Is4In6():
		return addr.Unmap().String()
	}
	p, _ := addr.WithZone("").Prefix(64)
	return p.String()
}

func emailKey(op, email string) string { return op + ":acct:" + EmailKey(strings.TrimSpace(email)) }

func idemKey(parts ...string) string { return strings.Join(parts, ":") }

func hashID(h []byte) string { return base64.RawURLEncoding.EncodeToString(h[:12]) }
