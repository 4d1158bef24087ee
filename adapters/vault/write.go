package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/hashicorp/vault/api"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/secrets"
)

var _ secrets.Writer = (*Provider)(nil)

// Put implements secrets.Writer with a KV v2 write carrying Vault's own
// check-and-set (options.cas: 0 for NoVersion, else the version read), so
// the check and the write are one step on the server. With #key the data
// map of the version ifVersion is read, the field set and the whole map
// written with cas=ifVersion; without #key the value must be a JSON object,
// the new data map. The version is the new KV version number. KV v1 has no
// check-and-set and is refused.
func (p *Provider) Put(ctx context.Context, ref secrets.Ref, value secrets.Secret, ifVersion string) (string, error) {
	if err := secrets.CheckWritable(backend, ref, secrets.SchemeVault); err != nil {
		return "", err
	}
	if p.cfg.KVVersion == 1 {
		return "", secrets.ReadOnly(backend, ref, "KV v1 has no check-and-set (VAULT_KV_VERSION=1): keep rotated keys on a KV v2 mount")
	}
	cas := 0
	if ifVersion != secrets.NoVersion {
		n, err := strconv.Atoi(ifVersion)
		if err != nil || n < 1 {
			return "", secrets.Conflict(backend, ref, fmt.Sprintf("%q is not a KV v2 version", ifVersion))
		}
		cas = n
	}
	mount, path := splitMount(ref.Path, 2)
	if path == "" {
		return "", secrets.Invalid(backend, ref, "want <mount>/<path>")
	}
	ctx, span := p.tracer.Start(ctx, "vault.kv.write", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("vault.mount", mount), attribute.String("vault.path", path),
			attribute.Int("vault.cas", cas)))
	defer span.End()

	version, err := p.write(ctx, ref, mount, path, value, cas)
	if err != nil {
		span.SetStatus(codes.Error, "write failed")
		return "", err
	}
	span.SetAttributes(attribute.String("secret.version", version))
	return version, nil
}

func (p *Provider) write(ctx context.Context, ref secrets.Ref, mount, path string, value secrets.Secret, cas int) (string, error) {
	var data map[string]any
	if ref.Key == "" {
		if err := json.Unmarshal([]byte(value.Reveal()), &data); err != nil || data == nil {
			// json's error may quote the value: not wrapped.
			return "", secrets.Invalid(backend, ref, "a Vault secret without #key is a whole data map: the value must be a JSON object")
		}
	} else {
		data = map[string]any{}
		if cas > 0 {
			type read struct {
				data    map[string]any
				version string
			}
			cur, err := retry403(ctx, p, func() (read, error) {
				d, v, err := p.read(ctx, mount, path, "")
				return read{d, v}, err
			})
			switch {
			case errors.Is(err, api.ErrSecretNotFound) || statusOf(err) == http.StatusNotFound:
				return "", secrets.Conflict(backend, ref, fmt.Sprintf("the secret does not exist (expected version %d)", cas))
			case err != nil:
				return "", translateWrite(ref, err)
			case cur.version != strconv.Itoa(cas):
				return "", secrets.Conflict(backend, ref, fmt.Sprintf("the secret is at version %s, not %d", cur.version, cas))
			}
			for k, v := range cur.data { // nil for a deleted version: only the new field
				data[k] = v
			}
		}
		data[ref.Key] = value.Reveal()
	}
	kv, err := retry403(ctx, p, func() (*api.KVSecret, error) {
		return p.client.KVv2(mount).Put(ctx, path, data, api.WithCheckAndSet(cas))
	})
	switch {
	case isCASMismatch(err) && cas == 0:
		return "", secrets.Conflict(backend, ref, "the secret already exists")
	case isCASMismatch(err):
		return "", secrets.Conflict(backend, ref, fmt.Sprintf("the secret is no longer at version %d", cas))
	case err != nil:
		return "", translateWrite(ref, err)
	case kv.VersionMetadata == nil || kv.VersionMetadata.Version == 0:
		return "", secrets.WriteUnavailable(backend, ref, errors.New("vault answered the write without a version"))
	}
	return strconv.Itoa(kv.VersionMetadata.Version), nil
}

// retry403 runs op again once after a fresh login when it was refused with
// 403 (a revoked token), as Get does.
func retry403[T any](ctx context.Context, p *Provider, op func() (T, error)) (T, error) {
	v, err := op()
	if err != nil && p.cfg.AuthMethod != AuthToken && statusOf(err) == http.StatusForbidden && p.reloginNow(ctx) {
		v, err = op()
	}
	return v, err
}

// isCASMismatch recognises Vault's answer to a failed check-and-set: 400
// "check-and-set parameter did not match the current version".
func isCASMismatch(err error) bool {
	if statusOf(err) != http.StatusBadRequest {
		return false
	}
	return strings.Contains(firstError(err), "check-and-set")
}

func translateWrite(ref secrets.Ref, err error) error {
	switch statusOf(err) {
	case http.StatusForbidden, http.StatusUnauthorized:
		return secrets.Forbidden(backend, ref, err)
	case http.StatusBadRequest:
		return secrets.Invalid(backend, ref, "rejected by Vault: "+firstError(err))
	case http.StatusNotFound:
		return secrets.NotFound(backend, ref, err)
	}
	return secrets.WriteUnavailable(backend, ref, err)
}
