package secrets

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"time"

	"github.com/tradesense/tradesense/core/apperr"
)

// MinKeyBytes is the least entropy of a generated key: 256 bits.
const MinKeyBytes = 32

// KeySpec describes a key setting that `tradesense secrets rotate` can
// rotate.
type KeySpec struct {
	// Setting is the configuration variable (JWT_SIGNING_KEY).
	Setting string
	// Bytes is the number of random bytes of a new key (at least
	// MinKeyBytes); the key is their unpadded base64url text, so it
	// survives files, JSON, environment variables and shells unchanged.
	Bytes int
	// Grace is how long a replaced key stays accepted; zero keeps it until
	// an operator removes it from the history.
	Grace time.Duration
	// Check is the consumer's own validation of a key (for example, that
	// it derives a signing key); nil accepts any.
	Check func(key []byte) error
}

// ReadWriter is what Rotate reads and writes through: the Resolver.
type ReadWriter interface {
	Reload(ctx context.Context, ref Ref) (Secret, error)
	Writer
}

// RotateRequest is one rotation (or roll-back) of a key setting.
type RotateRequest struct {
	Spec KeySpec
	// Setting is the setting as the running services resolve it (see
	// Resolver.ResolveEnv); a literal cannot be rotated.
	Setting Setting
	// DryRun reads and plans but writes nothing.
	DryRun bool
	// Rollback makes the newest key of the history current again instead
	// of generating one; the current key joins the history.
	Rollback bool
	// Now is the time of the rotation (retired_at, and the start of the
	// grace period).
	Now time.Time
	// Rand is the source of new keys; nil means crypto/rand.
	Rand io.Reader
}

// RotateResult says what a rotation did (or would do, in a dry run). It
// carries versions and references, never a key.
type RotateResult struct {
	Setting string
	// Ref is where the key went; HistoryRef where the replaced key is kept.
	Ref, HistoryRef Ref
	DryRun          bool
	Rollback        bool
	// OldVersion is the version that was current; NewVersion the one
	// written ("" in a dry run).
	OldVersion, NewVersion string
	// Bits is the entropy of the new key (0 for a roll-back).
	Bits int
	// KeptUntil is when the replaced key stops being accepted; zero: kept
	// until removed.
	KeptUntil time.Time
	// Kept is the number of keys in the history after the write; Dropped
	// the expired ones removed from it.
	Kept, Dropped int
}

