package secrets

import (
	"context"
	"fmt"

	"github.com/tradesense/tradesense/core/apperr"
)

// Writer writes secrets to one backend. It is the other half of Provider,
// implemented beside it by the adapters that can write (filesecrets, vault,
// awssecrets); envsecrets implements it only to refuse, with a reason.
//
// Put stores value at ref and returns the new version label, the one a Get
// of ref reports afterwards. Every write is a check-and-set: ifVersion is
// the version the caller read (Secret.Version) and the write happens only
// if the secret is still at that version; NoVersion ("") means the secret
// must not exist yet. So two operators who read the same version cannot
// overwrite each other: the second gets a Conflict and must read again.
//
// With ref.Key, Put sets that field of the JSON object stored at ref (as a
// JSON string) and keeps every other field; ifVersion is the version of
// the whole object, and with NoVersion the object is created holding only
// that field. Without a key the value replaces the whole secret (for
// Vault, whose secrets are data maps, value must then be a JSON object).
// ref.Version and ref.Stage must be empty: one writes the current version.
//
// Errors are apperr errors naming the backend and the reference, never the
// value:
//
//   - Conflict (secret_version_conflict): the secret is not at ifVersion
//     (changed, created or deleted meanwhile);
//   - Invalid (secret_backend_read_only): the backend cannot be written;
//     the message says why and what to do instead;
//   - Invalid (secret_reference_invalid, secret_value_malformed): the
//     reference cannot be written as given, or ref.Key names a field of a
//     value that is not a JSON object;
//   - Forbidden: the backend refused the write (policy, IAM, read-only file
//     system);
//   - Unavailable: the backend did not answer usably. The write may or may
//     not have happened: read the secret again before retrying.
//
// Implementations are safe for concurrent use; concurrent Puts with the same
// ifVersion succeed at most once.
type Writer interface {
	Put(ctx context.Context, ref Ref, value Secret, ifVersion string) (version string, err error)
}

// NoVersion as Put's ifVersion means "create: the secret must not exist".
const NoVersion = ""

// Codes of write errors.
const (
	CodeConflict = "secret_version_conflict"
	CodeReadOnly = "secret_backend_read_only"
)

// Conflict reports that the check-and-set of a write to ref failed: the
// secret is not at the version the caller read. reason must not contain a
// value.
func Conflict(backend string, ref Ref, reason string) error {
	return apperr.New(apperr.Conflict, CodeConflict,
		fmt.Sprintf("%s: secret %s was not written: %s (read it again and retry)", backend, ref, reason))
}

// ReadOnly reports that backend cannot write ref; reason says why and what
// to do instead.
func ReadOnly(backend string, ref Ref, reason string) error {
	return apperr.New(apperr.Invalid, CodeReadOnly,
		fmt.Sprintf("%s: cannot write secret %s: %s", backend, ref, reason))
}

// WriteUnavailable reports that backend did not answer a write of ref
// usably; the write may or may not have happened.
func WriteUnavailable(backend string, ref Ref, cause error) error {
	return apperr.Wrap(cause, apperr.Unavailable, CodeUnavailable,
		fmt.Sprintf("%s: cannot write secret %s (the write may or may not have happened: read it again)", backend, ref))
}

// CheckWritable is the guard every Writer runs first: the scheme is the
// writer's and the reference names the current version.
func CheckWritable(backend string, ref Ref, want string) error {
	if err := CheckScheme(backend, ref, want); err != nil {
		return err
	}
	if ref.Version != "" || ref.Stage != "" {
		return Invalid(backend, ref, "a write cannot name a version or stage (it creates the new current version)")
	}
	return nil
}
