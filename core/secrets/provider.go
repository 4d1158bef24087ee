package secrets

import (
	"context"
)

// Provider reads secrets from one backend. It is the port every secret
// adapter implements (envsecrets, filesecrets, vault, awssecrets) and the
// Resolver implements too, adding caching and routing.
//
// Get returns the current value of ref (or the version ref.Version / stage
// ref.Stage names), with ref.Key applied. Secret.Version carries the
// backend's version label when it has one, so callers can detect rotation.
// Errors are apperr errors naming the backend and the reference, never the
// value:
//
//   - NotFound: the secret, version or key does not exist;
//   - Forbidden: the backend refused access (policy, IAM, KMS);
//   - Unavailable: the backend did not answer usably (network, 5xx, sealed,
//     throttled, ctx done);
//   - Invalid: the reference cannot be served as written, the scheme is not
//     this provider's, or the value is malformed for the requested key.
//
// Implementations are safe for concurrent use and do no caching of their own
// beyond what correctness needs; the Resolver caches.
type Provider interface {
	Get(ctx context.Context, ref Ref) (Secret, error)
}

// Providers routes schemes to providers: the Resolver's chain. A nil entry is
// treated as absent, so a composition root can pass an optional adapter as is.
type Providers map[string]Provider
