package secrets

import (
	"fmt"
	"strings"

	"github.com/tradesense/tradesense/core/apperr"
)

// MinStrongLen is the shortest value Strong accepts for keys and passwords
// that protect other data (JWT signing keys, encryption keys).
const MinStrongLen = 32

// placeholders are values that appear in tutorials, templates and the plan
// we replaced; a production secret equal to one of them (case-insensitive,
// or made of one repeated character) is refused whatever its length.
var placeholders = []string{
	"changeme", "change-me", "change_me", "changeit", "secret", "password",
	"fallback-secret", "default", "example", "test", "dev", "development",
	"your-secret-key", "your_secret_key", "supersecret", "super-secret",
	"insecure", "todo", "xxx", "placeholder", "replace-me", "replaceme",
	"admin", "letmein", "123456", "qwerty",
}

// Strong checks that a production secret is set, at least minLen bytes long
// and not an obvious placeholder. The error is apperr.Invalid and names the
// setting, never the value, with what to do about it.
func Strong(setting string, s Secret, minLen int) error {
	v := s.Reveal()
	switch {
	case s.IsZero() || v == "":
		return apperr.New(apperr.Invalid, "secret_missing",
			fmt.Sprintf("%s is required in production: set it to a secret reference (vault:, aws:, file:) or use %s_FILE", setting, setting))
	case isPlaceholder(v):
		return apperr.New(apperr.Invalid, "secret_placeholder",
			fmt.Sprintf("%s is a placeholder value: set a randomly generated secret", setting))
	case len(v) < minLen:
		return apperr.New(apperr.Invalid, "secret_too_short",
			fmt.Sprintf("%s is shorter than %d bytes: set a randomly generated secret of at least %d bytes", setting, minLen, minLen))
	}
	return nil
}

func isPlaceholder(v string) bool {
	lv := strings.ToLower(strings.TrimSpace(v))
	if lv == "" {
		return false
	}
	for _, p := range placeholders {
		// "secret", "changemechangeme…": a placeholder, possibly repeated to
		// pass a length check.
		if len(lv)%len(p) == 0 && lv == strings.Repeat(p, len(lv)/len(p)) {
			return true
		}
	}
	for _, marker := range markers {
		if strings.Contains(lv, marker) {
			return true
		}
	}
	// "aaaaaaaa…" or "00000000…": one repeated byte.
	return strings.Count(lv, lv[:1]) == len(lv)
}

// markers never occur in a generated secret; a value containing one is a
// template that was not filled in.
var markers = []string{"changeme", "change-me", "change_me", "fallback-secret", "your-secret", "your_secret", "replace-me", "replace_me", "placeholder", "<secret>"}
