package httpapi

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
)

// What the MFA operations ask of the MFA module.
type (
	// MFAFactors reads and manages the caller's second factor
	// (*mfa.Service).
	MFAFactors interface {
		Status(ctx context.Context, userID uuid.UUID) (mfa.Status, error)
		BeginEnrolment(ctx context.Context, userID uuid.UUID) (*mfa.Enrolment, error)
		RegenerateBackupCodes(ctx context.Context, userID uuid.UUID, code string) ([]string, error)
	}
	// MFAFlows are the MFA steps that also start or end sessions
	// (*mfa.Flows).
	MFAFlows interface {
		ConfirmEnrolment(ctx context.Context, p identity.Principal, code string) ([]string, error)
		Disable(ctx context.Context, p identity.Principal, password string, a mfa.Answer) error
		CompleteLogin(ctx context.Context, mfaToken string, a mfa.Answer) (*identity.TokenPair, *mfa.LoginOutcome, error)
	}
)

// mfaHandlers serve /api/v1/mfa and the second login step: thin
// translations between the generated types and the MFA module (the rules
// live in core/mfa).
type mfaHandlers struct {
	factors MFAFactors
	flows   MFAFlows
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *mfaHandlers) GetMfaStatus(ctx context.Context, _ gen.GetMfaStatusRequestObject) (gen.GetMfaStatusResponseObject, error) {
	st, err := asCaller(ctx, h.factors, MFAFactors.Status)
	if err != nil {
		return nil, err
	}
	out := gen.GetMfaStatus200JSONResponse{Enabled: st.Enabled, BackupCodesRemaining: st.BackupCodesRemaining, Methods: []string{}}
	if st.Enabled {
		at := st.EnabledAt.UTC()
		out.EnrolledAt = &at
		out.Methods = append(out.Methods, mfa.MethodTOTP)
		if st.BackupCodesRemaining > 0 {
			out.Methods = append(out.Methods, mfa.MethodBackupCode)
		}
	}
	return out, nil
}

func (h *mfaHandlers) EnableMfa(ctx context.Context, _ gen.EnableMfaRequestObject) (gen.EnableMfaResponseObject, error) {
	en, err := asCaller(ctx, h.factors, MFAFactors.BeginEnrolment)
	if err != nil {
		return nil, err
	}
	return gen.EnableMfa200JSONResponse{Secret: en.Secret, OtpauthUrl: en.OTPAuthURL, QrCode: en.QRCodePNG, ExpiresAt: en.ExpiresAt.UTC()}, nil
}

func (h *mfaHandlers) VerifyMfa(ctx context.Context, r gen.VerifyMfaRequestObject) (gen.VerifyMfaResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := h.flows.ConfirmEnrolment(ctx, p, r.Body.Code)
	if err != nil {
		return nil, err
	}
	return gen.VerifyMfa200JSONResponse{BackupCodes: codes, BackupCodesRemaining: len(codes)}, nil
}

func (h *mfaHandlers) RegenerateMfaBackupCodes(ctx context.Context, r gen.RegenerateMfaBackupCodesRequestObject) (gen.RegenerateMfaBackupCodesResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := h.factors.RegenerateBackupCodes(ctx, p.UserID, r.Body.Code)
	if err != nil {
		return nil, err
	}
	return gen.RegenerateMfaBackupCodes200JSONResponse{BackupCodes: codes, BackupCodesRemaining: len(codes)}, nil
}

func (h *mfaHandlers) DisableMfa(ctx context.Context, r gen.DisableMfaRequestObject) (gen.DisableMfaResponseObject, error) {
	p, err := Authenticated(ctx)
	if err != nil {
		return nil, err
	}
	return gen.DisableMfa204Response{}, h.flows.Disable(ctx, p, r.Body.Password, mfa.Answer{Code: deref(r.Body.Code), BackupCode: deref(r.Body.BackupCode)})
}

func (h *mfaHandlers) LoginMfa(ctx context.Context, r gen.LoginMfaRequestObject) (gen.LoginMfaResponseObject, error) {
	pair, out, err := h.flows.CompleteLogin(ctx, r.Body.MfaToken, mfa.Answer{Code: deref(r.Body.Code), BackupCode: deref(r.Body.BackupCode)})
	if err != nil {
		return nil, err
	}
	resp := gen.LoginMfa200JSONResponse{AccessToken: pair.AccessToken, RefreshToken: pair.RefreshToken, TokenType: gen.MFALoginResponseTokenTypeBearer,
		ExpiresIn: int(pair.ExpiresIn / time.Second), User: userBody(pair.User), Aal: 2, Amr: out.AMR}
	if out.Verified.Method == mfa.MethodBackupCode {
		n := out.Verified.BackupCodesRemaining
		resp.BackupCodesRemaining = &n
	}
	return resp, nil
}
