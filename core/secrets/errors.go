package secrets

import (
	"fmt"

	"github.com/tradesense/tradesense/core/apperr"
)

// Stable error codes. Messages name the backend and the reference, never the
// value; adapters must only wrap causes that cannot contain a value (driver
// and transport errors do not; JSON syntax errors and strconv errors do, so
// they are never wrapped).
const (
	CodeNotFound       = "secret_not_found"
	CodeUnavailable    = "secret_backend_unavailable"
	CodeInvalid        = "secret_reference_invalid"
	CodeForbidden      = "secret_access_denied"
	CodeNotConfigured  = "secret_backend_not_configured"
	CodeMalformedValue = "secret_value_malformed"
)

// NotFound reports that ref does not exist in backend (or has no such key).
func NotFound(backend string, ref Ref, cause error) error {
	return apperr.Wrap(cause, apperr.NotFound, CodeNotFound,
		fmt.Sprintf("%s: secret %s not found", backend, ref))
}

// Unavailable reports that backend could not answer for ref: network errors,
// timeouts, 5xx, throttling after retries, a sealed Vault.
func Unavailable(backend string, ref Ref, cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeUnavailable,
		fmt.Sprintf("%s: cannot read secret %s", backend, ref))
}

// Forbidden reports that backend refused access to ref (policy, IAM, KMS).
func Forbidden(backend string, ref Ref, cause error) error {
	return apperr.Wrap(cause, apperr.Forbidden, CodeForbidden,
		fmt.Sprintf("%s: access to secret %s denied", backend, ref))
}

// Invalid reports a reference that backend cannot serve as written; reason
// says why and must not contain a value.
func Invalid(backend string, ref Ref, reason string) error {
	return apperr.New(apperr.Invalid, CodeInvalid,
		fmt.Sprintf("%s: invalid secret reference %s: %s", backend, ref, reason))
}

// Malformed reports that the value behind ref does not have the expected
// shape (for example, "#key" on a value that is not a JSON object). reason
// must not contain any part of the value.
func Malformed(backend string, ref Ref, reason string) error {
	return apperr.New(apperr.Invalid, CodeMalformedValue,
		fmt.Sprintf("%s: secret %s is malformed: %s", backend, ref, reason))
}

// CheckScheme is the guard every provider runs first: a reference routed to
// the wrong backend is a wiring bug worth a clear message.
func CheckScheme(backend string, ref Ref, want string) error {
	if ref.Scheme != want {
		return Invalid(backend, ref, fmt.Sprintf("scheme %q is not served by this provider (want %q)", ref.Scheme, want))
	}
	return nil
}
