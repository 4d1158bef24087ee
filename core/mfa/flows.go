package mfa

import (
	"context"
	"errors"
	"fmt"

	"github.com/tradesense/tradesense/core/identity"
)

// Sessions is what the MFA flows need from the identity service
// (*identity.Service implements it). It is not a dependency of Service:
// identity.Service depends on Service (as its SecondFactor), so the flows
// that need both live in Flows.
type Sessions interface {
	// IssueSession opens a session at aal with amr and returns its tokens.
	IssueSession(ctx context.Context, u *identity.User, aal int, amr []string) (*identity.TokenPair, error)
	// RevokeOtherSessions ends every session of p's user but p's own; in
	// ctx's transaction, the devices of those sessions are disconnected
	// and the user told once it commits.
	RevokeOtherSessions(ctx context.Context, p identity.Principal) (int, error)
}

// Flows are the MFA use cases that also open or end sessions.
type Flows struct {
	mfa      *Service
	sessions Sessions
}

// NewFlows returns the flows over m and sessions.
func NewFlows(m *Service, sessions Sessions) (*Flows, error) {
	if m == nil || sessions == nil {
		return nil, errors.New("mfa: flows need the MFA service and the sessions")
	}
	return &Flows{mfa: m, sessions: sessions}, nil
}

// Service returns the MFA service (status, enrolment, regeneration).
func (f *Flows) Service() *Service { return f.mfa }

// ConfirmEnrolment turns MFA on (see Service.ConfirmEnrolment) and ends
// the caller's other sessions, in the same transaction: they were opened
// with the password alone. Their devices are disconnected before the
// change is published (withChange).
func (f *Flows) ConfirmEnrolment(ctx context.Context, p identity.Principal, code string) ([]string, error) {
	return f.mfa.confirmEnrolment(ctx, p.UserID, code, f.endOthers(p))
}

// CompleteLogin answers the login challenge and opens the session at
// aal 2 with amr [first factor, method]: "pwd", or what BeginLoginAfter
// recorded.
func (f *Flows) CompleteLogin(ctx context.Context, token string, a Answer) (*identity.TokenPair, *LoginOutcome, error) {
	out, err := f.mfa.CompleteLogin(ctx, token, a)
	if err != nil {
		return nil, nil, err
	}
	first, err := f.mfa.firstFactor(ctx, token)
	if err != nil {
		return nil, nil, err
	}
	if len(out.AMR) > 0 {
		out.AMR[0] = first
	}
	pair, err := f.sessions.IssueSession(ctx, out.User, 2, out.AMR)
	if err != nil {
		return nil, nil, err
	}
	return pair, out, nil
}

// Disable turns MFA off (see Service.Disable) and ends the caller's other
// sessions, in the same transaction, as ConfirmEnrolment does.
func (f *Flows) Disable(ctx context.Context, p identity.Principal, password string, a Answer) error {
	return f.mfa.disable(ctx, p.UserID, password, a, f.endOthers(p))
}

// endOthers ends p's other sessions inside the change's transaction.
func (f *Flows) endOthers(p identity.Principal) withChange {
	return func(ctx context.Context) error {
		if _, err := f.sessions.RevokeOtherSessions(ctx, p); err != nil {
			return fmt.Errorf("end the other sessions: %w", err)
		}
		return nil
	}
}
