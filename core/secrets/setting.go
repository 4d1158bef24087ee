package secrets

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/tradesense/tradesense/core/apperr"
)

// Setting is a secret-bearing configuration variable after resolution.
type Setting struct {
	// Var is the variable that supplied the value (NAME or NAME_FILE); "" when
	// neither is set.
	Var string
	// Ref is the reference that was resolved; the zero Ref for a literal.
	Ref Ref
	// Literal is true when the value was written in the variable itself. The
	// production guard refuses literals for required secrets.
	Literal bool
	// Value is the secret; the zero Secret when the setting is unset.
	Value Secret
}

// IsSet reports whether NAME or NAME_FILE supplied a value.
func (s Setting) IsSet() bool { return s.Var != "" }

// ResolveEnv resolves the secret-bearing setting name from getenv:
//
//   - NAME_FILE=/path (the Docker and Kubernetes secrets convention) reads the
//     file through the file provider; a relative path is taken relative to
//     the working directory. The path must not contain '?' or '#'.
//   - NAME=<reference> (env:, file:, vault:, aws:) resolves the reference.
//   - NAME=<anything else> is a literal.
//   - Neither set: an unset Setting and no error; the caller decides whether
//     the setting is required.
//
// Setting both NAME and NAME_FILE is an Invalid error: silently preferring one
// hides a deployment mistake. Errors name the variable and wrap the
// resolver's error (its apperr kind is preserved).
func (r *Resolver) ResolveEnv(ctx context.Context, getenv func(string) string, name string) (Setting, error) {
	val, path := getenv(name), getenv(name+"_FILE")
	switch {
	case val != "" && path != "":
		return Setting{}, apperr.New(apperr.Invalid, CodeInvalid,
			fmt.Sprintf("%s and %s_FILE are both set: set one", name, name))
	case path != "":
		ref, err := FileRef(path)
		if err != nil {
			return Setting{}, fmt.Errorf("%s_FILE: %w", name, err)
		}
		s, err := r.Get(ctx, ref)
		if err != nil {
			return Setting{}, fmt.Errorf("%s_FILE: %w", name, err)
		}
		return Setting{Var: name + "_FILE", Ref: ref, Value: s}, nil
	case val == "":
		return Setting{}, nil
	}
	if lit, ok := Literal(val); ok {
		return Setting{Var: name, Literal: true, Value: New(lit, "")}, nil
	}
	ref, err := ParseRef(val)
	if err != nil {
		return Setting{}, fmt.Errorf("%s: %w", name, err)
	}
	s, err := r.Get(ctx, ref)
	if err != nil {
		return Setting{}, fmt.Errorf("%s: %w", name, err)
	}
	return Setting{Var: name, Ref: ref, Value: s}, nil
}

// FileRef returns the file reference for a NAME_FILE path, made absolute.
func FileRef(path string) (Ref, error) {
	if strings.ContainsAny(path, "?#") {
		return Ref{}, apperr.New(apperr.Invalid, CodeInvalid, "file path must not contain '?' or '#'")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Ref{}, apperr.Wrap(err, apperr.Invalid, CodeInvalid, "cannot make the file path absolute")
	}
	return ParseRef(SchemeFile + ":" + abs)
}
