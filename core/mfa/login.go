package mfa

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// The login challenge: the second step after a correct password
// (identity.SecondFactor).

// BeginLogin implements identity.SecondFactor: a 256-bit mfa_token, stored
// as its SHA-256 with the user, a login attempt ID, the user agent's hash
// and the user's credential stamp, for ChallengeTTL.
func (s *Service) BeginLogin(ctx context.Context, u *identity.User, meta identity.ClientMeta) (identity.MFAChallenge, error) {
	if _, err := s.d.Factors.Get(ctx, u.ID); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			// users.mfa_enabled without a factor: refuse rather than let
			// the password alone in.
			return identity.MFAChallenge{}, apperr.Wrap(errors.New("user flagged MFA without a factor"), apperr.Internal, CodeCorrupt, "Two-factor sign-in failed.")
		}
		return identity.MFAChallenge{}, err
	}
	methods := []string{MethodTOTP}
	if unused, err := s.d.BackupCodes.Unused(ctx, u.ID); err != nil {
		return identity.MFAChallenge{}, err
	} else if len(unused) > 0 {
		methods = append(methods, MethodBackupCode)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return identity.MFAChallenge{}, fmt.Errorf("mfa: token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b)
	attempt, err := uuid.NewV7()
	if err != nil {
		return identity.MFAChallenge{}, err
	}
	exp := s.now().Add(s.cfg.ChallengeTTL)
	ch := challenge{UserID: u.ID, Attempt: attempt, ExpiresAt: exp, UA: sha256.Sum256([]byte(meta.UserAgent)), Credential: credentialStamp(u)}
	if err := s.d.Pending.Put(ctx, challengeKey(tok), ch.encode(), s.cfg.ChallengeTTL); err != nil {
		return identity.MFAChallenge{}, fmt.Errorf("mfa: store challenge: %w", err)
	}
	return identity.MFAChallenge{Token: tok, Methods: methods, ExpiresAt: exp}, nil
}

// credentialStamp names the password a login challenge began under: the
// SHA-256 of the user's stored hash, whose salt is new with every change,
// so a reset or a change of the password (to any value, the same one
// included) turns every pending challenge of the user invalid, as it ends
// every session. The stamp is a hash of a salted hash and never leaves
// the short-lived store.
func credentialStamp(u *identity.User) [32]byte {
	return sha256.Sum256([]byte("tradesense mfa challenge credential\x00" + u.PasswordHash))
}

func challengeKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return "mfa:login:" + hex.EncodeToString(h[:])
}

func errTokenInvalid() error {
	return &apperr.Error{Kind: apperr.Unauthenticated, Code: CodeTokenInvalid, Message: "The sign-in challenge is invalid or expired: sign in again.",
		Fields: map[string]string{"mfa_token": "is invalid or expired"}}
}

// LoginOutcome is a passed login challenge: the session to open.
type LoginOutcome struct {
	User     *identity.User
	AMR      []string // "pwd" and the method
	Verified Verified
	// Attempt identifies the login attempt the token was bound to.
	Attempt uuid.UUID
}

// CompleteLogin answers a login challenge. On success the mfa_token is
// spent and the caller opens the session at aal 2 with the outcome's AMR
// (identity.Service.IssueSession). A wrong code leaves the token usable
// until it expires (the failure budget bounds retries). Fails with
// apperr.Unauthenticated "mfa_token_invalid", the verification errors,
// or apperr.RateLimited.
func (s *Service) CompleteLogin(ctx context.Context, token string, a Answer) (*LoginOutcome, error) {
	tok, ok := identity.ParseOpaqueToken(token)
	if !ok {
		return nil, errTokenInvalid()
	}
	key := challengeKey(tok)
	raw, err := s.d.Pending.Get(ctx, key)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errTokenInvalid()
	}
	if err != nil {
		return nil, err
	}
	ch, err := decodeChallenge(raw)
	if err != nil || !s.now().Before(ch.ExpiresAt) || ch.UA != sha256.Sum256([]byte(identity.ClientMetaFrom(ctx).UserAgent)) {
		return nil, errTokenInvalid()
	}
	u, err := s.d.Users.Get(ctx, ch.UserID)
	if apperr.Is(err, apperr.NotFound) {
		return nil, errTokenInvalid()
	}
	if err != nil {
		return nil, err
	}
	// The password the challenge began under must still be the user's:
	// a reset or change since (which ends every session) spends it.
	if stamp := credentialStamp(u); u.Disabled() || !u.MFAEnabled || subtle.ConstantTimeCompare(stamp[:], ch.Credential[:]) != 1 {
		_ = s.d.Pending.Delete(ctx, key)
		return nil, errTokenInvalid()
	}
	v, err := s.verify(ctx, u, a, "login", false)
	if err != nil {
		if apperr.Is(err, apperr.Invalid) && apperrCode(err) == CodeNotEnabled {
			return nil, errTokenInvalid()
		}
		return nil, err
	}
	if _, err := s.d.Pending.Take(ctx, key); err != nil {
		if apperr.Is(err, apperr.NotFound) {
			return nil, errTokenInvalid() // a concurrent answer spent it
		}
		return nil, err
	}
	s.audit.RecordQuiet(ctx, EventChallengePassed, u.ID, uuid.Nil, map[string]string{"method": v.Method})
	return &LoginOutcome{User: u, AMR: []string{"pwd", v.Method}, Verified: v, Attempt: ch.Attempt}, nil
}

func apperrCode(err error) string {
	if e, ok := apperr.As(err); ok {
		return e.Code
	}
	return ""
}

// VerifyForReset implements identity.SecondFactor.
func (s *Service) VerifyForReset(ctx context.Context, u *identity.User, f identity.ResetFactor) error {
	_, err := s.verify(ctx, u, Answer{Code: f.Code, BackupCode: f.BackupCode}, "reset", false)
	return err
}

// challenge is a pending login challenge as stored in the short-lived
// store (challengeVersion, user, attempt, expiry in Unix µs, user agent
// hash, credential stamp).
type challenge struct {
	UserID     uuid.UUID
	Attempt    uuid.UUID
	ExpiresAt  time.Time
	UA         [32]byte
	Credential [32]byte
}

// challengeVersion is the first byte of a stored challenge: 2 since it
// holds the credential stamp (a version 1 challenge, at most ChallengeTTL
// old, decodes as invalid: sign in again).
const (
	challengeVersion = 2
	challengeLen     = 1 + 16 + 16 + 8 + 32 + 32
)

func (c challenge) encode() []byte {
	b := make([]byte, 0, challengeLen)
	b = append(b, challengeVersion)
	b = append(b, c.UserID[:]...)
	b = append(b, c.Attempt[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.ExpiresAt.UnixMicro()))
	b = append(b, c.UA[:]...)
	return append(b, c.Credential[:]...)
}

func decodeChallenge(b []byte) (challenge, error) {
	if len(b) != challengeLen || b[0] != challengeVersion {
		return challenge{}, errEncoding
	}
	var c challenge
	copy(c.UserID[:], b[1:17])
	copy(c.Attempt[:], b[17:33])
	c.ExpiresAt = time.UnixMicro(int64(binary.BigEndian.Uint64(b[33:41]))).UTC() // #nosec G115 -- the bits the encoder stored
	copy(c.UA[:], b[41:73])
	copy(c.Credential[:], b[73:])
	return c, nil
}
