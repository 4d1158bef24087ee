package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"

	"github.com/tradesense/tradesense/core/apperr"
)

// Argon2Params are the argon2id cost parameters. They are encoded in every
// hash, so raising them re-hashes each password at its next login.
type Argon2Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	KeyLen    uint32
	SaltLen   uint32
}

// OWASPParams is the OWASP Password Storage Cheat Sheet's argon2id
// minimum: 19 MiB, 2 passes, 1 lane.
var OWASPParams = Argon2Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, KeyLen: 32, SaltLen: 16}

// TestParams are cheap parameters for tests only (production refuses
// anything below OWASPParams).
var TestParams = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}

// AtLeast reports whether p is at least as strong as q in every dimension.
func (p Argon2Params) AtLeast(q Argon2Params) bool {
	return p.MemoryKiB >= q.MemoryKiB && p.Time >= q.Time && p.KeyLen >= q.KeyLen && p.SaltLen >= q.SaltLen
}

// PasswordHasher hashes and verifies passwords with argon2id in the PHC
// string format ($argon2id$v=19$m=19456,t=2,p=1$salt$hash). At most
// HashLimit.Concurrent hashes run at once: each takes MemoryKiB of memory,
// and an unbounded login burst would otherwise exhaust it. A caller waits at
// most HashLimit.QueueWait for a slot, then gets apperr.Unavailable
// CodeHashingBusy with a HashBusyError cause (HTTP: 503 with Retry-After).
type PasswordHasher struct {
	p     Argon2Params
	sem   chan struct{}
	wait  time.Duration
	dummy string
}

// HashLimit bounds concurrent argon2id runs, and so the memory they take
// (Concurrent × MemoryKiB at most).
type HashLimit struct {
	// Concurrent is the number of hashes that may run at once; <= 0 means
	// GOMAXPROCS (a hash is CPU-bound: more at once only adds memory).
	Concurrent int
	// QueueWait is how long a caller waits for a slot before it is refused;
	// <= 0 means DefaultHashQueueWait.
	QueueWait time.Duration
}

// DefaultHashQueueWait is HashLimit.QueueWait's default: long enough to
// absorb a burst of ordinary sign-ins, short enough that a flood is refused
// instead of queued (each waiting request holds its connection and memory).
const DefaultHashQueueWait = time.Second

// CodeHashingBusy is the code of the Unavailable error a caller gets when
// every hashing slot stayed busy for HashLimit.QueueWait.
const CodeHashingBusy = "password_hashing_busy"

// HashBusyError is the cause of a CodeHashingBusy error: RetryAfter is
// what the HTTP layer sends as Retry-After.
type HashBusyError struct{ After time.Duration }

func (e *HashBusyError) Error() string {
	return fmt.Sprintf("password hashing at capacity; retry after %s", e.After)
}

// RetryAfter is how long the caller should wait before trying again.
func (e *HashBusyError) RetryAfter() time.Duration { return e.After }

// NewPasswordHasher returns a hasher allowing maxConcurrent hashes at once
// (<= 0: GOMAXPROCS) and waiting DefaultHashQueueWait for a slot.
func NewPasswordHasher(p Argon2Params, maxConcurrent int) (*PasswordHasher, error) {
	return NewBoundedPasswordHasher(p, HashLimit{Concurrent: maxConcurrent})
}

// NewBoundedPasswordHasher returns a hasher bounded by l.
func NewBoundedPasswordHasher(p Argon2Params, l HashLimit) (*PasswordHasher, error) {
	if p.MemoryKiB < 8*uint32(p.Threads) || p.Time < 1 || p.Threads < 1 || p.KeyLen < 16 || p.SaltLen < 16 {
		return nil, fmt.Errorf("argon2id parameters %+v are invalid", p)
	}
	if l.Concurrent <= 0 {
		l.Concurrent = runtime.GOMAXPROCS(0)
	}
	if l.QueueWait <= 0 {
		l.QueueWait = DefaultHashQueueWait
	}
	h := &PasswordHasher{p: p, sem: make(chan struct{}, l.Concurrent), wait: l.QueueWait}
	// The dummy only has to cost a verification and never match: random
	// salt and key under the hasher's parameters do both, without spending
	// an argon2id run (and MemoryKiB of heap) at start-up.
	salt, key := make([]byte, p.SaltLen), make([]byte, p.KeyLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("password salt: %w", err)
	}
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("password dummy: %w", err)
	}
	h.dummy = encodeHash(p, salt, key)
	return h, nil
}

func encodeHash(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// Params returns the parameters new hashes use.
func (h *PasswordHasher) Params() Argon2Params { return h.p }

// Limit returns the hasher's bound.
func (h *PasswordHasher) Limit() HashLimit {
	return HashLimit{Concurrent: cap(h.sem), QueueWait: h.wait}
}

// Hold takes one of the hasher's slots, waiting at most QueueWait, for
// work that costs what a hash does (Hash and Verify hold one each); the
// caller must call release once. It fails as Hash does when the bound
// stays full: Unavailable CodeHashingBusy, or Unavailable wrapping ctx's
// error when ctx ends first.
func (h *PasswordHasher) Hold(ctx context.Context) (release func(), err error) {
	if err := h.acquire(ctx); err != nil {
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { <-h.sem }) }, nil
}