// Rotate replaces the key of a setting, through the setting's own
// reference, so that nothing breaks mid-rotation:
//
//  1. it reads the current key and the history beside it (HistoryRef);
//  2. it generates a new key (Spec.Bytes of crypto/rand, base64url) and
//     checks it with Spec.Check — or, for a roll-back, takes the newest key
//     of the history;
//  3. it writes the history first, with the current key added (accepted
//     until Now+Spec.Grace, or kept when Grace is zero) and expired keys
//     dropped, then the new key; both writes are check-and-set on the
//     versions read in step 1, so a concurrent rotation makes this one fail
//     with a Conflict instead of losing a key;
//  4. it reads the key back from the backend and checks value and version.
//
// A crash between the two writes leaves the current key current and also
// in the history, which is harmless. Errors name the setting; a literal
// setting or an env: reference is Invalid (secret_backend_read_only) with
// the reason. ctx's WriteInfo (WithWriteInfo) gains Setting and Reason for
// the audit lines.
func Rotate(ctx context.Context, rw ReadWriter, req RotateRequest) (RotateResult, error) {
	spec := req.Spec
	name := spec.Setting
	res := RotateResult{Setting: name, DryRun: req.DryRun, Rollback: req.Rollback}
	fail := func(err error) (RotateResult, error) { return res, fmt.Errorf("%s: %w", name, err) }
	switch {
	case !req.Setting.IsSet():
		return fail(apperr.New(apperr.Invalid, CodeInvalid, "not set: there is no key to rotate"))
	case req.Setting.Literal:
		return fail(apperr.New(apperr.Invalid, CodeReadOnly,
			"the key is written in the variable itself (a literal), and "+envReadOnlyReason))
	case spec.Bytes < MinKeyBytes && !req.Rollback:
		return fail(fmt.Errorf("key spec: %d random bytes is below the minimum of %d", spec.Bytes, MinKeyBytes))
	}
	ref := req.Setting.Ref
	histRef, err := HistoryRef(ref)
	if err != nil {
		return fail(err)
	}
	res.Ref, res.HistoryRef = ref, histRef
	info := WriteInfoFrom(ctx)
	info.Setting = name
	info.Reason = "rotate"
	if req.Rollback {
		info.Reason = "rollback"
	}
	ctx = WithWriteInfo(ctx, info)

	cur, err := rw.Reload(ctx, ref)
	if err != nil {
		return fail(fmt.Errorf("read the current key: %w", err))
	}
	res.OldVersion = cur.Version()
	sameDoc := ref.Key != ""
	histSecret, err := rw.Reload(ctx, histRef)
	histVersion := NoVersion
	switch {
	case apperr.Is(err, apperr.NotFound):
		histSecret = Secret{}
		if sameDoc {
			histVersion = cur.Version()
		}
	case err != nil:
		return fail(fmt.Errorf("read the key history: %w", err))
	default:
		histVersion = histSecret.Version()
		if sameDoc && histVersion != cur.Version() {
			return fail(Conflict(ref.Scheme, ref, "the secret changed between two reads"))
		}
	}
	history, err := ParseKeyHistory(histSecret)
	if err != nil {
		return fail(fmt.Errorf("%s: %w", histRef, err))
	}

	var next Secret
	if req.Rollback {
		if len(history.Keys) == 0 {
			return fail(apperr.New(apperr.Invalid, CodeNotFound, "no previous key to roll back to (the history is empty)"))
		}
		next = New(history.Keys[0].Value.Reveal(), "")
		history = history.Without(next)
	} else {
		if next, err = newKey(req.Rand, spec.Bytes); err != nil {
			return fail(err)
		}
		res.Bits = 8 * spec.Bytes
	}
	if next.Equal(cur) {
		return fail(apperr.New(apperr.Invalid, CodeInvalid, "the new key equals the current one"))
	}
	if spec.Check != nil {
		if err := spec.Check(next.Bytes()); err != nil {
			return fail(fmt.Errorf("the new key is not usable: %w", err))
		}
	}
	var until time.Time
	if spec.Grace > 0 {
		until = req.Now.Add(spec.Grace)
	}
	res.KeptUntil = until
	res.Dropped = len(history.Keys) - len(history.Accepted(req.Now))
	history = history.Retire(cur, cur.Version(), req.Now, until)
	res.Kept = len(history.Keys)
	if req.DryRun {
		return res, nil
	}

	encoded, err := history.Encode()
	if err != nil {
		return fail(err)
	}
	hv, err := rw.Put(ctx, histRef, encoded, histVersion)
	if err != nil {
		return fail(fmt.Errorf("keep the current key in the history (nothing changed): %w", err))
	}
	keyVersion := cur.Version()
	if sameDoc {
		keyVersion = hv
	}
	nv, err := rw.Put(ctx, ref, next, keyVersion)
	if err != nil {
		return fail(fmt.Errorf("write the new key (the current key stays current and is also in the history): %w", err))
	}
	res.NewVersion = nv

	back, err := rw.Reload(ctx, ref)
	switch {
	case err != nil:
		return fail(fmt.Errorf("the new key was written (version %s) but reading it back failed: %w", nv, err))
	case !back.Equal(next):
		return fail(apperr.New(apperr.Conflict, CodeConflict,
			fmt.Sprintf("the new key was written (version %s) but another value was read back (version %s): check for a concurrent writer", nv, back.Version())))
	case nv != "" && back.Version() != nv:
		return fail(apperr.New(apperr.Conflict, CodeConflict,
			fmt.Sprintf("the new key was written as version %s but read back as version %s", nv, back.Version())))
	}
	return res, nil
}

// newKey returns n random bytes as unpadded base64url text.
func newKey(src io.Reader, n int) (Secret, error) {
	if src == nil {
		src = rand.Reader
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(src, b); err != nil {
		return Secret{}, fmt.Errorf("generate a key: %w", err)
	}
	s := New(base64.RawURLEncoding.EncodeToString(b), "")
	clear(b)
	return s, nil
}
