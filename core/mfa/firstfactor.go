package mfa

import (
	"context"
	"fmt"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
)

// FirstFactorPassword is the amr value of a password, the first factor a
// login challenge assumes unless BeginLoginAfter says otherwise.
const FirstFactorPassword = "pwd"

func firstFactorKey(tok string) string { return "mfa:first:" + challengeKey(tok) }

// BeginLoginAfter is BeginLogin for a login whose first factor was not a
// password (first is its amr value, such as "oauth"): the same mfa_token
// and answer, and the session CompleteLogin opens records amr
// [first, method]. The first factor is kept beside the challenge for as
// long; if it cannot be stored, the challenge is withdrawn and the call
// fails (a session must never claim a password it did not see).
func (s *Service) BeginLoginAfter(ctx context.Context, u *identity.User, meta identity.ClientMeta, first string) (identity.MFAChallenge, error) {
	if first == "" || len(first) > 32 {
		return identity.MFAChallenge{}, apperr.New(apperr.Internal, "mfa_first_factor_invalid", "Two-factor sign-in failed.")
	}
	ch, err := s.BeginLogin(ctx, u, meta)
	if err != nil {
		return ch, err
	}
	if first == FirstFactorPassword {
		return ch, nil
	}
	if err := s.d.Pending.Put(ctx, firstFactorKey(ch.Token), []byte(first), s.cfg.ChallengeTTL); err != nil {
		_ = s.d.Pending.Delete(ctx, challengeKey(ch.Token))
		return identity.MFAChallenge{}, fmt.Errorf("mfa: store first factor: %w", err)
	}
	return ch, nil
}

// firstFactor returns the first factor recorded for a spent challenge
// token, and forgets it: FirstFactorPassword when none was recorded.
func (s *Service) firstFactor(ctx context.Context, token string) (string, error) {
	tok, ok := identity.ParseOpaqueToken(token)
	if !ok {
		return FirstFactorPassword, nil
	}
	b, err := s.d.Pending.Take(ctx, firstFactorKey(tok))
	switch {
	case apperr.Is(err, apperr.NotFound):
		return FirstFactorPassword, nil
	case err != nil:
		return "", fmt.Errorf("mfa: read first factor: %w", err)
	}
	return string(b), nil
}
