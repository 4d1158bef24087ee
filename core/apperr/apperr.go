// Package apperr defines the application's error vocabulary: a small set of
// kinds that every layer speaks, a stable machine-readable code, a message that
// is safe to show to the caller, and optional per-field validation messages.
//
// Adapters translate their driver errors into these kinds at their edge; the
// HTTP adapter maps a kind to a status code in exactly one place. The wrapped
// cause is never shown to callers, only logged.
package apperr

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind classifies an error by what the caller can do about it.
type Kind uint8

// The kinds, in the order of DESIGN.md. The zero value is Internal so that
// an error built without a kind is never mistaken for a client error.
// Failures of the HTTP exchange itself (a body too large, a method not
// allowed, an unsupported media type) are not kinds: the domain never
// meets them, and adapters/httpapi describes them on its own.
const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	RateLimited
	Unavailable
)

var kindNames = [...]string{
	Internal:        "internal",
	Invalid:         "invalid",
	Unauthenticated: "unauthenticated",
	Forbidden:       "forbidden",
	NotFound:        "not_found",
	Conflict:        "conflict",
	RateLimited:     "rate_limited",
	Unavailable:     "unavailable",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Error is the application error. Code is a stable slug (for example
// "mfa_code_invalid") that clients may switch on; Message is safe to show;
// Fields holds validation messages keyed by field name; Cause is for logs only.
type Error struct {
	Kind    Kind
	Code    string
	Message string
	Fields  map[string]string
	Cause   error
}

// Error renders the kind, code, message and the cause. It is meant for logs:
// callers must show Message, never Error().
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if len(e.Fields) > 0 {
		b.WriteString(" (")
		for i, k := range slices.Sorted(maps.Keys(e.Fields)) {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k)
			b.WriteString(": ")
			b.WriteString(e.Fields[k])
		}
		b.WriteString(")")
	}
	if e.Cause != nil {
		b.WriteString(": ")
		b.WriteString(e.Cause.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Cause }

// New returns an error of the given kind with a code and a safe message.
func New(kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message}
}

// Wrap returns an error of the given kind that keeps cause for the logs.
func Wrap(cause error, kind Kind, code, message string) *Error {
	return &Error{Kind: kind, Code: code, Message: message, Cause: cause}
}

// Validation returns an Invalid error carrying per-field messages.
func Validation(message string, fields map[string]string) *Error {
	return &Error{Kind: Invalid, Code: "validation_failed", Message: message, Fields: fields}
}

// As finds the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e, true
	}
	return nil, false
}

// KindOf reports the kind of err: the kind of the first *Error in its chain,
// Internal otherwise. KindOf(nil) is
// Internal; callers check for nil first.
func KindOf(err error) Kind {
	if e, ok := As(err); ok {
		return e.Kind
	}
	return Internal
}

// Is reports whether err carries the given kind.
func Is(err error, kind Kind) bool {
	return err != nil && KindOf(err) == kind
}

// CodeOf reports the code of the first *Error in err's chain, or a default
// code derived from the kind.
func CodeOf(err error) string {
	if e, ok := As(err); ok && e.Code != "" {
		return e.Code
	}
	return KindOf(err).String()
}