func (h *PasswordHasher) acquire(ctx context.Context) error {
	select {
	case h.sem <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(h.wait)
	defer t.Stop()
	select {
	case h.sem <- struct{}{}:
		return nil
	case <-t.C:
		return apperr.Wrap(&HashBusyError{After: h.wait}, apperr.Unavailable, CodeHashingBusy, "The server is busy; try again shortly.")
	case <-ctx.Done():
		return apperr.Wrap(ctx.Err(), apperr.Unavailable, "busy", "the server is busy; try again")
	}
}

// Hash returns the encoded hash of password (already normalised).
func (h *PasswordHasher) Hash(ctx context.Context, password string) (string, error) {
	salt := make([]byte, h.p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password salt: %w", err)
	}
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.MemoryKiB, h.p.Threads, h.p.KeyLen)
	<-h.sem
	return encodeHash(h.p, salt, key), nil
}

// Verify reports whether password matches encoded, in constant time, and
// whether encoded should be replaced because its parameters differ from
// the hasher's. An empty encoded (no password set) is verified against a
// dummy hash, so that it costs the same and never matches.
func (h *PasswordHasher) Verify(ctx context.Context, password, encoded string) (ok, rehash bool, err error) {
	real := encoded != ""
	if !real {
		encoded = h.dummy
	}
	p, salt, want, err := decodeHash(encoded)
	if err != nil {
		return false, false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want))) // #nosec G115 -- decodeHash bounds the hash length
	<-h.sem
	ok = subtle.ConstantTimeCompare(got, want) == 1 && real
	p.KeyLen, p.SaltLen = uint32(len(want)), uint32(len(salt)) // #nosec G115 -- decodeHash bounds both lengths
	return ok, ok && p != h.p, nil
}

// SpendDummy costs what a Verify costs, for the paths where there is no
// account, so that timing does not tell whether an email is registered. It
// fails as Verify does when the bound is full (CodeHashingBusy), and the
// caller must answer that as it would for a real account: a 503 for known
// emails only would tell them apart.
func (h *PasswordHasher) SpendDummy(ctx context.Context, password string) error {
	_, _, err := h.Verify(ctx, password, "")
	return err
}

var errBadHash = errors.New("stored password hash is malformed")

func decodeHash(s string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errBadHash
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.MemoryKiB, &p.Time, &threads); err != nil || threads < 1 || threads > 255 || p.Time < 1 || p.MemoryKiB < 8 || p.MemoryKiB > 4<<20 || p.Time > 64 {
		return p, nil, nil, errBadHash
	}
	p.Threads = uint8(threads)
	b64 := base64.RawStdEncoding
	if salt, err = b64.DecodeString(parts[4]); err != nil || len(salt) < 8 {
		return p, nil, nil, errBadHash
	}
	if key, err = b64.DecodeString(parts[5]); err != nil || len(key) < 16 || len(key) > 128 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// Password length limits, in characters after normalisation.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// Error codes of the password policy.
const (
	CodePasswordTooShort = "password_too_short"
	CodePasswordTooLong  = "password_too_long"
	CodePasswordCommon   = "password_too_common"
	CodePasswordInvalid  = "password_invalid"
)

//go:embed passwords/common-10k.txt
var commonPasswordsFile string

// PasswordPolicy is NIST SP 800-63B's: a length range, no composition
// rules, and a blocklist of common passwords (the 10,000 most frequent,
// embedded in the binary).
type PasswordPolicy struct {
	common []string // sorted, lower case, no duplicates
}

// NewPasswordPolicy loads the embedded blocklist: a sorted slice of the
// lines of the embedded file (substrings of it, not copies; a line is
// copied only when lower-casing changes it), searched by bisection. A
// map with a copy of each line held 0.5 MB of the idle heap; this holds
// 160 kB, and a lookup is 14 string comparisons.
func NewPasswordPolicy() *PasswordPolicy {
	common := make([]string, 0, strings.Count(commonPasswordsFile, "\n")+1)
	for line := range strings.Lines(commonPasswordsFile) {
		if w := strings.TrimSpace(line); w != "" {
			common = append(common, strings.ToLower(w))
		}
	}
	slices.Sort(common)
	return &PasswordPolicy{common: slices.Compact(common)}
}

// Len is the size of the blocklist.
func (p *PasswordPolicy) Len() int { return len(p.common) }

// isCommon reports whether lower (lower case) is on the blocklist.
func (p *PasswordPolicy) isCommon(lower string) bool {
	_, found := slices.BinarySearch(p.common, lower)
	return found
}

// NormalizePassword applies Unicode NFKC, so that the same password typed
// on different keyboards (composed or decomposed accents, full-width
// digits) hashes the same.
func NormalizePassword(pw string) string { return norm.NFKC.String(pw) }

// Check normalises pw and returns it, or an apperr.Invalid naming the
// rule it breaks (field "field"). email is refused as a password too.
func (p *PasswordPolicy) Check(field, pw, email string) (string, error) {
	if !utf8.ValidString(pw) {
		return "", fieldErr(field, CodePasswordInvalid, "must be valid UTF-8 text")
	}
	pw = NormalizePassword(pw)
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return "", fieldErr(field, CodePasswordTooShort, fmt.Sprintf("must be at least %d characters", MinPasswordLen))
	case n > MaxPasswordLen:
		return "", fieldErr(field, CodePasswordTooLong, fmt.Sprintf("must be at most %d characters", MaxPasswordLen))
	}
	lower := strings.ToLower(pw)
	if p.isCommon(lower) || (email != "" && lower == strings.ToLower(email)) {
		return "", fieldErr(field, CodePasswordCommon, "is too common; choose a less guessable password")
	}
	return pw, nil
}

func fieldErr(field, code, msg string) error {
	return &apperr.Error{Kind: apperr.Invalid, Code: code, Message: "The password does not meet the policy.", Fields: map[string]string{field: msg}}
}
