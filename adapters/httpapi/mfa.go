package httpapi

import (
	"context"
	"time"

	"github.com/tradesense/tradesense/adapters/httpapi/gen"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
)

// The MFA operations: thin translations between the generated types and
// mfa.Flows (the rules live in core/mfa).

func errMFAUnavailable() error {
	return apperr.New(apperr.Unavailable, "mfa_unavailable", "Two-factor authentication is not available on this server.")
}

func (h *handlers) mfaCaller(ctx context.Context) (*mfa.Flows, identity.Principal, error) {
	if h.mfa == nil {
		return nil, identity.Principal{}, errMFAUnavailable()
	}
	p, err := Authenticated(ctx)
	return h.mfa, p, err
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *handlers) GetMfaStatus(ctx context.Context, _ gen.GetMfaStatusRequestObject) (gen.GetMfaStatusResponseObject, error) {
	ctx = requestContext(ctx)
	fl, p, err := h.mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	st, err := fl.Service().Status(ctx, p.UserID)
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

func (h *handlers) EnableMfa(ctx context.Context, _ gen.EnableMfaRequestObject) (gen.EnableMfaResponseObject, error) {
	ctx = requestContext(ctx)
	fl, p, err := h.mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	en, err := fl.Service().BeginEnrolment(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	return gen.EnableMfa200JSONResponse{Secret: en.Secret, OtpauthUrl: en.OTPAuthURL, QrCode: en.QRCodePNG, ExpiresAt: en.ExpiresAt.UTC()}, nil
}

func (h *handlers) VerifyMfa(ctx context.Context, r gen.VerifyMfaRequestObject) (gen.VerifyMfaResponseObject, error) {
	ctx = requestContext(ctx)
	fl, p, err := h.mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := fl.ConfirmEnrolment(ctx, p, r.Body.Code)
	if err != nil {
		return nil, err
	}
	return gen.VerifyMfa200JSONResponse{BackupCodes: codes, BackupCodesRemaining: len(codes)}, nil
}

func (h *handlers) RegenerateMfaBackupCodes(ctx context.Context, r gen.RegenerateMfaBackupCodesRequestObject) (gen.RegenerateMfaBackupCodesResponseObject, error) {
	ctx = requestContext(ctx)
	fl, p, err := h.mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	codes, err := fl.Service().RegenerateBackupCodes(ctx, p.UserID, r.Body.Code)
	if err != nil {
		return nil, err
	}
	return gen.RegenerateMfaBackupCodes200JSONResponse{BackupCodes: codes, BackupCodesRemaining: len(codes)}, nil
}

func (h *handlers) DisableMfa(ctx context.Context, r gen.DisableMfaRequestObject) (gen.DisableMfaResponseObject, error) {
	ctx = requestContext(ctx)
	fl, p, err := h.mfaCaller(ctx)
	if err != nil {
		return nil, err
	}
	if err := fl.Disable(ctx, p, r.Body.Password, mfa.Answer{Code: deref(r.Body.Code), BackupCode: deref(r.Body.BackupCode)}); err != nil {
		return nil, err
	}
	return gen.DisableMfa204Response{}, nil
}

func (h *handlers) LoginMfa(ctx context.Context, r gen.LoginMfaRequestObject) (gen.LoginMfaResponseObject, error) {
	ctx = requestContext(ctx)
	if h.mfa == nil {
		return nil, errMFAUnavailable()
	}
	pair, out, err := h.mfa.CompleteLogin(ctx, r.Body.MfaToken, mfa.Answer{Code: deref(r.Body.Code), BackupCode: deref(r.Body.BackupCode)})
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
