package secrets

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/apperr"
)

// WriteInfo says who writes a secret and why, for the audit line of every
// write. Attach it to the context with WithWriteInfo.
type WriteInfo struct {
	// Actor is who writes: the operator running the CLI ("cli:alice@host")
	// or the pod.
	Actor string
	// Setting is the configuration variable the secret backs
	// (JWT_SIGNING_KEY), or "" when the write is not for one.
	Setting string
	// Reason is a short word: "rotate", "rollback", "history".
	Reason string
}

type writeInfoKey struct{}

// WithWriteInfo returns ctx carrying info for the audit lines of the writes
// made with it.
func WithWriteInfo(ctx context.Context, info WriteInfo) context.Context {
	return context.WithValue(ctx, writeInfoKey{}, info)
}

// WriteInfoFrom returns the WriteInfo attached to ctx, if any.
func WriteInfoFrom(ctx context.Context) WriteInfo {
	info, _ := ctx.Value(writeInfoKey{}).(WriteInfo)
	return info
}

var _ Writer = (*Resolver)(nil)

// Put implements Writer by routing ref to the provider of its scheme, when
// that provider is a Writer (an unknown scheme, or a provider that cannot
// write, is Invalid secret_backend_read_only). After a successful write it
// fetches again every cached reference to the same secret (same scheme and
// path, any key), so this process and its subscribers see the new value at
// once; other processes see it on their next refresh.
//
// Every write, successful or not, is logged as an audit line ("secret
// written" at info, "secret write failed" at warn, attribute
// event=secret.write) naming the actor, setting and reason from
// WithWriteInfo, the reference, the version read and the version written:
// never the value. The secrets.writes counter counts them by scheme and
// outcome.
func (r *Resolver) Put(ctx context.Context, ref Ref, value Secret, ifVersion string) (string, error) {
	ctx, span := r.tracer.Start(ctx, "secrets.write", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("secret.scheme", ref.Scheme), attribute.String("secret.ref", ref.String())))
	defer span.End()

	version, err := r.put(ctx, ref, value, ifVersion)

	info := WriteInfoFrom(ctx)
	attrs := []any{"event", "secret.write", "actor", info.Actor, "setting", info.Setting, "reason", info.Reason,
		"ref", ref.String(), "if_version", ifVersion}
	outcome := "ok"
	if err != nil {
		outcome = apperr.KindOf(err).String()
		span.RecordError(err)
		span.SetStatus(codes.Error, apperr.CodeOf(err))
		r.log.WarnContext(ctx, "secret write failed", append(attrs, "error", err)...)
	} else {
		span.SetAttributes(attribute.String("secret.version", version))
		r.log.InfoContext(ctx, "secret written", append(attrs, "version", version)...)
	}
	r.metrics.writes.Add(ctx, 1, metric.WithAttributes(attribute.String("secret.scheme", ref.Scheme), attribute.String("outcome", outcome)))
	if err != nil {
		return "", err
	}
	r.reloadSameSecret(ctx, ref)
	return version, nil
}

func (r *Resolver) put(ctx context.Context, ref Ref, value Secret, ifVersion string) (string, error) {
	if parsed, err := ParseRef(ref.String()); err != nil {
		return "", err
	} else if parsed != ref {
		return "", apperr.New(apperr.Invalid, CodeInvalid,
			fmt.Sprintf("secrets: reference %s is not in canonical form (build it with ParseRef)", ref))
	}
	p := r.providers[ref.Scheme]
	if p == nil {
		return "", apperr.New(apperr.Invalid, CodeNotConfigured,
			fmt.Sprintf("secrets: no provider configured for %s: references (needed by %s)", ref.Scheme, ref))
	}
	w, ok := p.(Writer)
	if !ok {
		return "", ReadOnly(ref.Scheme, ref, "this backend's provider cannot write")
	}
	fctx, cancel := context.WithTimeout(ctx, r.cfg.FetchTimeout)
	defer cancel()
	version, err := w.Put(fctx, ref, value, ifVersion)
	if err != nil {
		if _, ok := apperr.As(err); !ok {
			err = WriteUnavailable(ref.Scheme, ref, err)
		}
		return "", err
	}
	return version, nil
}

// reloadSameSecret fetches the cached references that read the secret ref
// wrote; failures are left to the background refresh.
func (r *Resolver) reloadSameSecret(ctx context.Context, ref Ref) {
	var refs []Ref
	r.entries.Range(func(k, _ any) bool {
		if c := k.(Ref); c.Scheme == ref.Scheme && c.Path == ref.Path && c.Version == "" && c.Stage == "" {
			refs = append(refs, c)
		}
		return true
	})
	r.refreshAll(context.WithoutCancel(ctx), refs, nil)
}

// Reload fetches ref from its backend now, whatever the age of the cached
// value, stores it and notifies subscribers if it changed, and returns it.
// It is for readers that know the cache may be behind: a read-back after a
// write, or a token signed with a key id this process does not know yet.
// Concurrent Reloads and misses of ref share one backend call. Errors are
// Get's; a failure does not evict a cached value.
func (r *Resolver) Reload(ctx context.Context, ref Ref) (Secret, error) {
	return r.loadMode(ctx, ref, true, true)
}
