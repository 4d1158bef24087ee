package identitytest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/cache"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/ratelimit"
)

// The fakes below read time.Now: inside a synctest bubble, time.Sleep
// moves them all at once.

// Mailer is a fake identity.Mailer that records what it is asked to send.
type Mailer struct {
	mu   sync.Mutex
	sent []identity.Email
	fail error
}

var _ identity.Mailer = (*Mailer)(nil)

// SendEmail implements identity.Mailer.
func (m *Mailer) SendEmail(_ context.Context, e identity.Email) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return "", m.fail
	}
	m.sent = append(m.sent, e)
	return "job-" + e.IdempotencyKey, nil
}

// Fail makes SendEmail fail with err (nil: succeed again).
func (m *Mailer) Fail(err error) {
	m.mu.Lock()
	m.fail = err
	m.mu.Unlock()
}

// All returns the emails sent so far, oldest first.
func (m *Mailer) All() []identity.Email {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]identity.Email(nil), m.sent...)
}

// Count returns how many emails used template.
func (m *Mailer) Count(template string) int {
	n := 0
	for _, e := range m.All() {
		if e.Template == template {
			n++
		}
	}
	return n
}

// To returns the emails sent to to with template, oldest first.
func (m *Mailer) To(to, template string) []identity.Email {
	var out []identity.Email
	for _, e := range m.All() {
		if e.To == to && e.Template == template {
			out = append(out, e)
		}
	}
	return out
}

