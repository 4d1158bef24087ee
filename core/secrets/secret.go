package secrets

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log/slog"
)

// Redacted is what every textual rendering of a Secret prints.
const Redacted = "[REDACTED]"

// Secret is a secret value with the backend's version label. It is immutable
// and cheap to copy. Every way of printing it — fmt verbs, String, GoString,
// JSON, text marshalling, slog — yields "[REDACTED]"; the value is reachable
// only through Reveal and Bytes, so a grep for those finds every place a value
// leaves this type.
//
// The zero Secret is "no secret": IsZero reports true and Reveal returns "".
type Secret struct {
	// A pointer keeps copies cheap. fmt cannot call Format on an unexported
	// field (a Secret inside another type's unexported field), so it walks
	// the representation: it prints nested pointers as addresses, except
	// that a bad verb (%s, %q on a pointer) prints the pointee once. The
	// second indirection in secretValue keeps the value behind an address
	// even then (see TestSecretNeverPrintsItsValue).
	p *secretValue
}

type secretValue struct {
	value   *string
	version string
}

// New returns a Secret holding value. version is the backend's label for this
// value (a KV version number, an AWS VersionId, a file's modification time) or
// "" when the backend has none; it is not secret and may be logged.
func New(value, version string) Secret {
	return Secret{p: &secretValue{value: &value, version: version}}
}

// FromBytes is New for a byte slice; it copies b, so the caller may wipe it.
func FromBytes(b []byte, version string) Secret {
	return New(string(b), version)
}

// Reveal returns the value. Call it at the last moment, where the value is
// handed to the library that needs it, and never log the result.
func (s Secret) Reveal() string {
	if s.p == nil {
		return ""
	}
	return *s.p.value
}

// Bytes returns a fresh copy of the value that the caller owns.
func (s Secret) Bytes() []byte {
	return []byte(s.Reveal())
}

// Version returns the backend's version label, or "" when it has none.
func (s Secret) Version() string {
	if s.p == nil {
		return ""
	}
	return s.p.version
}

// Len returns the length of the value in bytes. Lengths are not secret enough
// to hide from strength checks, but do not log them needlessly.
func (s Secret) Len() int { return len(s.Reveal()) }

// IsZero reports whether s is the zero Secret (never set). A Secret holding
// the empty string is not zero.
func (s Secret) IsZero() bool { return s.p == nil }

// Equal reports whether s and o hold the same value, in time independent of
// where they differ (the lengths may leak, as with crypto/subtle). Versions
// are not compared.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer (%#v).
func (Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb and flag, including %x
// and %q, prints the redaction marker instead of the value.
func (Secret) Format(f fmt.State, verb rune) {
	if verb == 'q' {
		_, _ = io.WriteString(f, `"`+Redacted+`"`)
		return
	}
	_, _ = io.WriteString(f, Redacted)
}

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler, used by encoders that prefer
// it (map keys, YAML, slog's text handler for nested values).
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

var (
	_ fmt.Stringer   = Secret{}
	_ fmt.GoStringer = Secret{}
	_ fmt.Formatter  = Secret{}
	_ slog.LogValuer = Secret{}
)
