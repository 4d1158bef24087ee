package wire

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	metricnoop "go.opentelemetry.io/otel/metric/noop"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/adapters/filesecrets"
	"github.com/tradesense/tradesense/adapters/telemetry"
	"github.com/tradesense/tradesense/core/secrets"
)

// keySettings are the key-material secrets: required in production (at
// least secrets.MinStrongLen bytes, no placeholder), generated once under
// DATA_DIR/keys in development and test.
var keySettings = []struct{ name, file string }{
	{"JWT_SIGNING_KEY", "jwt_signing_key"},
	{"MFA_ENCRYPTION_KEY", "mfa_encryption_key"},
}

// KeySetting is one resolved key. Ref is the reference it was read through
// (a dev key's file), for secrets.Resolver.Subscribe; it is the zero Ref
// for a literal value, which cannot rotate without a restart.
type KeySetting struct {
	Name  string
	Ref   secrets.Ref
	Value secrets.Secret
}

// Keys is the key material of the process.
type Keys struct {
	// JWTSigning seeds the access-token signing key (JWT_SIGNING_KEY).
	JWTSigning KeySetting
	// MFAEncryption encrypts TOTP secrets at rest (MFA_ENCRYPTION_KEY).
	MFAEncryption KeySetting
}

// provideKeys resolves the key settings. In production a missing, short or
// placeholder key stops the start with a message naming the variable.
func provideKeys(ctx context.Context, env Environment, lookup Getenv, dir DataDir, r *secrets.Resolver, log *slog.Logger) (Keys, error) {
	log = telemetry.Component(log, "secrets")
	var keys Keys
	var errs []error
	for _, ks := range keySettings {
		k, err := resolveKey(ctx, env, lookup, dir, r, log, ks.name, ks.file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch ks.name {
		case "JWT_SIGNING_KEY":
			keys.JWTSigning = k
		case "MFA_ENCRYPTION_KEY":
			keys.MFAEncryption = k
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Keys{}, fmt.Errorf("key settings:\n%w", err)
	}
	return keys, nil
}

func resolveKey(ctx context.Context, env Environment, lookup Getenv, dir DataDir, r *secrets.Resolver, log *slog.Logger, name, file string) (KeySetting, error) {
	s, err := r.ResolveEnv(ctx, lookup, name)
	if err != nil {
		return KeySetting{}, err
	}
	if s.IsSet() {
		if err := secrets.Strong(name, s.Value, secrets.MinStrongLen); err != nil && env == Production {
			return KeySetting{}, err
		} else if err != nil {
			log.WarnContext(ctx, "weak key accepted outside production", "setting", name, "problem", err.Error())
		}
		return KeySetting{Name: name, Ref: s.Ref, Value: s.Value}, nil
	}
	if env == Production {
		return KeySetting{}, secrets.Strong(name, secrets.Secret{}, secrets.MinStrongLen)
	}
	path, created, err := filesecrets.EnsureRandom(filepath.Join(string(dir), "keys"), file, 32)
	if err != nil {
		return KeySetting{}, fmt.Errorf("%s: generate development key: %w", name, err)
	}
	if created {
		log.InfoContext(ctx, "generated a development key; set the variable in production", "setting", name, "path", path)
	}
	ref, err := secrets.FileRef(path)
	if err != nil {
		return KeySetting{}, fmt.Errorf("%s: %w", name, err)
	}
	v, err := r.Get(ctx, ref)
	if err != nil {
		return KeySetting{}, fmt.Errorf("%s: read development key: %w", name, err)
	}
	return KeySetting{Name: name, Ref: ref, Value: v}, nil
}

// CheckSecrets resolves every secret setting that is configured and prints,
// per setting, where it came from and whether it resolved: never a value.
// It returns an error when any configured setting fails to resolve, or, in
// production, when a required key is missing or weak.
func CheckSecrets(ctx context.Context, cfg Config, out io.Writer) error {
	log := slog.New(slog.DiscardHandler)
	r, cleanup, err := provideResolver(ctx, cfg.Secrets, cfg.Lookup, log, tracenoop.NewTracerProvider(), metricnoop.NewMeterProvider())
	if err != nil {
		return err
	}
	defer cleanup()
	var failed int
	names := append([]string{}, secretSettings...)
	for _, ks := range keySettings {
		names = append(names, ks.name)
	}
	// Each configured OAuth provider needs its client secret, everywhere.
	clientSecrets := map[string]bool{}
	for _, name := range cfg.OAuth.Providers.SecretNames() {
		clientSecrets[name] = true
		names = append(names, name)
	}
	for _, name := range names {
		s, err := r.ResolveEnv(ctx, cfg.Lookup, name)
		source := "literal"
		switch {
		case s.Var == "" && err == nil:
			if clientSecrets[name] {
				failed++
				fmt.Fprintf(out, "%-22s FAILED  required by OAUTH_PROVIDERS but not set (or %s_FILE)\n", name, name)
				continue
			}
			if cfg.Env == Production && requiredInProduction(name, cfg.Lookup) {
				failed++
				fmt.Fprintf(out, "%-22s FAILED  required in production but not set\n", name)
				continue
			}
			fmt.Fprintf(out, "%-22s not set\n", name)
			continue
		case !s.Literal && s.Ref.Scheme != "":
			source = s.Ref.String()
		}
		if err == nil && isKey(name) {
			err = secrets.Strong(name, s.Value, secrets.MinStrongLen)
		}
		if err != nil {
			failed++
			fmt.Fprintf(out, "%-22s FAILED  %v\n", name, err)
			continue
		}
		version := s.Value.Version()
		if version == "" {
			version = "-"
		}
		fmt.Fprintf(out, "%-22s ok      via %s (%s), %d bytes, version %s\n", name, s.Var, source, s.Value.Len(), version)
	}
	if failed > 0 {
		return fmt.Errorf("secrets check: %d setting(s) failed", failed)
	}
	return nil
}

// requiredInProduction names the settings production cannot start without.
func requiredInProduction(name string, getenv Getenv) bool {
	switch name {
	case "REDIS_URL":
		return true
	case "DATABASE_URL":
		return getenv("DATABASE_SECRET") == "" && getenv("DATABASE_SECRET_FILE") == ""
	}
	return isKey(name)
}

func isKey(name string) bool {
	for _, ks := range keySettings {
		if ks.name == name {
			return true
		}
	}
	return false
}