// Await returns the newest mail of template to to, waiting up to within
// for a background send (polling; inside a synctest bubble the wait is
// the bubble's time).
func (m *Mailer) Await(to, template string, within time.Duration) (identity.Email, bool) {
	deadline := time.Now().Add(within)
	for {
		if es := m.To(to, template); len(es) > 0 {
			return es[len(es)-1], true
		}
		if time.Now().After(deadline) {
			return identity.Email{}, false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Last returns the newest email to to with template, failing the test when
// there is none.
func (m *Mailer) Last(t testing.TB, to, template string) identity.Email {
	t.Helper()
	es := m.To(to, template)
	if len(es) == 0 {
		var got []string
		for _, e := range m.All() {
			got = append(got, e.Template+"→"+e.To)
		}
		t.Fatalf("no %s email to %s; sent: %v", template, to, got)
	}
	return es[len(es)-1]
}

// LinkToken returns the token of the link in the newest email to to with
// template.
func (m *Mailer) LinkToken(t testing.TB, to, template string) string {
	t.Helper()
	return LinkToken(t, m.Last(t, to, template))
}

// LinkToken returns the token of the link (Data["Link"]) an email carries,
// failing the test when it has none.
func LinkToken(t testing.TB, e identity.Email) string {
	t.Helper()
	link, _ := e.Data["Link"].(string)
	u, err := url.Parse(link)
	if err != nil || u.Query().Get("token") == "" {
		t.Fatalf("email %s has no link with a token: %q", e.Template, link)
	}
	return u.Query().Get("token")
}

// Limiter is a fake ratelimit.Limiter: ratelimit.Apply on a map. It passes
// the ratelimittest contract.
type Limiter struct {
	mu   sync.Mutex
	keys map[string]ratelimit.State
	fail error
}

var _ ratelimit.Limiter = (*Limiter)(nil)

// NewLimiter returns an empty limiter.
func NewLimiter() *Limiter { return &Limiter{keys: map[string]ratelimit.State{}} }

// Fail makes every call fail with apperr.Unavailable wrapping err (nil:
// work again).
func (l *Limiter) Fail(err error) {
	l.mu.Lock()
	l.fail = err
	l.mu.Unlock()
}

func (l *Limiter) down() error {
	if l.fail == nil {
		return nil
	}
	return apperr.Wrap(l.fail, apperr.Unavailable, ratelimit.CodeUnavailable, "rate limiter unavailable")
}

func (l *Limiter) apply(key string, lim ratelimit.Limit, count bool) (ratelimit.Result, error) {
	if err := ratelimit.ValidateKey(key); err != nil {
		return ratelimit.Result{}, err
	}
	if err := lim.Validate(); err != nil {
		return ratelimit.Result{}, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.down(); err != nil {
		return ratelimit.Result{}, err
	}
	r, st := ratelimit.Apply(l.keys[key], lim, time.Now(), count)
	l.keys[key] = st
	return r, nil
}

// Hit implements ratelimit.Limiter.
func (l *Limiter) Hit(_ context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.apply(key, lim, true)
}

// Peek implements ratelimit.Limiter.
func (l *Limiter) Peek(_ context.Context, key string, lim ratelimit.Limit) (ratelimit.Result, error) {
	return l.apply(key, lim, false)
}

// Reset implements ratelimit.Limiter.
func (l *Limiter) Reset(_ context.Context, key string) error {
	if err := ratelimit.ValidateKey(key); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.down(); err != nil {
		return err
	}
	delete(l.keys, key)
	return nil
}

// Cache is a fake cache.Cache (and cache.MultiGetter, like Redis): a map
// whose entries expire. It passes the cachetest contract.
type Cache struct {
	mu   sync.Mutex
	m    map[string]cacheEntry
	fail error
}

type cacheEntry struct {
	v   []byte
	exp time.Time
}

var (
	_ cache.Cache       = (*Cache)(nil)
	_ cache.MultiGetter = (*Cache)(nil)
)

// NewCache returns an empty cache.
func NewCache() *Cache { return &Cache{m: map[string]cacheEntry{}} }

// Fail makes every call fail as a backend that is down (nil: work again).
func (c *Cache) Fail(err error) {
	c.mu.Lock()
	c.fail = err
	c.mu.Unlock()
}

// lookup returns the live value of k; c.mu is held.
func (c *Cache) lookup(k string) ([]byte, bool) {
	e, ok := c.m[k]
	if !ok || !time.Now().Before(e.exp) {
		delete(c.m, k)
		return nil, false
	}
	return bytes.Clone(e.v), true
}

func (c *Cache) guard(keys ...string) error {
	for _, k := range keys {
		if err := cache.ValidateKey(k); err != nil {
			return err
		}
	}
	if c.fail != nil {
		return cache.Unavailable(c.fail)
	}
	return nil
}

// Get implements cache.Cache.
func (c *Cache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.guard(key); err != nil {
		return nil, false, err
	}
	v, ok := c.lookup(key)
	if ok && v == nil {
		v = []byte{}
	}
	return v, ok, nil
}

// GetMany implements cache.MultiGetter.
func (c *Cache) GetMany(_ context.Context, keys ...string) ([][]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.guard(keys...); err != nil {
		return nil, err
	}
	out := make([][]byte, len(keys))
	for i, k := range keys {
		if v, ok := c.lookup(k); ok {
			if v == nil {
				v = []byte{}
			}
			out[i] = v
		}
	}
	return out, nil
}

// Set implements cache.Cache.
func (c *Cache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.guard(key); err != nil {
		return err
	}
	if err := cache.ValidateTTL(ttl); err != nil {
		return err
	}
	c.m[key] = cacheEntry{v: bytes.Clone(value), exp: time.Now().Add(ttl)}
	return nil
}

// Delete implements cache.Cache.
func (c *Cache) Delete(_ context.Context, keys ...string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.guard(keys...); err != nil {
		return err
	}
	for _, k := range keys {
		delete(c.m, k)
	}
	return nil
}

// Exists implements cache.Cache.
func (c *Cache) Exists(_ context.Context, key string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.guard(key); err != nil {
		return false, err
	}
	_, ok := c.lookup(key)
	return ok, nil
}

// DeletePrefix implements cache.Cache.
func (c *Cache) DeletePrefix(_ context.Context, prefix string) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := cache.ValidatePrefix(prefix); err != nil {
		return 0, err
	}
	if err := c.guard(); err != nil {
		return 0, err
	}
	n := 0
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			if _, live := c.lookup(k); live {
				n++
			}
			delete(c.m, k)
		}
	}
	return n, nil
}

// Tokens is a fake identity.AccessTokens: a token is a random handle on
// the claims it was issued with. Verify refuses unknown tokens as
// "token_invalid" and expired ones as "token_expired".
type Tokens struct {
	mu     sync.Mutex
	issued map[string]identity.AccessClaims
}

var _ identity.AccessTokens = (*Tokens)(nil)

// NewTokens returns a fake issuer.
func NewTokens() *Tokens { return &Tokens{issued: map[string]identity.AccessClaims{}} }

// Issue implements identity.AccessTokens.
func (k *Tokens) Issue(c identity.AccessClaims) (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	tok := "at." + hex.EncodeToString(b)
	k.mu.Lock()
	k.issued[tok] = c
	k.mu.Unlock()
	return tok, nil
}

// Verify implements identity.AccessTokens.
func (k *Tokens) Verify(token string) (identity.AccessClaims, error) {
	k.mu.Lock()
	c, ok := k.issued[token]
	k.mu.Unlock()
	switch {
	case !ok:
		return identity.AccessClaims{}, apperr.Wrap(errors.New("unknown token"), apperr.Unauthenticated, identity.CodeTokenMalformed, "The access token is invalid.")
	case !time.Now().Before(c.ExpiresAt):
		return identity.AccessClaims{}, apperr.New(apperr.Unauthenticated, identity.CodeTokenExpired, "The access token has expired.")
	}
	return c, nil
}

// Claims returns the claims token was issued with.
func (k *Tokens) Claims(token string) (identity.AccessClaims, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	c, ok := k.issued[token]
	return c, ok
}

// SecondFactor is a fake identity.SecondFactor: it accepts the code
// GoodCode (or the backup code GoodBackupCode) and counts its calls.
type SecondFactor struct {
	mu      sync.Mutex
	begun   []identity.ClientMeta
	checked int
}

var _ identity.SecondFactor = (*SecondFactor)(nil)

// The answers SecondFactor accepts.
const (
	GoodCode       = "123456"
	GoodBackupCode = "aaaa-bbbb-cccc-dddd"
)

// BeginLogin implements identity.SecondFactor.
func (f *SecondFactor) BeginLogin(_ context.Context, u *identity.User, meta identity.ClientMeta) (identity.MFAChallenge, error) {
	f.mu.Lock()
	f.begun = append(f.begun, meta)
	f.mu.Unlock()
	return identity.MFAChallenge{Token: "mfa-" + u.ID.String(), Methods: []string{"totp", "backup_code"}, ExpiresAt: time.Now().Add(5 * time.Minute)}, nil
}

// VerifyForReset implements identity.SecondFactor.
func (f *SecondFactor) VerifyForReset(_ context.Context, _ *identity.User, r identity.ResetFactor) error {
	f.mu.Lock()
	f.checked++
	f.mu.Unlock()
	if r.Code == GoodCode || r.BackupCode == GoodBackupCode {
		return nil
	}
	return &apperr.Error{Kind: apperr.Invalid, Code: "mfa_code_invalid", Message: "The code is incorrect.", Fields: map[string]string{"code": "is incorrect"}}
}

// Calls returns the client facts of every BeginLogin and the number of
// VerifyForReset calls.
func (f *SecondFactor) Calls() (begun []identity.ClientMeta, checked int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]identity.ClientMeta(nil), f.begun...), f.checked
}

// Logs is a concurrency-safe buffer for a test's log output.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// String returns everything written.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
