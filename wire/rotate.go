package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/mfa"
	"github.com/tradesense/tradesense/core/secrets"
)

// RotateOptions is what `tradesense secrets rotate` was asked to do.
type RotateOptions struct {
	// Settings are the key settings to rotate (JWT_SIGNING_KEY,
	// MFA_ENCRYPTION_KEY); All selects every one.
	Settings []string
	All      bool
	// DryRun reads and prints the plan, writes nothing.
	DryRun bool
	// Rollback makes the previous key current again.
	Rollback bool
	// JWTGrace overrides how long a replaced JWT signing key stays
	// accepted; zero: SECRETS_CACHE_TTL + AUTH_ACCESS_TOKEN_TTL + the
	// verification leeway.
	JWTGrace time.Duration
	// Actor names who rotates, for the audit lines ("cli:alice@host").
	Actor string
	// Now is the time of the rotation; zero: time.Now.
	Now time.Time
}

// RotatableKeys are the settings `tradesense secrets rotate` knows.
func RotatableKeys() []string {
	out := make([]string, len(keySettings))
	for i, ks := range keySettings {
		out[i] = ks.name
	}
	return out
}

// keySpec is how each key setting is generated and checked.
func keySpec(cfg Config, name string, jwtGraceOverride time.Duration) secrets.KeySpec {
	strong := func(k []byte) error { return secrets.Strong(name, secrets.FromBytes(k, ""), secrets.MinStrongLen) }
	switch name {
	case "JWT_SIGNING_KEY":
		grace := jwtGraceOverride
		if grace == 0 {
			grace = jwtGrace(cfg.Secrets.Resolver, cfg.Identity.Service)
		}
		return secrets.KeySpec{Setting: name, Bytes: 32, Grace: grace, Check: func(k []byte) error {
			if _, err := identity.DeriveSigningKey(k); err != nil {
				return err
			}
			return strong(k)
		}}
	default: // MFA_ENCRYPTION_KEY: no grace, what it sealed stays in the database
		return secrets.KeySpec{Setting: name, Bytes: 32, Check: func(k []byte) error {
			if _, err := mfa.NewKeyRing(k); err != nil {
				return err
			}
			return strong(k)
		}}
	}
}

// RotateKeys is `tradesense secrets rotate`: for each selected key setting
// it generates a new key, writes it through the setting's own reference
// (keeping the replaced key in the history beside it, see secrets.Rotate)
// and prints what it did — versions and references, never a key. The
// audit line of every write goes to the log (logOut). A running API picks
// the new key up within SECRETS_CACHE_TTL, without a restart. It returns an
// error when any setting failed.
func RotateKeys(ctx context.Context, cfg Config, opts RotateOptions, out io.Writer, logOut LogOutput) error {
	names := opts.Settings
	if opts.All {
		names = RotatableKeys()
	}
	if len(names) == 0 {
		return fmt.Errorf("name a key setting (%s) or use --all", strings.Join(RotatableKeys(), ", "))
	}
	for _, n := range names {
		if !slices.Contains(RotatableKeys(), n) {
			return fmt.Errorf("%s cannot be rotated: the key settings are %s", n, strings.Join(RotatableKeys(), ", "))
		}
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	base := telemetry.NewLogger(cfg.Telemetry, logOut.Writer)
	log := telemetry.Component(base, "secrets")
	r, cleanup, err := provideResolver(ctx, cfg.Secrets, cfg.Lookup, base, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		return err
	}
	defer cleanup()
	ctx = secrets.WithWriteInfo(ctx, secrets.WriteInfo{Actor: opts.Actor})

	var errs []error
	for _, name := range names {
		file := ""
		for _, ks := range keySettings {
			if ks.name == name {
				file = ks.file
			}
		}
		k, err := resolveKey(ctx, cfg.Env, cfg.Lookup, cfg.DataDir, r, log, name, file)
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(out, "%-19s FAILED  %v\n", name, err)
			continue
		}
		setting := secrets.Setting{Var: name, Ref: k.Ref, Literal: k.Ref.Scheme == "", Value: k.Value}
		res, err := secrets.Rotate(ctx, r, secrets.RotateRequest{
			Spec: keySpec(cfg, name, opts.JWTGrace), Setting: setting,
			DryRun: opts.DryRun, Rollback: opts.Rollback, Now: opts.Now,
		})
		if err != nil {
			errs = append(errs, err)
			fmt.Fprintf(out, "%-19s FAILED  %v\n", name, strings.TrimPrefix(err.Error(), name+": "))
			continue
		}
		printRotation(out, cfg, res)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("secrets rotate: %d of %d failed", len(errs), len(names))
	}
	return nil
}

func printRotation(out io.Writer, cfg Config, res secrets.RotateResult) {
	const indent = "                    "
	what := fmt.Sprintf("a new %d-bit key", res.Bits)
	if res.Rollback {
		what = "the previous key"
	}
	kept := "kept until removed (what it sealed opens and is re-sealed on use)"
	if !res.KeptUntil.IsZero() {
		kept = "accepted until " + res.KeptUntil.UTC().Format(time.RFC3339) + " (its tokens expire by then)"
	}
	dropped := ""
	if res.Dropped > 0 {
		dropped = fmt.Sprintf("; %d expired key(s) dropped", res.Dropped)
	}
	ttl := cfg.Secrets.Resolver.TTL
	if ttl == 0 {
		ttl = secrets.DefaultTTL
	}
	if res.DryRun {
		fmt.Fprintf(out, "%-19s dry run: would write %s to %s (current version %s, check-and-set)\n", res.Setting, what, res.Ref, orDash(res.OldVersion))
		fmt.Fprintf(out, "%swould keep the current key in %s, %s%s\n", indent, res.HistoryRef, kept, dropped)
		return
	}
	verb := "rotated"
	if res.Rollback {
		verb = "rolled back"
	}
	fmt.Fprintf(out, "%-19s %s: wrote %s to %s: version %s (was %s)\n", res.Setting, verb, what, res.Ref, orDash(res.NewVersion), orDash(res.OldVersion))
	fmt.Fprintf(out, "%sthe replaced key is in %s, %s%s\n", indent, res.HistoryRef, kept, dropped)
	fmt.Fprintf(out, "%srunning services switch within %s (SECRETS_CACHE_TTL), without a restart\n", indent, ttl)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
